//! Zeroed memory straight from the kernel, for large tables whose pages are
//! written sparsely (the full-mode carry bitmap's leaves,
//! `profile/trailer.rs`).
//!
//! Not from [`System`](std::alloc::System): under the preload library,
//! `System` is the program's `malloc`, which is heapwise's, and would count
//! a whole 32 MiB leaf as heapwise's own memory though the kernel supplies
//! only the pages written. The callers count the pages they write.

/// `len` bytes of zeroed, page-aligned memory, or null. Takes no lock of
/// heapwise's and calls no allocator.
pub(crate) fn map_zeroed(len: usize) -> *mut u8 {
    #[cfg(unix)]
    {
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing affects no existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }
    #[cfg(not(unix))]
    {
        use std::alloc::{GlobalAlloc, Layout, System};
        match Layout::from_size_align(len, 4096) {
            // SAFETY: `len` is not zero (the callers' tables have a size).
            Ok(layout) => unsafe { System.alloc_zeroed(layout) },
            Err(_) => std::ptr::null_mut(),
        }
    }
}

/// Gives back memory from [`map_zeroed`].
///
/// # Safety
///
/// `p` came from `map_zeroed(len)` and nothing uses it any more.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) {
    #[cfg(unix)]
    {
        // SAFETY: the caller's contract: a whole mapping of `len` bytes.
        let rc = unsafe { libc::munmap(p.cast(), len) };
        debug_assert_eq!(rc, 0, "munmap of a mapping of ours");
    }
    #[cfg(not(unix))]
    {
        use std::alloc::{GlobalAlloc, Layout, System};
        // SAFETY: the caller's contract; the layout `map_zeroed` used.
        unsafe { System.dealloc(p, Layout::from_size_align_unchecked(len, 4096)) };
    }
}
