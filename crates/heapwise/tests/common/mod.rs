//! Helpers shared by the integration tests. Declares no global allocator:
//! each test file chooses its own.
#![allow(dead_code)]

pub(crate) mod child;
pub(crate) mod go;
pub(crate) mod profile;
pub(crate) mod stress;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every field of a `heapwise::Usage`, comparable as a whole, so a failing
/// assertion shows all the figures at once. (`Usage` is `#[non_exhaustive]`,
/// so tests cannot build one to compare with.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Figures {
    pub(crate) bytes: u64,
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    pub(crate) freed_bytes: u64,
    pub(crate) reallocs: u64,
    pub(crate) calls: u64,
    pub(crate) live_bytes: u64,
    pub(crate) peak_bytes: u64,
}

impl From<heapwise::Usage> for Figures {
    fn from(u: heapwise::Usage) -> Figures {
        Figures {
            bytes: u.bytes,
            allocs: u.allocs,
            frees: u.frees,
            freed_bytes: u.freed_bytes,
            reallocs: u.reallocs,
            calls: u.calls,
            live_bytes: u.live_bytes,
            peak_bytes: u.peak_bytes,
        }
    }
}

/// The figures of a scope, read now.
pub(crate) fn figures(scope: &heapwise::Scope) -> Figures {
    scope.usage().into()
}

/// Sets a flag when dropped: proves a future (or anything holding it) was dropped.
#[derive(Debug)]
pub(crate) struct DropFlag(pub(crate) Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Spins (yielding) until `cond` holds; panics after [`safety_net`], a
/// safety net against hangs, not a timing assertion.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + safety_net();
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// The safety-net timeout for anything that should happen promptly: 10 s,
/// or 120 s under valgrind, which runs one thread at a time ~150x slower:
/// tokio's worker threads made
/// `tasks_moving_between_tokio_workers_are_charged_exactly` take 13 to 17 s
/// under memcheck on 2 cores (0.12 s natively), and CI's memcheck run failed
/// on its 10 s net. A hang still fails, and `.ci/run` also times out each
/// binary under valgrind.
pub(crate) fn safety_net() -> Duration {
    Duration::from_secs(if under_valgrind() { 120 } else { 10 })
}

/// Whether this process runs under valgrind (its preload is in
/// `LD_PRELOAD`). It allocates nothing (tests call it inside scopes whose
/// figures they check): `getenv`, not `std::env::var_os`, which copies the
/// value.
pub(crate) fn under_valgrind() -> bool {
    // SAFETY: the name is a C string; the value, when there is one, is a C
    // string in the environment, which no test changes.
    unsafe {
        let p = libc::getenv(c"LD_PRELOAD".as_ptr());
        !p.is_null()
            && std::ffi::CStr::from_ptr(p)
                .to_bytes()
                .windows(9)
                .any(|w| w == b"vgpreload")
    }
}

/// Pending once, waking itself: a yield that does not allocate (tokio's
/// `yield_now` may grow a scheduler list while the scope is entered).
pub(crate) struct YieldOnce(pub(crate) bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
