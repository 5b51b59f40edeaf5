//! Recording heapwise's events to a Chrome trace: scopes as slices on their
//! threads, limit crossings as instants, live bytes as counter tracks, in a
//! JSON file that [Perfetto UI](https://ui.perfetto.dev) and
//! `chrome://tracing` open.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! # fn main() -> std::io::Result<()> {
//! use std::time::Duration;
//!
//! let rec = heapwise::record::Recorder::new()
//!     .counter_interval(Duration::from_millis(10)) // the default
//!     .budget(64 * heapwise::MIB)                   // the default
//!     .start();
//! let req = heapwise::Scope::new().name("request").limit_bytes(4 * heapwise::KIB);
//! req.run(|_| std::hint::black_box(vec![0u8; 8192]));  // crosses its limit
//! let trace = rec.finish();
//! assert_eq!(trace.dropped(), 0);
//! let mut json = Vec::new();
//! trace.write_json(&mut json)?; // or trace.save("trace.json")?
//! # let json = String::from_utf8(json).unwrap();
//! # assert!(json.contains(r#""name":"request","cat":"scope","ph":"B""#), "{json}");
//! # assert!(json.contains(r#""name":"limit exceeded""#), "{json}");
//! # let mut pb = Vec::new();
//! # trace.write_perfetto(&mut pb)?; // or trace.save_perfetto("trace.pftrace")?
//! # assert_eq!(pb.first(), Some(&0x0a));
//! # Ok(()) }
//! ```
//!
//! Then open `trace.json` in <https://ui.perfetto.dev> (Open trace file) or
//! `chrome://tracing` (Load).
//!
//! The same trace can also be written as a Perfetto protobuf trace,
//! [`Trace::write_perfetto`] or [`Trace::save_perfetto`] (see "Perfetto
//! protobuf" below).
//!
//! # What is recorded
//!
//! | what | in the trace | default |
//! |---|---|---|
//! | scope entry and exit ([`events::scope_enter`](fn@crate::events::scope_enter), [`scope_exit`](fn@crate::events::scope_exit)) | a slice (`B`/`E`) on the thread, named after the scope (`scope #<id>` if unnamed), args `scope` and `parent` (ids); nested scopes nest | on ([`Recorder::scopes`]) |
//! | a limit crossing ([`events::limit_exceeded`](fn@crate::events::limit_exceeded)) | an instant (`i`) `limit exceeded` on the thread that found it, args `scope`, `name`, `kind`, `limit`, `used` | on ([`Recorder::limits`]) |
//! | live bytes, process-wide and per named scope | counter tracks (`C`) `heap` and `scope <name>`, arg `live_bytes`, sampled every 10 ms and at start and finish | on ([`Recorder::counters`], [`Recorder::counter_interval`]) |
//! | thread and process names | metadata (`M`) `thread_name`, `process_name` | always |
//! | profiler samples ([`events::sample`](fn@crate::events::sample)) | instants `sample`, args `ptr`, `size`, `rate`, `scope` | off ([`Recorder::samples`]) |
//! | allocator calls ([`events::alloc`](fn@crate::events::alloc), `free`, `realloc`) | instants `alloc`, `free`, `realloc`, args as the events' | off ([`Recorder::allocations`]) |
//! | any `heapwise-probe` event of yours | an instant named after the event, category its module, args by the event's argument names | per event ([`Recorder::user_event`]) |
//!
//! Timestamps (`ts`) are microseconds since the recording started, with
//! three decimals (nanoseconds), on the monotonic clock: events read the
//! CPU's time-stamp counter (`rdtsc`) where the kernel uses it as its own
//! clock source (x86-64 Linux with `tsc`, checked once), converted to
//! `CLOCK_MONOTONIC` nanoseconds when the trace is written, and
//! `CLOCK_MONOTONIC` itself elsewhere (see "Cost" below for why). `pid` is the process id and
//! `tid` the kernel's thread id. Threads are named as the kernel knows them:
//! std's thread name cut to 15 bytes, `main` for the main thread, `thread
//! <n>` for a thread without a name. `otherData` holds the recorder's
//! figures: `events`, `dropped_events` (over the budget),
//! `nested_dropped_events` (recorded events that fired inside a probe on the
//! same thread and so reached no probe: [`Trace::nested_dropped`]), `counter_samples`,
//! `counter_interval_us`, `budget_bytes`, `used_bytes`, `threads`,
//! `duration_us`; when events were dropped the process is also labelled
//! with the count (`process_labels`).
//!
//! Slices are balanced per thread: a scope the thread was already in when
//! the recording started opens at 0, one still open at the finish closes
//! then (so a long-running scope that encloses the recording shows as a
//! slice over all of it).
//!
//! # Perfetto protobuf
//!
//! [`Trace::write_perfetto`] (or [`Trace::save_perfetto`], to a file;
//! `.pftrace` by custom) writes the same events as the JSON as a Perfetto
//! `Trace` protobuf in the TrackEvent model (the form Perfetto's own SDK
//! writes, which <https://ui.perfetto.dev> opens): a
//! `TrackDescriptor` for the process (pid, name, and a `process_labels`
//! entry when events were dropped), one per thread (pid, tid, name) and one
//! per counter track (`heap`, `scope <name>`, unit bytes, under the
//! process); then the scopes as `TYPE_SLICE_BEGIN`/`TYPE_SLICE_END` on their
//! threads' tracks (balanced as above), the limit crossings, samples,
//! allocator calls and user events as `TYPE_INSTANT` with a name, a
//! category and one debug annotation per argument (numbers, booleans and
//! pointers typed, the rest strings), and the counter samples as
//! `TYPE_COUNTER` with an integer `counter_value`. Timestamps are
//! `CLOCK_MONOTONIC` nanoseconds (`timestamp_clock_id` 6): the JSON's `ts`
//! plus the clock's reading at the start, which the trace carries as
//! `start_ns` (elsewhere than Unix the origin is arbitrary). The JSON's
//! `otherData` figures are
//! debug annotations of an instant `heapwise record` (category `heapwise`)
//! on the process track at the finish, with `duration_ns` for
//! `duration_us`. The encoder is heapwise's own
//! ([`heapwise_pprof::wire`], no further dependency); names are plain
//! strings, not interned. The `record_perfetto` test decodes the
//! output with Perfetto's own protos (Python package `perfetto`) and checks
//! that no field is unknown to them, that slices balance and nest, that
//! times never go back per track and per packet sequence, and that names,
//! arguments, counter values and times match the JSON's (it does not load
//! the file into `trace_processor` or the UI).
//!
//! # Cost and memory
//!
//! A recorded event costs the firing thread a probe call, a clock read and
//! a record written to the thread's own buffer (the README gives the
//! figures, `bench/record/` measures them). `clock_gettime` (what `Instant`
//! reads) costs more than all the rest, so the recorder reads the
//! time-stamp counter directly where the kernel's clock is that counter
//! anyway. Nothing is charged to other threads: no lock,
//! no shared write, no allocation on the firing path. Each thread records
//! into its own buffer, found through a thread-local; a lock is taken
//! **once per thread per recording**, at the thread's first event, to list
//! the buffer (and again only if a thread alternates between two recordings
//! running at once). Buffers are chunks of 64 KiB taken from the budget
//! with one compare-and-swap **per full chunk**, allocated from the system
//! allocator directly: the recorder's memory never shows in the figures it
//! records (nor in scopes), and probes inside the allocator never re-enter
//! it.
//!
//! A scope entry or exit takes 32 bytes plus its name, a limit crossing 48
//! plus the name and kind, a sample or allocator call 48, a counter sample
//! 24 plus 8 per scope name: the 64 MiB default holds about a million
//! events. Once the budget is spent, later events are **dropped and
//! counted** ([`Trace::dropped`], [`Recording::dropped`], `dropped_events`
//! in the file): a thread that cannot get a new chunk records nothing more,
//! so each thread's recording is a prefix of what it did, without holes.
//! Strings are copied (names and string arguments are borrowed for the
//! event only), cut to 1 KiB.
//!
//! The counter thread (`heapwise-record`) reads [`stats()`](crate::stats())
//! and [`Scope::named`](crate::Scope::named)'s usage once per interval
//! (bounded: at least 1 ms). Scopes sharing a name are summed into one
//! track (those nested in a listed scope of the same name are not counted
//! twice); a name whose scopes are gone reads 0. `Scope::named` lists the
//! named scopes a thread has **entered** and something still holds: a
//! scope that is only ever a parent, never entered itself, has no track
//! (enter it once). Figures lag by up to 64 KiB of traffic per thread still
//! running inside a scope, as every heapwise reading does.
//!
//! # Starting and finishing
//!
//! [`Recorder::start`] attaches the probes in one batch (one grace period,
//! about a microsecond) and takes the first counter sample: events that
//! start after it returns are recorded. The first recording with counters
//! in a process takes longer, ~10 ms, once: its counter thread makes the
//! process multi-threaded, and heapwise then registers with `membarrier(2)`
//! (the trace starts with that stretch empty). [`Recording::finish`] detaches them:
//! when it returns no recorder probe runs on any thread, so the buffers are
//! read without any race; it then stops the counter thread, takes the last
//! sample and returns the [`Trace`]. Dropping a [`Recording`] stops it and
//! discards everything. Several recordings may run at once; each gets every
//! event it attached to.
//!
//! [`Recorder::current_thread`] records only the calling thread's
//! events (counters stay process-wide), for tests running in parallel.
//!
//! # Pitfalls
//!
//! - **Recording allocator calls** sends every allocator call of every
//!   thread through heapwise's slow path while attached, and fills 48 bytes
//!   of budget per call: use it for short windows.
//! - **Names are kernel names**: cut to 15 bytes; a thread not named
//!   shows the name the kernel gave it, the executable's (threads are told
//!   apart by tid then); name threads you want to recognise
//!   (`std::thread::Builder::name`).
//! - **Fork**: a forked child may finish or drop its copy of a recording.
//!   The counter thread stays in the parent, so the child's trace has the
//!   counters as of the fork (a note says so), and the probes cannot be
//!   detached there (heapwise-probe's rule on `fork`): they stay attached
//!   in the child, recording nothing more.
//! - **Events that fire inside a probe are not recorded** (heapwise-probe
//!   drops nested events and counts them in
//!   [`heapwise_probe::dropped`]): allocations made by another probe running
//!   inside the allocator, for instance.
//! - **Counters are samples**: a spike shorter than the interval may not
//!   show; the live-bytes figures lag as explained above.

mod buffer;
mod chrome;
mod clock;
mod counters;
#[cfg(test)]
mod golden;
mod perfetto;
mod probes;
mod recorder;
mod records;
mod sink;
mod threads;
mod user;

pub use recorder::{Recorder, Recording, Trace};
