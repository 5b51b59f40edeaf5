//! heapwise over system, default mode.
#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

fn main() {
    assert!(
        heapwise::installed(),
        "heapwise::Alloc is not the global allocator"
    );
    heapwise_bench::main("heapwise_system", &heapwise_bench::Heapwise);
}
