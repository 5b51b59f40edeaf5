//! A loom model of the grace period (`src/grace.rs`): attaches and detaches
//! racing events that fire, in every interleaving loom explores.
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test -p heapwise-probe --release --test loom_grace
//! ```
//!
//! This file compiles `grace.rs` and its shim (`sync.rs`) into itself, where
//! `cfg(all(loom, test))` holds: the grace period's statics, atomics, lock
//! and thread-local are loom's, there are 2 reader slots (a third reader
//! takes the shared counters), and waits yield to loom. The firing path and
//! the writers are mirrored from the crate, reduced to what the grace
//! period protects:
//!
//! - an event is a head pointer to an immutable array of probes
//!   (`tracepoint.rs`); firing enters a read section, loads the head, reads
//!   the array and every probe's closure, and leaves (`fire`);
//! - a writer publishes a new array with a swap, waits for a grace period
//!   and only then frees the old array and drops the detached probes'
//!   closures (`setup.rs`, `Outermost::finish`).
//!
//! Freeing is a write to a loom `UnsafeCell` the readers read: loom fails
//! the model if any read is not ordered before that write (a firing thread
//! could still be reading what a detach freed), and the readers also check
//! that what they read was not freed yet.
//!
//! Loom models the fence mode of the grace period (a `SeqCst` fence on
//! both sides). The membarrier mode replaces the reader's fence with a
//! compiler fence and the writer's with a `membarrier` system call that
//! runs a full barrier on every thread; that guarantee comes from the kernel
//! and is not expressible in the C++ memory model loom checks, so the model
//! covers it only through the fence mode it reduces to.
#![cfg(loom)]

#[path = "../src/sync.rs"]
mod sync;

#[path = "../src/grace.rs"]
mod grace;

use std::sync::Arc as StdArc;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicPtr;
use loom::sync::atomic::Ordering::{AcqRel, Acquire};
use loom::sync::Arc;
use loom::thread;

/// A probe's closure. Dropping it (after its detach's grace period) sets
/// `dropped`.
#[derive(Debug)]
struct Closure {
    dropped: UnsafeCell<bool>,
}

/// An immutable array of probes, as an event's head points to.
#[derive(Debug)]
struct Array {
    freed: UnsafeCell<bool>,
    probes: Vec<StdArc<Closure>>,
}

// SAFETY: shared between the model's threads on purpose: every access to
// the cells goes through loom's `UnsafeCell`, which fails the model on a
// race instead of letting it happen unnoticed.
unsafe impl Sync for Closure {}
// SAFETY: as above.
unsafe impl Sync for Array {}
// SAFETY: as above (an array moves to the thread that frees it).
unsafe impl Send for Array {}

/// An event: the head pointer its firing path loads.
#[derive(Debug)]
struct Event {
    head: AtomicPtr<Array>,
}

impl Event {
    fn new() -> Event {
        Event {
            head: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
}

fn closure() -> StdArc<Closure> {
    StdArc::new(Closure {
        dropped: UnsafeCell::new(false),
    })
}

/// The firing path (`tracepoint::fire`): returns how many probes it ran.
fn fire(event: &Event) -> usize {
    let reader = grace::read_lock();
    let p = event.head.load(Acquire);
    let mut ran = 0;
    if !p.is_null() {
        // SAFETY: arrays are freed for real only when the execution ends
        // (the model's "free" is the write to `freed`, checked here).
        let array = unsafe { &*p };
        // SAFETY: loom checks that this read does not race with the write
        // of a free; the pointer is valid (see above).
        let freed = array.freed.with(|f| unsafe { *f });
        assert!(!freed, "a firing thread read an array after it was freed");
        for probe in &array.probes {
            // SAFETY: as above, for the closure's drop.
            let dropped = probe.dropped.with(|d| unsafe { *d });
            assert!(
                !dropped,
                "a firing thread ran a probe after its closure was dropped"
            );
            ran += 1;
        }
    }
    grace::read_unlock(reader);
    ran
}

/// A writer: publishes `probes` as the event's new array (null when empty),
/// waits for a grace period if it replaced an array, then frees the old
/// array and drops the `detached` closures. Returns the new array, for the
/// final clean-up.
fn change(event: &Event, probes: Vec<StdArc<Closure>>, detached: &[StdArc<Closure>]) -> *mut Array {
    let new = if probes.is_empty() {
        std::ptr::null_mut()
    } else {
        Box::into_raw(Box::new(Array {
            freed: UnsafeCell::new(false),
            probes,
        }))
    };
    let old = event.head.swap(new, AcqRel);
    if !old.is_null() || !detached.is_empty() {
        grace::synchronize();
    }
    if !old.is_null() {
        // SAFETY: unpublished above, not freed for real before the end.
        let old = unsafe { &*old };
        // SAFETY: loom checks that no read of a firing thread races this.
        old.freed.with_mut(|f| unsafe { *f = true });
    }
    for c in detached {
        // SAFETY: as above.
        c.dropped.with_mut(|d| unsafe { *d = true });
    }
    new
}

/// Frees the arrays for real once the execution's threads have joined.
fn free_all(arrays: Vec<*mut Array>) {
    for a in arrays {
        if !a.is_null() {
            // SAFETY: made by `Box::into_raw` in `change`, freed once, no
            // thread runs any more.
            drop(unsafe { Box::from_raw(a) });
        }
    }
}

fn spawn_firing(event: &Arc<Event>, times: usize) -> thread::JoinHandle<usize> {
    let event = event.clone();
    thread::spawn(move || (0..times).map(|_| fire(&event)).sum())
}

/// Detach: when it returns no firing thread can still be reading the
/// detached probe's closure or the array that held it.
#[test]
fn detach_waits_for_a_firing_thread() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let p = closure();
        let a = change(&event, vec![p.clone()], &[]);
        let reader = spawn_firing(&event, 1);
        let b = change(&event, vec![], &[p]);
        assert!(reader.join().unwrap() <= 1);
        assert_eq!(fire(&event), 0);
        free_all(vec![a, b]);
    });
}

/// Attach then detach while another thread fires: the event runs the
/// probe or not, never after its drop.
#[test]
fn attach_then_detach_racing_an_event() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let reader = spawn_firing(&event, 1);
        let p = closure();
        let a = change(&event, vec![p.clone()], &[]);
        let b = change(&event, vec![], &[p]);
        assert!(reader.join().unwrap() <= 1);
        free_all(vec![a, b]);
    });
}

/// Attach a second probe (the first array is replaced and freed), then
/// detach the first, while another thread fires twice: each firing sees a
/// whole array, and nothing it reads has been freed.
#[test]
fn replacing_arrays_while_an_event_fires_twice() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let (p, q) = (closure(), closure());
        let a = change(&event, vec![p.clone()], &[]);
        let reader = spawn_firing(&event, 2);
        let b = change(&event, vec![p.clone(), q.clone()], &[]);
        let c = change(&event, vec![q], &[p]);
        assert!(reader.join().unwrap() <= 4);
        assert_eq!(fire(&event), 1);
        free_all(vec![a, b, c]);
    });
}

/// Three firing threads, two slots: the main thread took one slot before
/// (it fired once, long ago), so one reader gets the other slot and one the
/// shared counters; a detach must wait for both.
#[test]
fn a_reader_on_the_shared_counters_and_one_in_a_slot() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        assert_eq!(fire(&event), 0);
        let p = closure();
        let a = change(&event, vec![p.clone()], &[]);
        let r1 = spawn_firing(&event, 1);
        let r2 = spawn_firing(&event, 1);
        let b = change(&event, vec![], &[p]);
        assert!(r1.join().unwrap() + r2.join().unwrap() <= 2);
        free_all(vec![a, b]);
    });
}

/// A thread exits (its slot released) while another claims one and fires,
/// against a detach: a released slot is idle, a reclaimed one is waited
/// for.
#[test]
fn a_slot_released_at_exit_and_claimed_again() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        assert_eq!(fire(&event), 0);
        let p = closure();
        let a = change(&event, vec![p.clone()], &[]);
        let e = event.clone();
        let r1 = thread::spawn(move || {
            let n = fire(&e);
            grace::exit_thread();
            n
        });
        let r2 = spawn_firing(&event, 1);
        let b = change(&event, vec![], &[p]);
        assert!(r1.join().unwrap() + r2.join().unwrap() <= 2);
        free_all(vec![a, b]);
    });
}

/// Two writers detach from two events at once (their grace periods
/// serialise on the lock) while one thread fires both events.
#[test]
fn two_writers_detach_at_once() {
    loom::model(|| {
        let (e1, e2) = (Arc::new(Event::new()), Arc::new(Event::new()));
        let (p, q) = (closure(), closure());
        let a = change(&e1, vec![p.clone()], &[]);
        let b = change(&e2, vec![q.clone()], &[]);
        let reader = {
            let (e1, e2) = (e1.clone(), e2.clone());
            thread::spawn(move || fire(&e1) + fire(&e2))
        };
        let w = {
            let e2 = e2.clone();
            thread::spawn(move || change(&e2, vec![], &[q]) as usize)
        };
        let c = change(&e1, vec![], &[p]);
        let d = w.join().unwrap() as *mut Array;
        assert!(reader.join().unwrap() <= 2);
        free_all(vec![a, b, c, d]);
    });
}
