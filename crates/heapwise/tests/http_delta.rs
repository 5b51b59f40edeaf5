//! `?seconds=N`: a delta over the next N seconds. alloc_* counts only what
//! was allocated in the window; inuse_* is absolute, as at the end.
#![cfg(feature = "http")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod http_support;

use std::hint::black_box;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use heapwise::http::serve;
use heapwise::pprof::Profile;
use heapwise::profile;
use http_support::*;

#[inline(never)]
fn kept_before_window() -> Vec<Box<[u8; 5000]>> {
    let mut v = Vec::with_capacity(20);
    for i in 0..20 {
        v.push(black_box(Box::new([i as u8; 5000])));
    }
    v
}

#[inline(never)]
fn freed_before_window() {
    for i in 0..10 {
        drop(black_box(vec![i as u8; 6000]));
    }
}

#[inline(never)]
fn allocated_during_window() -> Box<[u8; 3000]> {
    black_box(Box::new([1u8; 3000]))
}

/// The delta slots are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Values of the samples whose stack names `function`, summed:
/// [alloc_objects, alloc_space, inuse_objects, inuse_space].
fn site(p: &Profile, function: &str) -> [i64; 4] {
    let idx = [
        "alloc_objects",
        "alloc_space",
        "inuse_objects",
        "inuse_space",
    ]
    .map(|t| p.sample_type_index(t).unwrap());
    let mut out = [0; 4];
    for s in &p.sample {
        if p.stack_function_names(s).contains(&function) {
            for (o, &i) in out.iter_mut().zip(&idx) {
                *o += s.value[i];
            }
        }
    }
    out
}

#[test]
fn delta_counts_allocations_in_the_window_and_keeps_inuse_absolute() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    profile::set_rate(1);
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let kept = kept_before_window();
    freed_before_window();

    // Allocate steadily while the delta request runs, so some allocations
    // fall inside its window whenever it opens.
    let done = Arc::new(AtomicBool::new(false));
    let request = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let started = Instant::now();
            let r = get(addr, "/debug/pprof/allocs?seconds=1");
            done.store(true, Ordering::SeqCst);
            (r, started.elapsed())
        })
    };
    let mut during = Vec::new();
    let mut stats_latency = Duration::ZERO;
    while !done.load(Ordering::SeqCst) {
        during.push(allocated_during_window());
        // The endpoint keeps answering while a delta sleeps.
        let t = Instant::now();
        assert_eq!(get(addr, "/debug/heapwise/stats").status, 200);
        stats_latency = stats_latency.max(t.elapsed());
        thread::sleep(Duration::from_millis(10));
    }
    let (r, elapsed) = request.join().unwrap();
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(
        stats_latency < Duration::from_millis(900),
        "{stats_latency:?}"
    );

    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"allocs-delta\"")
    );
    let p = Profile::decode(&r.body).unwrap();
    assert_eq!(p.string(p.default_sample_type), "alloc_space");
    assert!(
        (1_000_000_000..30_000_000_000).contains(&p.duration_nanos),
        "duration {}",
        p.duration_nanos
    );

    // Before the window: no allocations, but the in-use blocks are there
    // (20 boxes and the Vec of their pointers).
    let before = site(&p, "http_delta::kept_before_window");
    assert_eq!(
        before,
        [0, 0, 21, 20 * 5000 + 160],
        "kept before the window"
    );
    assert_eq!(site(&p, "http_delta::freed_before_window"), [0; 4]);

    // During: allocations in the window only; in-use blocks as at its end.
    let [ao, ab, io, ib] = site(&p, "http_delta::allocated_during_window");
    assert!(ao >= 1, "some allocations fall in the window");
    assert_eq!(ab, ao * 3000);
    assert_eq!(ib, io * 3000);
    assert!(
        ao <= io && io <= during.len() as i64,
        "{ao} in the window, {io} in use, {} made",
        during.len()
    );

    // The full profile, for comparison, has all of them.
    let full = Profile::decode(&get(addr, "/debug/pprof/allocs").body).unwrap();
    assert_eq!(
        site(&full, "http_delta::kept_before_window"),
        [21, 20 * 5000 + 160, 21, 20 * 5000 + 160]
    );
    assert_eq!(site(&full, "http_delta::freed_before_window")[0], 10);
    drop((kept, during));
}

#[test]
fn heap_delta_and_the_cap_on_concurrent_deltas() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    profile::set_rate(1);
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();

    let r = get(addr, "/debug/pprof/heap?seconds=1");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"heap-delta\"")
    );
    let p = Profile::decode(&r.body).unwrap();
    assert_eq!(p.string(p.default_sample_type), "inuse_space");
    assert!(p.duration_nanos >= 1_000_000_000);

    // At most 4 deltas sleep at once; the others are told to come back.
    let clients: Vec<_> = (0..7)
        .map(|_| thread::spawn(move || get(addr, "/debug/pprof/heap?seconds=2")))
        .collect();
    let replies: Vec<Reply> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let busy: Vec<&Reply> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(ok + busy.len(), 7);
    assert!(
        ok <= 4 && busy.len() >= 3,
        "{ok} served, {} busy",
        busy.len()
    );
    for r in busy {
        assert_error(r, 503, "too many delta profiles in progress");
        assert!(r.header("retry-after").is_some());
    }
}

#[test]
fn an_abandoned_delta_frees_its_slot_at_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    // Four clients ask for five-minute deltas, which takes every delta slot.
    let clients = hold_every_delta_slot(addr);
    // Then they go away: three close, one half-closes (which Go's server
    // and hyper take as gone too); that one is closed with no answer.
    let mut clients = clients.into_iter();
    let half = clients.next().unwrap();
    drop(clients);
    half.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(&half), b"", "an answer to a client that left");
    // Their slots are free again now, not in five minutes.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let r = get(addr, "/debug/pprof/heap?seconds=1");
        if r.status == 200 {
            break;
        }
        assert_error(&r, 503, "too many delta profiles in progress");
        assert!(
            Instant::now() < until,
            "the abandoned deltas still hold their slots"
        );
        thread::sleep(Duration::from_millis(20));
    }
}
