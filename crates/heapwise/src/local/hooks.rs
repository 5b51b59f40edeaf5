//! The one call this layer makes upward: charging a batch to a scope chain.
//!
//! A thread's block holds its current scope as an opaque pointer. When a
//! batch is flushed with a scope set, the block charges the process counters
//! itself and hands the batch to the scope layer's [`Chain`] functions,
//! which the scope layer installs when it makes its first scope (before any
//! thread can point at one). Without a scope nothing is called.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::Acquire, Ordering::Release};

use crate::local::usage::Delta;

/// A scope, opaque to this layer (the scope layer's `ScopeInner`).
pub(crate) type ScopeRef = *const ();

/// What the scope layer does for this one. Allocator-safe functions: no
/// allocation, no lock, no panic.
#[derive(Debug)]
pub(crate) struct Chain {
    /// Charges a batch to the scope and its ancestors, then checks limits.
    pub(crate) charge: fn(ScopeRef, &Delta),
    /// The countdown for a thread in the scope (flush size or distance to
    /// the nearest limit).
    pub(crate) budget: fn(ScopeRef) -> isize,
}

static CHAIN: AtomicPtr<Chain> = AtomicPtr::new(ptr::null_mut());

/// Installs the scope layer's functions (idempotent). Called for every new
/// scope: after the first, a read of a line every thread only reads, not a
/// store that would bounce it between the threads making scopes.
pub(crate) fn install(chain: &'static Chain) {
    let p = ptr::from_ref(chain).cast_mut();
    if CHAIN.load(Acquire) != p {
        CHAIN.store(p, Release);
    }
}

/// The installed functions. A non-null scope exists only after [`install`].
#[inline]
pub(crate) fn chain() -> &'static Chain {
    let p = CHAIN.load(Acquire);
    debug_assert!(
        !p.is_null(),
        "a scope exists before the scope layer installed its chain"
    );
    // SAFETY: only `install` stores, from a `&'static Chain`; callers hold a
    // scope, which the scope layer made after installing.
    unsafe { &*p }
}
