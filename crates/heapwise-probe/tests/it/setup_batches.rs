use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Arc;

use crate::DropCounter;

heapwise_probe::declare! {
    fn first(i: usize);
    fn second(i: usize);
    fn batched(n: u64);
}

/// Two events attached in one setup: a firing thread never sees the second
/// attached without the first. It fires `second(i)` then `first(i)`: if
/// the second's probe ran for `i`, the first's must run for `i` too.
#[test]
fn a_firing_thread_never_sees_a_later_attach_of_a_setup_without_the_earlier() {
    let (n, rounds) = if cfg!(miri) { (2_000, 2) } else { (200_000, 5) };
    let mut delivered = 0;
    for _round in 0..rounds {
        let seen1: Arc<Vec<AtomicBool>> =
            Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
        let seen2: Arc<Vec<AtomicBool>> =
            Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
        let started = Arc::new(AtomicBool::new(false));
        let st = started.clone();
        let worker = std::thread::spawn(move || {
            st.store(true, SeqCst);
            for i in 0..n {
                second(i);
                first(i);
            }
        });
        while !started.load(SeqCst) {
            std::thread::yield_now();
        }
        let (s1, s2) = (seen1.clone(), seen2.clone());
        let probes = heapwise_probe::setup(|s| {
            (
                s.attach(first::probe(move |i| s1[i].store(true, Relaxed))),
                s.attach(second::probe(move |i| s2[i].store(true, Relaxed))),
            )
        });
        worker.join().unwrap();
        heapwise_probe::setup(|s| {
            s.detach(probes.1);
            s.detach(probes.0);
        });
        let mut both = 0;
        for i in 0..n {
            let (a, b) = (seen1[i].load(Relaxed), seen2[i].load(Relaxed));
            assert!(!b || a, "occurrence {i}: second delivered without first");
            both += b as usize;
        }
        delivered += both;
    }
    assert!(delivered > 0, "the setups never took effect during a run");
}

#[test]
fn a_setup_joins_nested_calls_and_drops_into_one_batch() {
    let calls = Arc::new(AtomicU64::new(0));
    let drops = DropCounter::default();
    let old = {
        let t = drops.token();
        batched::attach(move |_| {
            let _keep = &t;
        })
    };
    let (c, c2) = (calls.clone(), calls.clone());
    let group = heapwise_probe::ProbeGroup::new();
    let p = heapwise_probe::setup(|s| {
        // A plain attach, a group attach, a nested setup and a drop, all
        // in this batch.
        let p = batched::attach(move |n| {
            c.fetch_add(n, SeqCst);
        });
        s.attach_in(
            &group,
            batched::probe(move |n| {
                c2.fetch_add(n * 100, SeqCst);
            }),
        );
        heapwise_probe::setup(|s2| s2.detach(old));
        assert_eq!(drops.dropped(), 0, "freed only when the outer batch ends");
        p
    });
    assert_eq!(drops.dropped(), 1);
    batched(1);
    assert_eq!(calls.load(SeqCst), 101);
    drop(group);
    drop(p);
    batched(1);
    assert_eq!(calls.load(SeqCst), 101);
}
