//! A real criterion run with the measurement: its estimates are the bytes
//! and allocations each iteration makes, exactly.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::Criterion;
use heapwise_criterion::Allocated;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

/// criterion's mean estimate for `bench` under `dir`.
fn mean(dir: &Path, bench: &str) -> f64 {
    let path = dir.join(bench).join("new/estimates.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["mean"]["point_estimate"].as_f64().unwrap()
}

fn configured<M: criterion::measurement::Measurement>(c: Criterion<M>, dir: &Path) -> Criterion<M> {
    c.output_directory(dir)
        .without_plots()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_millis(200))
}

#[test]
fn bytes_and_allocations_per_iteration() {
    let dir = std::env::temp_dir().join(format!("heapwise-criterion-{}", std::process::id()));
    let work = || {
        let v: Vec<u64> = black_box(vec![7; 100]);
        let s = black_box(String::from("heapwise"));
        (v, s)
    };
    let mut c = configured(
        Criterion::default().with_measurement(Allocated::bytes()),
        &dir,
    );
    c.bench_function("bytes", |b| b.iter(work));
    let mut c = configured(
        Criterion::default().with_measurement(Allocated::allocs()),
        &dir,
    );
    c.bench_function("allocs", |b| b.iter(work));
    // Another thread allocating meanwhile is not counted.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(black_box(vec![0u8; 4096]));
            }
        });
        let mut c = configured(
            Criterion::default().with_measurement(Allocated::bytes()),
            &dir,
        );
        c.bench_function("bytes_beside_a_thread", |b| b.iter(work));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(mean(&dir, "bytes"), 808.0);
    assert_eq!(mean(&dir, "allocs"), 2.0);
    assert_eq!(mean(&dir, "bytes_beside_a_thread"), 808.0);
    let _ = std::fs::remove_dir_all(&dir);
}
