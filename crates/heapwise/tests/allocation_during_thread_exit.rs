//! Allocation while a thread exits: thread-local destructors that allocate and
//! free, on spawned threads, must not crash the process and must be counted
//! in the process-wide figures once the thread is joined.
//!
//! The only test in this file (process-wide figures): its sizes are
//! distinctive, and only lower bounds are asserted.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

/// One large string (over the 64 KiB batch: charged at once) and many small
/// ones (batched, so charged by the thread's exit flush or, if that already
/// ran, one by one).
const LARGE: usize = 3_000_017;
const SMALL: usize = 1_001;
const SMALL_COUNT: usize = 50;

static DESTRUCTORS_RUN: AtomicU64 = AtomicU64::new(0);

struct AllocatesOnDrop;

impl Drop for AllocatesOnDrop {
    fn drop(&mut self) {
        let large = "x".repeat(LARGE);
        black_box(&large);
        let small: Vec<String> = (0..SMALL_COUNT).map(|_| "y".repeat(SMALL)).collect();
        black_box(&small);
        DESTRUCTORS_RUN.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    static ON_EXIT: AllocatesOnDrop = const { AllocatesOnDrop };
    static TOUCHED: Cell<u8> = const { Cell::new(0) };
}

#[test]
fn allocations_in_thread_local_destructors_are_counted() {
    assert!(heapwise::installed());
    let before = heapwise::stats();

    // Registered before the thread's first allocation...
    thread::spawn(|| ON_EXIT.with(|_| TOUCHED.set(1)))
        .join()
        .unwrap();
    // ...and after it (the allocator's own exit flush is registered first).
    thread::spawn(|| {
        black_box(vec![0u8; 100]);
        ON_EXIT.with(|_| TOUCHED.set(1));
        black_box(vec![0u8; 100]);
    })
    .join()
    .unwrap();
    // ...and on a thread that runs inside a scope first.
    let scope = heapwise::Scope::new();
    let s = scope.clone();
    thread::spawn(move || {
        s.run(|_| black_box(vec![0u8; 100]).len());
        ON_EXIT.with(|_| TOUCHED.set(1));
    })
    .join()
    .unwrap();

    assert_eq!(DESTRUCTORS_RUN.load(Ordering::SeqCst), 3);
    let after = heapwise::stats();
    let per_thread = (LARGE + SMALL * SMALL_COUNT + SMALL_COUNT * 24) as u64;
    let allocs_per_thread = 2 + SMALL_COUNT as u64;
    assert!(
        after.allocated_bytes - before.allocated_bytes >= 3 * per_thread,
        "allocated {} bytes, expected at least {}",
        after.allocated_bytes - before.allocated_bytes,
        3 * per_thread
    );
    assert!(after.allocs - before.allocs >= 3 * allocs_per_thread);
    assert!(after.freed_bytes - before.freed_bytes >= 3 * per_thread);
    assert!(after.frees - before.frees >= 3 * allocs_per_thread);
    // The destructors ran outside every scope: the scope saw only its block.
    assert_eq!(scope.usage().bytes, 100);
}
