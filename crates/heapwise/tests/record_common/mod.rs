//! Shared by the `record_*` tests: parse a trace's JSON and check what
//! every Chrome trace must satisfy.

#![allow(dead_code)]

use std::collections::HashMap;

use heapwise::record::Trace;
use serde_json::Value;

/// The trace as JSON, after checking that it is well formed.
pub(crate) fn parse(trace: &Trace) -> Value {
    let mut bytes = Vec::new();
    trace.write_json(&mut bytes).unwrap();
    let text = String::from_utf8(bytes).expect("the trace is UTF-8");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    check(&v);
    v
}

pub(crate) fn events(v: &Value) -> &Vec<Value> {
    v["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
}

pub(crate) fn ts(e: &Value) -> f64 {
    e["ts"].as_f64().expect("a numeric ts")
}

/// Events of phase `ph` named `name`.
pub(crate) fn named<'a>(v: &'a Value, ph: &str, name: &str) -> Vec<&'a Value> {
    events(v)
        .iter()
        .filter(|e| e["ph"] == ph && e["name"] == name)
        .collect()
}

/// The tid of the thread named `name`.
pub(crate) fn tid_of(v: &Value, name: &str) -> Option<u64> {
    events(v)
        .iter()
        .find(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == name)
        .map(|e| e["tid"].as_u64().unwrap())
}

/// Every event has the fields of its phase; per thread, timestamps never go
/// back and `B`/`E` nest and balance (an `E` closes the innermost open `B`,
/// with the same name); counter timestamps never go back.
pub(crate) fn check(v: &Value) {
    let pid = u64::from(std::process::id());
    let mut stacks: HashMap<u64, Vec<String>> = HashMap::new();
    let mut last: HashMap<(u64, bool), f64> = HashMap::new();
    for e in events(v) {
        let ph = e["ph"].as_str().expect("ph is a string");
        assert!(e["name"].is_string(), "{e}");
        assert_eq!(e["pid"].as_u64(), Some(pid), "{e}");
        let tid = e["tid"].as_u64().expect("tid is a number");
        if ph == "M" {
            continue;
        }
        let t = ts(e);
        assert!(t >= 0.0, "{e}");
        let key = (tid, ph == "C");
        let prev = last.insert(key, t).unwrap_or(0.0);
        assert!(t >= prev, "time went back on {key:?}: {prev} then {e}");
        let name = e["name"].as_str().unwrap().to_string();
        match ph {
            "B" => stacks.entry(tid).or_default().push(name),
            "E" => {
                let open = stacks.get_mut(&tid).and_then(|s| s.pop());
                assert_eq!(open.as_deref(), Some(name.as_str()), "unbalanced {e}");
            }
            "i" => {
                assert_eq!(e["s"], "t", "{e}");
                assert!(e["args"].is_object(), "{e}");
            }
            "C" => assert!(e["args"]["live_bytes"].is_u64(), "{e}"),
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    for (tid, s) in stacks {
        assert!(s.is_empty(), "thread {tid} left open: {s:?}");
    }
    let other = &v["otherData"];
    assert_eq!(other["recorder"], "heapwise::record");
    assert!(other["dropped_events"].is_u64());
    assert!(other["events"].is_u64());
}
