//! `heapwise_probe::testing`: the recorder and the paused tracer.
//!
//! Tests run in parallel in this binary and tracers attach for every
//! thread: each test uses its own events.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use heapwise_probe::testing::{OwnedValue, Recorder, Tracer};

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .unwrap()
}

heapwise_probe::declare! {
    fn rec_a(n: u64, s: &str);
    fn rec_b(flag: bool);
    fn rec_not_chosen(n: u64);
}

#[test]
fn recorder_captures_chosen_events_in_order_with_threads_and_arguments() {
    let rec = Recorder::new()
        .event(rec_a::event())
        .events([rec_b::event(), rec_a::event()])
        .start();
    assert!(rec_a::event().is_attached() && rec_b::event().is_attached());
    assert!(!rec_not_chosen::event().is_attached());
    spawn_named("worker", || {
        rec_a(1, "one");
        rec_not_chosen(0);
        rec_b(true);
    })
    .join()
    .unwrap();
    let mine = std::thread::current().id();
    rec_a(2, "two");
    let log = rec.finish();
    assert!(!rec_a::event().is_attached(), "finish detaches");
    rec_a(3, "after");

    assert_eq!(
        log.calls(),
        [
            r#"rec_a(n=1, s="one")"#,
            "rec_b(flag=true)",
            r#"rec_a(n=2, s="two")"#
        ]
    );
    assert_eq!(
        log.thread_named("worker").lines(),
        [r#"worker: rec_a(n=1, s="one")"#, "worker: rec_b(flag=true)"]
    );
    assert_eq!(log.thread(mine).calls(), [r#"rec_a(n=2, s="two")"#]);
    assert_eq!(log.event(rec_b::event()).len(), 1);
    assert_eq!(log[0].name(), "rec_a");
    assert_eq!(log[0].arg("n").as_u64(), Some(1));
    assert_eq!(log[0].get("s"), Some(&OwnedValue::Str("one".into())));
    assert_eq!(log[0].get("nope"), None);
    assert_eq!(log[1].args, [OwnedValue::Bool(true)]);
    assert_eq!(log.missed(), 0);
    assert_eq!(log.to_string().lines().count(), 3);
}

heapwise_probe::declare! {
    fn rec_scoped(n: u64);
    fn rec_snap(n: u64);
}

#[test]
fn a_current_thread_recorder_sees_only_its_thread() {
    let rec = Recorder::new()
        .event(rec_scoped::event())
        .current_thread()
        .start();
    rec_scoped(1);
    std::thread::spawn(|| rec_scoped(2)).join().unwrap();
    rec_scoped(3);
    assert_eq!(rec.finish().calls(), ["rec_scoped(n=1)", "rec_scoped(n=3)"]);
}

#[test]
fn snapshot_and_take_while_recording() {
    let rec = Recorder::new()
        .event(rec_snap::event())
        .current_thread()
        .start();
    rec_snap(1);
    assert_eq!(rec.snapshot().calls(), ["rec_snap(n=1)"]);
    assert_eq!(rec.take().calls(), ["rec_snap(n=1)"]);
    rec_snap(2);
    assert_eq!(rec.finish().calls(), ["rec_snap(n=2)"]);
}

#[test]
#[should_panic(expected = "has no argument `missing`")]
fn asking_for_a_missing_argument_names_the_event() {
    let rec = Recorder::new()
        .event(rec_snap::event())
        .current_thread()
        .start();
    rec_snap(1);
    let log = rec.finish();
    log[0].arg("missing");
}

heapwise_probe::declare! {
    fn tr_step(n: u64);
}

#[test]
fn the_traced_thread_is_paused_until_the_step_is_released() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let t = Tracer::start(&[tr_step::event()]);
    let h = spawn_named("stepper", || {
        for n in 1..=3 {
            tr_step(n);
            DONE.store(n as usize, SeqCst);
        }
    });
    for n in 1..=3 {
        let step = t.expect(&format!("tr_step(n={n})"));
        assert_eq!(step.thread_label(), "stepper");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            DONE.load(SeqCst),
            n as usize - 1,
            "paused inside tr_step({n})"
        );
        step.resume();
    }
    t.expect_none(Duration::from_millis(20));
    t.finish();
    h.join().unwrap();
    assert_eq!(DONE.load(SeqCst), 3);
}

heapwise_probe::declare! {
    fn tr_many(thread: u64);
}

#[test]
fn concurrent_events_are_handed_over_one_at_a_time() {
    const THREADS: usize = 6;
    let started = Arc::new(AtomicUsize::new(0));
    let done: Arc<Vec<AtomicBool>> =
        Arc::new((0..THREADS).map(|_| AtomicBool::new(false)).collect());
    let t = Tracer::start(&[tr_many::event()]);
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (started, done) = (started.clone(), done.clone());
            std::thread::spawn(move || {
                started.fetch_add(1, SeqCst);
                tr_many(i as u64);
                done[i].store(true, SeqCst);
            })
        })
        .collect();
    let mut seen = Vec::new();
    for k in 0..THREADS {
        let step = t.next();
        let i = step.arg("thread").as_u64().unwrap() as usize;
        if k == 0 {
            // Wait until every thread is inside (or about to enter) its
            // event: none may get past it while this one is paused.
            while started.load(SeqCst) < THREADS {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let finished = done.iter().filter(|d| d.load(SeqCst)).count();
        assert!(!done[i].load(SeqCst));
        assert!(
            finished <= k,
            "step {k}: {finished} threads got past their event"
        );
        seen.push(i);
    }
    t.finish();
    handles.into_iter().for_each(|h| h.join().unwrap());
    seen.sort();
    assert_eq!(seen, (0..THREADS).collect::<Vec<_>>());
}

heapwise_probe::declare! {
    fn tr_release(n: u64);
}

#[test]
fn finishing_releases_the_paused_thread_and_those_waiting() {
    let t = Tracer::start(&[tr_release::event()]);
    let handles: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || (0..3).for_each(|j| tr_release(i * 10 + j))))
        .collect();
    let step = t.next();
    // Keep its thread paused: only finish can release it now.
    std::mem::forget(step);
    std::thread::sleep(Duration::from_millis(10));
    t.finish();
    assert!(!tr_release::event().is_attached());
    for h in handles {
        h.join().unwrap(); // would hang if a thread stayed paused
    }
}

heapwise_probe::declare! {
    fn tr_next(n: u64);
}

#[test]
fn next_resumes_the_previous_step() {
    let t = Tracer::start(&[tr_next::event()]);
    let h = std::thread::spawn(|| (1..=3).for_each(tr_next));
    let first = t.next();
    let second = t.next(); // `first` is still held: released anyway
    assert_eq!(first.to_string(), "tr_next(n=1)");
    assert_eq!(second.to_string(), "tr_next(n=2)");
    drop(first); // no effect on `second`
    std::thread::sleep(Duration::from_millis(10));
    t.resume(); // releases `second`
    let third = t.next();
    assert_eq!(third.arg("n").as_u64(), Some(3));
    drop((second, third));
    t.finish();
    h.join().unwrap();
}

heapwise_probe::declare! {
    fn tr_own(n: u64);
    fn tr_silent(n: u64);
}

#[test]
fn events_of_the_tracing_thread_are_skipped_not_deadlocked() {
    let t = Tracer::start(&[tr_own::event()]);
    tr_own(1);
    tr_own(2);
    assert_eq!(t.skipped(), 2);
    t.expect_none(Duration::from_millis(10));
}

#[test]
fn next_times_out_with_a_clear_message() {
    let t = Tracer::start(&[tr_silent::event()]).timeout(Duration::from_millis(30));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = t.next();
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("no event within 30ms (tracing tr_silent)"),
        "{msg}"
    );
}
