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
    /// Its enabled flag and panic record (owned by the registry).
    state: *const ProbeState,
    /// 0: every thread; otherwise the only thread number it fires for.
    thread: u64,
}

/// An event's attached probes, in attach order.
pub(crate) struct Array<F: ?Sized> {
    items: Box<[Item<F>]>,
}

/// What the registry hands to [`build`] for each probe of an event.
pub(crate) struct Source<'a> {
    pub(crate) func: &'a (dyn Any + Send + Sync),
    pub(crate) state: &'a ProbeState,
    pub(crate) thread: u64,
}

/// Builds the array of `probes` (non-empty), returning it as the thin
/// pointer an event's head holds. `F` must be the event's probe type: each
/// `func` is a `Box<F>`.
pub(crate) fn build<F: ?Sized + 'static>(probes: &[Source<'_>]) -> *mut () {
    let items = probes
        .iter()
        .map(|p| {
            let f: &F = p
                .func
                .downcast_ref::<Box<F>>()
                .expect("heapwise-probe: probe type does not match its event");
            Item {
                f,
                state: p.state,
                thread: p.thread,
            }
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
        let items = &*self.items;
        let mut i = 0;
        let mut me = 0u64;
        while i < items.len() {
            // One catch_unwind per event, not per probe: after a panic, the
            // walk resumes at the next probe.
            let r = catch_unwind(AssertUnwindSafe(|| {
                while let Some(it) = items.get(i) {
                    // SAFETY: the registry keeps the probe's state and
                    // closure alive until a grace period after this array
                    // is unpublished; we are inside a read section that
                    // loaded it.
                    let state = unsafe { &*it.state };
                    if state.enabled() && (it.thread == 0 || it.thread == thread(&mut me)) {
                        // SAFETY: as above.
                        call(unsafe { &*it.f });
                    }
                    i += 1;
                }
            }));
            if let Err(payload) = r {
                // SAFETY: as above.
                let state = unsafe { &*items[i].state };
                state.record_panic(payload, event);
                i += 1;
            }
        }
    }
}

#[inline]
fn thread(me: &mut u64) -> u64 {
    if *me == 0 {
        *me = nesting::thread_number();
    }
    *me
}
