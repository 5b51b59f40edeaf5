//! Probes: the closures attached to events, their handles, and what happens
//! when one panics.
//!
//! # A panicking probe
//!
//! Events fire inside the global allocator, where unwinding out of
//! `GlobalAlloc::alloc` is undefined behaviour, so the firing path never
//! unwinds. The choice made here is *catch, disable, count, report*:
//!
//! - the event catches the panic (one `catch_unwind` around the whole walk,
//!   free when nothing panics), disables that probe (it is skipped from then
//!   on, its siblings keep running), counts it ([`panicked`](crate::panicked()))
//!   and keeps the first payload;
//! - when the probe is detached (its [`Probe`] or [`ProbeGroup`] dropped or
//!   detached), the detaching thread resumes the panic with that payload,
//!   like `JoinHandle::join` reports a thread's panic. A failed `assert!`
//!   in a test's probe therefore fails the test, at the detach, with the
//!   assertion's message (printed by the panic hook when it happened, on the
//!   firing thread).
//!
//! Why not abort: a test assertion inside a probe is the normal use of
//! synchronous tracing (go123's tracetest), and a bug in a diagnostic
//! probe should not kill a production service. Why not just catch and go
//! on: a probe that panicked once usually panics again, on every
//! allocation. The panic machinery allocates (the payload) while the thread
//! is inside the probe, so those allocations' events are nested and counted
//! as dropped. With `panic = "abort"` a panicking probe aborts the process,
//! as any panic does.
//!
//! [`ProbeGroup`]: crate::ProbeGroup

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::setup;
use crate::Event;

/// Panics caught in probes, process-wide.
static PANICKED: AtomicU64 = AtomicU64::new(0);

/// The number of panics caught in probes since the process started (each
/// one disabled its probe). See the [module docs](crate#panics-in-probes).
pub fn panicked() -> u64 {
    PANICKED.load(Ordering::Relaxed)
}

/// The first panic payload of a probe.
type Payload = Box<dyn Any + Send + 'static>;

/// [`ProbeState::filter`] of a disabled probe (matches no thread number).
const DISABLED: u64 = u64::MAX;

/// Per-probe state the firing path reads and writes.
pub(crate) struct ProbeState {
    /// Which threads' events run the probe: 0 every thread, [`DISABLED`]
    /// none (detached or panicked), otherwise one thread number. One load
    /// decides both "enabled" and "this thread" on the firing path.
    filter: AtomicU64,
    /// The first panic's payload (a leaked `Box<Payload>`), or null.
    panic: AtomicPtr<Payload>,
}

impl ProbeState {
    /// `thread`: 0 for every thread, or a thread number.
    pub(crate) fn new(thread: u64) -> ProbeState {
        debug_assert_ne!(thread, DISABLED);
        ProbeState {
            filter: AtomicU64::new(thread),
            panic: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Whether the probe runs for an event on the thread numbered `me`
    /// (never [`DISABLED`]).
    #[inline(always)]
    pub(crate) fn runs_on(&self, me: u64) -> bool {
        debug_assert!(me != 0 && me != DISABLED);
        let f = self.filter.load(Ordering::Relaxed);
        f == 0 || f == me
    }

    pub(crate) fn disable(&self) {
        self.filter.store(DISABLED, Ordering::Relaxed);
    }

    /// Records a panic caught on the firing path: disable, count, keep the
    /// first payload (later ones are dropped here).
    #[cold]
    #[inline(never)]
    pub(crate) fn record_panic(&self, payload: Payload, _event: &'static Event) {
        self.disable();
        PANICKED.fetch_add(1, Ordering::Relaxed);
        let boxed = Box::into_raw(Box::new(payload));
        if self
            .panic
            .compare_exchange(
                std::ptr::null_mut(),
                boxed,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            // SAFETY: `boxed` was just leaked above and was not published.
            drop(unsafe { Box::from_raw(boxed) });
        }
    }

    /// Takes the recorded panic payload, if any (writers, after the grace
    /// period).
    pub(crate) fn take_panic(&self) -> Option<Payload> {
        let p = self.panic.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            None
        } else {
            // SAFETY: non-null values are leaked boxes from `record_panic`;
            // the swap made this the only owner.
            Some(*unsafe { Box::from_raw(p) })
        }
    }
}

impl Drop for ProbeState {
    fn drop(&mut self) {
        drop(self.take_panic());
    }
}

/// A probe bound to its event but not attached yet: made by the event's
/// `probe(closure)`, attached by [`Setup::attach`](crate::Setup::attach)
/// or [`Setup::attach_in`](crate::Setup::attach_in).
pub struct NewProbe {
    pub(crate) event: &'static Event,
    /// A `Box<F>` with `F` the event's probe type.
    pub(crate) func: Box<dyn Any + Send + Sync>,
}

impl NewProbe {
    /// Used by [`declare!`](macro@crate::declare) only.
    #[doc(hidden)]
    pub fn __new<F: ?Sized + Send + Sync + 'static>(event: &'static Event, f: Box<F>) -> NewProbe {
        NewProbe {
            event,
            func: Box::new(f),
        }
    }

    /// The event it is for.
    pub fn event(&self) -> &'static Event {
        self.event
    }
}

impl fmt::Debug for NewProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewProbe")
            .field("event", &format_args!("{}", self.event))
            .finish()
    }
}

/// An attached probe. Dropping it, or [`detach`](Probe::detach), detaches
/// it: when that returns, the probe is not running on any thread and never
/// runs again, and its closure (with everything it captured) has been
/// dropped. `std::mem::forget` leaves it attached for good.
///
/// If the probe panicked on the firing path, detaching resumes that panic
/// (unless the thread is already panicking, or is itself inside a probe).
#[must_use = "dropping a Probe detaches it"]
pub struct Probe {
    pub(crate) id: u64,
    pub(crate) event: &'static Event,
}

impl Probe {
    /// Detaches the probe (the same as dropping it).
    pub fn detach(self) {
        drop(self)
    }

    /// The event it is attached to.
    pub fn event(&self) -> &'static Event {
        self.event
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        setup::detach_ids(&[self.id]);
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("id", &self.id)
            .field("event", &format_args!("{}", self.event))
            .finish()
    }
}

/// Attaches a probe to every thread's events; the generated
/// `event::attach(closure)` calls this.
#[doc(hidden)]
pub fn __attach(p: NewProbe) -> Probe {
    let event = p.event;
    let id = setup::attach(p, 0);
    Probe { id, event }
}
