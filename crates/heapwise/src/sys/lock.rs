//! The lock of heapwise's own tables (profiler, registries), safe to take on
//! the allocator path and across `fork`.
//!
//! # Why not `std::sync::Mutex`
//!
//! A process that forks while another thread holds one of these locks gives
//! its child a lock that nobody will ever release: the child's first sample
//! or free of a sampled block hangs (18 children in 100 did, forking while
//! three threads allocated at rate 1). So every such lock is a [`Lock`]
//! registered with [`AtFork`](super::fork::AtFork): before `fork` the forking
//! thread takes them all (`pthread_atfork`'s prepare handler), so no other
//! thread is inside one, and after it releases them in the parent and the
//! child. `Lock` also never poisons: nothing panics while holding one, and a
//! poisoned lock must not be able to break the allocator.
//!
//! On Linux it is a futex word (0 free, 1 held, 2 held with waiters), as
//! glibc's and std's own locks are; elsewhere a spin that yields.
//!
//! # Signal handlers
//!
//! A signal handler that allocates may interrupt a thread inside one of
//! these locks; its allocation then runs behind the thread's reentrancy
//! guard, and must not wait for a lock its own thread holds (it would wait
//! forever: seen under `heapwise run` with a SIGPROF handler that mallocs).
//! So each thread remembers the lock it is taking or holding innermost
//! ([`Lock::is_held_here`]), set before the lock is taken and restored after
//! it is released, and a path that may run in such a handler asks before it
//! waits.

use std::cell::{Cell, UnsafeCell};
use std::ops::{Deref, DerefMut};
use std::ptr;
use std::sync::atomic::{
    AtomicU32,
    Ordering::{Acquire, Relaxed, Release},
};

thread_local! {
    /// The address of the lock this thread is taking or holds innermost (0:
    /// none). Const-initialised without a destructor: usable at any time,
    /// thread exit included.
    static HELD_HERE: Cell<usize> = const { Cell::new(0) };
}

const FREE: u32 = 0;
const HELD: u32 = 1;
const WAITED: u32 = 2;

/// A mutual-exclusion lock over `T`; see the module docs.
pub(crate) struct Lock<T> {
    state: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which only one thread
// holds at a time (the state word's acquire/release orders the accesses).
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Lock<T> {}

impl<T> Lock<T> {
    pub(crate) const fn new(data: T) -> Lock<T> {
        Lock {
            state: AtomicU32::new(FREE),
            data: UnsafeCell::new(data),
        }
    }

    /// Takes the lock, waiting for it if another thread holds it.
    #[inline]
    pub(crate) fn lock(&self) -> LockGuard<'_, T> {
        let outer = self.mark_here();
        self.acquire();
        LockGuard { lock: self, outer }
    }

    /// Takes the lock if no thread holds it: for paths that must never
    /// wait (the allocator's), which skip their work instead.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        let outer = self.mark_here();
        if self
            .state
            .compare_exchange(FREE, HELD, Acquire, Relaxed)
            .is_ok()
        {
            return Some(LockGuard { lock: self, outer });
        }
        HELD_HERE.with(|h| h.set(outer));
        None
    }

    /// Is this thread taking or holding this lock, innermost? True in a
    /// signal handler that interrupted its thread inside the lock: waiting
    /// for it there would never end.
    #[inline]
    pub(crate) fn is_held_here(&self) -> bool {
        HELD_HERE.with(Cell::get) == self.address()
    }

    fn address(&self) -> usize {
        ptr::from_ref(self).addr()
    }

    /// Marks this lock as the thread's innermost, before it is taken (so a
    /// signal handler interrupting the taking sees it); returns the mark it
    /// replaced, restored when the guard drops.
    #[inline]
    fn mark_here(&self) -> usize {
        HELD_HERE.with(|h| h.replace(self.address()))
    }

    #[inline]
    fn acquire(&self) {
        if self
            .state
            .compare_exchange(FREE, HELD, Acquire, Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self) {
        // Spin briefly: the holders of these locks hold them for a short
        // table update.
        for _ in 0..100 {
            std::hint::spin_loop();
            if self.state.load(Relaxed) == FREE
                && self
                    .state
                    .compare_exchange(FREE, HELD, Acquire, Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        while self.state.swap(WAITED, Acquire) != FREE {
            wait(&self.state, WAITED);
        }
    }

    /// Takes the lock for `fork` and keeps it until [`Lock::release_after_fork`].
    pub(crate) fn hold_for_fork(&self) {
        // Not marked: the forking thread holds every lock at once, and
        // allocates nothing behind them.
        self.acquire();
    }

    /// Releases a lock taken by [`Lock::hold_for_fork`], in the parent or the
    /// child.
    ///
    /// # Safety
    ///
    /// The calling thread took it with `hold_for_fork` and holds no guard on it.
    pub(crate) unsafe fn release_after_fork(&self) {
        self.unlock();
    }

    fn unlock(&self) {
        if self.state.swap(FREE, Release) == WAITED {
            wake_one(&self.state);
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").finish_non_exhaustive()
    }
}

/// Holds a [`Lock`]; released on drop.
pub(crate) struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
    /// The thread's mark before this lock was taken.
    outer: usize,
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock: no other reference exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` is unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
        // After the release: a handler interrupting it still sees the mark.
        HELD_HERE.with(|h| h.set(self.outer));
    }
}

#[cfg(target_os = "linux")]
fn wait(state: &AtomicU32, expected: u32) {
    // SAFETY: FUTEX_WAIT on a live, aligned 32-bit word; it only sleeps
    // while the word holds `expected`, and returns on wake, signal or change.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            state.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

#[cfg(target_os = "linux")]
fn wake_one(state: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live, aligned 32-bit word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            state.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn wait(state: &AtomicU32, expected: u32) {
    if state.load(Relaxed) == expected {
        std::thread::yield_now();
    }
}

#[cfg(not(target_os = "linux"))]
fn wake_one(_: &AtomicU32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_across_threads() {
        static COUNT: Lock<u64> = Lock::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        *COUNT.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*COUNT.lock(), 80_000);
    }

    #[test]
    fn try_lock_fails_while_held() {
        let l = Lock::new(());
        let held = l.try_lock();
        assert!(held.is_some());
        assert!(l.try_lock().is_none());
        drop(held);
        assert!(l.try_lock().is_some());
    }

    #[test]
    fn a_thread_knows_the_lock_it_holds_innermost() {
        let (a, b) = (Lock::new(()), Lock::new(()));
        assert!(!a.is_held_here());
        let ga = a.lock();
        assert!(a.is_held_here());
        let gb = b.try_lock().expect("free");
        assert!(b.is_held_here() && !a.is_held_here());
        assert!(a.try_lock().is_none());
        assert!(b.is_held_here(), "a failed try_lock restores the mark");
        drop(gb);
        assert!(a.is_held_here());
        std::thread::scope(|s| {
            s.spawn(|| assert!(!a.is_held_here(), "another thread's lock"));
        });
        drop(ga);
        assert!(!a.is_held_here());
    }

    #[test]
    fn held_for_fork_and_released() {
        let l = Lock::new(1);
        l.hold_for_fork();
        assert_eq!(l.state.load(Relaxed), HELD);
        // SAFETY: held above by this thread, no guard outstanding.
        unsafe { l.release_after_fork() };
        assert_eq!(*l.lock(), 1);
    }
}
