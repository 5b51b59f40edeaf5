//! go123's synchronous tracing: a probe pauses the firing thread at a
//! well-defined point while the test inspects the state, tracetest style.

use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::mpsc;
use std::sync::Arc;

heapwise_probe::declare! {
    fn step(n: u32);
}

#[test]
fn a_probe_pauses_the_firing_thread_while_the_test_inspects_its_state() {
    let state = Arc::new(AtomicU32::new(0));
    let (events_tx, events_rx) = mpsc::channel::<(u32, std::thread::ThreadId)>();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let ack_rx = std::sync::Mutex::new(ack_rx);
    let events_tx = std::sync::Mutex::new(events_tx);
    let probe = step::attach(move |n| {
        // Runs on the firing thread, which waits here until the test acks.
        events_tx
            .lock()
            .unwrap()
            .send((n, std::thread::current().id()))
            .unwrap();
        ack_rx.lock().unwrap().recv().unwrap();
    });
    let s = state.clone();
    let worker = std::thread::spawn(move || {
        for n in 1..=3 {
            s.store(n * 10, SeqCst);
            step(n);
            s.store(n * 10 + 1, SeqCst);
        }
    });
    let worker_id = worker.thread().id();
    for n in 1..=3 {
        let (got, tid) = events_rx.recv().unwrap();
        assert_eq!(got, n);
        assert_eq!(tid, worker_id, "probes run on the firing thread");
        // The worker is paused inside step(n): its state cannot move on.
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(state.load(SeqCst), n * 10);
        ack_tx.send(()).unwrap();
    }
    worker.join().unwrap();
    assert_eq!(state.load(SeqCst), 31);
    drop(probe);
}

#[test]
fn detach_waits_for_a_paused_probe_to_return() {
    heapwise_probe::declare! {
        fn paused(n: u32);
    }
    let (in_tx, in_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (in_tx, go_rx) = (std::sync::Mutex::new(in_tx), std::sync::Mutex::new(go_rx));
    let returned = Arc::new(AtomicU32::new(0));
    let r = returned.clone();
    let p = paused::attach(move |_| {
        in_tx.lock().unwrap().send(()).unwrap();
        go_rx.lock().unwrap().recv().unwrap();
        r.store(1, SeqCst);
    });
    let worker = std::thread::spawn(|| paused(1));
    in_rx.recv().unwrap();
    let detacher = std::thread::spawn(move || p.detach());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(
        !detacher.is_finished(),
        "detach returned while the probe runs"
    );
    go_tx.send(()).unwrap();
    detacher.join().unwrap();
    assert_eq!(returned.load(SeqCst), 1);
    worker.join().unwrap();
}
