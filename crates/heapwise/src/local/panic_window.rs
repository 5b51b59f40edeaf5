//! A panicking thread's allocations are the process's, not its scopes'.
//!
//! While a thread in a scope panics, its panic hook formats the message
//! and, under `RUST_BACKTRACE=1`, symbolizes a backtrace: std loads the
//! program's debug info into a cache it keeps for the process's life (31
//! MB and 86,000 blocks for a small program). Charged to the scope, that
//! cache left it above its limits for good: a cooperative scope read as
//! exceeded, and a hard one refused the next infallible allocation made in
//! it after the panic was caught, which aborts the process.
//!
//! So from the first slow path that finds its thread panicking inside a
//! scope until the first one that finds the panic over (the **window**),
//! the thread's allocations are charged to the process alone, and every
//! call takes the slow path (the countdown stays negative while
//! `PANICKING` is set). Its frees are charged as usual, so the drops of
//! unwinding give the scope back its blocks, except frees of blocks the
//! window allocated, which the process alone gets back too: owner tracking
//! names no scope in those blocks' trailers; without it the window keeps
//! their addresses in a set, here. A block the window allocated and the
//! program frees after it (the panic's payload, when the catcher drops it)
//! is then an ordinary free in whatever scope frees it (owner tracking:
//! the process's).
//!
//! Slow paths only, behind the reentrancy guard: the set is heapwise's own
//! memory. If it cannot grow, the block is charged as usual.

use std::collections::HashSet;
use std::ffi::c_void;
use std::hash::{BuildHasherDefault, Hasher};

use crate::local::{with_local, Local};

/// Opens this thread's panic window now (the panic hook, before anything it
/// allocates: `scope/panic_hook.rs`), if the thread is in a scope.
pub(crate) fn open_panic_window() {
    with_local(|l| {
        if !l.is_guarded() && !l.scope().is_null() && !l.in_panic_window() {
            // Behind the guard; opening charges the pending batch first.
            let _guard = l.guard();
            l.open_panic_window();
        }
    });
}

/// The addresses of the blocks a window allocated and has not freed.
type Blocks = HashSet<usize, BuildHasherDefault<AddressHasher>>;

/// Block addresses are distinct and 16-aligned: a multiply spreads them.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

impl Local {
    /// Runs `f` on this thread's set, made on first use; `None` if there is
    /// no memory for it.
    fn with_blocks<R>(&self, f: impl FnOnce(&mut Blocks) -> R) -> Option<R> {
        let mut p = self.panic_blocks().cast::<Blocks>();
        if p.is_null() {
            let mut set = Blocks::default();
            set.try_reserve(64).ok()?;
            p = Box::into_raw(Box::new(set));
            self.set_panic_blocks(p.cast::<c_void>());
        }
        // SAFETY: made here by `Box::into_raw`, owned by this thread's
        // block, and used only by this thread, one slow path at a time
        // (behind the reentrancy guard, so no call nests in another), for
        // the length of `f`.
        Some(f(unsafe { &mut *p }))
    }

    /// Notes that the window allocated `p`. `false`: there was no memory
    /// to note it, so it is charged as an ordinary allocation.
    pub(crate) fn panic_allocated(&self, p: *mut u8) -> bool {
        debug_assert!(self.is_guarded() && self.in_panic_window());
        self.with_blocks(|set| {
            let room = set.try_reserve(1).is_ok();
            if room {
                // (Already there if another thread freed it: the same block.)
                set.insert(p as usize);
            }
            room
        })
        .unwrap_or(false)
    }

    /// Whether the window allocated `p` (which is being freed: forgotten).
    pub(crate) fn panic_freed(&self, p: *mut u8) -> bool {
        debug_assert!(self.is_guarded());
        if self.panic_blocks().is_null() {
            return false;
        }
        self.with_blocks(|set| set.remove(&(p as usize)))
            .unwrap_or(false)
    }

    /// Drops the set (the window closed, or the thread is exiting).
    pub(crate) fn forget_panic_blocks(&self) {
        debug_assert!(self.is_guarded());
        let p = self.panic_blocks().cast::<Blocks>();
        if !p.is_null() {
            self.set_panic_blocks(std::ptr::null_mut());
            // SAFETY: made by `Box::into_raw` in `blocks`, and no longer
            // reachable from the thread's block.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}
