//! The immutable probe array an event's head points to.
//!
//! Writers build a new array for every change and publish it; readers walk
//! whatever array they loaded, with no lock, inside a read section
//! ([`grace`](mod@crate::grace)). An array never changes after it is published
//! and is freed only after a grace period, so a reader never sees a probe
//! list half-updated and a detach never makes a reader skip a sibling probe
//! (go123's linked list can do both, see the crate docs).
//!
//! Items are raw pointers into the probes' boxes, which the registry owns
//! and drops only after the grace period that follows their detach: freeing
//! an array drops nothing but the array.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::nesting;
use crate::probe::ProbeState;
use crate::Event;

/// One attached probe as the firing path sees it.
pub(crate) struct Item<F: ?Sized> {
    /// The probe's closure (owned by the registry).
    f: *const F,
    /// Its thread filter and panic record (owned by the registry).
    state: *const ProbeState,
}

/// An event's attached probes, in attach order.
pub(crate) struct Array<F: ?Sized> {
    items: Box<[Item<F>]>,
}

/// What the registry hands to [`build`] for each probe of an event.
pub(crate) struct Source<'a> {
    pub(crate) func: &'a (dyn Any + Send + Sync),
    pub(crate) state: &'a ProbeState,
}

/// Builds the array of `probes` (non-empty), returning it as the thin
/// pointer an event's head holds. `F` must be the event's probe type: each
/// `func` is a `Box<F>`.
pub(crate) fn build<F: ?Sized + 'static>(probes: &[Source<'_>]) -> *mut () {
    debug_assert!(!probes.is_empty(), "an event with no probe has a null head");
    let items = probes
        .iter()
        .map(|p| {
            let f: &F = p
                .func
                .downcast_ref::<Box<F>>()
                .expect("heapwise-probe: probe type does not match its event");
            Item { f, state: p.state }
        })
        .collect();
    Box::into_raw(Box::new(Array::<F> { items })).cast()
}

/// Frees an array made by [`build::<F>`].
///
/// # Safety
///
/// `p` was returned by `build::<F>` (same `F`), is no longer reachable from
/// any event head, and a grace period has passed since it was unpublished
/// (no reader can still be walking it). Freed once.
pub(crate) unsafe fn free<F: ?Sized + 'static>(p: *mut ()) {
    // SAFETY: by the contract above, `p` is an unshared `Box<Array<F>>`.
    drop(unsafe { Box::from_raw(p.cast::<Array<F>>()) });
}

impl<F: ?Sized> Array<F> {
    /// Calls `call` on every enabled probe that fires on this thread, in
    /// order. A probe that panics is caught, recorded and disabled; the
    /// following probes still run. Never unwinds.
    #[inline(always)]
    pub(crate) fn run(&self, event: &'static Event, call: &impl Fn(&F)) {
        let mut rest = &*self.items;
        let me = nesting::thread_number();
        // One catch_unwind per event, not per probe: after a panic, the walk
        // resumes at the next probe.
        while let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
            while let Some((it, next)) = rest.split_first() {
                // SAFETY: the registry keeps the probe's state and closure
                // alive until a grace period after this array is
                // unpublished; we are inside a read section that loaded it.
                let state = unsafe { &*it.state };
                if state.runs_on(me) {
                    // SAFETY: as above.
                    call(unsafe { &*it.f });
                }
                rest = next;
            }
        })) {
            // `rest` starts at the probe that panicked.
            if let Some((it, next)) = rest.split_first() {
                // SAFETY: as above.
                unsafe { &*it.state }.record_panic(payload, event);
                rest = next;
            }
        }
    }
}
