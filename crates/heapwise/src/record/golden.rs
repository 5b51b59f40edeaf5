//! The writers' output, byte for byte: a trace built from fixed records
//! (every kind, slices opened before the start, closed out of order and
//! left open, user events with every kind of value, counters, notes and
//! dropped events) is written as JSON and as Perfetto protobuf and compared
//! with `testdata/record/golden.json` and `golden.pftrace`. The
//! `record_*` integration tests check what the output means; this one
//! catches any change to its bytes. After an intended change, regenerate
//! the files with `HEAPWISE_UPDATE_GOLDEN=1` and review the diff.

use std::path::PathBuf;
use std::sync::Arc;

use heapwise_probe::Value;

use super::buffer::Buffers;
use super::clock::Timebase;
use super::counters::{CounterSamples, Row};
use super::probes::Shared;
use super::recorder::{Recorder, Trace};
use super::records::{head, write, ALLOC, ENTER, EXIT, FREE, LIMIT, REALLOC, SAMPLE};

mod app {
    heapwise_probe::declare! {
        /// Numbers, a string, a character.
        pub fn request(id: u64, path: &str, retry: bool, weight: f64, delta: i64, tag: char);
        /// The other kinds of value.
        pub fn odd(body: &[u8], ptr: *const u8, note: Option<u8>, nan: f64);
    }
}

/// The start, in ticks and nanoseconds.
const T0: u64 = 1_000_000_000;
const PID: u32 = 4242;

fn trace() -> Trace {
    let shared = Arc::new(Shared {
        buffers: Buffers::new(1 << 20),
        user: vec![app::request::event(), app::odd::event()],
        stopped: Default::default(),
    });
    let sh = shared.clone();
    std::thread::Builder::new()
        .name("golden-a".into())
        .spawn(move || thread_a(&sh))
        .unwrap()
        .join()
        .unwrap();
    let sh = shared.clone();
    std::thread::Builder::new()
        .name("golden \"b\"".into())
        .spawn(move || thread_b(&sh))
        .unwrap()
        .join()
        .unwrap();
    for (i, t) in shared.buffers.threads().iter_mut().enumerate() {
        t.tid = 5000 + i as u64;
    }
    let counters = CounterSamples {
        names: vec!["parse".into(), "big \"one\"".into()],
        rows: vec![
            Row {
                ts: T0,
                process: 100,
                scopes: vec![],
            },
            Row {
                ts: T0 + 500,
                process: 200,
                scopes: vec![10],
            },
            Row {
                ts: T0 + 9_000,
                process: 300,
                scopes: vec![20, 0],
            },
        ],
        dropped: 1,
    };
    Trace {
        shared,
        counters,
        timebase: Timebase::fixed(T0, 10_000),
        events: 21,
        dropped: 2,
        nested: 3,
        notes: vec!["a note".into(), "another \\ note".into()],
        pid: PID,
        process_name: "golden\tprocess".into(),
        options: Recorder::new(),
    }
}

/// Records `tag` with `words` (the timestamp first) and two strings.
fn rec(sh: &Shared, tag: u8, words: &[u64], s1: &str, s2: &str) {
    let buf = sh.buffers.this_thread().unwrap();
    let mut all = vec![head(tag, s1.len(), s2.len())];
    all.extend_from_slice(words);
    assert!(write(buf, &sh.buffers.budget, &all, s1, s2));
}

fn thread_a(sh: &Shared) {
    let t = |us: u64| T0 + us * 1000 + 7;
    rec(sh, ENTER, &[t(1), 5, 1], "parse \"q\"\n", "");
    rec(sh, LIMIT, &[t(2), 5, 100, 200], "parse", "live_bytes");
    rec(sh, SAMPLE, &[t(2), 0xdead, 64, 512, 5], "", "");
    rec(sh, ALLOC, &[t(3), 0xbeef, 32, 8, 5], "", "");
    rec(sh, FREE, &[t(3), 0xbeef, 32, 16, 5], "", "");
    rec(sh, REALLOC, &[t(3), 0xa0, 16, 0xb0, 48, 8, 0], "", "");
    super::user::record(
        sh,
        t(4),
        0,
        &[
            Value::U64(u64::MAX),
            Value::Str("/users \"all\"\n"),
            Value::Bool(true),
            Value::F64(1.5),
            Value::I64(-3),
            Value::Char('é'),
        ],
    );
    super::user::record(
        sh,
        t(4),
        1,
        &[
            Value::Bytes(b"a\x00\xffb"),
            Value::Ptr(0x1234),
            Value::Debug(&Some(7u8)),
            Value::F64(f64::NAN),
        ],
    );
    super::user::record(sh, t(4), 1, &[Value::Opaque("NoDebug")]);
    rec(sh, ENTER, &[t(5), 6, 5], "", "");
    rec(sh, ENTER, &[t(5), 7, 6], "inner", "");
    // Out of order: closes 7 and 6.
    rec(sh, EXIT, &[t(6), 6], "", "");
    rec(sh, EXIT, &[t(6), 5], "parse", "");
    // Entered before the start: opened at 0, outermost first.
    rec(sh, EXIT, &[t(7), 3], "inner", "");
    rec(sh, EXIT, &[t(7), 2], "", "");
    rec(sh, ENTER, &[t(8), 8, 0], "open", "");
    // Matches no open slice: left out.
    rec(sh, EXIT, &[t(8), 42], "", "");
}

fn thread_b(sh: &Shared) {
    let t = |us: u64| T0 + us * 1000;
    super::user::record(
        sh,
        t(2),
        0,
        &[
            Value::U64(8),
            Value::Str(""),
            Value::Bool(false),
            Value::F64(f64::INFINITY),
            Value::I64(i64::MIN),
            Value::Char('x'),
        ],
    );
    rec(sh, ENTER, &[t(9), 9, 0], "b's", "");
}

fn check(name: &str, got: &[u8]) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "testdata", "record", name]
        .iter()
        .collect();
    if std::env::var_os("HEAPWISE_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (HEAPWISE_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    if got != want {
        let at = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        panic!(
            "{name} differs from {} at byte {at} (of {} written, {} expected); \
             HEAPWISE_UPDATE_GOLDEN=1 rewrites it after an intended change",
            path.display(),
            got.len(),
            want.len(),
        );
    }
}

#[test]
#[cfg(target_os = "linux")] // thread names as the kernel keeps them
fn the_writers_output_is_unchanged() {
    let trace = trace();
    let mut json = Vec::new();
    trace.write_json(&mut json).unwrap();
    check("golden.json", &json);
    let mut pb = Vec::new();
    trace.write_perfetto(&mut pb).unwrap();
    check("golden.pftrace", &pb);
}
