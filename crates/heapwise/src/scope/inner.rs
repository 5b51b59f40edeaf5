//! Scopes: named regions of code whose heap activity is counted, nested under
//! their parents, with optional limits.
//!
//! # Mechanism
//!
//! A [`Scope`] is a reference-counted handle to a `ScopeInner` holding shared
//! [`Counters`], its limits and its parent. A thread is *in* a scope while a
//! [`ScopeGuard`] (from [`Scope::enter`], [`Scope::run`], [`track`], or a
//! wrapped future's poll) is alive: the guard stores the scope in the thread's
//! block (`local.rs`) and restores the previous scope when dropped, also during
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
//! which a [`ScopeGuard`] takes over for the scope it replaced and hands back on
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

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{
    AtomicBool, AtomicIsize, AtomicPtr, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::cancel::{Cancelled, Waiters};
use crate::future::{Instrumented, Limited};
use crate::limit::{LimitExceeded, LimitKind, Remaining};
use crate::local::{with_local, FLUSH_BYTES};
use crate::scope_stack;
use crate::stats;
use crate::usage::{Counters, Delta, Usage};

const NO_LIMIT: u64 = u64::MAX;
/// `exceeded` while the first crossing's figures are being written.
const CROSSING: u64 = u64::MAX;
/// `exceeded` flag: the crossing was a hard limit refusing a call.
const REFUSED: u64 = 1 << 8;

pub(crate) struct ScopeInner {
    pub(crate) counters: Counters,
    refs: AtomicIsize,
    /// Owning reference to the parent (counted in its `refs`), or null.
    parent: *const ScopeInner,
    /// The nearest ancestor with limits, or null: limits are checked and
    /// budgets computed along these links only, so a deep chain of scopes
    /// without limits costs nothing to enter (set when the scope is made;
    /// an ancestor's configuration is final by then).
    limited_above: *const ScopeInner,
    /// A hard limit is set on some ancestor.
    hard_above: bool,
    /// The nearest named ancestor, or null (the label of profile samples).
    named_above: *const ScopeInner,
    limits: [u64; LimitKind::COUNT],
    has_limits: bool,
    hard: bool,
    /// The first crossing: 0 (none), [`CROSSING`] while it is being
    /// recorded, or `(kind + 1) | REFUSED?` once `crossed_used` and
    /// `crossed_request` hold its figures. See [`ScopeInner::mark_exceeded`].
    exceeded: AtomicU64,
    crossed_used: AtomicU64,
    crossed_request: AtomicU64,
    name: Option<Cow<'static, str>>,
    id: u64,
    /// Listed in the registry of named scopes (`registry.rs`).
    registered: AtomicBool,
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

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Weight of the reference a thread holds on its current scope; see the
/// module docs. Must exceed the calls one batch can hold (`FLUSH_BYTES`).
const THREAD_REF: isize = 1 << 32;
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
    fn name_or_empty(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    pub(crate) fn refs(&self) -> &AtomicIsize {
        &self.refs
    }

    fn parent(&self) -> Option<&ScopeInner> {
        // SAFETY: `parent` is null or points to a live scope: this scope holds a
        // reference on it until `Drop`.
        unsafe { self.parent.as_ref() }
    }

    /// This scope and its ancestors, innermost first.
    pub(crate) fn ancestors(&self) -> impl Iterator<Item = &ScopeInner> {
        std::iter::successors(Some(self), |s| s.parent())
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
            // SAFETY: as above.
            unsafe { s.limited_above.as_ref() }
        })
    }

    /// The limits set on this scope, with their kinds.
    fn set_limits(&self) -> impl Iterator<Item = (LimitKind, u64)> + '_ {
        LimitKind::ALL
            .into_iter()
            .map(|k| (k, self.limits[k as usize]))
            .filter(|&(_, limit)| limit != NO_LIMIT)
    }

    /// Is a hard limit set on this scope or an ancestor?
    fn hard_on_chain(&self) -> bool {
        (self.hard && self.has_limits) || self.hard_above
    }

    /// The innermost named scope of the chain.
    fn named(&self) -> Option<&ScopeInner> {
        if self.name.is_some() {
            return Some(self);
        }
        // SAFETY: an ancestor, kept alive by the chain of parent references.
        unsafe { self.named_above.as_ref() }
    }

    fn used(&self, kind: LimitKind) -> u64 {
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
    fn mark_exceeded(&self, kind: LimitKind, used: u64, refused: Option<u64>) {
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
        crate::cancel::notify(self);
    }

    /// Compares the counters with the limits after a charge. Allocator-safe.
    fn check_limits(&self) {
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

    fn release(ptr: *const ScopeInner) {
        ScopeInner::release_n(ptr, 1);
    }

    /// Drops references of total weight `n`; frees the scope if they were
    /// the last, then releases its parent the same way (a loop, not
    /// recursion, so a deep chain cannot overflow the stack).
    fn release_n(mut ptr: *const ScopeInner, mut n: isize) {
        while !ptr.is_null() {
            // SAFETY: the caller (or the previous round, which just freed a
            // child holding a reference on it) owns references of weight `n`
            // on `ptr`, which is live.
            let inner = unsafe { &*ptr };
            if inner.refs.fetch_sub(n, Release) != n {
                return;
            }
            std::sync::atomic::fence(Acquire);
            let parent = inner.parent;
            // SAFETY: that was the last reference; the parent's reference
            // moves to `parent` and is released next round.
            unsafe { ScopeInner::free(ptr) };
            (ptr, n) = (parent, 1);
        }
    }

    /// Places a scope in memory from [`System`], so heapwise's own bookkeeping
    /// is never charged to the scope that creates a child.
    fn allocate(inner: ScopeInner) -> NonNull<ScopeInner> {
        let layout = Layout::new::<ScopeInner>();
        // SAFETY: `ScopeInner` is not zero-sized.
        let ptr = unsafe { System.alloc(layout) }.cast::<ScopeInner>();
        let Some(ptr) = NonNull::new(ptr) else {
            std::alloc::handle_alloc_error(layout);
        };
        // SAFETY: `ptr` is a fresh, suitably aligned allocation for a `ScopeInner`.
        unsafe { ptr.as_ptr().write(inner) };
        stats::own(layout.size() as isize);
        ptr
    }

    /// Frees the scope's memory. Its reference on its parent is not
    /// released: the caller does that.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`ScopeInner::allocate`] and nothing references it any more.
    unsafe fn free(ptr: *const ScopeInner) {
        let ptr = ptr as *mut ScopeInner;
        // SAFETY: the caller guarantees exclusive ownership of a live scope,
        // allocated from `System` with this layout.
        unsafe {
            ptr::drop_in_place(ptr);
            System.dealloc(ptr.cast(), Layout::new::<ScopeInner>());
        }
        stats::own(-(size_of::<ScopeInner>() as isize));
    }
}

/// Charges a batch to `scope`, its ancestors and the process counters (shard
/// `shard`, the calling thread's), then checks limits. Allocator-safe: atomics only, no allocation, no lock.
pub(crate) fn charge(scope: *const ScopeInner, d: &Delta, shard: usize) {
    stats::GLOBAL.add(shard, d);
    // SAFETY: `scope` is null or a live scope: the current scope of a thread is
    // kept alive by the guard that entered it, and a block owner by its block.
    let Some(first) = (unsafe { scope.as_ref() }) else {
        return;
    };
    for inner in first.ancestors() {
        inner.counters.add(d);
        inner.check_limits();
    }
    if stats::owner_mode() {
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
    inner.named()?.name.as_deref()
}

/// Whether a hard limit is set anywhere on `scope`'s chain. Allocator-safe.
pub(crate) fn has_hard_limits(scope: *const ScopeInner) -> bool {
    // SAFETY: as in `charge`.
    unsafe { scope.as_ref() }.is_some_and(ScopeInner::hard_on_chain)
}

/// Would `op` cross a hard limit on the chain, given the figures charged so
/// far (the caller charged its thread's batch first: see
/// `Local::refuses_hard`)? If so the crossing is recorded and `true`
/// returned, and the allocator fails the call. Allocator-safe.
///
/// A thread that is panicking is never refused: its panic hook (the
/// message, a backtrace under `RUST_BACKTRACE=1`) and the drops of
/// unwinding must be able to allocate, or a refused allocation there would
/// abort the process (`handle_alloc_error`), or deadlock on the backtrace
/// lock the hook holds. Its allocations are charged as usual and the scope
/// is marked exceeded when they cross.
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

/// A region of code whose heap activity is counted: bytes, blocks, frees,
/// reallocs, calls, live and peak bytes, charged to the scope and to every
/// ancestor, with optional limits.
///
/// `Scope` is a cheap handle (`Clone + Send + Sync`): clone it to hand the scope
/// to another thread or task, which then runs inside it with [`Scope::run`],
/// [`Scope::enter`], [`Scope::instrument`] or [`Scope::limit`].
///
/// ```
/// #[global_allocator]
/// static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
///
/// let scope = heapwise::Scope::new().name("parse").limit_bytes(64 * heapwise::KIB);
/// let v = scope.run(|s| {
///     let v = vec![0u8; 1000];
///     assert_eq!(s.usage().bytes, 1000);
///     v
/// });
/// assert!(scope.check().is_ok());
/// # drop(v);
/// ```
pub struct Scope {
    ptr: NonNull<ScopeInner>,
}

// SAFETY: `ScopeInner` is `Send + Sync`; the handle only adjusts its atomic count.
unsafe impl Send for Scope {}
// SAFETY: as above.
unsafe impl Sync for Scope {}

impl Scope {
    /// A new scope nested under the thread's current scope (if any).
    ///
    /// Configure it with the builder methods ([`Scope::name`],
    /// [`Scope::limit_bytes`], ...) before cloning or entering it.
    #[must_use]
    pub fn new() -> Scope {
        match Scope::current() {
            Some(parent) => parent.child(),
            None => Scope::detached(),
        }
    }

    /// A new scope with no parent, whatever the current scope is.
    #[must_use]
    pub fn detached() -> Scope {
        Scope::with_parent(ptr::null())
    }

    /// A new scope nested under this one.
    #[must_use]
    pub fn child(&self) -> Scope {
        self.inner().refs.fetch_add(1, Relaxed);
        Scope::with_parent(self.ptr.as_ptr())
    }

    /// `parent` carries a reference this scope takes over.
    fn with_parent(parent: *const ScopeInner) -> Scope {
        // SAFETY: `parent` is null or live: the caller hands over a reference.
        let above = unsafe { parent.as_ref() };
        let ptr = ScopeInner::allocate(ScopeInner {
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
            registered: AtomicBool::new(false),
            waiters: Waiters::new(),
            queued: AtomicBool::new(false),
            next: AtomicPtr::new(ptr::null_mut()),
        });
        Scope { ptr }
    }

    pub(crate) fn inner(&self) -> &ScopeInner {
        // SAFETY: this handle holds a reference, so the scope is live.
        unsafe { self.ptr.as_ref() }
    }

    fn configure(mut self, f: impl FnOnce(&mut ScopeInner)) -> Scope {
        assert!(
            self.inner().refs.load(Acquire) == 1,
            "heapwise: configure a scope (name, limits) before cloning or entering it"
        );
        // SAFETY: this is the only reference (checked above), and `self` is owned,
        // so nothing else can read the scope while it is changed.
        f(unsafe { self.ptr.as_mut() });
        self
    }

    /// Names the scope; the name appears in [`LimitExceeded`] and `Debug`.
    ///
    /// # Panics
    ///
    /// If the scope was already cloned or entered.
    #[must_use]
    pub fn name(self, name: impl Into<Cow<'static, str>>) -> Scope {
        let name = name.into();
        self.configure(|s| s.name = Some(name))
    }

    fn set_limit(self, kind: LimitKind, limit: u64) -> Scope {
        self.configure(|s| {
            s.limits[kind as usize] = limit;
            s.has_limits = s.limits.iter().any(|&l| l != NO_LIMIT);
        })
    }

    /// Limits [`Usage::bytes`] (bytes allocated, monotonic). Exceeded when the
    /// usage is *greater* than the limit. `u64::MAX` means no limit.
    ///
    /// # Panics
    ///
    /// If the scope was already cloned or entered.
    #[must_use]
    pub fn limit_bytes(self, limit: u64) -> Scope {
        self.set_limit(LimitKind::Bytes, limit)
    }

    /// Limits [`Usage::live_bytes`] (allocated and not yet freed).
    ///
    /// # Panics
    ///
    /// If the scope was already cloned or entered.
    #[must_use]
    pub fn limit_live_bytes(self, limit: u64) -> Scope {
        self.set_limit(LimitKind::LiveBytes, limit)
    }

    /// Limits [`Usage::allocs`] (blocks allocated).
    ///
    /// # Panics
    ///
    /// If the scope was already cloned or entered.
    #[must_use]
    pub fn limit_allocs(self, limit: u64) -> Scope {
        self.set_limit(LimitKind::Allocs, limit)
    }

    /// Limits [`Usage::calls`] (allocator entries).
    ///
    /// # Panics
    ///
    /// If the scope was already cloned or entered.
    #[must_use]
    pub fn limit_calls(self, limit: u64) -> Scope {
        self.set_limit(LimitKind::Calls, limit)
    }

    /// Makes this scope's limits **hard**: an allocation (or growing realloc)
    /// that would cross one fails by returning null. `Vec::try_reserve` and
    /// friends then return `Err`; an infallible allocation calls
    /// `std::alloc::handle_alloc_error`, which aborts the process.
    ///
    /// The scope is also marked exceeded and its waiters are notified, as with
    /// a cooperative limit. A free can never be refused, so a free that crosses
    /// a `calls` limit only marks the scope.
    ///
    /// # Panics
    ///
    /// If the scope was already cloned or entered.
    #[must_use]
    pub fn hard(self) -> Scope {
        self.configure(|s| s.hard = true)
    }

    /// The scope's name, if it was given one.
    pub fn label(&self) -> Option<&str> {
        self.inner().name.as_deref()
    }

    /// The limit of `kind` set on this scope itself (not its ancestors).
    pub fn limit_of(&self, kind: LimitKind) -> Option<u64> {
        Some(self.inner().limits[kind as usize]).filter(|&l| l != NO_LIMIT)
    }

    /// Are this scope's limits hard ([`Scope::hard`])?
    pub fn is_hard(&self) -> bool {
        self.inner().hard
    }

    /// The live named scopes: every scope with a name that a thread has
    /// entered and that is still held by a handle, a thread, or (with owner
    /// tracking) a live block. For dashboards such as
    /// `/debug/heapwise/scopes`.
    pub fn named() -> Vec<Scope> {
        crate::registry::named_scopes()
    }

    /// A process-unique number identifying the scope.
    pub fn id(&self) -> u64 {
        self.inner().id
    }

    /// The scope this one is nested under.
    pub fn parent(&self) -> Option<Scope> {
        let parent = self.inner().parent;
        // SAFETY: `parent` is null or live (this scope holds a reference on it).
        unsafe { Scope::from_raw_cloned(parent) }
    }

    /// # Safety
    ///
    /// `ptr` is null or points to a live scope.
    unsafe fn from_raw_cloned(ptr: *const ScopeInner) -> Option<Scope> {
        let ptr = NonNull::new(ptr as *mut ScopeInner)?;
        // SAFETY: the caller guarantees `ptr` is live.
        unsafe { ptr.as_ref() }.refs.fetch_add(1, Relaxed);
        Some(Scope { ptr })
    }

    /// The scope the calling thread is in, if any.
    pub fn current() -> Option<Scope> {
        let ptr = with_local(|l| l.scope());
        // SAFETY: the current scope is kept alive by the guard that entered it.
        unsafe { Scope::from_raw_cloned(ptr) }
    }

    /// Makes this the calling thread's current scope until the guard drops.
    ///
    /// Guards may be dropped in any order: each removes its own entry from
    /// the thread's stack of entered scopes, and the innermost entry left
    /// is current. So after every guard is dropped the thread is back where
    /// it started, also when a panic unwinds through them.
    ///
    /// Holding a guard across an `.await` is almost always a mistake, as
    /// with `tracing`'s `Span::enter`: while the task is suspended, the
    /// thread stays in the scope and charges it for whatever other tasks it
    /// runs, and the task is not charged when it resumes on another thread.
    /// Wrap the future instead: [`Scope::instrument`] (attribution) or
    /// [`Scope::limit`] (attribution and cancellation) enter the scope
    /// around every poll.
    pub fn enter(&self) -> ScopeGuard<'_> {
        let inner = self.inner();
        if inner.name.is_some()
            && !inner.registered.load(Relaxed)
            && !inner.registered.swap(true, Relaxed)
        {
            crate::registry::register(self);
        }
        // The thread's stack entry owns a reference of its own.
        inner.refs.fetch_add(THREAD_REF, Relaxed);
        let guard = ScopeGuard::push(self.ptr.as_ptr());
        let parent = inner.parent().map_or(0, |p| p.id);
        crate::events::scope_enter(inner.id, parent, inner.name_or_empty());
        guard
    }

    /// Runs `f` inside this scope on the calling thread.
    pub fn run<R>(&self, f: impl FnOnce(&Scope) -> R) -> R {
        let _guard = self.enter();
        f(self)
    }

    /// What has been charged to this scope so far, children included.
    ///
    /// The calling thread's own batch is charged first, so the figures are
    /// exact for work done on this thread; other threads still inside the
    /// scope may lag by up to 64 KiB of traffic each.
    pub fn usage(&self) -> Usage {
        with_local(|l| l.flush());
        self.inner().counters.usage()
    }

    /// The first limit crossed by this scope or, failing that, by its nearest
    /// ancestor that crossed one.
    pub fn exceeded(&self) -> Option<LimitExceeded> {
        self.inner().ancestors().find_map(|inner| {
            let c = inner.crossing()?;
            // SAFETY: `inner` is this scope or an ancestor, kept alive by `self`.
            let scope = unsafe { Scope::clone_raw(inner) };
            let limit = inner.limits[c.kind as usize];
            Some(LimitExceeded::new(scope, c.kind, limit, c.used, c.refused))
        })
    }

    /// `Err` once this scope or an ancestor has exceeded a limit.
    pub fn check(&self) -> Result<(), LimitExceeded> {
        match self.exceeded() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// What is left of each limit: the minimum over this scope and all its
    /// ancestors (`None` where no scope on the chain sets that limit).
    ///
    /// A limit that was crossed has nothing left, even if its figure went
    /// back below it (live bytes freed): a crossing is final, as
    /// [`Scope::check`] says.
    pub fn remaining(&self) -> Remaining {
        with_local(|l| l.flush());
        let mut r = Remaining::default();
        for inner in self.inner().limited_levels() {
            let crossed = inner.crossing().map(|c| c.kind);
            for (kind, limit) in inner.set_limits() {
                let left = if crossed == Some(kind) {
                    0
                } else {
                    limit.saturating_sub(inner.used(kind))
                };
                let slot = r.slot(kind);
                *slot = Some(slot.map_or(left, |v: u64| v.min(left)));
            }
        }
        r
    }

    /// Does this scope or an ancestor set any limit?
    pub(crate) fn limited(&self) -> bool {
        self.inner().limited_levels().next().is_some()
    }

    /// A future that resolves once this scope or an ancestor exceeds a limit
    /// (gotcha's `Done()`). Block on it with [`Cancelled::wait`].
    ///
    /// It never resolves if no scope on the chain has a limit. The first
    /// waiter starts one background thread, `heapwise-notify`, which wakes
    /// waiters: the allocator itself never wakes anything.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled::new(self.clone())
    }

    /// Runs `fut` inside this scope and stops it once a limit is exceeded: the
    /// future is dropped at that point (inside the scope) and
    /// `Err(LimitExceeded)` returned, even while it waits on something else.
    pub fn limit<F: std::future::Future>(&self, fut: F) -> Limited<F> {
        Limited::new(self.clone(), fut)
    }

    /// Charges `fut` to this scope: the scope is entered on every poll, on
    /// whichever thread polls it. Attribution only; limits are not enforced.
    pub fn instrument<F: std::future::Future>(&self, fut: F) -> Instrumented<F> {
        Instrumented::new(self.clone(), fut)
    }
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::new()
    }
}

impl Clone for Scope {
    fn clone(&self) -> Scope {
        self.inner().refs.fetch_add(1, Relaxed);
        Scope { ptr: self.ptr }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        ScopeInner::release(self.ptr.as_ptr());
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for Scope {}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner();
        let mut d = f.debug_struct("Scope");
        d.field("id", &inner.id);
        if let Some(name) = &inner.name {
            d.field("name", name);
        }
        for (kind, limit) in inner.set_limits() {
            d.field(kind.field_name(), &limit);
        }
        d.field("usage", &inner.counters.usage())
            .field("exceeded", &inner.crossing().map(|c| c.kind))
            .finish()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner().name {
            Some(name) => write!(f, "scope {name:?}"),
            None => write!(f, "scope #{}", self.inner().id),
        }
    }
}

/// Keeps a scope current on this thread; see [`Scope::enter`].
///
/// Not `Send`: a thread enters a scope for itself. To run work on another
/// thread inside a scope, send the [`Scope`] (a `Clone + Send + Sync`
/// handle) and enter it there; for futures use [`Scope::instrument`] or
/// [`Scope::limit`].
#[must_use = "the scope is left as soon as the guard is dropped"]
pub struct ScopeGuard<'a> {
    /// This guard's entry on the thread's stack of entered scopes.
    seq: u64,
    _scope: PhantomData<&'a Scope>,
    _not_send: PhantomData<NotSend>,
}

/// Makes [`ScopeGuard`] `!Send` and `!Sync`, with a name that says why in
/// the compiler's message.
struct NotSend(#[allow(dead_code)] *const ());

impl ScopeGuard<'_> {
    /// Makes `scope` (which carries a thread reference, or is null)
    /// current, on top of the thread's stack.
    fn push(scope: *const ScopeInner) -> ScopeGuard<'static> {
        let seq = scope_stack::push(scope);
        let left = with_local(|l| l.switch(scope));
        // SAFETY: the scope a thread leaves is null or held by its stack entry.
        let left = unsafe { left.as_ref() };
        debug_assert!(left.is_none_or(|s| s.refs.load(Relaxed) >= THREAD_REF));
        ScopeGuard {
            seq,
            _scope: PhantomData,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        let Some(popped) = scope_stack::pop(self.seq) else {
            return;
        };
        if let Some(current) = popped.current {
            // The innermost guard: the entry below becomes current (after this
            // thread's batch is charged to the scope it leaves).
            let left = with_local(|l| l.switch(current));
            debug_assert_eq!(
                left, popped.scope,
                "the current scope is the innermost entry's"
            );
        }
        // SAFETY: the entry's thread reference is released only below.
        if let Some(scope) = unsafe { popped.scope.as_ref() } {
            crate::events::scope_exit(scope.id, scope.name_or_empty());
            ScopeInner::release_n(popped.scope, THREAD_REF);
        }
    }
}

impl fmt::Debug for ScopeGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGuard").finish_non_exhaustive()
    }
}

/// Runs `f` in a new scope nested under the current one (gotcha's `Trace`),
/// and returns what `f` returns.
///
/// ```
/// #[global_allocator]
/// static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
///
/// let v = heapwise::track(|scope| {
///     let v = vec![0u64; 100];
///     assert_eq!((scope.usage().bytes, scope.usage().allocs), (800, 1));
///     v
/// });
/// assert_eq!(v.len(), 100);
/// ```
pub fn track<R>(f: impl FnOnce(&Scope) -> R) -> R {
    Scope::new().run(f)
}

/// Runs `f` outside every scope: what it allocates and frees is charged to no
/// scope (the process-wide [`stats`](crate::stats()) still count it).
pub fn untracked<R>(f: impl FnOnce() -> R) -> R {
    let _guard = ScopeGuard::push(ptr::null());
    f()
}

impl Scope {
    /// # Safety
    ///
    /// `inner` is a live scope.
    pub(crate) unsafe fn clone_raw(inner: &ScopeInner) -> Scope {
        inner.refs.fetch_add(1, Relaxed);
        Scope {
            ptr: NonNull::from(inner),
        }
    }

    /// Gives up the handle without releasing its reference.
    pub(crate) fn into_raw(self) -> *const ScopeInner {
        let ptr = self.ptr.as_ptr();
        std::mem::forget(self);
        ptr
    }

    /// # Safety
    ///
    /// `ptr` came from [`Scope::into_raw`] and its reference is handed over.
    pub(crate) unsafe fn from_raw(ptr: *const ScopeInner) -> Scope {
        Scope {
            // SAFETY: `into_raw` pointers are never null.
            ptr: unsafe { NonNull::new_unchecked(ptr as *mut ScopeInner) },
        }
    }
}
