//! The writer side: the registry of attached probes, and [`setup`], which
//! batches attach and detach changes.
//!
//! # How a change is made
//!
//! Every attach and detach runs in a *batch*: take the registry lock, make
//! the change, build the event's new probe array and publish it
//! (immediately, one `swap` per change), retire the old array (and the
//! detached probe); at the end of the batch, release the lock, wait for one
//! grace period ([`grace`](mod@crate::grace)), then free what was retired: the
//! old arrays, and the detached probes' closures (their drop runs here, on
//! the detaching thread). [`setup`] makes one batch of everything its
//! closure does, including attaches and detaches made by code it calls, and
//! probes dropped in it; outside `setup`, each attach or detach is its own
//! batch.
//!
//! # What `setup` guarantees
//!
//! Changes are published in the order the closure makes them, each event's
//! array as a whole. So a thread never sees a later attach of a setup
//! without the earlier ones: if an event runs a probe attached by the
//! setup's second `attach`, every event that thread fires afterwards also
//! runs the first one (publication is a release store that the firing
//! path's load acquires). When `setup` returns, every change is complete:
//! detached probes are not running and their closures are dropped. All
//! changes share one grace period: a setup of a hundred changes waits once.
//!
//! # Inside a probe, inside a setup
//!
//! - Attaching or detaching from inside a probe (the thread is running an
//!   event's probes) cannot wait for the grace period, which would wait for
//!   its own read section: the change is published at once, but the old
//!   arrays and the detached probes are freed later, by the next batch that
//!   runs outside any probe (or by [`synchronize`](crate::synchronize())). A
//!   probe detached from inside a probe is never called again by this
//!   thread after the detach returns (it is disabled first); another thread
//!   may still be running it, and its closure is dropped only after that.
//! - The registry lock is held while a `setup` closure runs. The same
//!   thread may attach, detach and nest `setup`s freely (they join the
//!   batch); another thread that attaches or detaches waits until the
//!   closure returns. So a setup closure must not wait for another thread
//!   that is itself attaching or detaching.
//! - No lock is held while waiting for the grace period, so a probe that
//!   attaches or detaches never deadlocks against a writer waiting for it.
//! - If a setup closure panics, the changes it made so far stay published
//!   and are completed (grace period, frees) while unwinding.

use std::any::Any;
use std::cell::Cell;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicUsize, Ordering::AcqRel, Ordering::Acquire};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::array::Source;
use crate::probe::{NewProbe, Probe, ProbeState};
use crate::{grace, nesting, Event, ProbeGroup};

/// One attached probe.
///
/// Its state and closure are owned through raw pointers, not `Box`es: the
/// arrays point into them, and moving a `Box` asserts unique access to its
/// contents (which would invalidate those pointers under Stacked Borrows).
struct Entry {
    id: u64,
    event: &'static Event,
    /// From `Box::into_raw`; freed by `drop`.
    state: *mut ProbeState,
    /// From `Box::into_raw` of a `Box<Box<F>>` (the arrays point to the
    /// `F`); freed by `drop`.
    func: *mut (dyn Any + Send + Sync),
}

// SAFETY: the pointees are a `ProbeState` (atomics) and a `Send + Sync`
// value, owned by the entry alone.
unsafe impl Send for Entry {}

impl Entry {
    fn state(&self) -> &ProbeState {
        // SAFETY: valid from `new` until `drop`.
        unsafe { &*self.state }
    }

    fn func(&self) -> &(dyn Any + Send + Sync) {
        // SAFETY: valid from `new` until `drop`.
        unsafe { &*self.func }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        // SAFETY: both came from `Box::into_raw` in `attach` and are freed
        // only here; the grace period that preceded this drop guarantees no
        // array still in use points into them.
        unsafe {
            drop(Box::from_raw(self.func));
            drop(Box::from_raw(self.state));
        }
    }
}

/// Something unpublished, to be freed after a grace period.
enum Retired {
    Array(&'static Event, ArrayPtr),
    /// A detached probe; `report` if its panic should be resumed by the
    /// batch that frees it.
    Probe(Entry, bool),
}

/// An unpublished array pointer (only the writer that retired it, or the
/// one that inherits it from the deferred list, touches it).
struct ArrayPtr(*mut ());
// SAFETY: the pointee is an immutable array of raw pointers to `Send +
// Sync` closures and atomics; only the pointer moves between threads.
unsafe impl Send for ArrayPtr {}

struct Registry {
    /// Attached probes, in attach order.
    entries: Vec<Entry>,
    next_id: u64,
    /// Retired by batches that ran inside a probe (could not wait).
    deferred: Vec<Retired>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    entries: Vec::new(),
    next_id: 1,
    deferred: Vec::new(),
});

struct Batch {
    reg: Option<MutexGuard<'static, Registry>>,
    retired: Vec<Retired>,
}

thread_local! {
    /// The batch this thread is running, or null.
    static CURRENT: Cell<*mut Batch> = const { Cell::new(std::ptr::null_mut()) };
    /// This thread is freeing retired probes (their closures' drops run
    /// user code, which may call [`synchronize`]).
    static FREEING: Cell<bool> = const { Cell::new(false) };
}

/// Batches that took other batches' deferred changes (`Registry::deferred`)
/// and have not freed them yet: [`synchronize`] waits for them, so that
/// what was left for later is freed when it returns, whichever thread took
/// it (a batch of another thread could take it just before, and free it
/// only after its own grace period).
static FREEING_DEFERRED: AtomicUsize = AtomicUsize::new(0);

/// Counts a batch in [`FREEING_DEFERRED`] until it drops, unwinding too.
struct FreeingDeferred;

impl FreeingDeferred {
    /// Called under the registry's lock, as the deferred changes are taken.
    fn begin() -> FreeingDeferred {
        FREEING_DEFERRED.fetch_add(1, AcqRel);
        FreeingDeferred
    }
}

impl Drop for FreeingDeferred {
    fn drop(&mut self) {
        FREEING_DEFERRED.fetch_sub(1, AcqRel);
    }
}

/// Marks this thread as freeing retired probes until it drops.
struct Freeing(bool);

impl Freeing {
    fn begin() -> Freeing {
        Freeing(FREEING.with(|f| f.replace(true)))
    }
}

impl Drop for Freeing {
    fn drop(&mut self) {
        FREEING.with(|f| f.set(self.0));
    }
}

/// A batch of probe changes in progress on this thread: see [`setup`].
///
/// Its methods do what the event functions and [`Probe`] / [`ProbeGroup`]
/// methods do, which inside `setup` join the batch too; they exist so that
/// a batch reads as one.
#[derive(Debug)]
pub struct Setup {
    _private: (),
}

impl Setup {
    /// Attaches a probe (made by `event::probe(closure)`) to every thread's
    /// events.
    pub fn attach(&mut self, p: NewProbe) -> Probe {
        crate::probe::__attach(p)
    }

    /// Attaches a probe to `group` (thread-scoped if the group is).
    pub fn attach_in(&mut self, group: &ProbeGroup, p: NewProbe) {
        group.__attach(p)
    }

    /// Detaches a probe.
    pub fn detach(&mut self, p: Probe) {
        drop(p)
    }
}

/// Runs `f` as one batch of probe changes: every attach and detach made in
/// it (through `s`, through the event functions, by dropping [`Probe`]s or
/// [`ProbeGroup`]s) is published in order and completed with one grace
/// period when `f` returns. See the [module docs](mod@crate::setup#what-setup-guarantees).
///
/// ```
/// heapwise_probe::declare! {
///     fn opened(fd: i32);
///     fn closed(fd: i32);
/// }
/// use std::sync::atomic::{AtomicI64, Ordering};
/// static OPEN: AtomicI64 = AtomicI64::new(0);
/// let (a, b) = heapwise_probe::setup(|s| {
///     (
///         s.attach(opened::probe(|_| { OPEN.fetch_add(1, Ordering::Relaxed); })),
///         s.attach(closed::probe(|_| { OPEN.fetch_sub(1, Ordering::Relaxed); })),
///     )
/// });
/// opened(3);
/// closed(3);
/// opened(4);
/// assert_eq!(OPEN.load(Ordering::Relaxed), 1);
/// heapwise_probe::setup(|s| { s.detach(a); s.detach(b) });
/// ```
pub fn setup<R>(f: impl FnOnce(&mut Setup) -> R) -> R {
    batch(|| f(&mut Setup { _private: () }))
}

/// Waits for a grace period and frees what attaches and detaches made from
/// inside probes left for later (see the [module docs](mod@crate::setup)),
/// also when another thread's batch took it first: it returns once that is
/// freed. A no-op when called from inside a probe.
pub fn synchronize() {
    if nesting::inside_probe() {
        return;
    }
    batch(|| {
        with_current(|b| {
            b.retired
                .push(Retired::Array(event_none(), ArrayPtr(std::ptr::null_mut())))
        })
    });
    // Deferred changes another thread's batch took before this one's: freed
    // after that batch's grace period. (Not from a probe's drop, which may
    // be part of such a batch.)
    if !FREEING.with(Cell::get) {
        while FREEING_DEFERRED.load(Acquire) != 0 {
            std::thread::yield_now();
        }
    }
}

/// A placeholder event for the forced grace period of [`synchronize`] (its
/// null array is skipped when freeing).
fn event_none() -> &'static Event {
    static NONE: Event = Event::__new::<dyn Fn() + Send + Sync>("", "", "", 0, &[]);
    &NONE
}

/// Attaches `p` (`thread` 0: all threads) and returns its id.
pub(crate) fn attach(p: NewProbe, thread: u64) -> u64 {
    batch_op(move |b| {
        let reg = b.reg.as_mut().expect("batch has the lock");
        let id = reg.next_id;
        reg.next_id += 1;
        // Entries are in attach order, which is id order (`detach_ids` and
        // the arrays rely on it).
        debug_assert!(reg.entries.last().is_none_or(|e| e.id < id));
        let event = p.event;
        reg.entries.push(Entry {
            id,
            event,
            state: Box::into_raw(Box::new(ProbeState::new(thread))),
            func: Box::into_raw(p.func),
        });
        republish(b, event);
        id
    })
}

/// Detaches the probes `ids` (unknown ids are ignored).
pub(crate) fn detach_ids(ids: &[u64]) {
    if ids.is_empty() {
        return;
    }
    batch_op(|b| {
        for &id in ids {
            let reg = b.reg.as_mut().expect("batch has the lock");
            let Some(i) = reg.entries.iter().position(|e| e.id == id) else {
                continue;
            };
            let entry = reg.entries.remove(i);
            debug_assert!(reg.entries.iter().all(|e| e.id != id), "duplicate probe id");
            // Not called again by this thread even if it is walking an
            // array that still holds it (detach from inside a probe).
            entry.state().disable();
            let event = entry.event;
            b.retired.push(Retired::Probe(entry, true));
            republish(b, event);
        }
    })
}

/// Publishes `event`'s array as the registry now says, retiring the old one.
fn republish(b: &mut Batch, event: &'static Event) {
    let reg = b.reg.as_ref().expect("batch has the lock");
    let sources: Vec<Source<'_>> = reg
        .entries
        .iter()
        .filter(|e| e.event.same(event))
        .map(|e| Source {
            func: e.func(),
            state: e.state(),
        })
        .collect();
    let old = event.publish(&sources);
    debug_assert_eq!(event.is_attached(), !sources.is_empty());
    debug_assert!(old.is_null() || !event.is_published(old));
    crate::gate::update_for(event);
    if !old.is_null() {
        b.retired.push(Retired::Array(event, ArrayPtr(old)));
    }
}

/// Runs `op` on this thread's batch, starting one if none is running. `op`
/// must not run user code (it holds the only reference to the batch).
fn batch_op<R>(op: impl FnOnce(&mut Batch) -> R) -> R {
    batch(|| with_current(op))
}

fn with_current<R>(op: impl FnOnce(&mut Batch) -> R) -> R {
    let cur = CURRENT.with(Cell::get);
    assert!(!cur.is_null(), "heapwise-probe: no batch running");
    // SAFETY: `cur` points to the batch of the `Outermost` frame below us on
    // this thread's stack, alive until that frame returns. No other
    // reference to it is live: `op` runs no user code, so it cannot reach
    // another `with_current`, and `Outermost` touches the batch only after
    // the body returned.
    op(unsafe { &mut *cur })
}

/// Runs `body` inside this thread's batch, as the outermost batch if none is
/// running (lock, body, unlock, grace period, frees).
fn batch<R>(body: impl FnOnce() -> R) -> R {
    if !CURRENT.with(Cell::get).is_null() {
        return body();
    }
    grace::init();
    let reg = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    let mut outer = Outermost {
        batch: Batch {
            reg: Some(reg),
            retired: Vec::new(),
        },
    };
    CURRENT.with(|c| c.set(&mut outer.batch));
    let r = body();
    let panic = outer.finish();
    drop(outer);
    if let Some(p) = panic {
        if !std::thread::panicking() {
            resume_unwind(p);
        }
    }
    r
}

/// The outermost batch of this thread; finishes it even when the body
/// unwinds.
struct Outermost {
    batch: Batch,
}

impl Outermost {
    /// Unlocks, waits for the grace period and frees what was retired.
    /// Returns the first panic of a probe detached by this batch.
    fn finish(&mut self) -> Option<Box<dyn Any + Send>> {
        CURRENT.with(|c| c.set(std::ptr::null_mut()));
        let mut reg = self.batch.reg.take()?;
        let mut retired = std::mem::take(&mut self.batch.retired);
        if nesting::inside_probe() {
            // We may be walking one of these arrays right now.
            reg.deferred.append(&mut retired);
            return None;
        }
        // Deferred panics were raised inside a probe, by someone else: only
        // counted (see `panicked()`), not resumed here.
        let _others = (!reg.deferred.is_empty()).then(FreeingDeferred::begin);
        retired.extend(reg.deferred.drain(..).map(|r| match r {
            Retired::Probe(e, _) => Retired::Probe(e, false),
            a => a,
        }));
        drop(reg);
        if retired.is_empty() {
            return None;
        }
        grace::synchronize();
        let _freeing = Freeing::begin();
        let mut first = None;
        for r in retired {
            match r {
                Retired::Array(event, p) => {
                    // A retired array is never published again (it stays
                    // allocated until here, so its address is not reused).
                    debug_assert!(p.0.is_null() || !event.is_published(p.0));
                    if !p.0.is_null() {
                        // SAFETY: unpublished by `republish` before the lock
                        // was released, a grace period has passed since, and
                        // each retired array is in exactly one list once.
                        unsafe { event.free(p.0) }
                    }
                }
                Retired::Probe(entry, report) => {
                    let panic = entry.state().take_panic();
                    if report && first.is_none() {
                        first = panic;
                    }
                    // Drops the closure and what it captured (user code).
                    drop(entry);
                }
            }
        }
        first
    }
}

impl Drop for Outermost {
    fn drop(&mut self) {
        if self.batch.reg.is_some() {
            // The body unwound: complete the changes it made.
            drop(self.finish());
        }
    }
}
