//! The bootstrap arena: where allocations go before the next allocator is
//! known (`dlsym` itself may allocate while resolving it) or while another
//! thread is resolving it. A static bump region whose blocks are never
//! freed: [`crate::next::Next`] ignores a free of one.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The arena's size: `dlsym`'s allocations are a few hundred bytes.
const SIZE: usize = 64 * 1024;
/// Every block's alignment.
const ALIGN: usize = 16;

#[repr(C, align(4096))]
struct Region(UnsafeCell<[u8; SIZE]>);

// SAFETY: the bytes are handed out in disjoint blocks (the bump offset is
// atomic) and never read by the arena itself except a block's size word,
// so no byte is shared between threads.
unsafe impl Sync for Region {}

static REGION: Region = Region(UnsafeCell::new([0; SIZE]));
/// Bytes of [`REGION`] handed out.
static USED: AtomicUsize = AtomicUsize::new(0);

fn base() -> *mut u8 {
    REGION.0.get().cast()
}

/// A block of `size` bytes aligned to `align` (zeroed: the region starts
/// zeroed and is never reused), or null when the arena is spent.
pub(crate) fn alloc(size: usize, align: usize) -> *mut u8 {
    let align = align.max(ALIGN);
    let Some(need) = size.checked_add(align) else {
        return ptr::null_mut();
    };
    let start = USED.fetch_add(need, Relaxed);
    if start > SIZE || need > SIZE - start {
        return ptr::null_mut();
    }
    // The first multiple of `align` (the region itself is page-aligned).
    let at = start.next_multiple_of(align);
    // SAFETY: `at .. at + size` lies inside this call's `need` bytes.
    unsafe { base().add(at) }
}

/// Whether `p` points into the arena (one subtraction and one compare: on
/// every free).
#[inline(always)]
pub(crate) fn contains(p: *const u8) -> bool {
    (p as usize).wrapping_sub(base() as usize) < SIZE
}
