//! `heapwise::record`: counter tracks of live bytes, process-wide (`heap`)
//! and per named scope (`scope NAME`), sampled at start, every interval and
//! at finish, with timestamps that never go back.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod record_common;

use std::hint::black_box;
use std::time::Duration;

use heapwise::record::Recorder;
use heapwise::{Scope, MIB};
use record_common::*;

#[test]
fn live_bytes_are_counter_tracks() {
    let holder = Scope::new().name("holder");
    let rec = Recorder::new()
        .counter_interval(Duration::from_millis(2))
        .start();
    let v = holder.run(|_| black_box(vec![1u8; MIB as usize]));
    // Named scopes of the same name nested in it are not counted twice.
    let nested = holder.child().name("holder");
    let w = nested.run(|_| black_box(vec![1u8; 1000]));
    std::thread::sleep(Duration::from_millis(30));
    // Freed where it was allocated, so the scope's live bytes drop.
    holder.run(|_| drop((v, w)));
    let trace = rec.finish();
    let v = parse(&trace);
    let heap = named(&v, "C", "heap");
    assert!(
        heap.len() >= 4,
        "start, some intervals, finish: {}",
        heap.len()
    );
    assert_eq!(heap.len(), trace.counter_samples());
    // Ordered against the recorded events, not timed (this runs under
    // valgrind too): the first sample is taken by `start`, before the first
    // slice; the last one by `finish`, after the last.
    let slices: Vec<f64> = named(&v, "B", "holder")
        .into_iter()
        .chain(named(&v, "E", "holder"))
        .map(ts)
        .collect();
    let first_slice = slices.iter().cloned().fold(f64::INFINITY, f64::min);
    let last_slice = slices.iter().cloned().fold(0.0, f64::max);
    assert!(
        ts(heap[0]) <= first_slice,
        "the first sample is taken at start"
    );
    let live: Vec<u64> = heap
        .iter()
        .map(|e| e["args"]["live_bytes"].as_u64().unwrap())
        .collect();
    assert!(live.iter().any(|&b| b >= MIB), "{live:?}");
    let scope = named(&v, "C", "scope holder");
    assert!(!scope.is_empty());
    let bytes: Vec<u64> = scope
        .iter()
        .map(|e| e["args"]["live_bytes"].as_u64().unwrap())
        .collect();
    let max = *bytes.iter().max().unwrap();
    assert!((MIB..MIB + 2000).contains(&max), "{bytes:?}");
    assert_eq!(
        *bytes.last().unwrap(),
        0,
        "the last sample is taken at finish"
    );
    let last = ts(heap.last().unwrap());
    let duration = v["otherData"]["duration_us"].as_f64().unwrap();
    assert!(
        last_slice <= last && last <= duration,
        "the last sample is taken at finish: {last_slice} {last} {duration}"
    );
    assert_eq!(v["otherData"]["counter_interval_us"], 2000);
}
