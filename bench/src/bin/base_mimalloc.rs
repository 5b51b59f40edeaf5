//! Baseline: mimalloc, nothing counted.
use mimalloc::MiMalloc;

#[global_allocator]
static ALLOC: MiMalloc = MiMalloc;

fn main() {
    let cfg = heapwise_bench::Plain {
        modes: &["bare"],
        count: || None,
    };
    heapwise_bench::main("base_mimalloc", &cfg);
}
