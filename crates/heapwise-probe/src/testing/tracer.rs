//! [`Tracer`]: pause each traced thread at its events while the test looks.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::record::Record;
use crate::{nesting, Event, ProbeGroup, Value};

/// The default of [`Tracer::timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Synchronous tracing: every traced event pauses the thread that fired it
/// until the test has looked at it. See the [module docs](crate::testing).
///
/// ```
/// heapwise_probe::declare! { fn got(n: u64); }
/// let t = heapwise_probe::testing::Tracer::start(&[got::event()]);
/// let h = std::thread::spawn(|| { got(1); got(2); });
/// assert_eq!(t.next().to_string(), "got(n=1)"); // the thread is paused in got(1)
/// t.expect("got(n=2)"); // resumes it, waits for the next event
/// t.finish();           // resumes it, detaches
/// h.join().unwrap();
/// ```
pub struct Tracer {
    shared: Arc<Shared>,
    group: ProbeGroup,
    events: Vec<&'static Event>,
    timeout: Duration,
}

/// What the probes (on the firing threads) and the test share.
struct Shared {
    state: Mutex<State>,
    /// The test waits here for an event to be handed over.
    offered: Condvar,
    /// Firing threads wait here for their turn, or to be released.
    released: Condvar,
    /// The thread number of the thread that started the tracer: its events
    /// are not traced.
    owner: u64,
    skipped: AtomicU64,
    missed: AtomicU64,
}

struct State {
    /// Set when the tracer closes: nobody pauses any more.
    closed: bool,
    next_seq: u64,
    /// The event in flight, one at a time.
    current: Option<InFlight>,
}

struct InFlight {
    seq: u64,
    /// Until the test takes it.
    record: Option<Record>,
    /// Set by the test: the firing thread may return.
    released: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The probe: runs on the firing thread.
    fn on_event(&self, event: &'static Event, args: &[Value<'_>]) {
        if nesting::thread_number() == self.owner {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(record) = Record::new(event, args) else {
            self.missed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut st = self.lock();
        // Our turn: one event in flight at a time.
        while !st.closed && st.current.is_some() {
            st = self
                .released
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if st.closed {
            return;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.current = Some(InFlight {
            seq,
            record: Some(record),
            released: false,
        });
        self.offered.notify_all();
        // Paused until the test releases us (or closes).
        while !st.closed && !st.current.as_ref().is_some_and(|c| c.released) {
            st = self
                .released
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Still ours: nobody else sets `current` while it is `Some`.
        st.current = None;
        self.released.notify_all();
    }

    /// Releases the event in flight if the test has taken it (and, with
    /// `seq`, only if it is that one).
    fn release(&self, seq: Option<u64>) {
        let mut st = self.lock();
        if let Some(c) = &mut st.current {
            if c.record.is_none() && seq.is_none_or(|s| s == c.seq) && !c.released {
                c.released = true;
                self.released.notify_all();
            }
        }
    }

    fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        self.released.notify_all();
        self.offered.notify_all();
    }
}

impl Tracer {
    /// Attaches to `events` for every thread (one batch) and starts
    /// tracing: from now on, each of them fired on another thread than this
    /// one pauses that thread until the test takes it with
    /// [`next`](Tracer::next) and releases it.
    pub fn start(events: &[&'static Event]) -> Tracer {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                closed: false,
                next_seq: 0,
                current: None,
            }),
            offered: Condvar::new(),
            released: Condvar::new(),
            owner: nesting::thread_number(),
            skipped: AtomicU64::new(0),
            missed: AtomicU64::new(0),
        });
        let group = ProbeGroup::new();
        let mut unique: Vec<&'static Event> = Vec::new();
        for &e in events {
            if !unique.iter().any(|u| std::ptr::eq(*u, e)) {
                unique.push(e);
            }
        }
        crate::setup(|s| {
            for &event in &unique {
                let shared = shared.clone();
                s.attach_in(
                    &group,
                    event.probe_values(move |args| shared.on_event(event, args)),
                );
            }
        });
        Tracer {
            shared,
            group,
            events: unique,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets how long [`next`](Tracer::next) waits before it panics (10 s
    /// by default).
    pub fn timeout(mut self, timeout: Duration) -> Tracer {
        self.timeout = timeout;
        self
    }

    /// Resumes the thread paused at the previous step, if it still is, and
    /// waits for the next event: its thread is paused until the returned
    /// [`Step`] is dropped (or the next call to `next`, or
    /// [`resume`](Tracer::resume)).
    ///
    /// # Panics
    ///
    /// If no event comes within the [timeout](Tracer::timeout).
    pub fn next(&self) -> Step<'_> {
        self.next_timeout(self.timeout).unwrap_or_else(|| {
            let names: Vec<&str> = self.events.iter().map(|e| e.name()).collect();
            panic!(
                "heapwise_probe::testing::Tracer::next: no event within {:?} (tracing {}); \
                 the traced threads may be blocked on something the test holds, or done",
                self.timeout,
                names.join(", ")
            )
        })
    }

    /// [`next`](Tracer::next), waiting at most `timeout`: `None` if no
    /// event came.
    pub fn next_timeout(&self, timeout: Duration) -> Option<Step<'_>> {
        let deadline = Instant::now() + timeout;
        self.shared.release(None);
        let mut st = self.shared.lock();
        loop {
            if let Some(c) = &mut st.current {
                if let Some(record) = c.record.take() {
                    return Some(Step {
                        tracer: self,
                        seq: c.seq,
                        record,
                    });
                }
            }
            let now = Instant::now();
            if now >= deadline || st.closed {
                return None;
            }
            st = self
                .shared
                .offered
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// [`next`](Tracer::next), asserting that the step reads `call`
    /// (`event(arg=value, ..)`, as [`Record`]'s `Display`).
    #[track_caller]
    pub fn expect(&self, call: &str) -> Step<'_> {
        let step = self.next();
        assert_eq!(
            step.to_string(),
            call,
            "heapwise_probe::testing::Tracer::expect"
        );
        step
    }

    /// Asserts that no traced event fires within `wait` (after resuming the
    /// thread paused at the previous step, if any).
    #[track_caller]
    pub fn expect_none(&self, wait: Duration) {
        if let Some(step) = self.next_timeout(wait) {
            panic!(
                "heapwise_probe::testing::Tracer::expect_none: got {}",
                step.line()
            );
        }
    }

    /// Resumes the thread paused at the current step, if any (the same as
    /// dropping the [`Step`]).
    pub fn resume(&self) {
        self.shared.release(None)
    }

    /// Events not traced because they fired on the thread that started the
    /// tracer (see the [module docs](crate::testing#pitfalls)).
    pub fn skipped(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }

    /// Events not traced because they fired on an exiting thread, after its
    /// thread-locals were destroyed.
    pub fn missed(&self) -> u64 {
        self.shared.missed.load(Ordering::Relaxed)
    }

    /// Stops tracing: releases the paused thread and every thread waiting
    /// for its turn (they return from their events without pausing), then
    /// detaches. When it returns, no traced thread is paused and the probes
    /// are detached. The same as dropping the tracer.
    pub fn finish(self) {
        drop(self)
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // Release first: the detach waits for the probes that are running,
        // and a paused probe returns only once released.
        self.shared.close();
        self.group.detach_all();
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.events.iter().map(|e| e.name()).collect();
        f.debug_struct("Tracer")
            .field("events", &names)
            .field("timeout", &self.timeout)
            .field("skipped", &self.skipped())
            .field("missed", &self.missed())
            .finish()
    }
}

/// An event handed over by [`Tracer::next`]: its thread is paused inside
/// it until the step is dropped (or [`resume`](Step::resume)d, or the
/// tracer's next `next`). Dereferences to its [`Record`]; `Display` prints
/// the call, `event(arg=value, ..)`.
#[must_use = "dropping a Step resumes its thread at once"]
pub struct Step<'t> {
    tracer: &'t Tracer,
    seq: u64,
    record: Record,
}

impl Step<'_> {
    /// Resumes the paused thread (the same as dropping the step).
    pub fn resume(self) {
        drop(self)
    }

    /// The record, resuming the thread.
    pub fn into_record(self) -> Record {
        self.record.clone()
    }
}

impl Deref for Step<'_> {
    type Target = Record;
    fn deref(&self) -> &Record {
        &self.record
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        self.tracer.shared.release(Some(self.seq));
    }
}

impl fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.record, f)
    }
}

impl fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("seq", &self.seq)
            .field("record", &self.record)
            .finish()
    }
}
