//! ns per recorded event on the firing thread: `bench/record/run.sh`.
//!
//! Each case calls an `#[inline(never)]` function `N` times in a loop and
//! reports the time per call; the cases run interleaved, `ROUNDS` times,
//! and the median is reported. A recorded case starts a fresh recording
//! before its loop and finishes it after (outside the timing), counters
//! off, so its buffers start empty: the figures include taking and
//! first-touching chunks (64 KiB each) as a real recording does.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use heapwise::record::Recorder;
use heapwise::Scope;

heapwise_probe::declare! {
    fn request(id: u64, path: &str);
}

const N: u64 = 200_000;
const ROUNDS: usize = 11;

#[inline(never)]
fn empty(i: u64) {
    black_box(i);
}

/// heapwise's own `sample` event, fired directly (a 6-word record).
#[inline(never)]
fn sample_event(i: u64) {
    heapwise::events::sample(black_box(i as usize), 64, 1, 0);
}

/// A user event through the erased API (a number and a 7-byte string).
#[inline(never)]
fn user_event(i: u64) {
    request(black_box(i), "/orders");
}

fn time(f: impl Fn(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..N {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / N as f64
}

static HITS: AtomicU64 = AtomicU64::new(0);

fn main() {
    assert!(heapwise::installed());
    let scope = Scope::new().name("bench");
    let cases: Vec<(&str, Box<dyn Fn() -> f64>)> = vec![
        (
            "empty #[inline(never)] call (baseline)",
            Box::new(|| time(empty)),
        ),
        (
            "Instant::now() (the clock, for scale)",
            Box::new(|| {
                time(|_| {
                    black_box(Instant::now());
                })
            }),
        ),
        ("event, no probe", Box::new(|| time(sample_event))),
        (
            "event, 1 trivial probe (atomic add)",
            Box::new(|| {
                let p = heapwise::events::sample::attach(|_, _, _, _| {
                    HITS.fetch_add(1, Relaxed);
                });
                let r = time(sample_event);
                drop(p);
                r
            }),
        ),
        (
            "event, recorded",
            Box::new(|| {
                let rec = Recorder::new()
                    .scopes(false)
                    .limits(false)
                    .counters(false)
                    .samples(true)
                    .start();
                let r = time(sample_event);
                let t = rec.finish();
                assert_eq!((t.events(), t.dropped()), (N, 0));
                r
            }),
        ),
        (
            "user event (u64, &str), no probe",
            Box::new(|| time(user_event)),
        ),
        (
            "user event (u64, &str), recorded",
            Box::new(|| {
                let rec = Recorder::new()
                    .scopes(false)
                    .limits(false)
                    .counters(false)
                    .user_event(request::event())
                    .start();
                let r = time(user_event);
                let t = rec.finish();
                assert_eq!((t.events(), t.dropped()), (N, 0));
                r
            }),
        ),
        (
            "scope enter+exit pair, not recorded",
            Box::new(|| time(|_| scope.run(|_| ()))),
        ),
        (
            "scope enter+exit pair, recorded",
            Box::new(|| {
                let rec = Recorder::new().counters(false).start();
                let r = time(|_| scope.run(|_| ()));
                let t = rec.finish();
                assert_eq!((t.events(), t.dropped()), (2 * N, 0));
                r
            }),
        ),
    ];
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (i, (_, f)) in cases.iter().enumerate() {
            runs[i].push(f());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let m: Vec<f64> = runs.iter_mut().map(median).collect();
    println!("| case | ns/call (median of {ROUNDS}) | min | max |");
    println!("|---|---|---|---|");
    for (i, (name, _)) in cases.iter().enumerate() {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            m[i],
            runs[i][0],
            runs[i][runs[i].len() - 1]
        );
    }
    println!();
    println!("per recorded event, over the same event with no probe:");
    println!(
        "- heapwise event (`sample`, 6 words): +{:.2} ns",
        m[4] - m[2]
    );
    println!(
        "- user event (u64, &str) through the erased API: +{:.2} ns",
        m[6] - m[5]
    );
    println!(
        "- scope enter or exit: +{:.2} ns each ((recorded pair - bare pair) / 2)",
        (m[8] - m[7]) / 2.0
    );
}
