//! divan's AllocProfiler counting on top of heapwise's allocator: both
//! see every allocation, and a heapwise scope inside a benchmark reads the
//! same figures divan prints.

use divan::AllocProfiler;

#[global_allocator]
static ALLOC: AllocProfiler<heapwise::Alloc> = AllocProfiler::new(heapwise::Alloc::system());

fn main() {
    assert!(heapwise::installed(), "heapwise's allocator is behind divan's");
    divan::main();
}

#[divan::bench]
fn format() -> String {
    format!("{}-{}", 1, 2)
}

#[divan::bench]
fn format_in_a_scope() -> u64 {
    let scope = heapwise::Scope::new();
    let s = scope.run(|_| format!("{}-{}", 1, 2));
    assert_eq!(scope.usage().bytes, s.len() as u64);
    scope.usage().allocs
}
