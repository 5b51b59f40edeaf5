//! The live named scopes: what `/debug/heapwise/scopes` and
//! [`Scope::named`](crate::Scope::named) list.
//!
//! A named scope is registered the first time a thread enters it (so the
//! builder can still configure it before). The registry holds a handle on
//! each, so a listing never races with a scope being freed; entries that
//! only the registry still holds are pruned whenever the registry has doubled
//! since the last pruning, which keeps registration amortised O(1) and the
//! registry at most twice the live named scopes. A pruned scope is dropped
//! outside the reentrancy guard, so the free of its name is counted like any
//! other. None of this runs on the allocator path.

use std::sync::atomic::Ordering::Acquire;

use crate::local::without_accounting;
use crate::scope::Scope;
use crate::sys::fork::{AtFork, Rank};
use crate::sys::lock::{Lock, LockGuard};

struct Registry {
    scopes: Vec<Scope>,
    /// Length after the last pruning.
    kept: usize,
}

static REGISTRY: Lock<Registry> = Lock::new(Registry {
    scopes: Vec::new(),
    kept: 0,
});

static FORK: AtFork = AtFork::new(
    Rank::Registry,
    || REGISTRY.hold_for_fork(),
    // SAFETY: called once after `fork`, by the thread that held it.
    || unsafe { REGISTRY.release_after_fork() },
);

fn lock() -> LockGuard<'static, Registry> {
    FORK.ensure();
    REGISTRY.lock()
}

/// Only the registry holds it (no handle, no thread, no owned block).
fn unused(s: &Scope) -> bool {
    s.inner().refs().load(Acquire) == 1
}

/// Registers `scope` (named, entered for the first time).
pub(crate) fn register(scope: &Scope) {
    let handle = scope.clone();
    let mut dead = without_accounting(|| {
        let mut r = lock();
        r.scopes.push(handle);
        let mut dead = Vec::new();
        if r.scopes.len() >= 2 * r.kept.max(16) {
            let mut i = 0;
            while i < r.scopes.len() {
                if unused(&r.scopes[i]) {
                    dead.push(r.scopes.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            r.kept = r.scopes.len();
        }
        dead
    });
    while let Some(s) = dead.pop() {
        drop(s);
    }
    without_accounting(move || drop(dead));
}

/// Handles on the live named scopes, in registration order (roughly).
pub(crate) fn named_scopes() -> Vec<Scope> {
    let live: Vec<Scope> = without_accounting(|| {
        let r = lock();
        r.scopes.iter().filter(|s| !unused(s)).cloned().collect()
    });
    // Move the handles into a vector the caller owns (and frees, counted).
    let mut out = Vec::with_capacity(live.len());
    let mut live = live;
    out.append(&mut live);
    without_accounting(move || drop(live));
    out
}
