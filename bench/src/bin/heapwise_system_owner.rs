//! heapwise over system, owner-tracking mode (8-byte trailer per block).
#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

fn main() {
    assert!(
        heapwise::installed(),
        "heapwise::Alloc is not the global allocator"
    );
    heapwise_bench::main("heapwise_system_owner", &heapwise_bench::Heapwise);
}
