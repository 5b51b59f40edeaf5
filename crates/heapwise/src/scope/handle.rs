//! The user's side of scopes: [`Scope`] handles, the [`ScopeGuard`] that
//! enters one, [`track`] and [`untracked`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

use super::inner::*;
use super::name::Name;
use crate::local::usage::Usage;
use crate::local::with_local;
use crate::scope::cancel::Cancelled;
use crate::scope::future::{Instrumented, Limited};
use crate::scope::limit::{LimitExceeded, LimitKind, Remaining};
use crate::scope::stack as scope_stack;

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
        super::panic_hook::install();
        // SAFETY: `parent` is null or live: the caller hands over a reference.
        let ptr = ScopeInner::allocate(unsafe { ScopeInner::new(parent) });
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
        let name = Name::new(name.into());
        self.configure(|s| {
            s.name = Some(name);
            s.listed = AtomicBool::new(false);
        })
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
    /// `std::alloc::handle_alloc_error`, which aborts the process with std's
    /// line `memory allocation of 1048576 bytes failed`, which does not name
    /// the scope: inside a hard scope, allocate what may not fit with
    /// `try_reserve` (or use a cooperative limit and [`Scope::check`]).
    ///
    /// The scope is also marked exceeded and its waiters are notified, as with
    /// a cooperative limit. A free can never be refused, so a free that crosses
    /// a `calls` limit only marks the scope.
    ///
    /// A thread that is panicking is never refused, and what it allocates
    /// is not charged to its scopes: its panic message, the backtrace under
    /// `RUST_BACKTRACE=1` (std's first one loads the program's debug info,
    /// tens of megabytes it keeps for the process's life) and what drops
    /// allocate while unwinding are the process's; unwinding's frees of the
    /// scope's blocks are charged as usual. So a caught panic leaves the
    /// scope as it was, less what unwinding dropped (see the
    /// [limits guide](crate::guide::limits)).
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
        self.inner().name.as_ref().map(Name::as_str)
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
        crate::scope::registry::named_scopes()
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
        let ptr = with_local(|l| l.scope()).cast::<ScopeInner>();
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
        self.enter_owned()
    }

    /// [`Scope::enter`], with a guard that does not borrow the handle: the
    /// thread's entry keeps the scope alive until the guard drops. For code
    /// that enters and leaves in separate callbacks, keeping the guard in a
    /// thread-local (or see [`Scope::enter_keyed`]).
    pub fn enter_owned(&self) -> ScopeGuard<'static> {
        ScopeGuard::at(self.push(0))
    }

    /// Makes this the calling thread's current scope until
    /// [`Scope::leave_keyed`] is called with the same `key` on this thread:
    /// [`Scope::enter`] without a guard, for code that enters and leaves in
    /// separate callbacks that know an id, such as a `tracing` layer's
    /// `on_enter` and `on_exit` with the span's id (`heapwise-tracing`).
    ///
    /// The entry goes on the thread's stack of entered scopes, with the
    /// guards' entries, and keeps the scope alive until it is left; one
    /// never left stays for the thread's life, as a leaked guard does. A key
    /// may be entered again while entered (a span re-entered): each
    /// `leave_keyed` leaves the innermost entry with that key.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
    /// use std::num::NonZeroU64;
    /// use heapwise::Scope;
    ///
    /// let span = NonZeroU64::new(7).unwrap();
    /// let scope = Scope::new().name("request");
    /// scope.enter_keyed(span);
    /// assert_eq!(Scope::current().as_ref(), Some(&scope));
    /// assert!(Scope::leave_keyed(span));
    /// assert!(Scope::current().is_none());
    /// assert!(!Scope::leave_keyed(span), "not entered any more");
    /// ```
    pub fn enter_keyed(&self, key: NonZeroU64) {
        self.push(key.get());
    }

    /// Leaves the innermost entry this thread made with
    /// [`Scope::enter_keyed`] and `key`; `false` if there is none.
    pub fn leave_keyed(key: NonZeroU64) -> bool {
        match scope_stack::pop_keyed(key.get()) {
            Some(popped) => {
                leave(popped);
                true
            }
            None => false,
        }
    }

    /// Enters this scope: pushes an entry with `key` (0 for a guard's) on
    /// the thread's stack and makes the scope current. Returns the entry's
    /// position.
    #[inline]
    fn push(&self, key: u64) -> usize {
        let inner = self.inner();
        if !inner.listed.load(Relaxed) {
            self.register_slow();
        }
        // The thread's stack entry owns a reference of its own.
        inner.refs.fetch_add(THREAD_REF, Relaxed);
        let scope = self.ptr.as_ptr().cast_const();
        let at = scope_stack::push(scope, key);
        let left =
            with_local(|l| l.switch(scope.cast(), ScopeInner::limited(scope))).cast::<ScopeInner>();
        // SAFETY: the scope a thread leaves is null or held by its stack entry.
        let left = unsafe { left.as_ref() };
        debug_assert!(left.is_none_or(|s| s.refs.load(Relaxed) >= THREAD_REF));
        if crate::events::scope_enter::is_attached() {
            fire_enter(inner);
        }
        at
    }

    /// Lists a named scope in the registry, at its first entry.
    #[cold]
    #[inline(never)]
    fn register_slow(&self) {
        if !self.inner().listed.swap(true, Relaxed) {
            crate::scope::registry::register(self);
        }
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
    /// A future that crosses a limit in the poll that completes it returns
    /// `Err` too (its output dropped): the outcome does not depend on where
    /// the future's polls end.
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
            Some(name) => write!(f, "scope {:?}", name.as_str()),
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
    /// The position of this guard's entry on the thread's stack of entered
    /// scopes.
    at: usize,
    _scope: PhantomData<&'a Scope>,
    _not_send: PhantomData<NotSend>,
}

/// Makes [`ScopeGuard`] `!Send` and `!Sync`, with a name that says why in
/// the compiler's message.
struct NotSend(#[allow(dead_code)] *const ());

impl ScopeGuard<'_> {
    /// The guard of the entry at position `at` of this thread's stack.
    fn at(at: usize) -> ScopeGuard<'static> {
        ScopeGuard {
            at,
            _scope: PhantomData,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        if let Some(popped) = scope_stack::pop(self.at) {
            leave(popped);
        }
    }
}

/// Leaves the scope of an entry just removed from the thread's stack: if it
/// was the innermost, the entry below becomes current (after this thread's
/// batch is charged to the scope it leaves); then the entry's reference on
/// its scope is released.
#[inline]
fn leave(popped: scope_stack::Popped) {
    if let Some(current) = popped.current {
        let limited = ScopeInner::limited(current);
        let left = with_local(|l| l.switch(current.cast(), limited)).cast::<ScopeInner>();
        debug_assert_eq!(
            left, popped.scope,
            "the current scope is the innermost entry's"
        );
    }
    if crate::events::scope_exit::is_attached() {
        // SAFETY: the entry's thread reference is released only below.
        if let Some(scope) = unsafe { popped.scope.as_ref() } {
            fire_exit(scope);
        }
    }
    ScopeInner::release_n(popped.scope, THREAD_REF);
}

/// Fires `scope_enter` (its arguments are computed only when a probe is
/// attached).
#[cold]
#[inline(never)]
fn fire_enter(inner: &ScopeInner) {
    let parent = inner.parent().map_or(0, |p| p.id);
    crate::events::scope_enter(inner.id, parent, inner.name_or_empty());
}

#[cold]
#[inline(never)]
fn fire_exit(inner: &ScopeInner) {
    crate::events::scope_exit(inner.id, inner.name_or_empty());
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
    let _guard = ScopeGuard::at(scope_stack::push(ptr::null(), 0));
    with_local(|l| l.switch(ptr::null(), false));
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
