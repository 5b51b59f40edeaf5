//! The next allocator: the definitions of `malloc` and friends after the
//! preload's own (glibc's, or another preloaded allocator's), found with
//! `dlsym(RTLD_NEXT)` once, and [`Next`], the `GlobalAlloc` over them that
//! the runtime wraps.
//!
//! Every block [`Next`] returns has [`header::SIZE`] bytes (or its
//! alignment, when larger) before it that belong to the preload: the
//! entry points write the header there (`header.rs`).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering::Acquire, Ordering::Release};

use crate::{arena, header};

type Malloc = unsafe extern "C" fn(usize) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void);
type Calloc = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type Realloc = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type Memalign = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type UsableSize = unsafe extern "C" fn(*mut c_void) -> usize;

/// Not resolved, being resolved, resolved.
static STATE: AtomicU8 = AtomicU8::new(UNRESOLVED);
const UNRESOLVED: u8 = 0;
const RESOLVING: u8 = 1;
const RESOLVED: u8 = 2;

// Each slot holds a function of its type at all times: until the next
// allocator is resolved a bootstrap one (below), which resolves it and
// calls on, or serves the call from the arena; then the next allocator's.
// So a call never tests whether it is resolved: one load and one call.
static MALLOC: AtomicPtr<c_void> = AtomicPtr::new(boot_malloc as Malloc as *mut c_void);
static FREE: AtomicPtr<c_void> = AtomicPtr::new(boot_free as Free as *mut c_void);
static CALLOC: AtomicPtr<c_void> = AtomicPtr::new(boot_calloc as Calloc as *mut c_void);
static REALLOC: AtomicPtr<c_void> = AtomicPtr::new(boot_realloc as Realloc as *mut c_void);
static MEMALIGN: AtomicPtr<c_void> = AtomicPtr::new(boot_memalign as Memalign as *mut c_void);
static USABLE_SIZE: AtomicPtr<c_void> =
    AtomicPtr::new(boot_usable_size as UsableSize as *mut c_void);

/// Whether the next allocator is known; resolves it on the first call.
/// False while it is being resolved (by this thread, from inside `dlsym`,
/// or by another): the caller then uses the bootstrap arena.
#[inline]
pub(crate) fn ready() -> bool {
    STATE.load(Acquire) == RESOLVED || resolve_slow()
}

#[cold]
#[inline(never)]
fn resolve_slow() -> bool {
    if STATE
        .compare_exchange(UNRESOLVED, RESOLVING, Acquire, Acquire)
        .is_err()
    {
        return STATE.load(Acquire) == RESOLVED;
    }
    let all = [
        (&FREE, c"free"),
        (&CALLOC, c"calloc"),
        (&REALLOC, c"realloc"),
        (&MEMALIGN, c"memalign"),
        (&USABLE_SIZE, c"malloc_usable_size"),
        (&MALLOC, c"malloc"),
    ];
    for (slot, name) in all {
        let f = lookup(name);
        if f.is_null() {
            // No allocator after this one: nothing can work.
            abort_with(c"heapwise-preload: no next definition of an allocator function\n");
        }
        slot.store(f, Release);
    }
    STATE.store(RESOLVED, Release);
    true
}

/// `malloc` until resolved: blocks from the arena while resolving.
unsafe extern "C" fn boot_malloc(size: usize) -> *mut c_void {
    if ready() {
        // SAFETY: resolved; the slot holds the next `malloc`.
        return unsafe { get::<Malloc>(&MALLOC)(size) };
    }
    arena::alloc(size, header::SIZE).cast()
}

/// `calloc` until resolved (`Next` asks for one element).
unsafe extern "C" fn boot_calloc(n: usize, size: usize) -> *mut c_void {
    if ready() {
        // SAFETY: resolved; the slot holds the next `calloc`.
        return unsafe { get::<Calloc>(&CALLOC)(n, size) };
    }
    // The arena's blocks are zeroed.
    n.checked_mul(size).map_or(ptr::null_mut(), |total| {
        arena::alloc(total, header::SIZE).cast()
    })
}

/// `memalign` until resolved.
unsafe extern "C" fn boot_memalign(align: usize, size: usize) -> *mut c_void {
    if ready() {
        // SAFETY: resolved; the slot holds the next `memalign`.
        return unsafe { get::<Memalign>(&MEMALIGN)(align, size) };
    }
    arena::alloc(size, align).cast()
}

/// `free` until resolved. Only blocks of the next allocator reach it, so
/// it was resolved (or the block is foreign, and resolving finds its `free`).
unsafe extern "C" fn boot_free(p: *mut c_void) {
    if ready() {
        // SAFETY: resolved; the slot holds the next `free`; `p` is its block.
        unsafe { get::<Free>(&FREE)(p) }
    }
}

/// `realloc` until resolved; as [`boot_free`].
unsafe extern "C" fn boot_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if ready() {
        // SAFETY: resolved; the slot holds the next `realloc`.
        return unsafe { get::<Realloc>(&REALLOC)(p, size) };
    }
    ptr::null_mut()
}

/// `malloc_usable_size` until resolved; as [`boot_free`].
unsafe extern "C" fn boot_usable_size(p: *mut c_void) -> usize {
    if ready() {
        // SAFETY: resolved; the slot holds the next `malloc_usable_size`.
        return unsafe { get::<UsableSize>(&USABLE_SIZE)(p) };
    }
    0
}

fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: `name` is NUL-terminated; RTLD_NEXT searches the objects
    // loaded after this one.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
}

fn abort_with(message: &CStr) -> ! {
    let bytes = message.to_bytes();
    // SAFETY: writes a static buffer to stderr; the result does not matter.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
    std::process::abort()
}

/// The function in `slot`, the next allocator's or a bootstrap one.
///
/// # Safety
///
/// `F` is the C signature of the function of the slot's name.
#[inline(always)]
unsafe fn get<F: Copy>(slot: &AtomicPtr<c_void>) -> F {
    let f = slot.load(Acquire);
    debug_assert_eq!(size_of::<F>(), size_of::<*mut c_void>());
    // SAFETY: the slot holds a function of this name, resolved or
    // bootstrap, whose C signature `F` is (the caller's contract).
    unsafe { std::mem::transmute_copy(&f) }
}

/// The next `free` of a block the preload did not allocate.
///
/// # Safety
///
/// [`ready`] returned true; `p` is a live block of the next allocator.
pub(crate) unsafe fn free_foreign(p: *mut c_void) {
    // SAFETY: the caller's contract.
    unsafe { get::<Free>(&FREE)(p) }
}

/// The next `realloc` of a block the preload did not allocate.
///
/// # Safety
///
/// [`ready`] returned true; `p` is a live block of the next allocator.
pub(crate) unsafe fn realloc_foreign(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the caller's contract.
    unsafe { get::<Realloc>(&REALLOC)(p, size) }
}

/// The next `malloc_usable_size` of a block the preload did not allocate.
///
/// # Safety
///
/// [`ready`] returned true; `p` is a live block of the next allocator.
pub(crate) unsafe fn usable_size_foreign(p: *mut c_void) -> usize {
    // SAFETY: the caller's contract.
    unsafe { get::<UsableSize>(&USABLE_SIZE)(p) }
}

/// The room before a block of alignment `align`.
#[inline(always)]
fn offset(align: usize) -> usize {
    align.max(header::SIZE)
}

/// The `GlobalAlloc` over the next allocator; every block has its header's
/// room before it. Until the next allocator is known, blocks come from the
/// bootstrap arena (`arena.rs`), and a free of one is ignored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Next;

// SAFETY: every block comes from the next allocator, `offset(align)` bytes
// into a block of `size + offset(align)` bytes aligned to `offset(align)`,
// so it is aligned and as long as the layout says; dealloc and realloc undo
// the same offset. Zero sizes are accepted (the entry points pass
// `malloc(0)` through).
unsafe impl GlobalAlloc for Next {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let off = offset(layout.align());
        let Some(total) = layout.size().checked_add(off) else {
            return ptr::null_mut();
        };
        // SAFETY: C functions of these signatures.
        let base = unsafe {
            if off == header::SIZE {
                get::<Malloc>(&MALLOC)(total)
            } else {
                get::<Memalign>(&MEMALIGN)(off, total)
            }
        };
        if base.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `base` has `total` bytes.
        unsafe { base.cast::<u8>().add(off) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let off = offset(layout.align());
        if off != header::SIZE {
            // SAFETY: forwarded.
            let p = unsafe { self.alloc(layout) };
            if !p.is_null() {
                // SAFETY: `p` has `layout.size()` bytes.
                unsafe { ptr::write_bytes(p, 0, layout.size()) };
            }
            return p;
        }
        let Some(total) = layout.size().checked_add(off) else {
            return ptr::null_mut();
        };
        // SAFETY: a C function of this signature.
        let base = unsafe { get::<Calloc>(&CALLOC)(1, total) };
        if base.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `base` has `total` bytes.
        unsafe { base.cast::<u8>().add(off) }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if arena::contains(p) {
            return;
        }
        // SAFETY: not an arena block, so the next allocator was resolved
        // when it was allocated; `p` is `offset` bytes into a block of the next allocator.
        unsafe { get::<Free>(&FREE)(p.sub(offset(layout.align())).cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let off = offset(layout.align());
        if off != header::SIZE || arena::contains(p) {
            // The next realloc only keeps 16-byte alignment, and knows
            // nothing of the arena: move the block.
            // SAFETY: the caller's contract, which the new layout keeps.
            let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: forwarded.
            let q = unsafe { self.alloc(new) };
            if !q.is_null() {
                // SAFETY: both blocks are live, distinct and this long.
                unsafe { ptr::copy_nonoverlapping(p, q, layout.size().min(new_size)) };
                // SAFETY: forwarded.
                unsafe { self.dealloc(p, layout) };
            }
            return q;
        }
        let Some(total) = new_size.checked_add(off) else {
            return ptr::null_mut();
        };
        // SAFETY: not an arena block (resolved, as in `dealloc`); `p` is
        // `off` bytes into a block of the next allocator.
        let base = unsafe { get::<Realloc>(&REALLOC)(p.sub(off).cast(), total) };
        if base.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `base` has `total` bytes.
        unsafe { base.cast::<u8>().add(off) }
    }
}
