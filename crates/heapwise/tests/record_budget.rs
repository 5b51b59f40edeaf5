//! `heapwise::record`: a tiny budget drops events, counts every one, and
//! still writes a valid, balanced trace with the count in it.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod record_common;

use heapwise::record::Recorder;
use heapwise::Scope;
use record_common::*;

#[test]
fn a_spent_budget_drops_and_counts() {
    let rec = Recorder::new()
        .counters(false)
        .budget(2000)
        .current_thread()
        .start();
    let s = Scope::new().name("busy");
    for _ in 0..1000 {
        s.run(|_| ());
    }
    assert!(rec.dropped() > 0);
    let trace = rec.finish();
    assert_eq!(trace.events() + trace.dropped(), 2000);
    assert!(trace.events() > 0 && trace.dropped() > 1000);
    assert!(trace.memory() <= 2000);
    let v = parse(&trace);
    assert_eq!(v["otherData"]["dropped_events"], trace.dropped());
    assert_eq!(v["otherData"]["budget_bytes"], 2000);
    let labels = events(&v)
        .iter()
        .find(|e| e["name"] == "process_labels")
        .expect("the process is labelled with the count");
    assert!(labels["args"]["labels"]
        .as_str()
        .unwrap()
        .contains(&format!("{} events dropped", trace.dropped())));
    // What was kept is the beginning: every slice but the last has its E.
    let begins = named(&v, "B", "busy").len() as u64;
    assert_eq!(begins, trace.events().div_ceil(2));

    // No budget at all: nothing recorded, everything counted.
    let rec = Recorder::new().budget(0).current_thread().start();
    s.run(|_| ());
    let trace = rec.finish();
    assert_eq!((trace.events(), trace.dropped()), (0, 2 + 2));
    parse(&trace);
}
