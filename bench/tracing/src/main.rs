//! `heapwise-bench-tracing [noop|heapwise] [N]`: enters and exits one span N
//! times on a registry with the given layer, and prints ns per enter+exit
//! (median of 5 timed runs after a warm-up).

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
    let dispatch = match layer.as_str() {
        "noop" => tracing::Dispatch::new(Registry::default().with(Noop)),
        "heapwise" => tracing::Dispatch::new(
            Registry::default().with(heapwise_tracing::HeapwiseLayer::new()),
        ),
        other => panic!("unknown layer {other}: noop or heapwise"),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        run(n / 10);
        let mut t: Vec<f64> = (0..5).map(|_| run(n)).collect();
        t.sort_by(f64::total_cmp);
        println!("RESULT layer={layer} n={n} ns_per_enter_exit={:.2}", t[2]);
    });
}
