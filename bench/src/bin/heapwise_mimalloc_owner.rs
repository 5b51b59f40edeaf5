//! heapwise over mimalloc, owner-tracking mode (8-byte trailer per block).
#[global_allocator]
static ALLOC: heapwise::Alloc<mimalloc::MiMalloc> =
    heapwise::Alloc::new(mimalloc::MiMalloc).owner_tracking();

fn main() {
    assert!(
        heapwise::installed(),
        "heapwise::Alloc is not the global allocator"
    );
    heapwise_bench::main("heapwise_mimalloc_owner", &heapwise_bench::Heapwise);
}
