//! Peer: dhat heap profiling (a backtrace per allocation), with
//! `Profiler::new_heap()`'s settings; run with a smaller N (see run.sh).
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    // Heap mode (the default of the builder, as `new_heap()`), writing its
    // profile to a temporary file instead of ./dhat-heap.json.
    let file =
        std::env::temp_dir().join(format!("heapwise-bench-dhat-{}.json", std::process::id()));
    let profiler = dhat::Profiler::builder().file_name(&file).build();
    let cfg = heapwise_bench::Plain {
        modes: &["global"],
        count: || Some(dhat::HeapStats::get().total_blocks),
    };
    heapwise_bench::main("dhat", &cfg);
    drop(profiler);
    let _ = std::fs::remove_file(&file);
}
