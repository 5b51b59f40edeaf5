//! `heapwise::record`: the Perfetto protobuf output, decoded by Perfetto's
//! own protos (`tests/record_perfetto/check.py`, Python package `perfetto`):
//! process, thread and counter tracks, balanced nested slices, instants
//! with their arguments as debug annotations, counter values, the
//! recorder's figures; the same events and times as the JSON.
//!
//! The checker runs with `HEAPWISE_PYTHON` (default `python3`); that test is
//! ignored in a plain run, and `.ci/run` runs it with the protos installed.
//! That saving and writing give the same packets is checked in a plain run.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod record_common;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use heapwise::record::Recorder;
use heapwise::{Scope, MIB};
use record_common::*;
use serde_json::Value;

mod app {
    heapwise_probe::declare! {
        /// A request arrived.
        pub fn request_start(id: u64, path: &str, retry: bool, weight: f64, delta: i64);
    }
}

/// The checker's summary of the protobuf at `path` (Perfetto's protos, run
/// by `heapwise-test-support`).
fn check(path: &std::path::Path) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/record_perfetto/check.py");
    let text = heapwise_test_support::perfetto_check(&script, path);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A recording sees every thread: one test records at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The protobuf is a `Trace` of packets, the same whether written or saved.
#[test]
fn the_protobuf_trace_is_written_and_saved_alike() {
    let _one = one_at_a_time();
    let rec = Recorder::new()
        .user_event(app::request_start::event())
        .start();
    let s = Scope::new().name("alike");
    s.run(|_| app::request_start(1, "/", false, 0.5, 1));
    let trace = rec.finish();
    let path = std::env::temp_dir().join(format!(
        "heapwise-record-perfetto-alike-{}.pftrace",
        std::process::id()
    ));
    trace.save_perfetto(&path).unwrap();
    let mut bytes = Vec::new();
    trace.write_perfetto(&mut bytes).unwrap();
    let saved = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    // A Trace's packets: field 1, length-delimited.
    assert_eq!(bytes.first(), Some(&0x0a));
    assert_eq!(saved.first(), Some(&0x0a));
    // The same packets (two writes differ only in the start's estimate, a
    // few nanoseconds: see perfetto.rs).
    assert!(saved.len() * 10 > bytes.len() * 9 && bytes.len() * 10 > saved.len() * 9);
}

#[test]
#[ignore = "needs perfetto's python protos"]
fn the_protobuf_trace_decodes_with_perfettos_protos() {
    heapwise_test_support::perfetto_python();
    let _one = one_at_a_time();
    // Entered before the recording starts, left during it: opens at the start.
    let early = Scope::new().name("early");
    let early_guard = early.enter();
    let holder = Scope::new().name("holder");
    let rec = Recorder::new()
        .counter_interval(Duration::from_millis(2))
        .user_event(app::request_start::event())
        .process_name("perfetto-test")
        .start();
    drop(early_guard);

    let outer = Scope::new().name("outer");
    let inner = outer.child().name("inner");
    let capped = outer.child().name("capped").limit_bytes(1024);
    outer.run(|_| {
        inner.run(|_| app::request_start(7, "/users \"all\"", true, 1.5, -3));
        capped.run(|_| black_box(vec![0u8; 4096]));
    });
    let kept = holder.run(|_| black_box(vec![1u8; MIB as usize]));
    std::thread::sleep(Duration::from_millis(30));
    let worker = std::thread::Builder::new()
        .name("pf-worker".into())
        .spawn(|| {
            let s = Scope::new().name("on the worker");
            s.run(|_| s.child().name("nested").run(|_| ()));
        })
        .unwrap();
    worker.join().unwrap();
    holder.run(|_| drop(kept));
    let trace = rec.finish();
    assert_eq!(trace.dropped(), 0);

    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        "heapwise-record-perfetto-{}.pftrace",
        std::process::id()
    ));
    trace.save_perfetto(&path).unwrap();
    let mut bytes = Vec::new();
    trace.write_perfetto(&mut bytes).unwrap();
    // A Trace's packets: field 1, length-delimited.
    assert_eq!(bytes.first(), Some(&0x0a));
    let saved = std::fs::read(&path).unwrap();
    assert_eq!(saved.first(), Some(&0x0a));
    // The same packets (two writes differ only in the start's estimate, a
    // few nanoseconds: see perfetto.rs).
    assert!(saved.len() * 10 > bytes.len() * 9 && bytes.len() * 10 > saved.len() * 9);
    let summary = check(&path);
    std::fs::remove_file(&path).unwrap();
    let s = summary;
    let json = parse(&trace);

    assert_eq!(s["problems"], serde_json::json!([]), "{s:#}");
    // The process and its threads.
    let pid = u64::from(std::process::id());
    let procs = s["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{procs:?}");
    assert_eq!(procs[0]["pid"], pid);
    assert_eq!(procs[0]["name"], "perfetto-test");
    assert_eq!(procs[0]["labels"], serde_json::json!([]));
    let threads = s["threads"].as_array().unwrap();
    assert_eq!(threads.len(), trace.threads());
    let here = "the_protobuf_tr"; // the harness's name for the test's thread, cut to 15 bytes
    for t in threads {
        assert_eq!(t["pid"], pid);
        let name = t["name"].as_str().unwrap();
        assert_eq!(t["tid"].as_u64(), tid_of(&json, name), "{t}");
    }
    assert!(threads.iter().any(|t| t["name"] == here), "{threads:?}");
    assert!(
        threads.iter().any(|t| t["name"] == "pf-worker"),
        "{threads:?}"
    );

    // Slices: nested, in order, with their arguments.
    let mine: Vec<(String, u64)> = s["slices"][here]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                x["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("early", 0),
        ("outer", 0),
        ("inner", 1),
        ("capped", 1),
        ("holder", 0),
        ("holder", 0),
    ];
    let expected: Vec<(String, u64)> = expected.iter().map(|&(n, d)| (n.into(), d)).collect();
    assert_eq!(mine, expected);
    let slice = |thread: &str, name: &str| -> Value {
        s["slices"][thread]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("no slice {name} on {thread}: {s:#}"))
            .clone()
    };
    let (o, i) = (slice(here, "outer"), slice(here, "inner"));
    assert_eq!(o["category"], "scope");
    assert_eq!(o["args"]["scope"], outer.id());
    assert_eq!(o["args"]["parent"], 0);
    assert_eq!(i["args"]["parent"], outer.id());
    let (ob, oe) = (o["begin"].as_u64().unwrap(), o["end"].as_u64().unwrap());
    let (ib, ie) = (i["begin"].as_u64().unwrap(), i["end"].as_u64().unwrap());
    assert!(ob <= ib && ib <= ie && ie <= oe, "{o} {i}");
    let early_slice = slice(here, "early");
    assert_eq!(
        early_slice["args"]["entered"],
        "before the recording started"
    );
    let worker_slices: Vec<(&str, u64)> = s["slices"]["pf-worker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap(), x["depth"].as_u64().unwrap()))
        .collect();
    assert_eq!(worker_slices, [("on the worker", 0), ("nested", 1)]);

    // Instants: the limit crossing and the user event, on this thread,
    // inside their scopes' slices.
    let instants = s["instants"].as_array().unwrap();
    let instant = |name: &str| -> &Value {
        let found: Vec<&Value> = instants.iter().filter(|x| x["name"] == name).collect();
        assert_eq!(found.len(), 1, "{name}: {instants:?}");
        found[0]
    };
    let limit = instant("limit exceeded");
    assert_eq!(limit["track"], here);
    assert_eq!(limit["category"], "limit");
    let a = &limit["args"];
    assert_eq!(a["scope"], capped.id());
    assert_eq!(a["name"], "capped");
    assert_eq!(a["kind"], "bytes");
    assert_eq!(a["limit"], 1024);
    assert_eq!(a["used"], 4096);
    let c = slice(here, "capped");
    let t = limit["ts"].as_u64().unwrap();
    assert!(c["begin"].as_u64().unwrap() <= t && t <= c["end"].as_u64().unwrap());
    let user = instant("request_start");
    assert_eq!(user["track"], here);
    assert_eq!(user["category"], "record_perfetto::app");
    let a = &user["args"];
    assert_eq!(a["id"], 7);
    assert_eq!(a["path"], "/users \"all\"");
    assert_eq!(a["retry"], true);
    assert_eq!(a["weight"], 1.5);
    assert_eq!(a["delta"], -3);
    let t = user["ts"].as_u64().unwrap();
    assert!(ib <= t && t <= ie, "inside inner");
    assert_eq!(
        user["arg_kinds"],
        serde_json::json!({
            "id": "uint_value",
            "path": "string_value",
            "retry": "bool_value",
            "weight": "double_value",
            "delta": "int_value",
        })
    );
    assert_eq!(limit["arg_kinds"]["kind"], "string_value");
    assert_eq!(limit["arg_kinds"]["used"], "uint_value");

    // The recorder's figures, as the JSON's otherData.
    let meta = instant("heapwise record");
    assert_eq!(meta["track"], "perfetto-test");
    let m = &meta["args"];
    let other = &json["otherData"];
    for key in [
        "recorder",
        "version",
        "events",
        "dropped_events",
        "nested_dropped_events",
        "counter_samples",
        "counter_interval_us",
        "budget_bytes",
        "used_bytes",
        "threads",
    ] {
        assert_eq!(m[key], other[key], "{key}");
    }
    assert_eq!(m["events"], trace.events());
    let start = m["start_ns"].as_u64().unwrap();
    let duration = m["duration_ns"].as_u64().unwrap();
    assert_eq!(meta["ts"], start + duration);

    // Counters: `heap` and `scope holder`, in bytes, under the process.
    let counters = &s["counters"];
    let heap = &counters["heap"];
    assert_eq!(heap["unit"], "UNIT_SIZE_BYTES");
    assert_eq!(heap["parent"], "perfetto-test");
    let values = |c: &Value| -> Vec<(u64, u64)> {
        c["values"]
            .as_array()
            .unwrap_or_else(|| panic!("no values: {counters:#}"))
            .iter()
            .map(|v| (v[0].as_u64().unwrap(), v[1].as_u64().unwrap()))
            .collect()
    };
    let hv = values(heap);
    assert_eq!(hv.len(), trace.counter_samples());
    assert!(hv.len() >= 3, "start, some intervals, finish: {hv:?}");
    assert!(hv.iter().any(|&(_, b)| b >= MIB), "{hv:?}");
    assert!(hv.windows(2).all(|w| w[0].0 <= w[1].0), "{hv:?}");
    let sv = values(&counters["scope holder"]);
    let max = sv.iter().map(|&(_, b)| b).max().unwrap();
    assert!((MIB..MIB + 2000).contains(&max), "{sv:?}");
    assert_eq!(
        sv.last().unwrap().1,
        0,
        "the last sample is taken at finish"
    );
    assert!(hv[0].0 <= ob, "the first sample is taken at start");
    assert!(hv.last().unwrap().0 <= start + duration);

    // The same events at the same times as the JSON: protobuf timestamps are
    // the JSON's (ns since the start) plus the start's CLOCK_MONOTONIC.
    let json_ns = |e: &Value| (ts(e) * 1000.0).round() as u64;
    for (name, pb) in [("outer", ob), ("inner", ib)] {
        assert_eq!(json_ns(named(&json, "B", name)[0]) + start, pb, "{name}");
    }
    assert_eq!(json_ns(named(&json, "E", "outer")[0]) + start, oe);
    assert_eq!(
        json_ns(named(&json, "i", "request_start")[0]) + start,
        user["ts"].as_u64().unwrap()
    );
    let json_heap: Vec<(u64, u64)> = named(&json, "C", "heap")
        .iter()
        .map(|e| {
            (
                json_ns(e) + start,
                e["args"]["live_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(json_heap, hv);
    assert_eq!(early_slice["begin"].as_u64().unwrap(), start);
    let slices_pb: usize = s["slices"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    let slices_json = events(&json).iter().filter(|e| e["ph"] == "B").count();
    assert_eq!(slices_pb, slices_json);
    let instants_json = events(&json).iter().filter(|e| e["ph"] == "i").count();
    assert_eq!(instants.len(), instants_json + 1, "plus the figures");

    // A plausible clock: CLOCK_MONOTONIC now is after the finish.
    #[cfg(unix)]
    {
        let now = monotonic_ns();
        assert!(
            start + duration <= now && now - start < 600_000_000_000,
            "{start} {duration} {now}"
        );
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
#[cfg(unix)]
fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; CLOCK_MONOTONIC is always
    // supported.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    assert_eq!(rc, 0);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}
