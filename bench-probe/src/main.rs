//! ns per event for heapwise-probe events and the tracing crate, one case
//! per process (see run.sh, which interleaves them):
//!
//!   heapwise-probe-bench --case CASE [--n N] [--reps R] [--warmup W]
//!
//! Each case calls an `#[inline(never)]` site function N times in a loop;
//! the site holds exactly one event (or nothing, for `empty`). Prints
//! `RESULT case=CASE n=N ns=<median over reps of ns per call>`.
//!
//! Cases:
//! - `empty`: an empty site (the baseline: call + return + loop);
//! - `off`: a heapwise-probe event with no probe attached;
//! - `probe1`, `probe2`, `probe4`: 1, 2, 4 trivial probes (each an atomic
//!   add) attached for every thread;
//! - `nop1`: 1 probe that does nothing (the cost of the machinery alone);
//! - `scoped1`: 1 trivial probe attached through a thread-scoped group;
//! - `tracing_none`: `tracing::info!(n)` with no subscriber ever set;
//! - `tracing_noop`: the same with a global subscriber that is enabled for
//!   everything and does nothing;
//! - `attach_detach`: one attach + detach pair per iteration (ns per pair),
//!   with another thread firing the event meanwhile.
//!
//! `HEAPWISE_PROBE_MEMBARRIER=0` makes heapwise-probe use fences instead of
//! membarrier (run.sh measures both).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

heapwise_probe::declare! {
    /// The benchmarked event.
    pub fn bench_event(n: u64);
}

static SINK: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
pub fn site_empty(n: u64) {
    // Keeps the call (no instruction emitted).
    // SAFETY: an empty asm block.
    unsafe { std::arch::asm!("", in("rdi") n, options(nomem, nostack, preserves_flags)) };
}

#[inline(never)]
pub fn site_event(n: u64) {
    bench_event(n);
}

#[inline(never)]
pub fn site_tracing(n: u64) {
    tracing::info!(n);
}

fn trivial(_: u64) {
    SINK.fetch_add(1, Relaxed);
}

struct Noop;

impl tracing_core::Subscriber for Noop {
    fn register_callsite(
        &self,
        _: &'static tracing_core::Metadata<'static>,
    ) -> tracing_core::subscriber::Interest {
        tracing_core::subscriber::Interest::always()
    }
    fn enabled(&self, _: &tracing_core::Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing_core::LevelFilter> {
        Some(tracing_core::LevelFilter::TRACE)
    }
    fn new_span(&self, _: &tracing_core::span::Attributes<'_>) -> tracing_core::span::Id {
        tracing_core::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Id) {}
    fn event(&self, _: &tracing_core::Event<'_>) {}
    fn enter(&self, _: &tracing_core::span::Id) {}
    fn exit(&self, _: &tracing_core::span::Id) {}
}

fn time(n: u64, site: fn(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        site(black_box(i));
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn attach_detach(n: u64) -> f64 {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let firer = std::thread::spawn(move || {
        let mut i = 0;
        while !s.load(Relaxed) {
            site_event(i);
            i += 1;
        }
    });
    let t = Instant::now();
    for _ in 0..n {
        let p = bench_event::attach(trivial);
        drop(p);
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    stop.store(true, Relaxed);
    firer.join().unwrap();
    ns
}

fn main() {
    let mut case = String::new();
    let (mut n, mut reps, mut warmup) = (50_000_000u64, 5usize, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().expect("missing value");
        match a.as_str() {
            "--case" => case = v(),
            "--n" => n = v().parse().unwrap(),
            "--reps" => reps = v().parse().unwrap(),
            "--warmup" => warmup = v().parse().unwrap(),
            _ => panic!("unknown argument {a}"),
        }
    }
    let mut keep = Vec::new();
    let mut _group = None;
    let site: fn(u64) = match case.as_str() {
        "empty" => site_empty,
        "off" => site_event,
        "probe1" | "probe2" | "probe4" => {
            let k: usize = case[5..].parse().unwrap();
            for _ in 0..k {
                keep.push(bench_event::attach(trivial));
            }
            site_event
        }
        "nop1" => {
            keep.push(bench_event::attach(|_| {}));
            site_event
        }
        "scoped1" => {
            let g = heapwise_probe::ProbeGroup::current_thread();
            bench_event::attach_in(&g, trivial);
            _group = Some(g);
            site_event
        }
        "tracing_none" => site_tracing,
        "tracing_noop" => {
            tracing::subscriber::set_global_default(Noop).unwrap();
            site_tracing
        }
        "attach_detach" => {
            for _ in 0..warmup {
                attach_detach(n.min(1000));
            }
            let mut v: Vec<f64> = (0..reps).map(|_| attach_detach(n)).collect();
            v.sort_by(f64::total_cmp);
            println!("RESULT case={case} n={n} ns={:.1}", v[v.len() / 2]);
            return;
        }
        _ => panic!("unknown case {case:?}"),
    };
    for _ in 0..warmup {
        time(n / 10, site);
    }
    let mut v: Vec<f64> = (0..reps).map(|_| time(n, site)).collect();
    v.sort_by(f64::total_cmp);
    println!("RESULT case={case} n={n} ns={:.3}", v[v.len() / 2]);
    if SINK.load(Relaxed) == 0 && case.starts_with("probe") {
        panic!("probes did not run");
    }
}
