//! Allocation events in full mode (every allocation sampled): the sampler's
//! bookkeeping allocates behind the reentrancy guard on most calls, and with
//! the events gate open each guarded call takes at least `1 << 62` off the
//! countdown. Regression test: a few such calls used to wrap the countdown
//! positive and let the program's next calls through the fast path, counted
//! but with no event (1 run in 30 at the default rate, every run in full
//! mode).
#![cfg(feature = "alloc-events")]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use heapwise::events;
use heapwise::probe::ProbeGroup;
use heapwise::Scope;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

#[test]
fn every_counted_call_fires_its_event_in_full_mode() {
    heapwise::profile::set_rate(1);
    for round in 0..3 {
        let scope = Scope::new();
        let id = scope.id();
        let allocs = Arc::new(AtomicU64::new(0));
        // Probes that allocate (inside the allocator, behind the guard).
        let log = Arc::new(Mutex::new(Vec::new()));
        let group = ProbeGroup::current_thread();
        let (a, l) = (allocs.clone(), log.clone());
        events::alloc::attach_in(&group, move |p, _, _, s| {
            if s == id {
                a.fetch_add(1, Relaxed);
            }
            l.lock().unwrap().push(p);
        });
        let (a, l) = (allocs.clone(), log.clone());
        events::realloc::attach_in(&group, move |_, _, p, _, _, s| {
            if s == id {
                a.fetch_add(1, Relaxed);
            }
            l.lock().unwrap().push(p);
        });
        let l = log.clone();
        events::free::attach_in(&group, move |p, _, _, _| l.lock().unwrap().push(p));
        let usage = scope.run(|s| {
            let mut v: Vec<Box<u64>> = Vec::new();
            for i in 0..1000 {
                v.push(Box::new(i));
            }
            drop(v);
            s.usage()
        });
        drop(group);
        assert_eq!(
            allocs.load(Relaxed),
            usage.allocs,
            "round {round}: {usage:?}"
        );
        assert_eq!(usage.live_bytes, 0, "round {round}: {usage:?}");
    }
}
