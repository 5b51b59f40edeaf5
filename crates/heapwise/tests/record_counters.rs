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
    assert!(ts(heap[0]) < 1000.0, "the first sample is taken at start");
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
        last <= duration && duration - last < 10_000.0,
        "{last} {duration}"
    );
    assert_eq!(v["otherData"]["counter_interval_us"], 2000);
}
