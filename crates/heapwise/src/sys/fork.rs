//! `fork` with other threads inside heapwise: every lock of heapwise's
//! tables ([`Lock`](super::lock::Lock)) is taken by the forking thread before
//! the fork and released after it, in the parent and in the child, through
//! `pthread_atfork` (as glibc's malloc and jemalloc do for theirs).
//!
//! Each module that owns such locks declares one [`AtFork`] with its
//! [`Rank`], a function that takes them all and one that releases them, and
//! calls [`AtFork::ensure`] before it first takes any: the first call
//! registers the handlers with the process. Prepare takes the locks in rank
//! order, release lets them go in reverse. The rank is the lock order: a
//! thread holding one of these locks may take only locks of a later rank
//! (a free inside any of them may look a sampled block up in the live-block
//! table, so that table ranks last), and never one of the same or an
//! earlier rank, or prepare could wait for a thread that waits for it.

use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU32,
    Ordering::{AcqRel, Acquire, Relaxed},
};

/// The lock order of the modules with fork locks, first taken first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rank {
    /// The registry of named scopes.
    Registry,
    /// The waiters of cancelled scopes.
    Waiters,
    /// The CFI unwinder's tables (it asks the loader while holding it).
    Unwind,
    /// The dynamic loader's list of objects (`dl_iterate_phdr`).
    Loader,
    /// The profiler's stack depot and buckets.
    Depot,
    /// The live-block table: frees under any lock above reach it.
    Live,
    /// No lock: `solo.rs` tells the child it has one thread.
    Solo,
}

/// The fork handlers of one module's locks.
pub(crate) struct AtFork {
    registered: AtomicBool,
    rank: Rank,
    hold: fn(),
    release: fn(),
}

const SLOTS: usize = 8;
static HOOKS: [AtomicPtr<AtFork>; SLOTS] = [const { AtomicPtr::new(ptr::null_mut()) }; SLOTS];
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The ranks whose locks the forking thread holds (between prepare and
/// release), so a module registering meanwhile is not released unheld.
/// Another thread forking at the same time waits in prepare for the first
/// lock, which is released last, so it never overwrites this early.
static HELD: AtomicU32 = AtomicU32::new(0);
const _: () = assert!(SLOTS <= 32);

impl AtFork {
    /// `hold` takes every lock of the module ([`Lock::hold_for_fork`]);
    /// `release` releases them ([`Lock::release_after_fork`]).
    ///
    /// [`Lock::hold_for_fork`]: super::lock::Lock::hold_for_fork
    /// [`Lock::release_after_fork`]: super::lock::Lock::release_after_fork
    pub(crate) const fn new(rank: Rank, hold: fn(), release: fn()) -> AtFork {
        AtFork {
            registered: AtomicBool::new(false),
            rank,
            hold,
            release,
        }
    }

    /// Registers the handlers, once. Call it before taking any of the locks.
    /// Allocates nothing through Rust's global allocator.
    #[inline]
    pub(crate) fn ensure(&'static self) {
        if !self.registered.load(Acquire) {
            self.register_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn register_slow(&'static self) {
        if self.registered.swap(true, AcqRel) {
            return;
        }
        let placed = HOOKS[self.rank as usize].compare_exchange(
            ptr::null_mut(),
            ptr::from_ref(self).cast_mut(),
            AcqRel,
            Relaxed,
        );
        debug_assert!(placed.is_ok(), "two modules with one fork rank");
        if !INSTALLED.swap(true, AcqRel) {
            install();
        }
    }
}

fn hook(slot: usize) -> Option<&'static AtFork> {
    // SAFETY: slots hold null or a `&'static AtFork` stored by `register_slow`.
    unsafe { HOOKS[slot].load(Acquire).as_ref() }
}

extern "C" fn prepare() {
    let mut held = 0;
    for slot in 0..SLOTS {
        if let Some(h) = hook(slot) {
            (h.hold)();
            held |= 1 << slot;
        }
    }
    HELD.store(held, Relaxed);
}

extern "C" fn release() {
    let held = HELD.load(Relaxed);
    for slot in (0..SLOTS).rev().filter(|s| held & (1 << s) != 0) {
        if let Some(h) = hook(slot) {
            (h.release)();
        }
    }
}

#[cfg(unix)]
fn install() {
    // SAFETY: plain C callbacks that never unwind (they take and release
    // locks). glibc's registration allocates with its own malloc, never
    // through Rust's global allocator.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release)) };
    debug_assert_eq!(rc, 0, "pthread_atfork");
}

#[cfg(not(unix))]
fn install() {}
