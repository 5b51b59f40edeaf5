//! `heapwise demo --trace FILE`: the requests recorded as a Chrome trace,
//! with the demo's scope names as slices, the scans' limit crossings as
//! instants, and live-bytes counters.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::Value;

/// Runs the demo with `--trace <a temporary dir>/<file>`; returns the
/// directory and the demo's output, which names the trace it wrote.
fn demo_with_trace(tmp: &str, file: &str) -> (TempDir, String) {
    let dir = TempDir::new(tmp);
    let path = dir.join(file);
    let out = run_ok(&[
        "demo",
        "--out-dir",
        dir.path().to_str().unwrap(),
        "--rate",
        "524288",
        "--trace",
        path.to_str().unwrap(),
    ]);
    assert!(out.contains(&format!("wrote {}", path.display())), "{out}");
    (dir, out)
}

#[test]
fn the_demo_records_a_chrome_trace() {
    let (dir, out) = demo_with_trace("demo-trace", "trace.json");
    let path = dir.join("trace.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).expect("the trace is JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents");
    assert_eq!(v["otherData"]["dropped_events"], 0);

    // Slices named after the request kinds, balanced on the one thread.
    let mut begins: HashMap<&str, usize> = HashMap::new();
    let mut depth = 0i64;
    let mut last = 0.0;
    for e in events.iter().filter(|e| e["ph"] == "B" || e["ph"] == "E") {
        let ts = e["ts"].as_f64().unwrap();
        assert!(ts >= last, "{e}");
        last = ts;
        if e["ph"] == "B" {
            *begins.entry(e["name"].as_str().unwrap()).or_default() += 1;
            depth += 1;
        } else {
            depth -= 1;
        }
        assert!(depth >= 0, "{e}");
    }
    assert_eq!(depth, 0);
    for kind in ["put", "get", "scan", "login"] {
        assert!(
            begins.get(kind).copied().unwrap_or(0) > 100,
            "{kind}: {begins:?}"
        );
    }
    assert_eq!(begins.values().sum::<usize>(), 20_000);

    // The scans' limit, crossed: at least once per scan that stopped ("330
    // of 1021 scans stopped cooperatively"; a scan that crosses at its last
    // key completes anyway).
    let limits: Vec<&Value> = events
        .iter()
        .filter(|e| e["ph"] == "i" && e["name"] == "limit exceeded")
        .collect();
    let stopped: usize = out
        .lines()
        .find(|l| l.contains("scans stopped cooperatively"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the demo says how many scans stopped");
    assert!(stopped > 0 && limits.len() >= stopped, "{out}");
    assert!(limits.len() <= begins["scan"]);
    for l in &limits {
        let a = &l["args"];
        assert_eq!(a["name"], "scan");
        assert_eq!(a["kind"], "bytes");
        assert_eq!(a["limit"], 512 * 1024);
        assert!(a["used"].as_u64().unwrap() > 512 * 1024);
    }

    // Live-bytes counters, for the process and each kind.
    let counters: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "C")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(counters.len() >= 2 * 5, "{counters:?}");
    for name in ["heap", "scope put", "scope login"] {
        assert!(counters.contains(&name), "{name}: {counters:?}");
    }
    // Names: the process and the demo's request thread.
    assert!(events
        .iter()
        .any(|e| e["ph"] == "M" && e["name"] == "process_name" && e["args"]["name"] == "heapwise"));
    assert!(events
        .iter()
        .any(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "requests"));
}

/// `--trace FILE.pftrace`: the same recording in Perfetto's protobuf
/// format.
#[test]
fn the_demo_records_a_perfetto_trace_for_a_pftrace_file() {
    let (dir, _) = demo_with_trace("demo-pftrace", "trace.pftrace");
    let bytes = std::fs::read(dir.join("trace.pftrace")).unwrap();
    // Field 1 (TracePacket), length-delimited: not JSON.
    assert_eq!(bytes.first(), Some(&0x0a), "not a protobuf Trace");
}

/// The `.pftrace`, decoded with Perfetto's own protos by heapwise's checker
/// (`crates/heapwise/tests/record_perfetto/check.py`, run by
/// `HEAPWISE_PYTHON`, as `.ci/run` sets it).
#[test]
#[ignore = "needs perfetto's python protos"]
fn the_demos_pftrace_decodes_with_perfettos_protos() {
    heapwise_test_support::perfetto_python();
    let (dir, _) = demo_with_trace("demo-pftrace-decoded", "trace.pftrace");
    let path = dir.join("trace.pftrace");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../heapwise/tests/record_perfetto/check.py");
    let out = heapwise_test_support::perfetto_check(&script, &path);
    let s: Value = serde_json::from_str(&out).expect("the checker's JSON");
    assert_eq!(s["problems"], serde_json::json!([]), "{}", s["problems"]);
    let slices = s["slices"]["requests"]
        .as_array()
        .expect("slices on the request thread");
    assert_eq!(slices.len(), 20_000);
    for kind in ["put", "get", "scan", "login"] {
        assert!(
            slices.iter().filter(|x| x["name"] == kind).count() > 100,
            "{kind}"
        );
    }
    let limits = s["instants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"] == "limit exceeded" && i["args"]["name"] == "scan")
        .count();
    assert!(limits > 0, "no limit instants: {}", s["instants"]);
    for name in ["heap", "scope put", "scope login"] {
        let c = &s["counters"][name];
        assert_eq!(c["unit"], "UNIT_SIZE_BYTES", "{name}");
        assert!(c["values"].as_array().unwrap().len() >= 2, "{name}");
    }
}
