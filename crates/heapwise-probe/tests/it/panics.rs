use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

heapwise_probe::declare! {
    fn may_panic(n: u32);
    fn group_panic(n: u32);
}

fn message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_panicking_probe_is_caught_disabled_counted_and_resumed_at_detach() {
    let before_calls = Arc::new(AtomicU64::new(0));
    let after_calls = Arc::new(AtomicU64::new(0));
    let panicky_calls = Arc::new(AtomicU64::new(0));
    let c = before_calls.clone();
    let _a = may_panic::attach(move |_| {
        c.fetch_add(1, SeqCst);
    });
    let c = panicky_calls.clone();
    let bad = may_panic::attach(move |n| {
        c.fetch_add(1, SeqCst);
        assert_eq!(n, 1, "probe assertion");
    });
    let c = after_calls.clone();
    let _b = may_panic::attach(move |_| {
        c.fetch_add(1, SeqCst);
    });
    let panicked = heapwise_probe::panicked();
    may_panic(1);
    may_panic(2); // the assertion fails: caught, the event returns normally
    may_panic(3); // disabled from now on
    assert_eq!(panicky_calls.load(SeqCst), 2);
    assert_eq!(before_calls.load(SeqCst), 3);
    assert_eq!(
        after_calls.load(SeqCst),
        3,
        "the probes after it keep running"
    );
    assert!(heapwise_probe::panicked() > panicked);
    // Detaching resumes the probe's panic on the detaching thread.
    let r = catch_unwind(AssertUnwindSafe(|| bad.detach()));
    let payload = r.expect_err("detach resumes the probe's panic");
    assert!(
        message(&*payload).contains("probe assertion"),
        "{}",
        message(&*payload)
    );
    assert!(may_panic::event().is_attached());
}

#[test]
fn dropping_a_group_resumes_its_probes_panic() {
    let group = heapwise_probe::ProbeGroup::current_thread();
    group_panic::attach_in(&group, |n| {
        if n == 2 {
            panic!("group probe {n}")
        }
    });
    group_panic(1);
    group_panic(2);
    let payload = catch_unwind(AssertUnwindSafe(|| drop(group))).expect_err("resumed");
    assert_eq!(message(&*payload), "group probe 2");
    assert!(!group_panic::event().is_attached());
}
