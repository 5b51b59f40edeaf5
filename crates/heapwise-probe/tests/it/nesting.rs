use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

heapwise_probe::declare! {
    fn recursive(depth: u32);
    fn outer(n: u32);
    fn inner(n: u32);
}

#[test]
fn a_probe_that_fires_its_own_event_does_not_recurse() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let _p = recursive::attach(move |depth| {
        c.fetch_add(1, SeqCst);
        recursive(depth + 1); // nested: dropped, counted
    });
    let before = recursive::event().dropped();
    let total_before = heapwise_probe::dropped();
    recursive(0);
    recursive(0);
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(recursive::event().dropped() - before, 2);
    if !cfg!(miri) {
        // The process-wide sum reads the event list (no linker sections
        // under Miri).
        assert!(heapwise_probe::dropped() - total_before >= 2);
    }
}

#[test]
fn events_fired_inside_a_probe_are_dropped_even_for_other_events() {
    let inner_calls = Arc::new(AtomicU64::new(0));
    let c = inner_calls.clone();
    let _pi = inner::attach(move |_| {
        c.fetch_add(1, SeqCst);
    });
    let _po = outer::attach(inner); // an event is a valid probe of another
    let before = inner::event().dropped();
    outer(1); // inner fired inside outer's probe: dropped
    assert_eq!(inner_calls.load(SeqCst), 0);
    assert_eq!(inner::event().dropped() - before, 1);
    inner(2); // top level: delivered
    assert_eq!(inner_calls.load(SeqCst), 1);
    // Other threads are not affected by this thread's nesting.
    std::thread::spawn(|| inner(3)).join().unwrap();
    assert_eq!(inner_calls.load(SeqCst), 2);
}
