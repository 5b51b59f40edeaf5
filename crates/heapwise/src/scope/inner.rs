//! Scopes: named regions of code whose heap activity is counted, nested under
//! their parents, with optional limits.
//!
//! # Mechanism
//!
//! A [`Scope`](crate::Scope) is a reference-counted handle to a `ScopeInner` holding shared
//! [`Counters`], its limits and its parent. A thread is *in* a scope while a
//! [`ScopeGuard`](crate::ScopeGuard) (from [`Scope::enter`](crate::Scope::enter), [`Scope::run`](crate::Scope::run), [`track`](crate::track), or a
//! wrapped future's poll) is alive: the guard stores the scope in the thread's
//! block (`local/block.rs`) and restores the previous scope when dropped, also during
//! a panic. Nothing is inherited implicitly: a spawned thread or task is charged
//! to a scope only while it runs inside one, as in gotcha.
//!
//! Activity is batched per thread and charged to the whole chain (scope,
//! parent, ..., root) and to the process counters at once, by [`charge`].
//! After each charge every level's limits are compared with its counters; the
//! first crossing is recorded in the level's `exceeded` word and waiters are
//! notified through `cancel.rs` without allocating or locking.
//!
//! # Reference counts
//!
//! `refs` counts handles (weight 1) and threads whose current scope this is
//! (weight [`THREAD_REF`]): a thread's current-scope pointer owns a reference,
//! which a [`ScopeGuard`](crate::ScopeGuard) takes over for the scope it replaced and hands back on
//! drop, so even a leaked guard never leaves a thread pointing at a freed scope.
//!
//! With owner tracking (see [`crate::Alloc::owner_tracking`]) `refs` also
//! counts the live blocks whose trailer names the scope, so a scope outlives its
//! last handle until its last block is freed. Allocations are added when a
//! thread flushes its batch, but a free on another thread is subtracted at
//! once, so the block count can run ahead by a thread's unflushed allocations.
//! Those exist only on threads inside the scope, and a batch holds at most
//! `FLUSH_BYTES` calls (each costs at least one byte of countdown), far below
//! `THREAD_REF`: so `refs` cannot reach zero while a handle or a thread holds
//! the scope, and once neither does, it equals the live block count exactly.

use crate::scope::name::Name;
use std::alloc::{GlobalAlloc, Layout, System};

use std::ptr::{self, NonNull};
use std::sync::atomic::{
    AtomicBool, AtomicIsize, AtomicPtr, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::local::hooks::{self, Chain};
use crate::local::process;
use crate::local::usage::{Counters, Delta};
use crate::local::{Local, FLUSH_BYTES};
use crate::scope::cancel::Waiters;
use crate::scope::limit::LimitKind;

pub(super) const NO_LIMIT: u64 = u64::MAX;
/// `exceeded` while the first crossing's figures are being written.
pub(super) const CROSSING: u64 = u64::MAX;
/// `exceeded` flag: the crossing was a hard limit refusing a call.
pub(super) const REFUSED: u64 = 1 << 8;

pub(crate) struct ScopeInner {
    pub(crate) counters: Counters,
    pub(super) refs: AtomicIsize,
    /// Owning reference to the parent (counted in its `refs`), or null.
    pub(super) parent: *const ScopeInner,
    /// The nearest ancestor with limits, or null: limits are checked and
    /// budgets computed along these links only, so a deep chain of scopes
    /// without limits costs nothing to enter (set when the scope is made;
    /// an ancestor's configuration is final by then).
    pub(super) limited_above: *const ScopeInner,
    /// A hard limit is set on some ancestor.
    pub(super) hard_above: bool,
    /// The nearest named ancestor, or null (the label of profile samples).
    pub(super) named_above: *const ScopeInner,
    pub(super) limits: [u64; LimitKind::COUNT],
    pub(super) has_limits: bool,
    pub(super) hard: bool,
    /// The first crossing: 0 (none), [`CROSSING`] while it is being
    /// recorded, or `(kind + 1) | REFUSED?` once `crossed_used` and
    /// `crossed_request` hold its figures. See [`ScopeInner::mark_exceeded`].
    pub(super) exceeded: AtomicU64,
    pub(super) crossed_used: AtomicU64,
    pub(super) crossed_request: AtomicU64,
    pub(super) name: Option<Name>,
    pub(super) id: u64,
    /// Listed in the registry of named scopes (`registry.rs`), or nothing
    /// to list (unnamed): entering checks this one flag.
    pub(super) listed: AtomicBool,
    pub(crate) waiters: Waiters,
    /// Notification queue link (`cancel.rs`).
    pub(crate) queued: AtomicBool,
    pub(crate) next: AtomicPtr<ScopeInner>,
}

// SAFETY: every field is either immutable after the scope is shared (`parent`,
// `limits`, `name`, ...), atomic, or behind a lock (`waiters`). `parent` points
// to a `ScopeInner` kept alive by the reference this scope holds on it.
unsafe impl Send for ScopeInner {}
// SAFETY: as above.
unsafe impl Sync for ScopeInner {}

pub(super) static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Weight of the reference a thread holds on its current scope; see the
/// module docs. Must exceed the calls one batch can hold (`FLUSH_BYTES`).
pub(super) const THREAD_REF: isize = 1 << 32;
const _: () = assert!(THREAD_REF > 4 * FLUSH_BYTES);

/// One crossing of a limit, as recorded on the scope that crossed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Crossing {
    pub(crate) kind: LimitKind,
    /// The figure seen (or, for a refused call, the one it would have reached).
    pub(crate) used: u64,
    /// The bytes a refused call asked for; `None` for a cooperative crossing.
    pub(crate) refused: Option<u64>,
}

impl ScopeInner {
    pub(super) fn name_or_empty(&self) -> &str {
        self.name.as_ref().map_or("", Name::as_str)
    }

    pub(crate) fn refs(&self) -> &AtomicIsize {
        &self.refs
    }

    pub(super) fn parent(&self) -> Option<&ScopeInner> {
        // SAFETY: `parent` is null or points to a live scope: this scope holds a
        // reference on it until `Drop`.
        unsafe { self.parent.as_ref() }
    }

    /// This scope and its ancestors, innermost first.
    pub(crate) fn ancestors(&self) -> impl Iterator<Item = &ScopeInner> {
        std::iter::successors(Some(self), |s| s.parent())
    }

    /// Is a limit set on `scope` (null: none) or an ancestor? Such a chain
    /// needs the budget walk (`budget`) whenever a thread enters it.
    #[inline]
    pub(crate) fn limited(scope: *const ScopeInner) -> bool {
        // SAFETY: the caller holds a reference on `scope` (a thread's stack
        // entry or a handle), so it is null or live.
        unsafe { scope.as_ref() }.is_some_and(|s| s.has_limits || !s.limited_above.is_null())
    }

    /// The scopes of the chain that set limits, innermost first: the only
    /// ones a limit check or a budget needs to visit.
    pub(crate) fn limited_levels(&self) -> impl Iterator<Item = &ScopeInner> {
        let first = if self.has_limits {
            Some(self)
        } else {
            // SAFETY: an ancestor, kept alive by the chain of parent references.
            unsafe { self.limited_above.as_ref() }
        };
        std::iter::successors(first, |s| {
            debug_assert!(s.has_limits, "limited_above links only scopes with limits");
            // SAFETY: as above.
            unsafe { s.limited_above.as_ref() }
        })
    }

    /// The limits set on this scope, with their kinds.
    pub(super) fn set_limits(&self) -> impl Iterator<Item = (LimitKind, u64)> + '_ {
        LimitKind::ALL
            .into_iter()
            .map(|k| (k, self.limits[k as usize]))
            .filter(|&(_, limit)| limit != NO_LIMIT)
    }

    /// Is a hard limit set on this scope or an ancestor?
    pub(super) fn hard_on_chain(&self) -> bool {
        (self.hard && self.has_limits) || self.hard_above
    }

    /// The innermost named scope of the chain.
    pub(super) fn named(&self) -> Option<&ScopeInner> {
        if self.name.is_some() {
            return Some(self);
        }
        // SAFETY: an ancestor, kept alive by the chain of parent references.
        unsafe { self.named_above.as_ref() }
    }

    pub(super) fn used(&self, kind: LimitKind) -> u64 {
        let c = &self.counters;
        match kind {
            LimitKind::Bytes => c.bytes(),
            LimitKind::LiveBytes => c.live().max(0) as u64,
            LimitKind::Allocs => c.allocs(),
            LimitKind::Calls => c.calls(),
        }
    }

    /// The first crossing, if any. Waits out the few instructions between a
    /// crossing being claimed and its figures being written (user code only).
    pub(crate) fn crossing(&self) -> Option<Crossing> {
        let word = loop {
            match self.exceeded.load(Acquire) {
                CROSSING => std::thread::yield_now(),
                w => break w,
            }
        };
        if word == 0 {
            return None;
        }
        Some(Crossing {
            kind: LimitKind::from_index(((word & 0xff) - 1) as usize),
            used: self.crossed_used.load(Relaxed),
            refused: (word & REFUSED != 0).then(|| self.crossed_request.load(Relaxed)),
        })
    }

    /// Records the first crossing and notifies waiters. Allocator-safe: the
    /// thread that claims the crossing writes its figures and publishes
    /// them; nobody in the allocator ever waits for that.
    pub(super) fn mark_exceeded(&self, kind: LimitKind, used: u64, refused: Option<u64>) {
        if self
            .exceeded
            .compare_exchange(0, CROSSING, Acquire, Relaxed)
            .is_err()
        {
            return;
        }
        self.crossed_used.store(used, Relaxed);
        self.crossed_request.store(refused.unwrap_or(0), Relaxed);
        let word = (kind as u64 + 1) | if refused.is_some() { REFUSED } else { 0 };
        self.exceeded.store(word, Release);
        let limit = self.limits[kind as usize];
        let kind_name = kind.field_name().trim_start_matches("limit_");
        crate::events::limit_exceeded(self.id, self.name_or_empty(), kind_name, limit, used);
        crate::scope::cancel::notify(self);
    }

    /// Compares the counters with the limits after a charge. Allocator-safe.
    pub(super) fn check_limits(&self) {
        if !self.has_limits || self.exceeded.load(Relaxed) != 0 {
            return;
        }
        for (kind, limit) in self.set_limits() {
            let used = self.used(kind);
            if used > limit {
                self.mark_exceeded(kind, used, None);
                return;
            }
        }
    }

    pub(super) fn release(ptr: *const ScopeInner) {
        ScopeInner::release_n(ptr, 1);
    }

    /// Drops references of total weight `n`; frees the scope if they were
    /// the last, then releases its parent the same way (a loop, not
    /// recursion, so a deep chain cannot overflow the stack). The first
    /// round is inline: leaving a scope ends here.
    #[inline]
    pub(super) fn release_n(ptr: *const ScopeInner, n: isize) {
        // SAFETY: the caller owns references of weight `n` on `ptr`, which
        // is null or live.
        if let Some(inner) = unsafe { ptr.as_ref() } {
            if inner.refs.fetch_sub(n, Release) == n {
                ScopeInner::free_chain(ptr);
            }
        }
    }

    /// Frees `ptr`, whose last reference was just dropped, then releases
    /// its parent's reference, and so on up while those were the last.
    #[cold]
    #[inline(never)]
    fn free_chain(mut ptr: *const ScopeInner) {
        loop {
            std::sync::atomic::fence(Acquire);
            // SAFETY: `ptr` is live: its last reference was just dropped, by
            // the caller or by the previous round (a child that held it).
            let parent = unsafe { (*ptr).parent };
            // SAFETY: that was the last reference; the parent's reference
            // moves to `parent` and is released below.
            unsafe { ScopeInner::free(ptr) };
            // SAFETY: `parent` is null or live (the freed child held it).
            match unsafe { parent.as_ref() } {
                Some(p) if p.refs.fetch_sub(1, Release) == 1 => ptr = parent,
                _ => return,
            }
        }
    }

    /// A scope under `parent`, not yet placed in memory.
    ///
    /// # Safety
    ///
    /// `parent` is null or a live scope whose reference the new scope takes over.
    pub(super) unsafe fn new(parent: *const ScopeInner) -> ScopeInner {
        // SAFETY: the caller's contract.
        let above = unsafe { parent.as_ref() };
        ScopeInner {
            counters: Counters::new(),
            refs: AtomicIsize::new(1),
            parent,
            limited_above: above.map_or(ptr::null(), |p| {
                p.limited_levels().next().map_or(ptr::null(), ptr::from_ref)
            }),
            hard_above: above.is_some_and(ScopeInner::hard_on_chain),
            named_above: above
                .and_then(ScopeInner::named)
                .map_or(ptr::null(), ptr::from_ref),
            limits: [NO_LIMIT; LimitKind::COUNT],
            has_limits: false,
            hard: false,
            exceeded: AtomicU64::new(0),
            crossed_used: AtomicU64::new(0),
            crossed_request: AtomicU64::new(0),
            name: None,
            id: NEXT_ID.fetch_add(1, Relaxed),
            listed: AtomicBool::new(true),
            waiters: Waiters::new(),
            queued: AtomicBool::new(false),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Places a scope in memory from [`System`], so heapwise's own bookkeeping
    /// is never charged to the scope that creates a child.
    pub(super) fn allocate(inner: ScopeInner) -> NonNull<ScopeInner> {
        // Before any thread can point at a scope, the per-thread layer must
        // know how to charge one.
        hooks::install(&CHAIN);
        let layout = Layout::new::<ScopeInner>();
        // SAFETY: `ScopeInner` is not zero-sized.
        let ptr = unsafe { System.alloc(layout) }.cast::<ScopeInner>();
        let Some(ptr) = NonNull::new(ptr) else {
            std::alloc::handle_alloc_error(layout);
        };
        // SAFETY: `ptr` is a fresh, suitably aligned allocation for a `ScopeInner`.
        unsafe { ptr.as_ptr().write(inner) };
        process::own(layout.size() as isize);
        ptr
    }

    /// Frees the scope's memory. Its reference on its parent is not
    /// released: the caller does that.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`ScopeInner::allocate`] and nothing references it any more.
    pub(super) unsafe fn free(ptr: *const ScopeInner) {
        let ptr = ptr as *mut ScopeInner;
        // SAFETY: the caller guarantees exclusive ownership of a live scope,
        // allocated from `System` with this layout.
        unsafe {
            ptr::drop_in_place(ptr);
            System.dealloc(ptr.cast(), Layout::new::<ScopeInner>());
        }
        process::own(-(size_of::<ScopeInner>() as isize));
    }
}

/// What the per-thread layer calls to charge its batches (`local/hooks.rs`).
static CHAIN: Chain = Chain {
    charge: |scope, d| charge_chain(scope.cast(), d),
    budget: |scope| budget(scope.cast()),
};

/// Charges a batch to `scope`, its ancestors and the process counters (shard
/// `shard`, the calling thread's), then checks limits. Allocator-safe:
/// atomics only, no allocation, no lock.
pub(crate) fn charge(scope: *const ScopeInner, d: &Delta, shard: usize) {
    process::GLOBAL.add(shard, d);
    charge_chain(scope, d);
}

/// Charges a batch to `scope` and its ancestors (not the process), then
/// checks limits.
fn charge_chain(scope: *const ScopeInner, d: &Delta) {
    // SAFETY: `scope` is null or a live scope: the current scope of a thread is
    // kept alive by the guard that entered it, and a block owner by its block.
    let Some(first) = (unsafe { scope.as_ref() }) else {
        return;
    };
    for inner in first.ancestors() {
        debug_assert!(inner.refs.load(Relaxed) > 0, "charging a freed scope");
        inner.counters.add(d);
        inner.check_limits();
    }
    if process::owner_mode() {
        let net = (d.allocs as isize).wrapping_sub(d.frees as isize);
        if net > 0 {
            first.refs.fetch_add(net, Relaxed);
        } else if net < 0 {
            // The last block of a scope with no handle left may have been
            // freed. Runs inside the allocator's reentrancy guard: only frees
            // happen.
            ScopeInner::release_n(scope, -net);
        }
    }
}

/// The countdown for a thread in `scope`: [`FLUSH_BYTES`], or less when a
/// limit on the chain is closer than that. Visits only the scopes that set
/// limits.
pub(crate) fn budget(scope: *const ScopeInner) -> isize {
    let mut budget = FLUSH_BYTES as u64;
    // SAFETY: as in `charge`.
    let Some(first) = (unsafe { scope.as_ref() }) else {
        return FLUSH_BYTES;
    };
    for inner in first.limited_levels() {
        // A cooperative limit only needs to be seen crossing once.
        if inner.hard || inner.exceeded.load(Relaxed) == 0 {
            for (kind, limit) in inner.set_limits() {
                budget = budget.min(limit.saturating_sub(inner.used(kind)));
            }
        }
    }
    budget as isize
}

/// The id of `scope`, 0 for none. Allocator-safe.
pub(crate) fn id_of(scope: *const ScopeInner) -> u64 {
    // SAFETY: as in `charge`.
    unsafe { scope.as_ref() }.map_or(0, |s| s.id)
}

/// The name a heap-profile sample made in `scope` is labelled with: the
/// innermost named scope on the chain. Allocator-safe.
pub(crate) fn profile_label<'a>(scope: *const ScopeInner) -> Option<&'a str> {
    // SAFETY: as in `charge`: the calling thread holds a reference on its
    // current scope, which holds its parents, for the whole allocator call.
    let inner = unsafe { scope.as_ref() }?;
    inner.named()?.name.as_ref().map(Name::as_str)
}

/// Whether a hard limit is set anywhere on `scope`'s chain. Allocator-safe.
pub(crate) fn has_hard_limits(scope: *const ScopeInner) -> bool {
    // SAFETY: as in `charge`.
    unsafe { scope.as_ref() }.is_some_and(ScopeInner::hard_on_chain)
}

/// Would `op` cross a hard limit on the current scope chain (slow path)?
/// If a hard limit is on the chain, the pending batch is charged first,
/// then `op` is checked against the charged figures.
///
/// Checking first and charging later let two threads each miss the
/// other's batch: X checks (not seeing Y's batch), Y flushes and sets a
/// fresh countdown (not seeing X's, still pending), X flushes; Y then
/// allocated a whole countdown on top of X's checked-but-unseen batch,
/// and two threads under a hard 100 KiB limit got 64.4 KiB over it (1
/// run in 15), more than the one batch of the other thread the docs
/// promise. Charging first orders the two threads' charges on the
/// scope's counters: whichever charges second sees the other's in its
/// check, so the overshoot is at most the batches still pending on the
/// other threads, and each of those was bounded by the distance to the
/// limit when its countdown was set. Without a hard limit on the chain
/// this is one walk of it and nothing is charged.
///
/// Inline for its first test: outside any scope (full mode's usual case, a
/// call per allocation) it is one compare.
#[inline]
pub(crate) fn refuses_hard(l: &Local, op: &Delta) -> bool {
    let scope: *const ScopeInner = l.scope().cast();
    !scope.is_null() && refuses_hard_in(l, scope, op)
}

/// [`refuses_hard`] inside a scope.
#[inline(never)]
fn refuses_hard_in(l: &Local, scope: *const ScopeInner, op: &Delta) -> bool {
    if !has_hard_limits(scope) {
        return false;
    }
    l.flush_pending();
    refuse_hard(scope, op)
}

/// Would `op` cross a hard limit on the chain, given the figures charged so
/// far (the caller charged its thread's batch first: see
/// [`refuses_hard`])? If so the crossing is recorded and `true`
/// returned, and the allocator fails the call. Allocator-safe.
///
/// A thread that is panicking is never refused: its panic hook (the
/// message, a backtrace under `RUST_BACKTRACE=1`) and the drops of
/// unwinding must be able to allocate, or a refused allocation there would
/// abort the process (`handle_alloc_error`), or deadlock on the backtrace
/// lock the hook holds. (The allocator's slow paths do not ask while
/// their thread panics in a scope: its calls are then the process's, see
/// `local/panic_window.rs`; the check here keeps the rule for any caller.)
pub(crate) fn refuse_hard(scope: *const ScopeInner, op: &Delta) -> bool {
    // SAFETY: as in `charge`.
    let Some(first) = (unsafe { scope.as_ref() }) else {
        return false;
    };
    for inner in first.limited_levels().filter(|s| s.hard) {
        for (kind, limit) in inner.set_limits() {
            let projected = match kind {
                LimitKind::Bytes => inner.counters.bytes().saturating_add(op.bytes),
                LimitKind::LiveBytes => inner.counters.live().wrapping_add(op.live()).max(0) as u64,
                LimitKind::Allocs => inner.counters.allocs().saturating_add(op.allocs),
                LimitKind::Calls => inner.counters.calls().saturating_add(op.calls),
            };
            if projected > limit {
                if std::thread::panicking() {
                    return false;
                }
                inner.mark_exceeded(kind, projected, Some(op.bytes));
                return true;
            }
        }
    }
    false
}
