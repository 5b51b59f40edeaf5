//! The panic hook that opens a thread's panic window (`local/panic_window.rs`)
//! before the panic's first allocation.
//!
//! A thread finds out it is panicking on its next slow path, and by then
//! the panic hook may have allocated up to a countdown's worth on the fast
//! path (64 KiB, or the distance to the scope's nearest limit), charged to
//! the scope: with a backtrace, the start of std's symbol cache, which
//! stays. So the first scope made wraps the process's panic hook in one
//! that opens the window first and then runs the hook it replaced. A hook
//! set later with `std::panic::set_hook` replaces the wrapper (and the
//! window then opens at the first slow path); one set with `take_hook`
//! and chained keeps it.

use std::sync::atomic::{AtomicU8, Ordering::AcqRel, Ordering::Acquire, Ordering::Release};

use crate::local;

/// Whether the hook is wrapped: 0 not yet, 1 being wrapped, 2 done. Not a
/// `Once`, whose other callers wait for the first: a child forked while
/// another thread of its parent wrapped the hook would wait forever (it
/// hung 1 fork in 300 in `tests/fork_while_threads_allocate.rs`). A thread
/// that finds it being wrapped goes on; its window opens at a slow path.
static WRAP: AtomicU8 = AtomicU8::new(0);

/// Wraps the panic hook, once (user code: when a scope is made).
pub(crate) fn install() {
    // The hook cannot be changed by a panicking thread.
    if WRAP.load(Acquire) != 0 || std::thread::panicking() {
        return;
    }
    if WRAP.compare_exchange(0, 1, AcqRel, Acquire).is_err() {
        return;
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        local::open_panic_window();
        hook(info);
    }));
    WRAP.store(2, Release);
}
