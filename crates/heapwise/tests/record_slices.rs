//! `heapwise::record`: scopes become balanced, nested slices on their own
//! threads, named after the scope (`scope #<id>` when unnamed), with the
//! scope and parent ids; threads carry their names.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod record_common;

use heapwise::record::Recorder;
use heapwise::Scope;
use record_common::*;

#[test]
fn scopes_are_nested_slices_on_named_threads() {
    assert!(heapwise::installed());
    // Entered before the recording starts, left during it: opens at 0.
    let early = Scope::new().name("early");
    let early_guard = early.enter();
    let rec = Recorder::new().counters(false).start();
    drop(early_guard);

    let outer = Scope::new().name("outer");
    let inner = outer.child().name("inner");
    let unnamed = outer.child();
    outer.run(|_| {
        inner.run(|_| std::hint::black_box(vec![0u8; 100]));
        unnamed.run(|_| ());
    });
    let worker = std::thread::Builder::new()
        .name("record-worker".into())
        .spawn(|| {
            let s = Scope::new().name("on the worker");
            s.run(|_| s.child().name("nested").run(|_| ()));
            s.id()
        })
        .unwrap()
        .join()
        .unwrap();
    // Still open at the finish: closed then.
    let late = Scope::new().name("late");
    let late_guard = late.enter();
    let trace = rec.finish();
    drop(late_guard);

    assert_eq!(trace.dropped(), 0);
    assert_eq!(trace.threads(), 2);
    let v = parse(&trace);
    let here = events(&v)
        .iter()
        .find(|e| e["ph"] == "B" && e["name"] == "outer")
        .unwrap()["tid"]
        .as_u64()
        .unwrap();
    let wtid = tid_of(&v, "record-worker").expect("the worker's name");
    assert_ne!(here, wtid);
    // The harness names the test's thread after the test; the kernel keeps
    // 15 bytes of it.
    assert_eq!(tid_of(&v, "scopes_are_nest"), Some(here));

    let b = |name: &str| {
        let found = named(&v, "B", name);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0].clone()
    };
    let (o, i, u) = (
        b("outer"),
        b("inner"),
        b(&format!("scope #{}", unnamed.id())),
    );
    assert_eq!(o["args"]["scope"], outer.id());
    assert_eq!(o["args"]["parent"], 0);
    assert_eq!(i["args"]["parent"], outer.id());
    assert_eq!(u["args"]["parent"], outer.id());
    assert_eq!(i["cat"], "scope");
    for e in [&o, &i, &u] {
        assert_eq!(e["tid"], here);
    }
    // In order on the thread: outer, inner, /inner, unnamed, /unnamed, /outer.
    let seq: Vec<String> = events(&v)
        .iter()
        .filter(|e| e["tid"] == here && (e["ph"] == "B" || e["ph"] == "E"))
        .map(|e| {
            format!(
                "{}{}",
                e["ph"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect();
    let un = format!("scope #{}", unnamed.id());
    assert_eq!(
        seq,
        [
            "Bearly".to_string(),
            "Eearly".into(),
            "Bouter".into(),
            "Binner".into(),
            "Einner".into(),
            format!("B{un}"),
            format!("E{un}"),
            "Eouter".into(),
            "Blate".into(),
            "Elate".into(),
        ]
    );
    let early_b = b("early");
    assert_eq!(ts(&early_b), 0.0);
    assert!(early_b["args"]["entered"].is_string());
    let late_e = &named(&v, "E", "late")[0];
    let duration = v["otherData"]["duration_us"].as_f64().unwrap();
    assert_eq!(ts(late_e), duration);

    let w = b("on the worker");
    assert_eq!(w["tid"], wtid);
    assert_eq!(w["args"]["scope"], worker);
    assert_eq!(b("nested")["args"]["parent"], worker);
    // Fractional microseconds.
    let text = {
        let mut out = Vec::new();
        trace.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(
        text.contains(r#""ph":"B","ts":"#) && text.contains('.'),
        "{text}"
    );
    assert_eq!(v["otherData"]["events"], trace.events());
    assert_eq!(trace.events(), 12); // 6 slices on two threads, early's exit and late's entry
}
