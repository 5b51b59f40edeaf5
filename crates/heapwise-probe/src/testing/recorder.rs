//! [`Recorder`]: capture events without pausing anybody.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::record::{Log, Record};
use crate::{Event, ProbeGroup};

/// Which events to record, and on which threads: a builder, started with
/// [`start`](Recorder::start). See the [module docs](crate::testing).
#[derive(Debug, Default)]
#[must_use = "a Recorder records nothing until started"]
pub struct Recorder {
    events: Vec<&'static Event>,
    thread_scoped: bool,
}

impl Recorder {
    /// A recorder of no event yet, for every thread.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Records `event` too (once, even if added twice).
    pub fn event(mut self, event: &'static Event) -> Recorder {
        if !self.events.iter().any(|e| std::ptr::eq(*e, event)) {
            self.events.push(event);
        }
        self
    }

    /// Records these events too: `.events(heapwise_probe::list().iter().copied().filter(..))`.
    pub fn events(self, events: impl IntoIterator<Item = &'static Event>) -> Recorder {
        events.into_iter().fold(self, Recorder::event)
    }

    /// Records only the events fired on the thread that calls
    /// [`start`](Recorder::start) (a [thread-scoped
    /// group](ProbeGroup::current_thread)): parallel tests firing the same
    /// events don't see each other's.
    pub fn current_thread(mut self) -> Recorder {
        self.thread_scoped = true;
        self
    }

    /// Attaches the probes (one [`setup`](fn@crate::setup) batch, one grace
    /// period) and starts recording. Every event that starts after this
    /// returns is recorded, until [`Recording::finish`] or the drop.
    pub fn start(self) -> Recording {
        let group = if self.thread_scoped {
            ProbeGroup::current_thread()
        } else {
            ProbeGroup::new()
        };
        let log = Arc::new(Mutex::new(Log::default()));
        crate::setup(|s| {
            for &event in &self.events {
                let log = log.clone();
                s.attach_in(
                    &group,
                    event.probe_values(move |args| {
                        let record = Record::new(event, args);
                        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                        match record {
                            Some(r) => log.records.push(r),
                            None => log.missed += 1,
                        }
                    }),
                );
            }
        });
        Recording { group, log }
    }
}

/// A recorder running: its probes are attached until
/// [`finish`](Recording::finish) or the drop.
pub struct Recording {
    group: ProbeGroup,
    log: Arc<Mutex<Log>>,
}

impl Recording {
    /// Stops recording (detaches; when it returns no probe of the recorder
    /// is running) and returns everything recorded.
    pub fn finish(self) -> Log {
        self.group.detach_all();
        self.take()
    }

    /// The records so far (a copy; recording goes on).
    pub fn snapshot(&self) -> Log {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The records so far, removed from the recording (recording goes on).
    pub fn take(&self) -> Log {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Recording")
            .field("probes", &self.group.len())
            .field("thread_scoped", &self.group.is_thread_scoped())
            .field("records", &log.records.len())
            .finish()
    }
}
