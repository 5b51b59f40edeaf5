//! Writing a [`Trace`] as a Perfetto protobuf trace (`perfetto.protos.Trace`),
//! the same events as the JSON (`chrome.rs`), in Perfetto's TrackEvent
//! model.
//!
//! The file is a `Trace`: repeated field 1, one `TracePacket` each. Every
//! packet carries `trusted_packet_sequence_id` (1 for the process, its
//! counters and the metadata; 2 + n for the n-th recorded thread), and
//! every event packet `timestamp` in `CLOCK_MONOTONIC` nanoseconds with
//! `timestamp_clock_id` 6 (`BUILTIN_CLOCK_MONOTONIC`). Within a sequence,
//! timestamps never go back. No interning: names are plain strings, so no
//! packet depends on incremental state.
//!
//! | packet | fields (numbers from `perfetto_trace.proto`) |
//! |---|---|
//! | process track | `track_descriptor` (60): `uuid` (1), `process` (3): `pid` (1), `process_name` (6), `process_labels` (8, when events were dropped) |
//! | thread track | `track_descriptor`: `uuid`, `thread` (4): `pid` (1), `tid` (2), `thread_name` (5) |
//! | counter track | `track_descriptor`: `uuid`, `parent_uuid` (5, the process), `name` (2) `heap` or `scope NAME`, `counter` (8): `unit` (3) = `UNIT_SIZE_BYTES` (3) |
//! | scope entry, exit | `track_event` (11): `type` (9) `TYPE_SLICE_BEGIN` (1) / `TYPE_SLICE_END` (2), `track_uuid` (11), `name` (23), `categories` (22) `scope`, `debug_annotations` (4) `scope`, `parent` |
//! | limit crossing, sample, allocator call, user event | `track_event`: `TYPE_INSTANT` (3), name, category, one debug annotation per argument |
//! | counter sample | `track_event`: `TYPE_COUNTER` (4), `counter_value` (30) |
//! | the recorder's figures (JSON: `otherData`) | `track_event`: an instant `heapwise record` (category `heapwise`) on the process track at the finish, one debug annotation per figure |
//!
//! A `DebugAnnotation` is `name` (10) and one of `bool_value` (2),
//! `uint_value` (3), `int_value` (4), `double_value` (5), `string_value`
//! (6), `pointer_value` (7).
//!
//! Slices are balanced per thread exactly as in the JSON: a scope entered
//! before the recording started opens at the start, one still open at the
//! finish closes then, an exit that matches no open slice is left out.

use std::io::{self, BufWriter, Write};

use super::recorder::Trace;
use super::records::{self, bytes_of, scope_name, str_words, Record, ALLOC, FREE, SAMPLE};
use super::user::{BOOL, BYTES, CHAR, DEBUG, F64, I64, OPAQUE, OTHER, PTR, STR, U64};

// TracePacket.
const PACKET: u32 = 1; // Trace.packet
const P_TIMESTAMP: u32 = 8;
const P_TRACK_EVENT: u32 = 11;
const P_SEQUENCE_ID: u32 = 10;
const P_CLOCK_ID: u32 = 58;
const P_TRACK_DESCRIPTOR: u32 = 60;
/// `BuiltinClock.BUILTIN_CLOCK_MONOTONIC`.
const CLOCK_MONOTONIC: u64 = 6;

// TrackDescriptor.
const TD_UUID: u32 = 1;
const TD_NAME: u32 = 2;
const TD_PROCESS: u32 = 3;
const TD_THREAD: u32 = 4;
const TD_PARENT_UUID: u32 = 5;
const TD_COUNTER: u32 = 8;
// ProcessDescriptor.
const PD_PID: u32 = 1;
const PD_NAME: u32 = 6;
const PD_LABELS: u32 = 8;
// ThreadDescriptor.
const THD_PID: u32 = 1;
const THD_TID: u32 = 2;
const THD_NAME: u32 = 5;
// CounterDescriptor.
const CD_UNIT: u32 = 3;
const UNIT_SIZE_BYTES: u64 = 3;

// TrackEvent.
const TE_ANNOTATIONS: u32 = 4;
const TE_TYPE: u32 = 9;
const TE_TRACK_UUID: u32 = 11;
const TE_CATEGORIES: u32 = 22;
const TE_NAME: u32 = 23;
const TE_COUNTER_VALUE: u32 = 30;
const SLICE_BEGIN: u64 = 1;
const SLICE_END: u64 = 2;
const INSTANT: u64 = 3;
const COUNTER: u64 = 4;

// DebugAnnotation.
const DA_BOOL: u32 = 2;
const DA_UINT: u32 = 3;
const DA_INT: u32 = 4;
const DA_DOUBLE: u32 = 5;
const DA_STRING: u32 = 6;
const DA_POINTER: u32 = 7;
const DA_NAME: u32 = 10;

/// The sequence of the process track, the counters and the metadata.
const MAIN_SEQUENCE: u64 = 1;

/// Writes `trace` to `out`.
pub(crate) fn write(trace: &Trace, out: impl Write) -> io::Result<()> {
    let mut w = Writer {
        out: BufWriter::with_capacity(64 * 1024, out),
        start: trace.timebase.start_ns(),
        sequence: MAIN_SEQUENCE,
    };
    let pid = trace.pid;
    // Track uuids are unique within the trace; derived from the pid and the
    // start so that traces of different processes or runs merge cleanly.
    let base = (((u64::from(pid) << 32) ^ w.start.rotate_left(17)) & !0xffff_ffff) | (1 << 63);
    let process_uuid = base;

    let mut p = Msg::default();
    p.uint(PD_PID, u64::from(pid));
    p.string(PD_NAME, &trace.process_name);
    if trace.dropped() > 0 {
        p.string(
            PD_LABELS,
            &format!(
                "heapwise record: {} events dropped (budget spent)",
                trace.dropped()
            ),
        );
    }
    let mut d = Msg::default();
    d.uint(TD_UUID, process_uuid);
    d.msg(TD_PROCESS, &p);
    w.descriptor(&d)?;

    let threads = trace.shared.buffers.threads();
    for (i, t) in threads.iter().enumerate() {
        let uuid = base + 1 + i as u64;
        w.sequence = MAIN_SEQUENCE + 1 + i as u64;
        let name = t.trace_name();
        let mut th = Msg::default();
        th.uint(THD_PID, u64::from(pid));
        th.uint(THD_TID, t.tid);
        th.string(THD_NAME, &name);
        let mut d = Msg::default();
        d.uint(TD_UUID, uuid);
        d.msg(TD_THREAD, &th);
        w.descriptor(&d)?;
        let recs: Vec<Record<'_>> = t.chunks().flat_map(records::read).collect();
        thread_events(&mut w, trace, uuid, &recs)?;
    }

    w.sequence = MAIN_SEQUENCE;
    let counter_base = base + 1 + threads.len() as u64;
    counters(&mut w, trace, process_uuid, counter_base)?;

    // The JSON's otherData.
    let mut e = Event::new(INSTANT, process_uuid);
    e.name("heapwise record", "heapwise");
    e.arg_str("recorder", "heapwise::record");
    e.arg_str("version", env!("CARGO_PKG_VERSION"));
    e.arg_uint("events", trace.events());
    e.arg_uint("dropped_events", trace.dropped());
    e.arg_uint("nested_dropped_events", trace.nested_dropped());
    e.arg_uint("counter_samples", trace.counter_samples() as u64);
    let interval = if trace.options.counters {
        trace.options.interval.as_micros() as u64
    } else {
        0
    };
    e.arg_uint("counter_interval_us", interval);
    e.arg_uint("budget_bytes", trace.shared.buffers.budget.total() as u64);
    e.arg_uint("used_bytes", trace.memory() as u64);
    e.arg_uint("threads", threads.len() as u64);
    e.arg_uint("duration_ns", trace.timebase.duration_ns());
    e.arg_uint("start_ns", w.start);
    if !trace.notes.is_empty() {
        e.arg_str("notes", &trace.notes.join("; "));
    }
    w.event(trace.timebase.duration_ns(), &e)?;
    w.out.flush()
}

/// The slices and instants of one thread, on its track.
fn thread_events(
    w: &mut Writer<impl Write>,
    trace: &Trace,
    track: u64,
    recs: &[Record<'_>],
) -> io::Result<()> {
    let tb = trace.timebase;
    // Pass 1: exits of scopes entered before the recording started.
    let orphans = records::orphan_exits(recs);
    // Pass 2: outermost orphan first, opened at the start.
    let mut open: Vec<u64> = Vec::new();
    for &(scope, name) in orphans.iter().rev() {
        let mut e = Event::new(SLICE_BEGIN, track);
        e.name(&scope_name(name, scope), "scope");
        e.arg_uint("scope", scope);
        e.arg_str("entered", "before the recording started");
        w.event(0, &e)?;
        open.push(scope);
    }
    for r in recs {
        match *r {
            Record::Enter {
                ts,
                scope,
                parent,
                name,
            } => {
                let mut e = Event::new(SLICE_BEGIN, track);
                e.name(&scope_name(name, scope), "scope");
                e.arg_uint("scope", scope);
                e.arg_uint("parent", parent);
                w.event(tb.ns(ts), &e)?;
                open.push(scope);
            }
            Record::Exit { ts, scope, .. } => {
                // Closes the scope's slice and any opened inside it (guards
                // dropped out of order): the innermost first, as the JSON.
                if let Some(i) = open.iter().rposition(|&s| s == scope) {
                    for _ in i..open.len() {
                        w.event(tb.ns(ts), &Event::new(SLICE_END, track))?;
                    }
                    open.truncate(i);
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
                let mut e = Event::new(INSTANT, track);
                e.name("limit exceeded", "limit");
                e.arg_uint("scope", scope);
                e.arg_str("name", &scope_name(name, scope));
                e.arg_str("kind", kind);
                e.arg_uint("limit", limit);
                e.arg_uint("used", used);
                w.event(tb.ns(ts), &e)?;
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
                let mut e = Event::new(INSTANT, track);
                e.name(name, "heap");
                e.arg_pointer("ptr", ptr);
                e.arg_uint("size", size);
                e.arg_uint(third, c);
                e.arg_uint("scope", scope);
                w.event(tb.ns(ts), &e)?;
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
                let mut e = Event::new(INSTANT, track);
                e.name("realloc", "heap");
                e.arg_pointer("ptr", ptr);
                e.arg_uint("old_size", old_size);
                e.arg_pointer("new_ptr", new_ptr);
                e.arg_uint("new_size", new_size);
                e.arg_uint("align", align);
                e.arg_uint("scope", scope);
                w.event(tb.ns(ts), &e)?;
            }
            Record::User { ts, event, values } => {
                let Some(ev) = trace.shared.user.get(event) else {
                    continue;
                };
                let mut e = Event::new(INSTANT, track);
                e.name(ev.name(), ev.module());
                user_args(&mut e, ev, values);
                w.event(tb.ns(ts), &e)?;
            }
        }
    }
    for _ in open.drain(..) {
        w.event(tb.duration_ns(), &Event::new(SLICE_END, track))?;
    }
    Ok(())
}

/// A user event's arguments as debug annotations, named after the event's
/// arguments: numbers, booleans and pointers as such, the rest as strings
/// (as the JSON writes them, `user::write_args`).
fn user_args(e: &mut Event, event: &heapwise_probe::Event, mut values: &[u64]) {
    let names = event.args();
    let mut i = 0;
    while let Some((&h, rest)) = values.split_first() {
        let tag = (h & 0xff) as u8;
        let len = (h >> 8) as usize;
        let name = match names.get(i) {
            Some(a) => a.name.to_string(),
            None => format!("arg{i}"),
        };
        i += 1;
        let one = rest.first().copied().unwrap_or(0);
        values = match tag {
            U64 | I64 | F64 | BOOL | CHAR | PTR => {
                match tag {
                    U64 => e.arg_uint(&name, one),
                    I64 => e.arg_int(&name, one as i64),
                    F64 => e.arg_double(&name, f64::from_bits(one)),
                    BOOL => e.arg_bool(&name, one != 0),
                    CHAR => {
                        let c = char::from_u32(one as u32).unwrap_or(char::REPLACEMENT_CHARACTER);
                        e.arg_str(&name, c.encode_utf8(&mut [0; 4]));
                    }
                    _ => e.arg_pointer(&name, one),
                }
                rest.get(1..).unwrap_or(&[])
            }
            STR | DEBUG | OTHER | OPAQUE | BYTES => {
                let n = str_words(len).min(rest.len());
                let b = &bytes_of(&rest[..n])[..len.min(n * 8)];
                match tag {
                    BYTES => e.arg_str(&name, &b.escape_ascii().to_string()),
                    OPAQUE => e.arg_str(&name, &format!("<{}>", String::from_utf8_lossy(b))),
                    _ => e.arg_str(&name, &String::from_utf8_lossy(b)),
                }
                &rest[n..]
            }
            // A tag this writer does not know: nothing after it is readable.
            _ => &[],
        };
    }
}

/// The counter tracks (`heap` and `scope NAME`, under the process) and
/// their samples.
fn counters(
    w: &mut Writer<impl Write>,
    trace: &Trace,
    process_uuid: u64,
    base: u64,
) -> io::Result<()> {
    let c = &trace.counters;
    if c.rows.is_empty() {
        return Ok(());
    }
    let names =
        std::iter::once("heap".to_string()).chain(c.names.iter().map(|n| format!("scope {n}")));
    for (i, name) in names.enumerate() {
        let mut cd = Msg::default();
        cd.uint(CD_UNIT, UNIT_SIZE_BYTES);
        let mut d = Msg::default();
        d.uint(TD_UUID, base + i as u64);
        d.uint(TD_PARENT_UUID, process_uuid);
        d.string(TD_NAME, &name);
        d.msg(TD_COUNTER, &cd);
        w.descriptor(&d)?;
    }
    for row in &c.rows {
        let ns = trace.timebase.ns(row.ts);
        let values = std::iter::once(row.process).chain(row.scopes.iter().copied());
        for (i, live) in values.enumerate() {
            let mut e = Event::new(COUNTER, base + i as u64);
            e.body.int(TE_COUNTER_VALUE, live as i64);
            w.event(ns, &e)?;
        }
    }
    Ok(())
}

/// Writes packets.
struct Writer<W: Write> {
    out: BufWriter<W>,
    /// `CLOCK_MONOTONIC` at the start: added to the records' times.
    start: u64,
    /// The `trusted_packet_sequence_id` of the packets written now.
    sequence: u64,
}

impl<W: Write> Writer<W> {
    fn packet(&mut self, p: &Msg) -> io::Result<()> {
        let mut head = Msg::default();
        head.key(PACKET, LEN);
        head.varint(p.0.len() as u64);
        self.out.write_all(&head.0)?;
        self.out.write_all(&p.0)
    }

    /// A `TrackDescriptor` packet (no timestamp: it describes the track for
    /// the whole trace).
    fn descriptor(&mut self, d: &Msg) -> io::Result<()> {
        let mut p = Msg::default();
        p.uint(P_SEQUENCE_ID, self.sequence);
        p.msg(P_TRACK_DESCRIPTOR, d);
        self.packet(&p)
    }

    /// A `TrackEvent` packet at `ns` nanoseconds since the start.
    fn event(&mut self, ns: u64, e: &Event) -> io::Result<()> {
        let mut p = Msg::default();
        p.uint(P_TIMESTAMP, self.start + ns);
        p.uint(P_CLOCK_ID, CLOCK_MONOTONIC);
        p.uint(P_SEQUENCE_ID, self.sequence);
        p.msg(P_TRACK_EVENT, &e.body);
        self.packet(&p)
    }
}

/// A `TrackEvent` being built.
struct Event {
    body: Msg,
}

impl Event {
    fn new(kind: u64, track: u64) -> Event {
        let mut body = Msg::default();
        body.uint(TE_TYPE, kind);
        body.uint(TE_TRACK_UUID, track);
        Event { body }
    }

    fn name(&mut self, name: &str, category: &str) {
        self.body.string(TE_NAME, name);
        self.body.string(TE_CATEGORIES, category);
    }

    fn arg(&mut self, name: &str, value: impl FnOnce(&mut Msg)) {
        let mut a = Msg::default();
        a.string(DA_NAME, name);
        value(&mut a);
        self.body.msg(TE_ANNOTATIONS, &a);
    }

    fn arg_uint(&mut self, name: &str, v: u64) {
        self.arg(name, |a| a.uint(DA_UINT, v));
    }

    fn arg_int(&mut self, name: &str, v: i64) {
        self.arg(name, |a| a.int(DA_INT, v));
    }

    fn arg_double(&mut self, name: &str, v: f64) {
        self.arg(name, |a| a.double(DA_DOUBLE, v));
    }

    fn arg_bool(&mut self, name: &str, v: bool) {
        self.arg(name, |a| a.uint(DA_BOOL, u64::from(v)));
    }

    fn arg_pointer(&mut self, name: &str, v: u64) {
        self.arg(name, |a| a.uint(DA_POINTER, v));
    }

    fn arg_str(&mut self, name: &str, v: &str) {
        self.arg(name, |a| a.string(DA_STRING, v));
    }
}

/// Wire type of varints.
const VARINT: u8 = 0;
/// Wire type of eight little-endian bytes.
const FIXED64: u8 = 1;
/// Wire type of length-delimited fields.
const LEN: u8 = 2;

/// A protobuf message being encoded. Fields are always written, zero or
/// not: perfetto's protos are proto2, where presence matters (a counter at
/// 0 is a value).
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    /// A `uint64`, `uint32`, `int32` (non-negative), `bool` or enum field.
    fn uint(&mut self, field: u32, v: u64) {
        self.key(field, VARINT);
        self.varint(v);
    }

    /// An `int64` field: two's complement, as a varint.
    fn int(&mut self, field: u32, v: i64) {
        self.uint(field, v as u64);
    }

    fn double(&mut self, field: u32, v: f64) {
        self.key(field, FIXED64);
        self.0.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn msg(&mut self, field: u32, m: &Msg) {
        self.bytes(field, &m.0);
    }
}

#[cfg(test)]
mod tests {
    use super::Msg;

    #[test]
    fn wire_encoding() {
        let mut m = Msg::default();
        m.uint(1, 150);
        assert_eq!(m.0, [0x08, 0x96, 0x01]);
        let mut m = Msg::default();
        m.int(4, -1);
        assert_eq!(m.0.len(), 1 + 10);
        assert_eq!(m.0[0], 4 << 3);
        let mut m = Msg::default();
        m.string(2, "testing");
        assert_eq!(m.0, b"\x12\x07testing");
        let mut m = Msg::default();
        m.double(5, 1.5);
        assert_eq!(m.0, [5 << 3 | 1, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]);
        let mut m = Msg::default();
        m.uint(58, 6);
        assert_eq!(m.0, [0xd0, 0x03, 6]);
    }
}
