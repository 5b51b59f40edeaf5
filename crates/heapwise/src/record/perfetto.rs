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
//! The events come from the same walk over the trace as the JSON's
//! (`sink.rs`), with slices balanced as described there; the protobuf
//! encoding is [`heapwise_pprof::wire`].

use std::io::{self, BufWriter, Write};

use heapwise_pprof::wire::{self, put_bytes, put_message, put_uint};

use super::recorder::Trace;
use super::sink::{self, Arg, NamedArg, Sink};

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
    let start = trace.timebase.start_ns();
    let pid = trace.pid;
    // Track uuids are unique within the trace; derived from the pid and the
    // start so that traces of different processes or runs merge cleanly.
    let base = (((u64::from(pid) << 32) ^ start.rotate_left(17)) & !0xffff_ffff) | (1 << 63);
    let mut w = Perfetto {
        out: BufWriter::with_capacity(64 * 1024, out),
        packet: Vec::new(),
        start,
        pid,
        process_track: base,
        sequence: MAIN_SEQUENCE,
        track: base,
        threads: 0,
        counters: 0,
    };
    sink::walk(trace, &mut w)
}

/// The protobuf writer. Fields are always written, zero or not: Perfetto's
/// protos are proto2, where presence matters (a counter at 0 is a value).
struct Perfetto<W: Write> {
    out: BufWriter<W>,
    /// The packet being written (reused).
    packet: Vec<u8>,
    /// `CLOCK_MONOTONIC` at the start: added to the walk's times.
    start: u64,
    pid: u32,
    /// The process track's uuid; the n-th thread's is this + 1 + n, and the
    /// counter tracks' follow the threads'.
    process_track: u64,
    /// The `trusted_packet_sequence_id` of the packets written now.
    sequence: u64,
    /// The track of the thread whose events are written now.
    track: u64,
    /// Threads and counter tracks declared so far.
    threads: u64,
    counters: usize,
}

impl<W: Write> Perfetto<W> {
    /// The uuid of counter track `i`: after the threads'.
    fn counter_uuid(&self, i: usize) -> u64 {
        self.process_track + 1 + self.threads + i as u64
    }

    /// A `TracePacket` whose fields `body` writes, as field 1 of `Trace`.
    fn packet(&mut self, body: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let mut p = std::mem::take(&mut self.packet);
        p.clear();
        body(&mut p);
        let mut head = Vec::with_capacity(16);
        wire::put_key(&mut head, PACKET, wire::WireType::Len);
        wire::put_varint(&mut head, p.len() as u64);
        self.out.write_all(&head)?;
        let written = self.out.write_all(&p);
        self.packet = p;
        written
    }

    /// A `TrackDescriptor` packet (no timestamp: it describes the track for
    /// the whole trace), whose fields `d` writes after the uuid.
    fn descriptor(&mut self, uuid: u64, d: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let sequence = self.sequence;
        self.packet(|p| {
            put_uint(p, P_SEQUENCE_ID, sequence);
            put_message(p, P_TRACK_DESCRIPTOR, |t| {
                put_uint(t, TD_UUID, uuid);
                d(t);
            });
        })
    }

    /// A `TrackEvent` packet of type `kind` on `track`, at `ns`
    /// nanoseconds since the start, whose further fields `e` writes.
    fn event(
        &mut self,
        ns: u64,
        kind: u64,
        track: u64,
        e: impl FnOnce(&mut Vec<u8>),
    ) -> io::Result<()> {
        let (timestamp, sequence) = (self.start + ns, self.sequence);
        self.packet(|p| {
            put_uint(p, P_TIMESTAMP, timestamp);
            put_uint(p, P_CLOCK_ID, CLOCK_MONOTONIC);
            put_uint(p, P_SEQUENCE_ID, sequence);
            put_message(p, P_TRACK_EVENT, |t| {
                put_uint(t, TE_TYPE, kind);
                put_uint(t, TE_TRACK_UUID, track);
                e(t);
            });
        })
    }

    /// A named event with a category and one debug annotation per argument.
    fn named_event(
        &mut self,
        ns: u64,
        kind: u64,
        track: u64,
        name: &str,
        category: &str,
        args: &[NamedArg<'_>],
    ) -> io::Result<()> {
        self.event(ns, kind, track, |e| {
            put_str(e, TE_NAME, name);
            put_str(e, TE_CATEGORIES, category);
            for (name, value) in args {
                annotation(e, name, value);
            }
        })
    }
}

/// A `string` field.
fn put_str(buf: &mut Vec<u8>, field: u32, s: &str) {
    put_bytes(buf, field, s.as_bytes());
}

/// A `DebugAnnotation` (field `TE_ANNOTATIONS` of a `TrackEvent`): the name
/// and the value in its typed field. [`Arg::Null`] is left out.
fn annotation(e: &mut Vec<u8>, name: &str, value: &Arg<'_>) {
    if *value == Arg::Null {
        return;
    }
    put_message(e, TE_ANNOTATIONS, |a| {
        put_str(a, DA_NAME, name);
        match value {
            Arg::Uint(v) => put_uint(a, DA_UINT, *v),
            Arg::Int(v) => wire::put_int(a, DA_INT, *v),
            Arg::Double(v) => wire::put_double(a, DA_DOUBLE, *v),
            Arg::Bool(v) => wire::put_bool(a, DA_BOOL, *v),
            Arg::Str(v) => put_str(a, DA_STRING, v),
            Arg::Pointer(v) => put_uint(a, DA_POINTER, *v),
            Arg::Null => {}
        }
    });
}

impl<W: Write> Sink for Perfetto<W> {
    fn process(&mut self, name: &str, label: Option<&str>) -> io::Result<()> {
        let pid = self.pid;
        self.descriptor(self.process_track, |d| {
            put_message(d, TD_PROCESS, |p| {
                put_uint(p, PD_PID, u64::from(pid));
                put_str(p, PD_NAME, name);
                if let Some(label) = label {
                    put_str(p, PD_LABELS, label);
                }
            });
        })
    }

    fn thread(&mut self, tid: u64, name: &str) -> io::Result<()> {
        self.threads += 1;
        self.track = self.process_track + self.threads;
        self.sequence = MAIN_SEQUENCE + self.threads;
        let pid = self.pid;
        self.descriptor(self.track, |d| {
            put_message(d, TD_THREAD, |t| {
                put_uint(t, THD_PID, u64::from(pid));
                put_uint(t, THD_TID, tid);
                put_str(t, THD_NAME, name);
            });
        })
    }

    fn slice_begin(&mut self, ns: u64, name: &str, args: &[NamedArg<'_>]) -> io::Result<()> {
        self.named_event(ns, SLICE_BEGIN, self.track, name, "scope", args)
    }

    fn slice_end(&mut self, ns: u64, _name: &str) -> io::Result<()> {
        self.event(ns, SLICE_END, self.track, |_| {})
    }

    fn instant(
        &mut self,
        ns: u64,
        name: &str,
        category: &str,
        args: &[NamedArg<'_>],
    ) -> io::Result<()> {
        self.named_event(ns, INSTANT, self.track, name, category, args)
    }

    fn counter_track(&mut self, name: &str) -> io::Result<()> {
        self.sequence = MAIN_SEQUENCE;
        let uuid = self.counter_uuid(self.counters);
        self.counters += 1;
        let parent = self.process_track;
        self.descriptor(uuid, |d| {
            put_uint(d, TD_PARENT_UUID, parent);
            put_str(d, TD_NAME, name);
            put_message(d, TD_COUNTER, |c| put_uint(c, CD_UNIT, UNIT_SIZE_BYTES));
        })
    }

    fn counter(&mut self, ns: u64, track: usize, value: u64) -> io::Result<()> {
        let uuid = self.counter_uuid(track);
        self.event(ns, COUNTER, uuid, |e| {
            wire::put_int(e, TE_COUNTER_VALUE, value as i64)
        })
    }

    fn finish(
        &mut self,
        duration_ns: u64,
        figures: &[NamedArg<'_>],
        notes: Option<&str>,
    ) -> io::Result<()> {
        self.sequence = MAIN_SEQUENCE;
        let mut args = figures.to_vec();
        args.push(("duration_ns".into(), Arg::Uint(duration_ns)));
        args.push(("start_ns".into(), Arg::Uint(self.start)));
        if let Some(notes) = notes {
            args.push(("notes".into(), Arg::Str(notes.into())));
        }
        let process = self.process_track;
        self.named_event(
            duration_ns,
            INSTANT,
            process,
            "heapwise record",
            "heapwise",
            &args,
        )?;
        self.out.flush()
    }
}
