//! Writing a [`Trace`] as Chrome Trace Event Format JSON.
//!
//! The output is one JSON object:
//!
//! ```text
//! {"traceEvents":[
//!   {"name":"process_name","ph":"M","pid":7,"tid":0,"args":{"name":"demo"}},
//!   {"name":"thread_name","ph":"M","pid":7,"tid":7,"args":{"name":"main"}},
//!   {"name":"put","cat":"scope","ph":"B","ts":12.345,"pid":7,"tid":7,"args":{"scope":3,"parent":0}},
//!   {"name":"put","cat":"scope","ph":"E","ts":14.001,"pid":7,"tid":7},
//!   {"name":"limit exceeded","cat":"limit","ph":"i","s":"t","ts":..,"args":{"scope":9,"name":"scope #9","kind":"bytes","limit":524288,"used":524800}},
//!   {"name":"heap","ph":"C","ts":..,"pid":7,"tid":7,"args":{"live_bytes":123}},
//!   {"name":"scope put","ph":"C","ts":..,"pid":7,"tid":7,"args":{"live_bytes":45}},
//!   ...],
//!  "displayTimeUnit":"ns",
//!  "otherData":{"recorder":"heapwise::record","events":..,"dropped_events":..,"nested_dropped_events":..,..}}
//! ```
//!
//! Per thread, records are written in the order they happened, so
//! timestamps never go back within a thread. Slices are balanced per thread:
//! a scope the thread was already in when the recording started gets its
//! `B` at 0 (the start), one still open at the finish gets its `E` then, and
//! an exit that matches no open slice (only possible when guards are dropped
//! out of order) is left out.

use std::io::{self, BufWriter, Write};

use super::clock::Timebase;
use super::recorder::Trace;
use super::records::{self, scope_name, Record, ALLOC, FREE, SAMPLE};

/// Writes `trace` to `out`.
pub(crate) fn write(trace: &Trace, out: impl Write) -> io::Result<()> {
    let mut w = Json {
        out: BufWriter::with_capacity(64 * 1024, out),
        first: true,
        pid: trace.pid,
        tb: trace.timebase,
    };
    w.raw("{\"traceEvents\":[\n")?;
    let pid = w.pid;
    w.event_start()?;
    w.raw(&format!(
        "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":"
    ))?;
    w.string(&trace.process_name)?;
    w.raw("}}")?;
    if trace.dropped() > 0 {
        w.event_start()?;
        w.raw(&format!(
            "{{\"name\":\"process_labels\",\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"args\":{{\"labels\":\"heapwise record: {} events dropped (budget spent)\"}}}}",
            trace.dropped()
        ))?;
    }
    let threads = trace.shared.buffers.threads();
    for t in threads.iter() {
        let name = t.trace_name();
        w.event_start()?;
        w.raw(&format!(
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{},\"args\":{{\"name\":",
            t.tid
        ))?;
        w.string(&name)?;
        w.raw("}}")?;
        let recs: Vec<Record<'_>> = t.chunks().flat_map(records::read).collect();
        thread_events(&mut w, trace, t.tid, &recs)?;
    }
    counters(&mut w, trace)?;
    w.raw("\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{")?;
    w.raw(&format!(
        "\"recorder\":\"heapwise::record\",\"version\":\"{}\",\"events\":{},\"dropped_events\":{},\"nested_dropped_events\":{},\"counter_samples\":{},\"counter_interval_us\":{},\"budget_bytes\":{},\"used_bytes\":{},\"threads\":{},\"duration_us\":{}",
        env!("CARGO_PKG_VERSION"),
        trace.events(),
        trace.dropped(),
        trace.nested_dropped(),
        trace.counter_samples(),
        if trace.options.counters { trace.options.interval.as_micros() } else { 0 },
        trace.shared.buffers.budget.total(),
        trace.memory(),
        threads.len(),
        us(trace.timebase.duration_ns()),
    ))?;
    if !trace.notes.is_empty() {
        w.raw(",\"notes\":")?;
        w.string(&trace.notes.join("; "))?;
    }
    w.raw("}}\n")?;
    w.out.flush()
}

/// The slices, instants and user events of one thread.
fn thread_events(
    w: &mut Json<impl Write>,
    trace: &Trace,
    tid: u64,
    recs: &[Record<'_>],
) -> io::Result<()> {
    // Pass 1: exits of scopes entered before the recording started.
    let orphans = records::orphan_exits(recs);
    // Pass 2: outermost orphan first, opened at the start.
    let mut open: Vec<(u64, &str)> = Vec::new();
    for &(scope, name) in orphans.iter().rev() {
        w.slice(
            'B',
            scope_name(name, scope).as_ref(),
            0,
            tid,
            Some((scope, None)),
        )?;
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
                let ns = w.tb.ns(ts);
                w.slice(
                    'B',
                    scope_name(name, scope).as_ref(),
                    ns,
                    tid,
                    Some((scope, Some(parent))),
                )?;
                open.push((scope, name));
            }
            Record::Exit { ts, scope, .. } => {
                if let Some(i) = open.iter().rposition(|&(s, _)| s == scope) {
                    while open.len() > i {
                        let (s, n) = open.pop().expect("non-empty");
                        let ns = w.tb.ns(ts);
                        w.slice('E', scope_name(n, s).as_ref(), ns, tid, None)?;
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
                w.instant("limit exceeded", "limit", ts, tid)?;
                w.raw(&format!("{{\"scope\":{scope},\"name\":"))?;
                w.string(&scope_name(name, scope))?;
                w.raw(",\"kind\":")?;
                w.string(kind)?;
                w.raw(&format!(",\"limit\":{limit},\"used\":{used}}}}}"))?;
            }
            Record::Block {
                kind,
                ts,
                ptr,
                size,
                c,
                scope,
            } => {
                let (name, third) = match kind {
                    SAMPLE => ("sample", "rate"),
                    ALLOC => ("alloc", "align"),
                    FREE => ("free", "align"),
                    _ => continue,
                };
                w.instant(name, "heap", ts, tid)?;
                w.raw(&format!(
                    "{{\"ptr\":\"{ptr:#x}\",\"size\":{size},\"{third}\":{c},\"scope\":{scope}}}}}"
                ))?;
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
                w.instant("realloc", "heap", ts, tid)?;
                w.raw(&format!(
                    "{{\"ptr\":\"{ptr:#x}\",\"old_size\":{old_size},\"new_ptr\":\"{new_ptr:#x}\",\"new_size\":{new_size},\"align\":{align},\"scope\":{scope}}}}}"
                ))?;
            }
            Record::User { ts, event, values } => {
                let Some(ev) = trace.shared.user.get(event) else {
                    continue;
                };
                w.instant(ev.name(), ev.module(), ts, tid)?;
                super::user::write_args(&mut w.out, ev, values)?;
                w.raw("}")?;
            }
        }
    }
    while let Some((s, n)) = open.pop() {
        w.slice(
            'E',
            scope_name(n, s).as_ref(),
            trace.timebase.duration_ns(),
            tid,
            None,
        )?;
    }
    Ok(())
}

/// The counter tracks: `heap` (the process) and `scope NAME` per named scope.
fn counters(w: &mut Json<impl Write>, trace: &Trace) -> io::Result<()> {
    let pid = w.pid;
    let c = &trace.counters;
    let names: Vec<String> = c
        .names
        .iter()
        .map(|n| {
            let mut s = Vec::new();
            string(&mut s, &format!("scope {n}")).expect("writing to a vector");
            String::from_utf8(s).expect("escaped JSON is UTF-8")
        })
        .collect();
    for row in &c.rows {
        let ts = w.ts(row.ts);
        w.event_start()?;
        w.raw(&format!(
            "{{\"name\":\"heap\",\"ph\":\"C\",\"ts\":{ts},\"pid\":{pid},\"tid\":{pid},\"args\":{{\"live_bytes\":{}}}}}",
            row.process
        ))?;
        for (i, &live) in row.scopes.iter().enumerate() {
            w.event_start()?;
            w.raw(&format!(
                "{{\"name\":{},\"ph\":\"C\",\"ts\":{ts},\"pid\":{pid},\"tid\":{pid},\"args\":{{\"live_bytes\":{live}}}}}",
                names[i]
            ))?;
        }
    }
    Ok(())
}

/// Nanoseconds as microseconds with three decimals: `12.345`.
fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

struct Json<W: Write> {
    out: BufWriter<W>,
    first: bool,
    pid: u32,
    tb: Timebase,
}

impl<W: Write> Json<W> {
    fn raw(&mut self, s: &str) -> io::Result<()> {
        self.out.write_all(s.as_bytes())
    }

    fn string(&mut self, s: &str) -> io::Result<()> {
        string(&mut self.out, s)
    }

    /// The separator before an element of `traceEvents`.
    fn event_start(&mut self) -> io::Result<()> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.raw(",\n")
        }
    }

    /// The `ts` of a record's time.
    fn ts(&self, ticks: u64) -> String {
        us(self.tb.ns(ticks))
    }

    /// A `B` (with `args` scope and parent, or scope only for a slice opened
    /// at the start) or `E`, at `ns` nanoseconds since the start.
    fn slice(
        &mut self,
        ph: char,
        name: &str,
        ns: u64,
        tid: u64,
        args: Option<(u64, Option<u64>)>,
    ) -> io::Result<()> {
        let ts = us(ns);
        let pid = self.pid;
        self.event_start()?;
        self.raw("{\"name\":")?;
        self.string(name)?;
        self.raw(&format!(
            ",\"cat\":\"scope\",\"ph\":\"{ph}\",\"ts\":{ts},\"pid\":{pid},\"tid\":{tid}"
        ))?;
        match args {
            Some((scope, Some(parent))) => self.raw(&format!(
                ",\"args\":{{\"scope\":{scope},\"parent\":{parent}}}}}"
            )),
            Some((scope, None)) => self.raw(&format!(
                ",\"args\":{{\"scope\":{scope},\"entered\":\"before the recording started\"}}}}"
            )),
            None => self.raw("}"),
        }
    }

    /// An instant's fields up to `"args":` (the caller writes the args
    /// object and the closing brace).
    fn instant(&mut self, name: &str, cat: &str, ts: u64, tid: u64) -> io::Result<()> {
        let ts = self.ts(ts);
        let pid = self.pid;
        self.event_start()?;
        self.raw("{\"name\":")?;
        self.string(name)?;
        self.raw(",\"cat\":")?;
        self.string(cat)?;
        self.raw(&format!(
            ",\"ph\":\"i\",\"s\":\"t\",\"ts\":{ts},\"pid\":{pid},\"tid\":{tid},\"args\":"
        ))
    }
}

/// Writes `s` as a JSON string: quotes, backslashes and control characters
/// escaped; everything else as is (it is UTF-8 already).
pub(crate) fn string(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        out.write_all(&bytes[start..i])?;
        match esc {
            Some(e) => out.write_all(e)?,
            None => write!(out, "\\u{:04x}", b)?,
        }
        start = i + 1;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_are_escaped() {
        let mut v = Vec::new();
        super::string(&mut v, "a\"b\\c\nd\u{1}é\u{7f}").unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#""a\"b\\c\nd\u0001é\u007f""#
        );
    }

    #[test]
    fn microseconds_have_three_decimals() {
        assert_eq!(super::us(12_345), "12.345");
        assert_eq!(super::us(7), "0.007");
    }
}
