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
        .current_thread_only()
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
