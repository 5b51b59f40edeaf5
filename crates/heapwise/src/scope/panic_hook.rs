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

use std::sync::Once;

use crate::local;

static WRAP: Once = Once::new();

/// Wraps the panic hook, once (user code: when a scope is made).
pub(crate) fn install() {
    if WRAP.is_completed() || std::thread::panicking() {
        // The hook cannot be changed by a panicking thread.
        return;
    }
    WRAP.call_once(|| {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            local::open_panic_window();
            hook(info);
        }));
    });
}
