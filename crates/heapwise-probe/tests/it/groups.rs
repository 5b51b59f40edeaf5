use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

use crate::DropCounter;

heapwise_probe::declare! {
    fn shared_event(test: u64);
    fn grouped_a(n: u64);
    fn grouped_b(n: u64);
}

/// Eight "tests" at once on one event, each with a thread-scoped group:
/// each sees exactly its own events.
fn scoped_run(test: u64) {
    let group = heapwise_probe::ProbeGroup::current_thread();
    let mine = Arc::new(AtomicU64::new(0));
    let others = Arc::new(AtomicU64::new(0));
    let (m, o) = (mine.clone(), others.clone());
    shared_event::attach_in(&group, move |t| {
        if t == test {
            m.fetch_add(1, Relaxed);
        } else {
            o.fetch_add(1, Relaxed);
        }
    });
    for _ in 0..1000 {
        shared_event(test);
    }
    drop(group);
    assert_eq!(mine.load(Relaxed), 1000);
    assert_eq!(others.load(Relaxed), 0);
}

#[test]
fn thread_scoped_groups_in_parallel_tests_see_only_their_thread() {
    let threads: Vec<_> = (1..=8)
        .map(|t| std::thread::spawn(move || scoped_run(t)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn thread_scoped_group_a() {
    scoped_run(100);
}

#[test]
fn thread_scoped_group_b() {
    scoped_run(200);
}

#[test]
fn dropping_a_group_detaches_all_its_probes() {
    let calls = Arc::new(AtomicU64::new(0));
    let drops = DropCounter::default();
    let group = heapwise_probe::ProbeGroup::new();
    for _ in 0..3 {
        let (c, t) = (calls.clone(), drops.token());
        grouped_a::attach_in(&group, move |n| {
            let _keep = &t;
            c.fetch_add(n, Relaxed);
        });
        let (c, t) = (calls.clone(), drops.token());
        grouped_b::attach_in(&group, move |n| {
            let _keep = &t;
            c.fetch_add(n, Relaxed);
        });
    }
    assert_eq!(group.len(), 6);
    grouped_a(1);
    grouped_b(10);
    assert_eq!(calls.load(Relaxed), 33);
    group.detach_all();
    assert_eq!(drops.dropped(), 6);
    assert!(group.is_empty());
    grouped_a(1);
    assert_eq!(calls.load(Relaxed), 33);
    // Still usable.
    let c = calls.clone();
    grouped_a::attach_in(&group, move |n| {
        c.fetch_add(n, Relaxed);
    });
    grouped_a(100);
    drop(group);
    grouped_a(1000);
    assert_eq!(calls.load(Relaxed), 133);
}
