//! heapwise over mimalloc, default mode.
#[global_allocator]
static ALLOC: heapwise::Alloc<mimalloc::MiMalloc> = heapwise::Alloc::new(mimalloc::MiMalloc);

fn main() {
    assert!(
        heapwise::installed(),
        "heapwise::Alloc is not the global allocator"
    );
    heapwise_bench::main("heapwise_mimalloc", &heapwise_bench::Heapwise);
}
