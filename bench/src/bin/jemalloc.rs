//! Baseline for jemalloc's profiler: tikv-jemallocator (jemalloc 5.3, built
//! with `--enable-prof` by the `profiling` feature, as `jemalloc_prof`), with
//! profiling off (`opt.prof` false, jemalloc's default).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let prof: bool =
        unsafe { tikv_jemalloc_ctl::raw::read(b"opt.prof\0") }.expect("mallctl opt.prof");
    assert!(!prof, "jemalloc baseline must run with profiling off");
    let cfg = heapwise_bench::Plain {
        modes: &["bare"],
        count: || None,
    };
    heapwise_bench::main("jemalloc", &cfg);
}
