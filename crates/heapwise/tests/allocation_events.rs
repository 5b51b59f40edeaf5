//! heapwise's per-call allocation events (`alloc`, `free`, `realloc`): what
//! a probe sees, and the attach and detach guarantees across threads.
#![cfg(feature = "alloc-events")]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Barrier, Mutex};

use heapwise::events::{self, ALLOC_GATE};
use heapwise::probe::ProbeGroup;
use heapwise::Scope;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

/// What the probes of one thread saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Alloc(usize, usize, usize, u64),
    Free(usize, usize, usize, u64),
    Realloc(usize, usize, usize, usize, usize, u64),
}

fn watch_this_thread() -> (ProbeGroup, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let group = ProbeGroup::current_thread();
    let s = seen.clone();
    events::alloc::attach_in(&group, move |p, size, align, scope| {
        s.lock().unwrap().push(Seen::Alloc(p, size, align, scope))
    });
    let s = seen.clone();
    events::free::attach_in(&group, move |p, size, align, scope| {
        s.lock().unwrap().push(Seen::Free(p, size, align, scope))
    });
    let s = seen.clone();
    events::realloc::attach_in(&group, move |p, old, new_p, new, align, scope| {
        s.lock()
            .unwrap()
            .push(Seen::Realloc(p, old, new_p, new, align, scope))
    });
    (group, seen)
}

#[test]
fn a_probe_sees_pointer_size_alignment_and_scope_of_every_call() {
    let (group, seen) = watch_this_thread();
    assert!(ALLOC_GATE.is_open());
    let scope = Scope::new().name("events");
    let id = scope.id();
    let (a, b, c) = scope.run(|_| {
        let layout = Layout::from_size_align(100, 64).unwrap();
        // SAFETY: non-zero size; freed below with the same layout.
        let a = unsafe { ALLOC.alloc(layout) } as usize;
        // SAFETY: `a` was allocated above with `layout`.
        let b = unsafe { ALLOC.realloc(a as *mut u8, layout, 300) } as usize;
        // SAFETY: `b` holds 300 bytes with alignment 64.
        unsafe { ALLOC.dealloc(b as *mut u8, Layout::from_size_align(300, 64).unwrap()) };
        // SAFETY: non-zero size.
        let c = unsafe { ALLOC.alloc_zeroed(Layout::new::<[u64; 3]>()) } as usize;
        // SAFETY: allocated just above with this layout.
        unsafe { ALLOC.dealloc(c as *mut u8, Layout::new::<[u64; 3]>()) };
        (a, b, c)
    });
    drop(group);
    // The scope's own set-up allocates outside it (scope 0): keep ours.
    let seen: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Seen::Alloc(.., sc) | Seen::Free(.., sc) | Seen::Realloc(.., sc) if *sc == id))
        .cloned()
        .collect();
    assert_eq!(
        seen,
        [
            Seen::Alloc(a, 100, 64, id),
            Seen::Realloc(a, 100, b, 300, 64, id),
            Seen::Free(b, 300, 64, id),
            Seen::Alloc(c, 24, 8, id),
            Seen::Free(c, 24, 8, id),
        ]
    );
    assert_eq!(a % 64, 0);
}

/// Every call counted in the scope fired its event. Also run in full mode
/// (`allocation_events_full_mode.rs`), where every call samples and the
/// profiler's own allocations run behind the reentrancy guard.
#[test]
fn counts_match_the_scope_figures() {
    let (group, seen) = watch_this_thread();
    let scope = Scope::new();
    let id = scope.id();
    let usage = scope.run(|s| {
        let mut v: Vec<Box<u64>> = Vec::new();
        for i in 0..1000 {
            v.push(Box::new(i));
        }
        drop(v);
        s.usage()
    });
    drop(group);
    let seen = seen.lock().unwrap();
    let ours =
        |f: fn(&Seen) -> Option<u64>| seen.iter().filter_map(f).filter(|&s| s == id).count() as u64;
    let allocs = ours(|s| match s {
        Seen::Alloc(.., sc) => Some(*sc),
        _ => None,
    });
    let frees = ours(|s| match s {
        Seen::Free(.., sc) => Some(*sc),
        _ => None,
    });
    let reallocs = ours(|s| match s {
        Seen::Realloc(.., sc) => Some(*sc),
        _ => None,
    });
    assert_eq!(reallocs, usage.reallocs);
    assert_eq!(allocs + reallocs, usage.allocs);
    assert_eq!(frees + reallocs, usage.frees);
    assert!(allocs >= 1000, "{allocs}");
}

/// An allocator built `without_events` fires none of the three, with
/// probes attached to all, and still counts every call.
#[test]
fn an_allocator_without_events_fires_none_and_still_counts() {
    static SILENT: heapwise::Alloc = heapwise::Alloc::system().without_events();
    let (group, seen) = watch_this_thread();
    let scope = Scope::new();
    let id = scope.id();
    let usage = scope.run(|s| {
        let layout = Layout::from_size_align(100, 16).unwrap();
        for _ in 0..100 {
            // SAFETY: non-zero size; freed below with the layout it has.
            unsafe {
                let p = SILENT.alloc(layout);
                let q = SILENT.realloc(p, layout, 200);
                SILENT.dealloc(q, Layout::from_size_align(200, 16).unwrap());
            }
        }
        s.usage()
    });
    drop(group);
    let fired = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Seen::Alloc(.., sc) | Seen::Free(.., sc) | Seen::Realloc(.., sc) if *sc == id))
        .count();
    assert_eq!(fired, 0);
    assert_eq!((usage.allocs, usage.reallocs, usage.frees), (200, 100, 200));
}

#[test]
fn a_probe_sees_no_call_once_its_group_is_dropped() {
    // Other tests of this binary may hold thread-scoped probes meanwhile:
    // check the gate against our own probe only through its effect.
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let group = ProbeGroup::current_thread();
    events::free::attach_in(&group, move |_, size, _, _| {
        if size == 77 {
            h.fetch_add(1, Relaxed);
        }
    });
    drop(std::hint::black_box(Box::new([1u8; 77])));
    drop(group);
    drop(std::hint::black_box(Box::new([1u8; 77])));
    assert_eq!(hits.load(Relaxed), 1);
}

/// After detach returns the probe never runs again and its closure is
/// dropped, while another thread allocates without pause, across many
/// attach/detach rounds.
#[test]
fn no_call_after_detach_while_another_thread_allocates() {
    // Each attach and detach of a free probe sets or clears a bit in every
    // byte of the page filter (1,048,576 atomic ORs, `local/filter.rs`):
    // 200 rounds took 487 s under memcheck, where `.ci/run` sets
    // HEAPWISE_PROBE_SMALL; 20 rounds there, 200 in the native runs.
    let rounds = if std::env::var_os("HEAPWISE_PROBE_SMALL").is_some() {
        20
    } else {
        200
    };
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut keep = Vec::new();
            while !stop.load(Relaxed) {
                for _ in 0..16 {
                    keep.push(Box::new([0u8; 48]));
                }
                keep.clear();
            }
        })
    };
    for r in 0..rounds {
        let detached = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (d, l, c) = (detached.clone(), late.clone(), calls.clone());
        let probe = events::free::attach(move |_, _, _, _| {
            if d.load(SeqCst) {
                l.fetch_add(1, SeqCst);
            }
            c.fetch_add(1, Relaxed);
        });
        // Let the worker's frees reach the probe before detaching mid-stream.
        // Yield, not spin: under valgrind (one thread runs at a time) a
        // spinning waiter can starve the worker for minutes.
        while calls.load(Relaxed) < 8 {
            std::thread::yield_now();
        }
        drop(probe);
        detached.store(true, SeqCst);
        assert_eq!(
            Arc::strong_count(&calls),
            1,
            "round {r}: closure not dropped"
        );
        let before = calls.load(Relaxed);
        // Give the worker time to free more (it would reach a probe that
        // was wrongly still attached).
        for _ in 0..20 {
            std::thread::yield_now();
        }
        assert_eq!(late.load(SeqCst), 0, "round {r}: probe ran after detach");
        assert_eq!(calls.load(Relaxed), before, "round {r}");
    }
    stop.store(true, Relaxed);
    worker.join().unwrap();
}

/// The same race, checking delivery: every 40-byte allocation the worker
/// makes after it learned of the attach is recorded by the probe.
#[test]
fn an_allocation_after_attach_on_another_thread_is_never_missed() {
    const ROUNDS: usize = 200;
    let stop = Arc::new(AtomicBool::new(false));
    let (to_worker, from_main) = std::sync::mpsc::channel::<()>();
    let (to_main, from_worker) = std::sync::mpsc::channel::<usize>();
    let start = Arc::new(Barrier::new(2));
    let worker = {
        let stop = stop.clone();
        let start = start.clone();
        std::thread::spawn(move || {
            start.wait();
            let mut keep = Vec::new();
            while !stop.load(Relaxed) {
                for _ in 0..16 {
                    keep.push(Box::new([0u8; 48]));
                }
                keep.clear();
                if from_main.try_recv().is_ok() {
                    let b = std::hint::black_box(Box::new([7u8; 40]));
                    to_main.send(&*b as *const [u8; 40] as usize).unwrap();
                    // Keep it until the main thread checked (no reuse).
                    std::thread::park();
                    drop(b);
                }
            }
        })
    };
    start.wait();
    for r in 0..ROUNDS {
        let addrs = Arc::new(Mutex::new(Vec::new()));
        let a = addrs.clone();
        let probe = events::alloc::attach(move |p, size, _, _| {
            if size == 40 {
                a.lock().unwrap().push(p);
            }
        });
        to_worker.send(()).unwrap();
        let addr = from_worker.recv().unwrap();
        drop(probe);
        worker.thread().unpark();
        assert!(
            addrs.lock().unwrap().contains(&addr),
            "round {r}: the allocation made after attach was missed"
        );
    }
    stop.store(true, Relaxed);
    worker.thread().unpark();
    worker.join().unwrap();
}
