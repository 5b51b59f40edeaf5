//! The recorder's probes: what each recorded event writes, on the thread
//! that fired it, into that thread's buffer (no lock, no allocation, never
//! a panic), and the state they share.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use heapwise_probe::{Event, ProbeGroup};

use super::buffer::Buffers;
use super::clock::ticks;
use super::recorder::Recorder;
use super::records::{cut, head, write, ALLOC, ENTER, EXIT, FREE, LIMIT, REALLOC, SAMPLE};
use crate::events;

/// What the probes share: the buffers and the user events' list.
pub(crate) struct Shared {
    pub(crate) buffers: Buffers,
    pub(crate) user: Vec<&'static Event>,
    /// Set when a forked child finishes its copy of the recording, whose
    /// probes cannot be detached there: they record nothing more.
    pub(crate) stopped: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Records `words` (head and timestamp first) and up to two strings on
    /// the calling thread. The firing path: no lock, no allocation, never
    /// panics.
    #[inline(always)]
    pub(crate) fn record(&self, words: &[u64], s1: &str, s2: &str) {
        if self.stopped.load(Relaxed) {
            return;
        }
        if let Some(buf) = self.buffers.this_thread() {
            write(buf, &self.buffers.budget, words, s1, s2);
        }
    }

    pub(crate) fn counts(&self) -> (u64, u64) {
        let threads = self.buffers.threads();
        let recorded = threads.iter().map(|t| t.recorded()).sum();
        let dropped =
            threads.iter().map(|t| t.dropped()).sum::<u64>() + self.buffers.lost.load(Relaxed);
        (recorded, dropped)
    }
}

/// The events a recording attaches to.
pub(super) fn recorded_events(options: &Recorder) -> Vec<&'static Event> {
    let mut v = Vec::new();
    if options.scopes {
        v.extend([events::scope_enter::event(), events::scope_exit::event()]);
    }
    if options.limits {
        v.push(events::limit_exceeded::event());
    }
    if options.samples {
        v.push(events::sample::event());
    }
    if options.allocations {
        v.extend([
            events::alloc::event(),
            events::free::event(),
            events::realloc::event(),
        ]);
    }
    v.extend(options.user.iter().copied());
    v
}

/// Occurrences of `events` that reached no probe because they fired inside
/// a probe on the same thread (process-wide counters).
pub(super) fn nested_drops(events: &[&'static Event]) -> u64 {
    events.iter().map(|e| e.dropped()).sum()
}

pub(super) fn attach(options: &Recorder, shared: &Arc<Shared>, group: &ProbeGroup) {
    // Made before the setup, which holds the probe registry's lock.
    let user: Vec<_> = options
        .user
        .iter()
        .enumerate()
        .map(|(i, event)| super::user::probe(event, i, shared.clone()))
        .collect();
    heapwise_probe::setup(|s| {
        if options.scopes {
            let sh = shared.clone();
            s.attach_in(
                group,
                events::scope_enter::probe(move |scope, parent, name| {
                    let ts = ticks();
                    let name = cut(name);
                    sh.record(&[head(ENTER, name.len(), 0), ts, scope, parent], name, "");
                }),
            );
            let sh = shared.clone();
            s.attach_in(
                group,
                events::scope_exit::probe(move |scope, name| {
                    let ts = ticks();
                    let name = cut(name);
                    sh.record(&[head(EXIT, name.len(), 0), ts, scope], name, "");
                }),
            );
        }
        if options.limits {
            let sh = shared.clone();
            s.attach_in(
                group,
                events::limit_exceeded::probe(move |scope, name, kind, limit, used| {
                    let ts = ticks();
                    let (name, kind) = (cut(name), cut(kind));
                    sh.record(
                        &[head(LIMIT, name.len(), kind.len()), ts, scope, limit, used],
                        name,
                        kind,
                    );
                }),
            );
        }
        if options.samples {
            let sh = shared.clone();
            s.attach_in(
                group,
                events::sample::probe(move |ptr, size, rate, scope| {
                    sh.record(&block(SAMPLE, ptr, size, rate, scope), "", "");
                }),
            );
        }
        if options.allocations {
            let sh = shared.clone();
            s.attach_in(
                group,
                events::alloc::probe(move |ptr, size, align, scope| {
                    sh.record(&block(ALLOC, ptr, size, align as u64, scope), "", "");
                }),
            );
            let sh = shared.clone();
            s.attach_in(
                group,
                events::free::probe(move |ptr, size, align, scope| {
                    sh.record(&block(FREE, ptr, size, align as u64, scope), "", "");
                }),
            );
            let sh = shared.clone();
            s.attach_in(
                group,
                events::realloc::probe(move |ptr, old, new_ptr, new, align, scope| {
                    let ts = ticks();
                    let w = [
                        head(REALLOC, 0, 0),
                        ts,
                        ptr as u64,
                        old as u64,
                        new_ptr as u64,
                        new as u64,
                        align as u64,
                        scope,
                    ];
                    sh.record(&w, "", "");
                }),
            );
        }
        for p in user {
            s.attach_in(group, p);
        }
    });
}

/// The words of a one-block record (sample, alloc, free): head, time,
/// address, size, the tag's own field (rate or alignment), scope. The time
/// is taken here, as the probe runs.
#[inline(always)]
fn block(tag: u8, ptr: usize, size: usize, field: u64, scope: u64) -> [u64; 6] {
    [
        head(tag, 0, 0),
        ticks(),
        ptr as u64,
        size as u64,
        field,
        scope,
    ]
}
