//! What a trace writer receives, and the one walk over a [`Trace`] that
//! feeds it.
//!
//! [`walk`] reads the recording once, in the order both formats need: the
//! process, then each thread with its events in the order they happened
//! (slices balanced, see below), then the counter tracks and their
//! samples, then the recorder's figures. A writer ([`Sink`]) only decides
//! how each of these looks in its format (`chrome.rs`, `perfetto.rs`).
//!
//! Slices are balanced per thread: a scope the thread was already in when
//! the recording started opens at the start (outermost first), an exit
//! closes the scope's slice and every slice opened inside it (guards
//! dropped out of order; innermost first), an exit that matches no open
//! slice is left out, and a slice still open at the finish closes then.

use std::borrow::Cow;
use std::io;

use super::recorder::Trace;
use super::records::{self, Record};

/// An argument's value, typed as the formats can show it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg<'a> {
    Uint(u64),
    Int(i64),
    Double(f64),
    Bool(bool),
    Str(Cow<'a, str>),
    /// An address (JSON: a hex string).
    Pointer(u64),
    /// A value the recorder could not read (JSON: `null`; Perfetto: left
    /// out).
    Null,
}

/// An argument: its name and value.
pub(crate) type NamedArg<'a> = (Cow<'a, str>, Arg<'a>);

/// `(name, value)` as a [`NamedArg`].
fn arg<'a>(name: &'a str, value: Arg<'a>) -> NamedArg<'a> {
    (Cow::Borrowed(name), value)
}

/// A trace format's writer. Times are nanoseconds since the recording
/// started; every call comes from [`walk`], in its order.
pub(crate) trait Sink {
    /// The process, first: its name, and a label when events were dropped.
    fn process(&mut self, name: &str, label: Option<&str>) -> io::Result<()>;
    /// A thread: the slices and instants until the next `thread` are its.
    fn thread(&mut self, tid: u64, name: &str) -> io::Result<()>;
    /// A scope's slice opens (category `scope`).
    fn slice_begin(&mut self, ns: u64, name: &str, args: &[NamedArg<'_>]) -> io::Result<()>;
    /// The innermost open slice, named `name`, closes.
    fn slice_end(&mut self, ns: u64, name: &str) -> io::Result<()>;
    /// An instant on the thread.
    fn instant(
        &mut self,
        ns: u64,
        name: &str,
        category: &str,
        args: &[NamedArg<'_>],
    ) -> io::Result<()>;
    /// A counter track of the process (live bytes), after every thread:
    /// tracks are numbered from 0 in the order they are declared.
    fn counter_track(&mut self, name: &str) -> io::Result<()>;
    /// A sample of counter track `track`.
    fn counter(&mut self, ns: u64, track: usize, value: u64) -> io::Result<()>;
    /// The recorder's figures, last; the sink adds the duration (and
    /// anything else of its own) before the notes, then finishes the file.
    fn finish(
        &mut self,
        duration_ns: u64,
        figures: &[NamedArg<'_>],
        notes: Option<&str>,
    ) -> io::Result<()>;
}

/// Feeds `trace` to `sink`, once.
pub(crate) fn walk(trace: &Trace, sink: &mut impl Sink) -> io::Result<()> {
    let label = (trace.dropped() > 0).then(|| {
        format!(
            "heapwise record: {} events dropped (budget spent)",
            trace.dropped()
        )
    });
    sink.process(&trace.process_name, label.as_deref())?;
    let threads = trace.shared.buffers.threads();
    for t in threads.iter() {
        sink.thread(t.tid, &t.trace_name())?;
        let recs: Vec<Record<'_>> = t.chunks().flat_map(records::read).collect();
        thread_events(sink, trace, &recs)?;
    }
    counters(sink, trace)?;
    let interval = if trace.options.counters {
        trace.options.interval.as_micros() as u64
    } else {
        0
    };
    let figures = [
        arg("recorder", Arg::Str("heapwise::record".into())),
        arg("version", Arg::Str(env!("CARGO_PKG_VERSION").into())),
        arg("events", Arg::Uint(trace.events())),
        arg("dropped_events", Arg::Uint(trace.dropped())),
        arg("nested_dropped_events", Arg::Uint(trace.nested_dropped())),
        arg("counter_samples", Arg::Uint(trace.counter_samples() as u64)),
        arg("counter_interval_us", Arg::Uint(interval)),
        arg(
            "budget_bytes",
            Arg::Uint(trace.shared.buffers.budget.total() as u64),
        ),
        arg("used_bytes", Arg::Uint(trace.memory() as u64)),
        arg("threads", Arg::Uint(threads.len() as u64)),
    ];
    let notes = (!trace.notes.is_empty()).then(|| trace.notes.join("; "));
    sink.finish(trace.timebase.duration_ns(), &figures, notes.as_deref())
}

/// One thread's records (in the order they happened) as slices and
/// instants.
fn thread_events(sink: &mut impl Sink, trace: &Trace, recs: &[Record<'_>]) -> io::Result<()> {
    let tb = trace.timebase;
    // The slices open now, innermost last.
    let mut open: Vec<(u64, &str)> = Vec::new();
    // Scopes entered before the start: outermost first, opened at 0.
    for &(scope, name) in orphan_exits(recs).iter().rev() {
        let args = [
            arg("scope", Arg::Uint(scope)),
            arg("entered", Arg::Str("before the recording started".into())),
        ];
        sink.slice_begin(0, &scope_name(name, scope), &args)?;
        open.push((scope, name));
    }
    for r in recs {
        match *r {
            Record::Enter {
                ts,
                scope,
                parent,
                name,
            } => {
                let args = [
                    arg("scope", Arg::Uint(scope)),
                    arg("parent", Arg::Uint(parent)),
                ];
                sink.slice_begin(tb.ns(ts), &scope_name(name, scope), &args)?;
                open.push((scope, name));
            }
            Record::Exit { ts, scope, .. } => {
                if let Some(i) = open.iter().rposition(|&(s, _)| s == scope) {
                    for (s, name) in open.drain(i..).rev() {
                        sink.slice_end(tb.ns(ts), &scope_name(name, s))?;
                    }
                }
            }
            Record::Limit {
                ts,
                scope,
                limit,
                used,
                name,
                kind,
            } => {
                let args = [
                    arg("scope", Arg::Uint(scope)),
                    arg("name", Arg::Str(scope_name(name, scope))),
                    arg("kind", Arg::Str(kind.into())),
                    arg("limit", Arg::Uint(limit)),
                    arg("used", Arg::Uint(used)),
                ];
                sink.instant(tb.ns(ts), "limit exceeded", "limit", &args)?;
            }
            Record::Sample {
                ts,
                ptr,
                size,
                rate,
                scope,
            } => {
                let args = block_args(ptr, size, ("rate", rate), scope);
                sink.instant(tb.ns(ts), "sample", "heap", &args)?;
            }
            Record::Alloc {
                ts,
                ptr,
                size,
                align,
                scope,
            } => {
                let args = block_args(ptr, size, ("align", align), scope);
                sink.instant(tb.ns(ts), "alloc", "heap", &args)?;
            }
            Record::Free {
                ts,
                ptr,
                size,
                align,
                scope,
            } => {
                let args = block_args(ptr, size, ("align", align), scope);
                sink.instant(tb.ns(ts), "free", "heap", &args)?;
            }
            Record::Realloc {
                ts,
                ptr,
                old_size,
                new_ptr,
                new_size,
                align,
                scope,
            } => {
                let args = [
                    arg("ptr", Arg::Pointer(ptr)),
                    arg("old_size", Arg::Uint(old_size)),
                    arg("new_ptr", Arg::Pointer(new_ptr)),
                    arg("new_size", Arg::Uint(new_size)),
                    arg("align", Arg::Uint(align)),
                    arg("scope", Arg::Uint(scope)),
                ];
                sink.instant(tb.ns(ts), "realloc", "heap", &args)?;
            }
            Record::User { ts, event, values } => {
                // Always present: a record's index is the event's in the
                // list the probes were made from.
                let Some(ev) = trace.shared.user.get(event) else {
                    continue;
                };
                let args = super::user::args(ev, values);
                sink.instant(tb.ns(ts), ev.name(), ev.module(), &args)?;
            }
        }
    }
    while let Some((s, name)) = open.pop() {
        sink.slice_end(tb.duration_ns(), &scope_name(name, s))?;
    }
    Ok(())
}

/// The arguments of a sample, allocation or free: the block, the figure
/// particular to the event (`rate` or `align`), the scope.
fn block_args(ptr: u64, size: u64, third: (&str, u64), scope: u64) -> [NamedArg<'_>; 4] {
    [
        arg("ptr", Arg::Pointer(ptr)),
        arg("size", Arg::Uint(size)),
        arg(third.0, Arg::Uint(third.1)),
        arg("scope", Arg::Uint(scope)),
    ]
}

/// The counter tracks, `heap` (the process) and `scope NAME` per named
/// scope, and their samples: none when nothing was sampled.
fn counters(sink: &mut impl Sink, trace: &Trace) -> io::Result<()> {
    let c = &trace.counters;
    if c.rows.is_empty() {
        return Ok(());
    }
    sink.counter_track("heap")?;
    for name in &c.names {
        sink.counter_track(&format!("scope {name}"))?;
    }
    for row in &c.rows {
        let ns = trace.timebase.ns(row.ts);
        sink.counter(ns, 0, row.process)?;
        for (i, &live) in row.scopes.iter().enumerate() {
            sink.counter(ns, 1 + i, live)?;
        }
    }
    Ok(())
}

/// The exits in `recs` (one thread's records, in order) of scopes entered
/// before the recording started, innermost first (the walk opens their
/// slices at the start, outermost first, so that every slice balances).
fn orphan_exits<'a>(recs: &[Record<'a>]) -> Vec<(u64, &'a str)> {
    let mut stack: Vec<u64> = Vec::new();
    let mut orphans: Vec<(u64, &'a str)> = Vec::new();
    for r in recs {
        match *r {
            Record::Enter { scope, .. } => stack.push(scope),
            Record::Exit { scope, name, .. } => match stack.iter().rposition(|&s| s == scope) {
                Some(i) => stack.truncate(i),
                None if stack.is_empty() => orphans.push((scope, name)),
                None => {}
            },
            _ => {}
        }
    }
    orphans
}

/// A scope's name in a trace: its own, or `scope #<id>` when it has none.
fn scope_name(name: &str, scope: u64) -> Cow<'_, str> {
    if name.is_empty() {
        format!("scope #{scope}").into()
    } else {
        name.into()
    }
}
