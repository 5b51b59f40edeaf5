//! [`Counted`]: the library's own Rust allocator. The runtime's tables, the
//! settings it reads and the profiles it writes go to the next allocator
//! directly (they are not the program's), and are counted as heapwise's own
//! memory, as in a Rust program where they pass through `heapwise::Alloc`
//! behind its reentrancy guard: the stats line's `own` and
//! `Stats::heapwise_bytes`.

use std::alloc::{GlobalAlloc, Layout};

use crate::next::Next;

/// [`Next`], counting what it holds into heapwise's own memory.
pub(crate) struct Counted;

// SAFETY: every call is forwarded to `Next`, a correct allocator; the
// counting only adds to an atomic.
unsafe impl GlobalAlloc for Counted {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { Next.alloc(layout) };
        if !p.is_null() {
            heapwise::__preload_own(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { Next.alloc_zeroed(layout) };
        if !p.is_null() {
            heapwise::__preload_own(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { Next.dealloc(p, layout) };
        heapwise::__preload_own(-(layout.size() as isize));
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        let q = unsafe { Next.realloc(p, layout, new_size) };
        if !q.is_null() {
            heapwise::__preload_own(new_size as isize - layout.size() as isize);
        }
        q
    }
}
