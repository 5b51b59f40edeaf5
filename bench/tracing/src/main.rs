//! `heapwise-bench-tracing [new-]{noop|heapwise|heapwise-quiet} [N]`, or `scope`:
//! enters and exits one span N times on a registry with the given layer
//! (`new-*`: makes, enters, exits and closes a new span each time; `scope`:
//! a heapwise scope, no tracing), and prints ns per iteration (median of 5
//! timed runs after a warm-up).

use std::hint::black_box;
use std::time::Instant;

use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::Registry;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

/// A layer that does nothing: what the registry costs alone.
struct Noop;
impl<S: tracing::Subscriber> Layer<S> for Noop {}

fn run(n: u64) -> f64 {
    let span = tracing::info_span!("request");
    let start = Instant::now();
    for _ in 0..n {
        let _g = black_box(span.enter());
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// A new span each time: made, entered, exited and closed (with the
/// layer's close event).
fn run_new(n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let span = tracing::info_span!("request");
        let _g = black_box(span.enter());
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let layer = args.next().unwrap_or_else(|| "heapwise".into());
    let n: u64 = args.next().map_or(1_000_000, |s| s.parse().expect("N"));
    if layer == "scope" {
        // heapwise's scope enter+exit alone, for reference.
        let scope = heapwise::Scope::new().name("request");
        let run = |n: u64| {
            let start = Instant::now();
            for _ in 0..n {
                let _g = black_box(scope.enter());
            }
            start.elapsed().as_nanos() as f64 / n as f64
        };
        run(n / 10);
        let mut t: Vec<f64> = (0..5).map(|_| run(n)).collect();
        t.sort_by(f64::total_cmp);
        println!("RESULT layer=scope n={n} ns_per_enter_exit={:.2}", t[2]);
        return;
    }
    // `new-noop`, `new-heapwise`: a new span per iteration.
    let (fresh, which) = match layer.strip_prefix("new-") {
        Some(l) => (true, l),
        None => (false, layer.as_str()),
    };
    let dispatch = match which {
        "noop" => tracing::Dispatch::new(Registry::default().with(Noop)),
        "heapwise" => tracing::Dispatch::new(
            Registry::default().with(heapwise_tracing::HeapwiseLayer::new()),
        ),
        // Without the close event.
        "heapwise-quiet" => tracing::Dispatch::new(
            Registry::default().with(heapwise_tracing::HeapwiseLayer::new().close_events(false)),
        ),
        other => panic!("unknown layer {other}: noop, heapwise or heapwise-quiet"),
    };
    let run = if fresh { run_new } else { run };
    tracing::dispatcher::with_default(&dispatch, || {
        run(n / 10);
        let mut t: Vec<f64> = (0..5).map(|_| run(n)).collect();
        t.sort_by(f64::total_cmp);
        println!("RESULT layer={layer} n={n} ns_per_enter_exit={:.2}", t[2]);
    });
}
