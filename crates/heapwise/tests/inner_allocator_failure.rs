//! When the inner allocator fails (returns null), heapwise counts nothing:
//! small requests are counted before the inner call on the fast path and must
//! be taken back exactly, peak included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// System, except that it fails every request while `FAIL` is set on the
/// calling thread.
struct Flaky;

thread_local! {
    static FAIL: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to `System`, or returns null (allowed by the contract).
unsafe impl GlobalAlloc for Flaky {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if FAIL.with(Cell::get) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if FAIL.with(Cell::get) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: heapwise::Alloc<Flaky> = heapwise::Alloc::new(Flaky);

fn failing<R>(f: impl FnOnce() -> R) -> R {
    FAIL.with(|c| c.set(true));
    let r = f();
    FAIL.with(|c| c.set(false));
    r
}

#[test]
fn a_failed_small_allocation_counts_nothing() {
    let scope = heapwise::Scope::new();
    scope.run(|s| {
        let warm = std::hint::black_box(vec![0u8; 100]);
        let before = s.usage();
        let mut v: Vec<u8> = Vec::new();
        let r = failing(|| v.try_reserve_exact(48));
        assert!(r.is_err());
        assert_eq!(s.usage(), before, "a failed alloc changed the figures");
        // The countdown was given back too: the next allocations count exactly.
        v.try_reserve_exact(48).unwrap();
        let after = s.usage();
        assert_eq!(after.bytes - before.bytes, 48);
        assert_eq!(after.allocs - before.allocs, 1);
        drop(warm);
    });
}

#[test]
fn a_failed_realloc_counts_nothing_and_keeps_the_block() {
    let scope = heapwise::Scope::new();
    scope.run(|s| {
        let mut v: Vec<u8> = Vec::with_capacity(16);
        v.extend_from_slice(b"sixteen bytes!!!");
        let before = s.usage();
        let r = failing(|| v.try_reserve_exact(100));
        assert!(r.is_err());
        assert_eq!(s.usage(), before, "a failed realloc changed the figures");
        assert_eq!(&v[..], b"sixteen bytes!!!");
        v.try_reserve_exact(100).unwrap();
        let after = s.usage();
        assert_eq!(after.reallocs - before.reallocs, 1);
        assert_eq!(after.bytes - before.bytes, 116);
        assert_eq!(after.freed_bytes - before.freed_bytes, 16);
        assert_eq!(after.peak_bytes, 116);
    });
}

#[test]
fn a_failed_allocation_does_not_raise_the_peak() {
    let scope = heapwise::Scope::new();
    scope.run(|s| {
        let r = failing(|| {
            let mut v: Vec<u8> = Vec::new();
            v.try_reserve_exact(4000).map(|_| v)
        });
        assert!(r.is_err());
        let u = s.usage();
        assert_eq!((u.bytes, u.allocs, u.calls, u.peak_bytes), (0, 0, 0, 0));
        // A later allocation in the same batch must not carry the failed one's peak.
        let v = std::hint::black_box(vec![1u8; 10]);
        let u = s.usage();
        assert_eq!((u.bytes, u.allocs, u.peak_bytes), (10, 1, 10));
        drop(v);
    });
}
