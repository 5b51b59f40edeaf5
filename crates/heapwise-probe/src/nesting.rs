//! The per-thread nesting guard: an event fired while a probe runs on the
//! same thread is not delivered, it is counted as dropped.
//!
//! # Why
//!
//! A probe on the allocator's `alloc` event that allocates (a `Vec::push`, a
//! `format!`) re-enters the allocator, which fires `alloc` again, which would
//! call the probe again, forever. A probe that fires an event itself has the
//! same problem in one step. LTTng-UST's libc wrapper has the same rule
//! (`malloc_nesting == 1`): only the outermost event on a thread reaches the
//! probes. Each event counts the occurrences it dropped this way
//! ([`Event::dropped`](crate::Event::dropped), [`dropped`](crate::dropped)).
//!
//! # Thread-locals that always work
//!
//! The flag and the thread number are `const`-initialised `Cell`s of types
//! without a destructor. On targets with native thread-locals (Linux, macOS,
//! Windows, the BSDs) std compiles such a `thread_local!` to a plain
//! `#[thread_local]` static: no lazy initialisation, no destructor
//! registration, no allocation, and access never fails, before `main`, in
//! thread-local destructors and after them. `try_with` is still used; if it
//! ever failed (a target where std emulates thread-locals) the event is
//! treated as nested and counted as dropped, which is the safe side: the
//! firing path must never recurse.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// Set while this thread runs the probes of an event.
    static BUSY: Cell<bool> = const { Cell::new(false) };
    /// This thread's number for thread-scoped probes (0: not assigned yet).
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// The last thread number handed out.
static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);

/// Marks this thread as running probes. Returns `false` (and changes
/// nothing) if it already was, or if the thread-local is unavailable: the
/// event must then be dropped.
#[inline(always)]
pub(crate) fn enter() -> bool {
    matches!(BUSY.try_with(|b| b.replace(true)), Ok(false))
}

/// Undoes a successful [`enter`].
#[inline(always)]
pub(crate) fn leave() {
    let _was = BUSY.try_with(|b| b.replace(false));
    debug_assert!(
        matches!(_was, Ok(true)),
        "heapwise-probe: leave without enter"
    );
}

/// Whether this thread is running probes right now (inside a probe).
pub(crate) fn inside_probe() -> bool {
    BUSY.try_with(Cell::get).unwrap_or(true)
}

/// This thread's number, assigned on first use from a global counter (one
/// atomic add per thread, no allocation). Never 0. A thread whose
/// thread-locals are unavailable gets `u64::MAX - 1` (never a real number).
#[inline(always)]
pub(crate) fn thread_number() -> u64 {
    match THREAD.try_with(Cell::get) {
        Ok(0) => assign_thread_number(),
        Ok(n) => n,
        Err(_) => u64::MAX - 1,
    }
}

#[cold]
#[inline(never)]
fn assign_thread_number() -> u64 {
    let n = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) + 1;
    let _ = THREAD.try_with(|t| t.set(n));
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_is_not_reentrant() {
        assert!(!inside_probe());
        assert!(enter());
        assert!(inside_probe());
        assert!(!enter());
        leave();
        assert!(!inside_probe());
        assert!(enter());
        leave();
    }

    #[test]
    fn thread_numbers_differ_and_stick() {
        let a = thread_number();
        assert_eq!(a, thread_number());
        let b = std::thread::spawn(thread_number).join().unwrap();
        assert_ne!(a, b);
        assert_ne!(b, 0);
    }
}
