//! Attach and detach racing with events on other threads: no use after
//! free (also run under valgrind), no lost probe, no call after detach.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Arc;

heapwise_probe::declare! {
    fn hot(n: u64);
}

/// State a probe captures; "freed" (marked dead) when the closure is
/// dropped. A probe that runs on dead state is a use after free.
struct Captured {
    alive: AtomicBool,
    calls: AtomicU64,
}

#[test]
fn attach_and_detach_racing_with_events() {
    let small = std::env::var_os("HEAPWISE_PROBE_SMALL").is_some();
    let (per_thread, churns): (u64, u64) = if cfg!(miri) {
        (300, 30)
    } else if small {
        // valgrind
        (20_000, 200)
    } else {
        (300_000, 3000)
    };
    let firers = 3;

    // A probe attached for the whole run sees every event (no lost probe,
    // whatever is attached and detached around it).
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let steady = hot::attach(move |_| {
        t.fetch_add(1, Relaxed);
    });

    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let firing: Vec<_> = (0..firers)
        .map(|_| {
            std::thread::spawn(move || {
                for n in 0..per_thread {
                    hot(n);
                }
            })
        })
        .collect();

    let churner = {
        let (stop, violations) = (stop.clone(), violations.clone());
        std::thread::spawn(move || {
            let mut k = 0;
            while k < churns || !stop.load(Relaxed) {
                k += 1;
                let cap = Arc::new(Captured {
                    alive: AtomicBool::new(true),
                    calls: AtomicU64::new(0),
                });
                let (c, v) = (cap.clone(), violations.clone());
                let boxed = Box::new(k); // heap state the closure owns
                let p = hot::attach(move |_| {
                    if !c.alive.load(SeqCst) || *boxed != k {
                        v.fetch_add(1, SeqCst);
                    }
                    c.calls.fetch_add(1, SeqCst);
                });
                if k % 3 == 0 {
                    std::thread::yield_now();
                }
                let group = heapwise_probe::ProbeGroup::new();
                let c2 = cap.clone();
                hot::attach_in(&group, move |_| {
                    c2.calls.fetch_add(1, SeqCst);
                });
                if k % 2 == 0 {
                    heapwise_probe::setup(|s| {
                        s.detach(p);
                        drop(group);
                    });
                } else {
                    drop(group);
                    p.detach();
                }
                // Detach returned: the closures are gone and never run again.
                assert_eq!(Arc::strong_count(&cap), 1, "closures dropped at detach");
                cap.alive.store(false, SeqCst);
                let after = cap.calls.load(SeqCst);
                std::thread::yield_now();
                assert_eq!(cap.calls.load(SeqCst), after, "called after detach");
            }
        })
    };
    for f in firing {
        f.join().unwrap();
    }
    stop.store(true, Relaxed);
    churner.join().unwrap();
    drop(steady);
    assert_eq!(violations.load(SeqCst), 0);
    assert_eq!(total.load(Relaxed), per_thread * firers);
}
