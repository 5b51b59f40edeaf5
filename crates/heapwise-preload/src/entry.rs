//! The interposed C functions. Each validates its arguments as glibc does,
//! makes one `GlobalAlloc` call on the runtime ([`crate::ALLOC`]) with the
//! layout the block was or is to be allocated with, and writes or reads
//! the block's header (`header.rs`). Failures return null (or the error
//! number) with `errno` set, as C expects; nothing here panics.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{c_int, c_void};
use std::ptr;

use crate::{header, next, ALLOC};

fn set_errno(e: c_int) {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() = e };
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// A new block of `size` bytes aligned to `align` (a power of two), with
/// its header; null with `errno` ENOMEM on failure. Inlined into each entry
/// point, where `align` and `zeroed` are mostly constants: `malloc`'s layout
/// check is then one compare.
#[inline(always)]
fn allocate(size: usize, align: usize, zeroed: bool) -> *mut c_void {
    let align = align.max(header::SIZE);
    let Ok(layout) = Layout::from_size_align(size, align) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    // SAFETY: the inner allocator, `Next`, accepts every layout (zero
    // sizes included), and so does the runtime over it.
    let p = unsafe {
        if zeroed {
            ALLOC.alloc_zeroed(layout)
        } else {
            ALLOC.alloc(layout)
        }
    };
    if p.is_null() {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    // SAFETY: `p` is a fresh block of `Next`, with its header's room.
    unsafe { header::write(p, size, align) };
    p.cast()
}

/// Frees `p`, the preload's or the next allocator's. A block of
/// `malloc`'s alignment is freed here; the rest in [`release_other`], out
/// of line, so this path needs no registers saved and ends in a jump.
///
/// # Safety
///
/// `p` is null or a live block of `malloc` and friends.
#[inline(always)]
unsafe fn release(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: the caller's contract.
    match unsafe { header::read_malloc(p.cast()) } {
        // SAFETY: the preload allocated `p` with this size and `malloc`'s
        // alignment (the header says so), through the runtime.
        Some(size) => unsafe {
            ALLOC.dealloc(
                p.cast(),
                Layout::from_size_align_unchecked(size, header::SIZE),
            )
        },
        // SAFETY: the caller's contract.
        None => unsafe { release_other(p) },
    }
}

/// [`release`] of a block with a larger alignment, or not the preload's.
///
/// # Safety
///
/// `p` is a live block of `malloc` and friends.
#[cold]
#[inline(never)]
unsafe fn release_other(p: *mut c_void) {
    // SAFETY: the caller's contract.
    match unsafe { header::read(p.cast()) } {
        // SAFETY: the preload allocated `p` with this layout (the header
        // says so), through the runtime.
        Some((size, align)) => unsafe {
            ALLOC.dealloc(p.cast(), Layout::from_size_align_unchecked(size, align))
        },
        // A block from before the preload was in place: the next
        // allocator's, which must then be resolved.
        None if next::ready() => {
            // SAFETY: the caller's contract; not the preload's block.
            unsafe { next::free_foreign(p) }
        }
        None => {}
    }
}

/// `malloc(3)`.
///
/// # Safety
///
/// Called as C's `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    allocate(size, header::SIZE, false)
}

/// `calloc(3)`.
///
/// # Safety
///
/// Called as C's `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    allocate(total, header::SIZE, true)
}

/// `free(3)`.
///
/// # Safety
///
/// Called as C's `free`.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the caller's contract.
    unsafe { release(p) }
}

/// `realloc(3)`; `realloc(p, 0)` frees `p` and returns null, as glibc does.
///
/// # Safety
///
/// Called as C's `realloc`.
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return allocate(size, header::SIZE, false);
    }
    if size == 0 {
        // SAFETY: the caller's contract.
        unsafe { release(p) };
        return ptr::null_mut();
    }
    // SAFETY: the caller's contract: `p` is a live block.
    let Some((old, align)) = (unsafe { header::read(p.cast()) }) else {
        if !next::ready() {
            return ptr::null_mut();
        }
        // SAFETY: a live block of the next allocator.
        return unsafe { next::realloc_foreign(p, size) };
    };
    if Layout::from_size_align(size, align).is_err() {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    // SAFETY: the preload allocated `p` with this layout (its header);
    // `size` makes a valid layout with the same alignment.
    let q = unsafe {
        ALLOC.realloc(
            p.cast(),
            Layout::from_size_align_unchecked(old, align),
            size,
        )
    };
    if q.is_null() {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    // SAFETY: `q` is a block of `Next`, with its header's room.
    unsafe { header::write(q, size, align) };
    q.cast()
}

/// `reallocarray(3)`.
///
/// # Safety
///
/// Called as C's `reallocarray`.
#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    // SAFETY: the caller's contract.
    unsafe { realloc(p, total) }
}

/// `posix_memalign(3)`: EINVAL unless `align` is a power of two and a
/// multiple of the pointer size.
///
/// # Safety
///
/// Called as C's `posix_memalign`.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || align % size_of::<*mut c_void>() != 0 {
        return libc::EINVAL;
    }
    let p = allocate(size, align, false);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller's contract: `out` is writable.
    unsafe { out.write(p) };
    0
}

/// `aligned_alloc(3)`: EINVAL unless `align` is a power of two.
///
/// # Safety
///
/// Called as C's `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    allocate(size, align, false)
}

/// `memalign(3)`: an alignment that is not a power of two is rounded up
/// to one, as glibc does.
///
/// # Safety
///
/// Called as C's `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    allocate(size, align, false)
}

/// `valloc(3)`: page-aligned.
///
/// # Safety
///
/// Called as C's `valloc`.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    allocate(size, page_size(), false)
}

/// `pvalloc(3)`: page-aligned, the size rounded up to whole pages.
///
/// # Safety
///
/// Called as C's `pvalloc`.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let page = page_size();
    let Some(size) = size.max(1).checked_next_multiple_of(page) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    allocate(size, page, false)
}

/// `malloc_usable_size(3)`: for the preload's blocks, the size asked for
/// (so nothing writes over full mode's trailer after it).
///
/// # Safety
///
/// Called as C's `malloc_usable_size`.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: the caller's contract: `p` is a live block.
    match unsafe { header::read(p.cast()) } {
        Some((size, _)) => size,
        // SAFETY: a live block of the next allocator.
        None if next::ready() => unsafe { next::usable_size_foreign(p) },
        None => 0,
    }
}
