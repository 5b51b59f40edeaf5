use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};

use crate::DropCounter;

heapwise_probe::declare! {
    fn ev_order(n: u32);
    fn ev_args(id: u64, path: &str, bytes: &[u8]);
    fn ev_detach(n: u32);
    fn ev_reattach(n: u32);
    fn ev_inside(n: u32);
    fn ev_inside_other(n: u32);
    fn ev_attach_inside(n: u32);
    fn ev_trigger(n: u32);
}

#[test]
fn probes_run_in_attach_order_and_see_the_arguments() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut probes = Vec::new();
    for k in 0..4 {
        let log = log.clone();
        probes.push(ev_order::attach(move |n| log.lock().unwrap().push((k, n))));
    }
    ev_order(7);
    assert_eq!(*log.lock().unwrap(), [(0, 7), (1, 7), (2, 7), (3, 7)]);
    // Detach the second: the order of the others is kept.
    probes.remove(1).detach();
    log.lock().unwrap().clear();
    ev_order(8);
    assert_eq!(*log.lock().unwrap(), [(0, 8), (2, 8), (3, 8)]);

    let seen = Arc::new(Mutex::new(String::new()));
    let s = seen.clone();
    let _p = ev_args::attach(move |id, path, bytes| {
        *s.lock().unwrap() = format!("{id} {path} {bytes:?}")
    });
    let owned = String::from("/users");
    ev_args(7, &owned, &[1, 2]);
    assert_eq!(*seen.lock().unwrap(), "7 /users [1, 2]");
}

#[test]
fn after_detach_returns_the_probe_never_runs_and_its_closure_is_dropped() {
    let calls = Arc::new(AtomicU64::new(0));
    let drops = DropCounter::default();
    let token = drops.token();
    let c = calls.clone();
    let p = ev_detach::attach(move |_| {
        let _keep = &token;
        c.fetch_add(1, SeqCst);
    });
    assert!(ev_detach::event().is_attached());
    ev_detach(1);
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(drops.dropped(), 0);
    p.detach();
    assert_eq!(drops.dropped(), 1, "closure dropped when detach returns");
    assert!(!ev_detach::event().is_attached());
    ev_detach(2);
    assert_eq!(calls.load(SeqCst), 1);
}

#[test]
fn a_probe_can_be_attached_again_after_detach() {
    let calls = Arc::new(AtomicU64::new(0));
    for round in 1..=3 {
        let c = calls.clone();
        let p = ev_reattach::attach(move |n| {
            c.fetch_add(n as u64, SeqCst);
        });
        ev_reattach(1);
        drop(p);
        ev_reattach(100);
        assert_eq!(calls.load(SeqCst), round);
    }
}

#[test]
fn detach_from_inside_a_probe_of_the_same_event_does_not_deadlock() {
    // Probe A detaches probe B, which comes after it in the same event:
    // B is not called for this occurrence nor later; its closure is
    // dropped once a grace period ran outside any probe.
    let b_calls = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::default();
    let slot: Arc<Mutex<Option<heapwise_probe::Probe>>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let a = ev_inside::attach(move |n| {
        if n == 2 {
            if let Some(b) = s.lock().unwrap().take() {
                b.detach();
            }
        }
    });
    let (bc, token) = (b_calls.clone(), drops.token());
    *slot.lock().unwrap() = Some(ev_inside::attach(move |_| {
        let _keep = &token;
        bc.fetch_add(1, SeqCst);
    }));
    ev_inside(1);
    assert_eq!(b_calls.load(SeqCst), 1);
    ev_inside(2); // A detaches B before B's turn
    assert_eq!(b_calls.load(SeqCst), 1);
    ev_inside(3);
    assert_eq!(b_calls.load(SeqCst), 1);
    heapwise_probe::synchronize();
    assert_eq!(drops.dropped(), 1, "deferred drop done by synchronize");
    drop(a);
}

#[test]
fn detach_from_inside_a_probe_of_another_event() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let victim = Arc::new(Mutex::new(Some(ev_inside_other::attach(move |_| {
        c.fetch_add(1, SeqCst);
    }))));
    let v = victim.clone();
    let _p = ev_trigger::attach(move |_| drop(v.lock().unwrap().take()));
    ev_inside_other(0);
    ev_trigger(0);
    ev_inside_other(0);
    assert_eq!(calls.load(SeqCst), 1);
}

#[test]
fn attach_from_inside_a_probe_takes_effect_for_later_events() {
    let calls = Arc::new(AtomicUsize::new(0));
    let added: Arc<Mutex<Vec<heapwise_probe::Probe>>> = Arc::default();
    let (c, a) = (calls.clone(), added.clone());
    let _p = ev_attach_inside::attach(move |n| {
        if n == 1 {
            let c = c.clone();
            a.lock().unwrap().push(ev_attach_inside::attach(move |_| {
                c.fetch_add(1, SeqCst);
            }));
        }
    });
    ev_attach_inside(1); // attaches; the new probe is not in this occurrence's snapshot
    assert_eq!(calls.load(SeqCst), 0);
    ev_attach_inside(2);
    assert_eq!(calls.load(SeqCst), 1);
    added.lock().unwrap().clear();
    ev_attach_inside(3);
    assert_eq!(calls.load(SeqCst), 1);
}
