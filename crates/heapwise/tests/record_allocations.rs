//! `heapwise::record`: opt-in allocator calls and profiler samples as
//! instants with their arguments.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod record_common;

use std::hint::black_box;

use heapwise::record::Recorder;
use record_common::*;

#[test]
fn allocator_calls_and_samples_are_instants() {
    heapwise::profile::set_rate(1);
    let rec = Recorder::new()
        .counters(false)
        .scopes(false)
        .allocations(true)
        .samples(true)
        .current_thread()
        .start();
    let mut v = black_box(Vec::<u8>::with_capacity(12345));
    let first = v.as_ptr() as usize;
    v.reserve_exact(23456);
    let second = v.as_ptr() as usize;
    drop(v);
    let trace = rec.finish();
    heapwise::profile::set_rate(0);
    let v = parse(&trace);
    let hex = |p: usize| format!("{p:#x}");
    let alloc = named(&v, "i", "alloc");
    let a = alloc
        .iter()
        .find(|e| e["args"]["size"] == 12345)
        .expect("the allocation");
    assert_eq!(a["args"]["ptr"], hex(first));
    assert_eq!(a["args"]["align"], 1);
    assert_eq!(a["cat"], "heap");
    let r = named(&v, "i", "realloc");
    let r = r
        .iter()
        .find(|e| e["args"]["ptr"] == hex(first))
        .expect("the realloc");
    assert_eq!(r["args"]["old_size"], 12345);
    assert_eq!(r["args"]["new_size"], 23456);
    assert_eq!(r["args"]["new_ptr"], hex(second));
    let f = named(&v, "i", "free");
    assert!(f
        .iter()
        .any(|e| e["args"]["ptr"] == hex(second) && e["args"]["size"] == 23456));
    let samples = named(&v, "i", "sample");
    assert!(samples
        .iter()
        .any(|e| e["args"]["size"] == 12345 && e["args"]["rate"] == 1));
    assert!(trace.events() >= 4);
}

heapwise::probe::declare! {
    fn step(n: u64);
}

/// Allocations made inside another probe on the same thread reach no probe
/// (heapwise-probe drops nested events instead of recursing): the trace
/// counts them, and does not show them.
#[test]
fn allocations_inside_another_probe_are_counted_as_nested_drops() {
    let group = heapwise::probe::ProbeGroup::current_thread();
    step::attach_in(&group, |n| {
        // 3 allocations and 3 frees per event, all nested.
        for k in 0..3 {
            black_box(vec![0u8; 7000 + (n * 3 + k) as usize]);
        }
    });
    let rec = Recorder::new()
        .counters(false)
        .scopes(false)
        .allocations(true)
        .user_event(step::event())
        .current_thread()
        .start();
    for n in 0..4 {
        step(n);
    }
    let trace = rec.finish();
    drop(group);
    let v = parse(&trace);
    check(&v);
    assert_eq!(named(&v, "i", "step").len(), 4);
    assert!(
        named(&v, "i", "alloc")
            .iter()
            .all(|e| !(7000..7012).contains(&e["args"]["size"].as_u64().unwrap())),
        "a nested allocation was recorded"
    );
    // Other tests of this binary run on other threads, but their nested
    // events (none here) would count too: at least ours.
    assert!(trace.nested_dropped() >= 24, "{trace:?}");
    assert_eq!(
        v["otherData"]["nested_dropped_events"],
        trace.nested_dropped()
    );
}
