//! Counter tracks: live heap bytes of the process and of each named scope,
//! sampled at a bounded rate by a background thread.
//!
//! The thread (`heapwise-record`, outside every scope) wakes once per
//! interval (10 ms by default, at least 1 ms) and reads
//! [`stats()`](crate::stats()) and the usage of every live named scope
//! ([`Scope::named`]). Scopes sharing a name are summed into one track,
//! leaving out those nested in a scope of the same name (counted there
//! already). A name whose scopes are all gone reads 0 from then on. One
//! sample is also taken when the recording starts and when it finishes, on
//! the calling thread, so even a recording shorter than the interval has
//! both ends.
//!
//! Figures lag by up to 64 KiB of traffic per thread still running inside a
//! scope (see the crate docs' accuracy section). Each sample takes its
//! bytes from the recording's budget; a sample the budget cannot hold is
//! dropped and counted.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::buffer::Budget;
use super::clock::{now_ns, ticks};
use super::probes::Shared;
use crate::local::without_accounting;
use crate::Scope;

/// One sample: the time, the process's live bytes, and the live bytes of
/// each name in [`CounterSamples::names`] (by index; names added later are absent
/// from earlier rows).
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) ts: u64,
    pub(crate) process: u64,
    pub(crate) scopes: Vec<u64>,
}

/// The samples of one recording. Its vectors are the recorder's memory:
/// grown and freed without accounting.
#[derive(Debug, Default)]
pub(crate) struct CounterSamples {
    pub(crate) names: Vec<String>,
    pub(crate) rows: Vec<Row>,
    pub(crate) dropped: u64,
}

impl CounterSamples {
    /// Takes one sample now. Runs in user code (never inside the
    /// allocator).
    pub(crate) fn sample(&mut self, budget: &Budget) {
        let ts = ticks();
        let process = crate::stats().live_bytes;
        // Counted, like any handle the user's code would hold: dropping the
        // last handle on a scope frees its name, which was counted.
        let named = Scope::named();
        let ids: Vec<u64> = named.iter().map(Scope::id).collect();
        let mut found: Vec<(&str, u64)> = Vec::new();
        for s in &named {
            let Some(name) = s.label() else { continue };
            if nested_in_same_name(s, name, &ids) {
                continue;
            }
            let live = s.usage().live_bytes;
            match found.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => *v += live,
                None => found.push((name, live)),
            }
        }
        without_accounting(|| {
            for (name, _) in &found {
                if !self.names.iter().any(|n| n == name) {
                    self.names.push((*name).to_string());
                }
            }
            let bytes = 24 + 8 * self.names.len();
            if budget.take(bytes, bytes) == 0 {
                self.dropped += 1;
                return;
            }
            let scopes = self
                .names
                .iter()
                .map(|n| {
                    found
                        .iter()
                        .find(|(f, _)| f == n)
                        .map_or(0, |&(_, live)| live)
                })
                .collect();
            self.rows.push(Row {
                ts,
                process,
                scopes,
            });
        });
        drop(found);
        drop(named);
    }
}

impl Drop for CounterSamples {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.names);
        let rows = std::mem::take(&mut self.rows);
        without_accounting(move || drop((names, rows)));
    }
}

/// Is `s` nested in a listed scope (its id in `listed`) of the same name,
/// which counts it already?
fn nested_in_same_name(s: &Scope, name: &str, listed: &[u64]) -> bool {
    let mut p = s.parent();
    while let Some(scope) = p {
        if scope.label() == Some(name) && listed.contains(&scope.id()) {
            return true;
        }
        p = scope.parent();
    }
    false
}

/// The thread that takes a counter sample once per interval: its handle.
#[derive(Debug)]
pub(crate) struct CounterThread {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl CounterThread {
    /// Starts the thread, which adds a sample to `counters` every `every`
    /// until stopped.
    pub(crate) fn start(
        counters: Arc<Mutex<CounterSamples>>,
        every: Duration,
        shared: Arc<Shared>,
    ) -> std::io::Result<CounterThread> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let every = every.as_nanos() as u64;
        let thread = std::thread::Builder::new()
            .name("heapwise-record".into())
            .spawn(move || {
                crate::untracked(|| {
                    let (lock, cv) = &*flag;
                    let mut next = now_ns() + every;
                    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    while !*stopped {
                        let now = now_ns();
                        if now < next {
                            stopped = cv
                                .wait_timeout(stopped, Duration::from_nanos(next - now))
                                .unwrap_or_else(PoisonError::into_inner)
                                .0;
                            continue;
                        }
                        drop(stopped);
                        counters
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .sample(&shared.buffers.budget);
                        // A fixed rate whatever a sample cost; after a stall,
                        // go on from now rather than catch up.
                        next = (next + every).max(now_ns());
                        stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    }
                })
            })?;
        Ok(CounterThread { stop, thread })
    }

    /// Stops the thread and waits for it. Not in a forked child, which has
    /// the handle but not the thread (joining it panicked: "threads should
    /// not terminate unexpectedly") and maybe its lock, held at the fork:
    /// there the handle is forgotten instead (`Recording`'s `Live::stop`).
    pub(crate) fn stop(self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
        let _ = self.thread.join();
    }
}
