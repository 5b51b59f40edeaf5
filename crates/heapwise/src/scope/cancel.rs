//! Cancellation: waking whoever waits for a scope to exceed a limit.
//!
//! # Mechanism
//!
//! The allocator's slow path detects a crossing, but must not wake anyone
//! there: waking a task can allocate and take locks the interrupted code may
//! hold. So [`notify`] (allocator-safe) only pushes the scope onto a lock-free
//! intrusive stack and unparks one background thread, `heapwise-notify`, which
//! wakes the waiters. That thread is started by the first waiter; before it
//! exists nobody waits, so `notify` has nothing to do.
//!
//! A waiter registers its `Waker` on every scope of its chain that sets
//! limits (a scope is cancelled when any ancestor crosses one), then checks the exceeded flags again; a
//! `SeqCst` fence on both sides guarantees that either the waiter sees the flag
//! or the notifier sees the registration. No polling, no per-call thread.

use std::cell::UnsafeCell;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{
    fence, AtomicPtr, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, SeqCst},
};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::local::without_accounting;
use crate::scope::limit::LimitExceeded;
use crate::scope::{Scope, ScopeInner};
use crate::sys::fork::{AtFork, Rank};
use crate::sys::lock::Lock;

static NOTIFIER: OnceLock<Thread> = OnceLock::new();
static QUEUE: AtomicPtr<ScopeInner> = AtomicPtr::new(ptr::null_mut());
static NEXT_WAITER: AtomicU64 = AtomicU64::new(1);

/// The wakers registered on one scope. Every scope's list is behind one
/// process-wide [`Lock`] (waiting is rare, and one lock is one the fork
/// handlers can take).
#[derive(Debug)]
pub(crate) struct Waiters {
    list: UnsafeCell<Vec<(u64, Waker)>>,
}

static WAITERS: Lock<()> = Lock::new(());

// A panic cannot leave a list half-changed: under the lock it is only pushed
// to (an allocation failure aborts), searched and swap-removed from.
impl std::panic::RefUnwindSafe for Waiters {}

static FORK: AtFork = AtFork::new(
    Rank::Waiters,
    || WAITERS.hold_for_fork(),
    // SAFETY: called once after `fork`, by the thread that held it.
    || unsafe { WAITERS.release_after_fork() },
);

impl Waiters {
    pub(crate) const fn new() -> Waiters {
        Waiters {
            list: UnsafeCell::new(Vec::new()),
        }
    }

    /// Runs `f` on the list, under the waiters' lock.
    fn with_list<R>(&self, f: impl FnOnce(&mut Vec<(u64, Waker)>) -> R) -> R {
        FORK.ensure();
        let _held = WAITERS.lock();
        // SAFETY: every access to a list goes through here, under the lock.
        f(unsafe { &mut *self.list.get() })
    }

    // The list's buffer is heapwise's memory: it grows, and is freed, behind the
    // reentrancy guard, so it is never charged to a scope.

    fn register(&self, id: u64, waker: &Waker) {
        self.with_list(|list| match list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => w.clone_from(waker),
            None => without_accounting(|| list.push((id, waker.clone()))),
        })
    }

    fn unregister(&self, id: u64) {
        let removed = self.with_list(|list| {
            let i = list.iter().position(|(i, _)| *i == id)?;
            Some(list.swap_remove(i).1)
        });
        drop(removed);
    }

    fn wake_all(&self) {
        let woken = self.with_list(std::mem::take);
        for (_, waker) in &woken {
            waker.wake_by_ref();
        }
        // The list and the wakers' clones were made behind the guard.
        without_accounting(|| drop(woken));
    }
}

impl Drop for Waiters {
    fn drop(&mut self) {
        let list = std::mem::take(self.list.get_mut());
        without_accounting(|| drop(list));
    }
}

/// Queues `scope` for the notifier thread. Allocator-safe: no allocation, no
/// lock; one reference count increment and a futex wake.
pub(crate) fn notify(scope: &ScopeInner) {
    fence(SeqCst);
    let Some(notifier) = NOTIFIER.get() else {
        return;
    };
    if scope.queued.swap(true, AcqRel) {
        return;
    }
    // The queue holds a reference until the notifier has woken the waiters.
    // SAFETY: `scope` is live (the caller reached it through a live chain).
    let handle = unsafe { Scope::clone_raw(scope) };
    let node = handle.into_raw();
    let mut head = QUEUE.load(Relaxed);
    loop {
        // SAFETY: `node` is live: the queue's reference keeps it alive.
        unsafe { &*node }.next.store(head, Relaxed);
        match QUEUE.compare_exchange_weak(head, node as *mut _, AcqRel, Relaxed) {
            Ok(_) => break,
            Err(h) => head = h,
        }
    }
    notifier.unpark();
}

fn ensure_notifier() {
    NOTIFIER.get_or_init(|| {
        // heapwise's own thread: its memory is never charged to the scope of
        // the first waiter.
        without_accounting(|| {
            thread::Builder::new()
                .name("heapwise-notify".into())
                .spawn(notifier_main)
                .expect("heapwise: cannot start the heapwise-notify thread")
                .thread()
                .clone()
        })
    });
}

fn notifier_main() {
    // Never charged to a scope: it only wakes tasks.
    crate::untracked(|| loop {
        let mut node = QUEUE.swap(ptr::null_mut(), Acquire);
        if node.is_null() {
            thread::park();
            continue;
        }
        while !node.is_null() {
            // SAFETY: every queued node carries the reference taken in `notify`.
            let handle = unsafe { Scope::from_raw(node) };
            let inner = handle.inner();
            node = inner.next.load(Relaxed);
            inner.queued.store(false, Relaxed);
            inner.waiters.wake_all();
        }
    })
}

/// One waiter's registrations on a scope chain.
#[derive(Debug)]
pub(crate) struct Registration {
    id: u64,
    waker: Option<Waker>,
}

impl Registration {
    pub(crate) fn new() -> Registration {
        Registration {
            id: NEXT_WAITER.fetch_add(1, Relaxed),
            waker: None,
        }
    }

    /// Registers `waker` on every scope of the chain (once per distinct
    /// waker), then returns the crossing if one happened meanwhile.
    pub(crate) fn poll(&mut self, scope: &Scope, waker: &Waker) -> Option<LimitExceeded> {
        if let Some(e) = scope.exceeded() {
            return Some(e);
        }
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            ensure_notifier();
            for s in scope.inner().limited_levels() {
                s.waiters.register(self.id, waker);
            }
            self.waker = Some(waker.clone());
        }
        fence(SeqCst);
        scope.exceeded()
    }

    pub(crate) fn clear(&mut self, scope: &Scope) {
        if self.waker.take().is_some() {
            for s in scope.inner().limited_levels() {
                s.waiters.unregister(self.id);
            }
        }
    }
}

/// Resolves once a scope or one of its ancestors exceeds a limit; see
/// [`Scope::cancelled`]. Await it, or block on it with [`Cancelled::wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited or waited on"]
pub struct Cancelled {
    scope: Scope,
    reg: Registration,
}

impl Cancelled {
    pub(crate) fn new(scope: Scope) -> Cancelled {
        Cancelled {
            scope,
            reg: Registration::new(),
        }
    }

    /// Blocks the calling thread until the scope is cancelled.
    pub fn wait(self) -> LimitExceeded {
        self.block(None).expect("no deadline")
    }

    /// Blocks until the scope is cancelled or `timeout` passes (`None`).
    pub fn wait_timeout(self, timeout: Duration) -> Option<LimitExceeded> {
        self.block(Some(Instant::now() + timeout))
    }

    fn block(mut self, deadline: Option<Instant>) -> Option<LimitExceeded> {
        // The waker is heapwise's memory: made and dropped behind the guard, so
        // waiting inside a (hard-)limited scope costs that scope nothing.
        let waker = without_accounting(|| Waker::from(Arc::new(Unpark(thread::current()))));
        let mut cx = Context::from_waker(&waker);
        let crossed = loop {
            if let Poll::Ready(e) = Pin::new(&mut self).poll(&mut cx) {
                break Some(e);
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break None;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        };
        drop(self); // unregisters the waker's clones first
        without_accounting(|| drop(waker));
        crossed
    }
}

impl Future for Cancelled {
    type Output = LimitExceeded;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LimitExceeded> {
        let this = self.get_mut();
        if !this.scope.limited() {
            return Poll::Pending;
        }
        match this.reg.poll(&this.scope, cx.waker()) {
            Some(e) => {
                this.reg.clear(&this.scope);
                Poll::Ready(e)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        self.reg.clear(&self.scope);
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
