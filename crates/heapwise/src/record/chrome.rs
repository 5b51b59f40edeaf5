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
//! The events come from the walk over the trace (`sink.rs`): per thread in
//! the order they happened, so timestamps never go back within a thread,
//! with slices balanced as described there. Strings are escaped by
//! [`crate::util::json`].

use std::io::{self, BufWriter, Write};

use super::recorder::Trace;
use super::sink::{self, Arg, NamedArg, Sink};
use crate::util::json::{self, Quoted};

/// Writes `trace` to `out`.
pub(crate) fn write(trace: &Trace, out: impl Write) -> io::Result<()> {
    let mut w = Json {
        out: BufWriter::with_capacity(64 * 1024, out),
        first: true,
        pid: trace.pid,
        tid: 0,
        counters: Vec::new(),
    };
    w.raw("{\"traceEvents\":[\n")?;
    sink::walk(trace, &mut w)
}

/// Nanoseconds as microseconds with three decimals: `12.345`.
fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// The JSON writer.
struct Json<W: Write> {
    out: BufWriter<W>,
    /// No element of `traceEvents` written yet.
    first: bool,
    pid: u32,
    /// The thread whose events are written now.
    tid: u64,
    /// The counter tracks' names, escaped.
    counters: Vec<String>,
}

impl<W: Write> Json<W> {
    fn raw(&mut self, s: &str) -> io::Result<()> {
        self.out.write_all(s.as_bytes())
    }

    /// `s` as a JSON string literal.
    fn string(&mut self, s: &str) -> io::Result<()> {
        let out = &mut self.out;
        json::quote(s, |piece| out.write_all(piece.as_bytes()))
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

    /// A metadata event (`M`) of the process (`tid` 0) or a thread, with
    /// one string argument.
    fn metadata(&mut self, tid: u64, name: &str, arg: &str, value: &str) -> io::Result<()> {
        let pid = self.pid;
        self.event_start()?;
        self.raw("{\"name\":")?;
        self.string(name)?;
        self.raw(&format!(
            ",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{"
        ))?;
        self.string(arg)?;
        self.raw(":")?;
        self.string(value)?;
        self.raw("}}")
    }

    /// `{"name":value,...}` (no spaces).
    fn args(&mut self, args: &[NamedArg<'_>]) -> io::Result<()> {
        self.raw("{")?;
        self.members(args)?;
        self.raw("}")
    }

    /// `"name":value,...`: an object's members.
    fn members(&mut self, args: &[NamedArg<'_>]) -> io::Result<()> {
        for (i, (name, value)) in args.iter().enumerate() {
            if i > 0 {
                self.raw(",")?;
            }
            self.string(name)?;
            self.raw(":")?;
            self.value(value)?;
        }
        Ok(())
    }

    /// A value: numbers and booleans as such, a pointer as a hex string, a
    /// float that JSON cannot hold (NaN, infinities) as a string.
    fn value(&mut self, v: &Arg<'_>) -> io::Result<()> {
        match v {
            Arg::Uint(n) => write!(self.out, "{n}"),
            Arg::Int(n) => write!(self.out, "{n}"),
            Arg::Double(x) if x.is_finite() => write!(self.out, "{x:?}"),
            Arg::Double(x) => self.string(&x.to_string()),
            Arg::Bool(b) => self.raw(if *b { "true" } else { "false" }),
            Arg::Str(s) => self.string(s),
            Arg::Pointer(p) => self.string(&format!("{p:#x}")),
            Arg::Null => self.raw("null"),
        }
    }

    /// A slice's `B` (with `args`) or `E` (without).
    fn slice(
        &mut self,
        ph: char,
        ns: u64,
        name: &str,
        args: Option<&[NamedArg<'_>]>,
    ) -> io::Result<()> {
        let (ts, pid, tid) = (us(ns), self.pid, self.tid);
        self.event_start()?;
        self.raw("{\"name\":")?;
        self.string(name)?;
        self.raw(&format!(
            ",\"cat\":\"scope\",\"ph\":\"{ph}\",\"ts\":{ts},\"pid\":{pid},\"tid\":{tid}"
        ))?;
        if let Some(args) = args {
            self.raw(",\"args\":")?;
            self.args(args)?;
        }
        self.raw("}")
    }
}

impl<W: Write> Sink for Json<W> {
    fn process(&mut self, name: &str, label: Option<&str>) -> io::Result<()> {
        self.metadata(0, "process_name", "name", name)?;
        match label {
            Some(label) => self.metadata(0, "process_labels", "labels", label),
            None => Ok(()),
        }
    }

    fn thread(&mut self, tid: u64, name: &str) -> io::Result<()> {
        self.tid = tid;
        self.metadata(tid, "thread_name", "name", name)
    }

    fn slice_begin(&mut self, ns: u64, name: &str, args: &[NamedArg<'_>]) -> io::Result<()> {
        self.slice('B', ns, name, Some(args))
    }

    fn slice_end(&mut self, ns: u64, name: &str) -> io::Result<()> {
        self.slice('E', ns, name, None)
    }

    fn instant(
        &mut self,
        ns: u64,
        name: &str,
        category: &str,
        args: &[NamedArg<'_>],
    ) -> io::Result<()> {
        let (ts, pid, tid) = (us(ns), self.pid, self.tid);
        self.event_start()?;
        self.raw("{\"name\":")?;
        self.string(name)?;
        self.raw(",\"cat\":")?;
        self.string(category)?;
        self.raw(&format!(
            ",\"ph\":\"i\",\"s\":\"t\",\"ts\":{ts},\"pid\":{pid},\"tid\":{tid},\"args\":"
        ))?;
        self.args(args)?;
        self.raw("}")
    }

    fn counter_track(&mut self, name: &str) -> io::Result<()> {
        self.counters.push(Quoted(name).to_string());
        Ok(())
    }

    fn counter(&mut self, ns: u64, track: usize, value: u64) -> io::Result<()> {
        let (ts, pid) = (us(ns), self.pid);
        self.event_start()?;
        let line = format!(
            "{{\"name\":{},\"ph\":\"C\",\"ts\":{ts},\"pid\":{pid},\"tid\":{pid},\"args\":{{\"live_bytes\":{value}}}}}",
            self.counters[track]
        );
        self.raw(&line)
    }

    fn finish(
        &mut self,
        duration_ns: u64,
        figures: &[NamedArg<'_>],
        notes: Option<&str>,
    ) -> io::Result<()> {
        self.raw("\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{")?;
        self.members(figures)?;
        self.raw(&format!(",\"duration_us\":{}", us(duration_ns)))?;
        if let Some(notes) = notes {
            self.raw(",\"notes\":")?;
            self.string(notes)?;
        }
        self.raw("}}\n")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn strings_are_escaped() {
        let mut w = super::Json {
            out: std::io::BufWriter::new(Vec::new()),
            first: true,
            pid: 1,
            tid: 1,
            counters: Vec::new(),
        };
        w.string("a\"b\\c\nd\u{1}é\u{7f}\u{2028}").unwrap();
        w.out.flush().unwrap();
        assert_eq!(
            String::from_utf8(w.out.into_inner().unwrap()).unwrap(),
            r#""a\"b\\c\nd\u0001é\u007f\u2028""#
        );
    }

    #[test]
    fn microseconds_have_three_decimals() {
        assert_eq!(super::us(12_345), "12.345");
        assert_eq!(super::us(7), "0.007");
    }
}
