//! The public API: [`Recorder`] (what to record), [`Recording`] (running),
//! [`Trace`] (finished).

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use heapwise_probe::{Event, ProbeGroup};

use super::buffer::Buffers;
use super::clock::Timebase;
use super::counters::{CounterSamples, CounterThread};
use super::probes::{attach, nested_drops, recorded_events, Shared};

/// The default memory budget: 64 MiB.
const DEFAULT_BUDGET: usize = 64 * 1024 * 1024;
/// The default counter interval: 10 ms.
const DEFAULT_INTERVAL: Duration = Duration::from_millis(10);
/// The shortest counter interval.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// What a recording records: a builder. [`Recorder::start`] starts it.
///
/// By default: scopes (slices), limit crossings (instants), live-bytes
/// counters every 10 ms, thread and process names, within 64 MiB. Profiler
/// samples, allocator calls and user events are opt-in. See the [module
/// docs](crate::record).
#[derive(Clone)]
pub struct Recorder {
    pub(super) scopes: bool,
    pub(super) limits: bool,
    pub(super) samples: bool,
    pub(super) allocations: bool,
    pub(crate) counters: bool,
    pub(crate) interval: Duration,
    budget: usize,
    pub(super) user: Vec<&'static Event>,
    current_thread: bool,
    process_name: Option<String>,
}

impl Recorder {
    /// The default recorder (see the type's docs).
    #[must_use]
    pub fn new() -> Recorder {
        Recorder {
            scopes: true,
            limits: true,
            samples: false,
            allocations: false,
            counters: true,
            interval: DEFAULT_INTERVAL,
            budget: DEFAULT_BUDGET,
            user: Vec::new(),
            current_thread: false,
            process_name: None,
        }
    }

    /// Records scope entries and exits as slices (default: on).
    #[must_use]
    pub fn scopes(mut self, on: bool) -> Recorder {
        self.scopes = on;
        self
    }

    /// Records limit crossings as instants (default: on).
    #[must_use]
    pub fn limits(mut self, on: bool) -> Recorder {
        self.limits = on;
        self
    }

    /// Records the heap profiler's samples
    /// ([`events::sample`](fn@crate::events::sample)) as instants (default:
    /// off). At the default 512 KiB rate that is a few per megabyte
    /// allocated; at rate 1, one per allocation.
    #[must_use]
    pub fn samples(mut self, on: bool) -> Recorder {
        self.samples = on;
        self
    }

    /// Records every allocator call (`alloc`, `free`, `realloc`) as an
    /// instant (default: off). Costly: every allocator call takes the slow
    /// path while attached, and each is an event in the buffers. Needs
    /// heapwise's default cargo feature `alloc-events` (without it these
    /// events never fire, and nothing is recorded for them).
    #[must_use]
    pub fn allocations(mut self, on: bool) -> Recorder {
        self.allocations = on;
        self
    }

    /// Samples the live-bytes counters (default: on).
    #[must_use]
    pub fn counters(mut self, on: bool) -> Recorder {
        self.counters = on;
        self
    }

    /// How often the counters are sampled (default: 10 ms; at least 1 ms,
    /// shorter intervals are raised to it).
    #[must_use]
    pub fn counter_interval(mut self, every: Duration) -> Recorder {
        self.interval = every.max(MIN_INTERVAL);
        self
    }

    /// The most memory the recording may take for its events and counter
    /// samples, in bytes (default: 64 MiB). Events beyond it are dropped and
    /// counted ([`Trace::dropped`]).
    #[must_use]
    pub fn budget(mut self, bytes: u64) -> Recorder {
        self.budget = usize::try_from(bytes).unwrap_or(usize::MAX);
        self
    }

    /// Also records `event`, any `heapwise-probe` event
    /// (`my_crate::events::request_start::event()`), as an instant with its
    /// arguments.
    #[must_use]
    pub fn user_event(mut self, event: &'static Event) -> Recorder {
        if !self.user.iter().any(|e| std::ptr::eq(*e, event)) {
            self.user.push(event);
        }
        self
    }

    /// Records only the events of the calling thread (the counters stay
    /// process-wide), as [`ProbeGroup::current_thread`] attaches probes
    /// for one thread. For tests running in parallel, or to follow one
    /// thread.
    #[must_use]
    pub fn current_thread(mut self) -> Recorder {
        self.current_thread = true;
        self
    }

    /// The former name of [`current_thread`](Recorder::current_thread).
    #[deprecated(note = "renamed to `current_thread`, as `ProbeGroup::current_thread`")]
    #[must_use]
    pub fn current_thread_only(self) -> Recorder {
        self.current_thread()
    }

    /// The process's name in the trace (default: the executable's file
    /// name).
    #[must_use]
    pub fn process_name(mut self, name: impl Into<String>) -> Recorder {
        self.process_name = Some(name.into());
        self
    }

    /// Starts recording: attaches the probes (one batch, one grace period),
    /// takes the first counter sample and starts the counter thread.
    /// Events that start after this returns are recorded.
    pub fn start(self) -> Recording {
        let timebase = Timebase::start();
        let shared = Arc::new(Shared {
            buffers: Buffers::new(self.budget),
            user: self.user.clone(),
            stopped: Default::default(),
        });
        let mut notes = Vec::new();
        let (counters, counter_thread) = if self.counters {
            let mut c = CounterSamples::default();
            c.sample(&shared.buffers.budget);
            let c = Arc::new(Mutex::new(c));
            match CounterThread::start(c.clone(), self.interval, shared.clone()) {
                Ok(s) => (Some(c), Some(s)),
                Err(e) => {
                    notes.push(format!(
                        "counters sampled at start and finish only: cannot start the counter thread: {e}"
                    ));
                    (Some(c), None)
                }
            }
        } else {
            (None, None)
        };
        let group = if self.current_thread {
            ProbeGroup::current_thread()
        } else {
            ProbeGroup::new()
        };
        let nested_at_start = nested_drops(&recorded_events(&self));
        attach(&self, &shared, &group);
        Recording {
            live: Some(Live {
                shared,
                group: Some(group),
                nested_at_start,
                counter_thread,
                counters,
                timebase,
                notes,
                options: self,
                pid: std::process::id(),
            }),
        }
    }
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("scopes", &self.scopes)
            .field("limits", &self.limits)
            .field("samples", &self.samples)
            .field("allocations", &self.allocations)
            .field("counters", &self.counters)
            .field("counter_interval", &self.interval)
            .field("budget", &self.budget)
            .field(
                "user_events",
                &self.user.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("current_thread", &self.current_thread)
            .finish()
    }
}

/// A running recording, from [`Recorder::start`]. [`finish`](Recording::finish)
/// it to get the [`Trace`]; dropping it stops recording and discards
/// everything.
pub struct Recording {
    live: Option<Live>,
}

struct Live {
    shared: Arc<Shared>,
    /// `None` once stopped.
    group: Option<ProbeGroup>,
    /// The process that started it: a forked child holds a copy.
    pid: u32,
    /// [`nested_drops`] of the recorded events when the recording started.
    nested_at_start: u64,
    counter_thread: Option<CounterThread>,
    counters: Option<Arc<Mutex<CounterSamples>>>,
    timebase: Timebase,
    notes: Vec<String>,
    options: Recorder,
}

impl Recording {
    /// Stops recording and returns the trace: detaches the probes (when
    /// this returns no probe of the recording runs any more, so the
    /// buffers are read safely), stops the counter thread and takes the
    /// last counter sample.
    ///
    /// # Panics
    ///
    /// Resumes the panic of a recorder probe, if one panicked (a bug; see
    /// [`heapwise_probe::Probe`]).
    pub fn finish(mut self) -> Trace {
        let mut live = self.live.take().expect("a recording is finished once");
        let forked = live.stop();
        let mut notes = live.notes;
        let counters = match live.counters {
            Some(c) if !forked => {
                let mut c = c.lock().unwrap_or_else(PoisonError::into_inner);
                c.sample(&live.shared.buffers.budget);
                std::mem::take(&mut *c)
            }
            Some(c) => {
                // In a forked child: the counter thread stayed in the
                // parent, and may have held the samples' lock at the fork.
                notes.push(
                    "recording finished in a forked child: counters as of the fork, its probes left attached there".to_string(),
                );
                c.try_lock()
                    .map(|mut c| std::mem::take(&mut *c))
                    .unwrap_or_default()
            }
            None => CounterSamples::default(),
        };
        let timebase = live.timebase.finish();
        let (events, dropped) = live.shared.counts();
        let nested =
            nested_drops(&recorded_events(&live.options)).saturating_sub(live.nested_at_start);
        Trace {
            shared: live.shared,
            counters,
            timebase,
            events,
            dropped,
            nested,
            notes,
            pid: std::process::id(),
            process_name: live
                .options
                .process_name
                .clone()
                .unwrap_or_else(super::threads::process_name),
            options: live.options,
        }
    }

    /// Events recorded so far (an estimate while threads are recording).
    pub fn events(&self) -> u64 {
        self.live.as_ref().map_or(0, |l| l.shared.counts().0)
    }

    /// Events dropped so far because the budget was spent (an estimate
    /// while threads are recording).
    pub fn dropped(&self) -> u64 {
        self.live.as_ref().map_or(0, |l| l.shared.counts().1)
    }

    /// The time since the recording started.
    pub fn elapsed(&self) -> Duration {
        self.live.as_ref().map_or(Duration::ZERO, |l| {
            Duration::from_nanos(l.timebase.elapsed_ns())
        })
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(mut live) = self.live.take() {
            live.stop();
        }
    }
}

impl Live {
    /// Detaches the probes and stops the counter thread; `true` in a
    /// forked child, where neither is done: the thread is the parent's, and
    /// a detach waits for the probes running on other threads at the fork,
    /// which never finish there (heapwise-probe's rule: no attach or detach
    /// in a child of a process whose threads ran probes). The probes stay
    /// attached in the child, their buffers kept.
    fn stop(&mut self) -> bool {
        let forked = std::process::id() != self.pid;
        if forked {
            self.shared
                .stopped
                .store(true, std::sync::atomic::Ordering::Relaxed);
            std::mem::forget(self.group.take());
            std::mem::forget(self.counter_thread.take());
        } else {
            if let Some(group) = self.group.take() {
                group.detach_all();
            }
            if let Some(t) = self.counter_thread.take() {
                t.stop();
            }
        }
        forked
    }
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording")
            .field("elapsed", &self.elapsed())
            .field("events", &self.events())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// A finished recording: write it with [`write_json`](Trace::write_json)
/// (Chrome's Trace Event Format, for Perfetto UI and `chrome://tracing`) or
/// [`write_perfetto`](Trace::write_perfetto) (Perfetto's protobuf format,
/// the same events).
pub struct Trace {
    pub(crate) shared: Arc<Shared>,
    pub(crate) counters: CounterSamples,
    /// Converts the records' times to nanoseconds since the start.
    pub(crate) timebase: Timebase,
    pub(crate) events: u64,
    pub(crate) dropped: u64,
    pub(crate) nested: u64,
    pub(crate) notes: Vec<String>,
    /// The process id the writers put in the trace.
    pub(crate) pid: u32,
    pub(crate) process_name: String,
    pub(crate) options: Recorder,
}

impl Trace {
    /// Writes the trace as Chrome Trace Event Format JSON (a JSON object
    /// with `traceEvents`, `displayTimeUnit` and `otherData`). `out` is
    /// buffered internally.
    pub fn write_json(&self, out: impl Write) -> io::Result<()> {
        super::chrome::write(self, out)
    }

    /// Writes the JSON to the file at `path` (created or truncated).
    pub fn save(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        self.write_json(&mut f)?;
        f.sync_all()
    }

    /// Writes the trace as a Perfetto protobuf trace (`perfetto.protos.Trace`
    /// in the TrackEvent model): the same events as
    /// [`write_json`](Trace::write_json), as slices, instants and counters
    /// on process, thread and counter tracks, timestamps in
    /// `CLOCK_MONOTONIC` nanoseconds. See the [module docs](crate::record).
    /// `out` is buffered internally.
    pub fn write_perfetto(&self, out: impl Write) -> io::Result<()> {
        super::perfetto::write(self, out)
    }

    /// Writes the Perfetto protobuf trace to the file at `path` (created or
    /// truncated); `.pftrace` is the usual extension.
    pub fn save_perfetto(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        self.write_perfetto(&mut f)?;
        f.sync_all()
    }

    /// Events recorded by the probes: each scope entry and exit, limit
    /// crossing, sample, allocator call and user event counts one. Counter
    /// samples are not included ([`counter_samples`](Trace::counter_samples)).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Events and counter samples dropped because the budget was spent.
    pub fn dropped(&self) -> u64 {
        self.dropped + self.counters.dropped
    }

    /// Occurrences of the recorded events that reached no probe during the
    /// recording because they fired on a thread already running a probe
    /// (heapwise-probe drops nested events rather than recurse): for
    /// example the allocations made by a probe attached to the allocation
    /// events. The recorder's own probes never allocate; the count comes
    /// from the events' process-wide [`Event::dropped`] counters, so nested
    /// events under other probes attached meanwhile count too.
    pub fn nested_dropped(&self) -> u64 {
        self.nested
    }

    /// Counter samples taken (each holds the process's live bytes and every
    /// named scope's).
    pub fn counter_samples(&self) -> usize {
        self.counters.rows.len()
    }

    /// Threads that recorded at least one event.
    pub fn threads(&self) -> usize {
        self.shared.buffers.threads().len()
    }

    /// How long the recording ran.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.timebase.duration_ns())
    }

    /// Bytes of the budget the recording used.
    pub fn memory(&self) -> usize {
        self.shared.buffers.budget.used()
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("duration", &self.duration())
            .field("events", &self.events())
            .field("dropped", &self.dropped())
            .field("nested_dropped", &self.nested_dropped())
            .field("counter_samples", &self.counter_samples())
            .field("threads", &self.threads())
            .field("memory", &self.memory())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Recorder;

    #[test]
    #[allow(deprecated)]
    fn the_former_name_of_current_thread_still_works() {
        assert!(Recorder::new().current_thread_only().current_thread);
        assert!(!Recorder::new().current_thread);
    }
}
