//! Workloads and the measuring harness shared by every benchmark binary.
//!
//! This library has **no** `#[global_allocator]`: each binary in `src/bin/`
//! installs its own (a global allocator is per binary) and calls [`main`] with
//! a [`Config`] saying how to run a piece of work "inside" or "outside" the
//! tool's scope/group.
//!
//! Each process measures one (workload, mode): a warm-up run, then `reps`
//! timed runs, and prints one `RESULT key=value ...` line with the median.
//! `run.sh` runs the processes interleaved over several rounds.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// How a binary runs work in each of its modes.
pub trait Config: Sync {
    /// The modes this binary measures, e.g. `["outside", "inside"]`.
    fn modes(&self) -> &'static [&'static str];

    /// Runs `f` on the calling thread in `mode`. Returns the number of
    /// allocations the tool charged to the region, where it counts per region
    /// (a scope or a group) or per process; `None` where it counts nothing
    /// readable. Used to check that a benchmark measured real allocations.
    fn run_in(&self, mode: &str, f: &mut dyn FnMut()) -> Option<u64>;
}

/// heapwise, any inner allocator: "outside" runs with no scope entered,
/// "inside" runs inside a fresh `heapwise::Scope` (one per thread).
#[derive(Debug)]
pub struct Heapwise;

impl Config for Heapwise {
    fn modes(&self) -> &'static [&'static str] {
        &["outside", "inside"]
    }

    fn run_in(&self, mode: &str, f: &mut dyn FnMut()) -> Option<u64> {
        assert!(heapwise::installed(), "heapwise::Alloc is not the global allocator");
        match mode {
            "outside" => {
                assert!(heapwise::Scope::current().is_none());
                let before = heapwise::stats().allocs;
                f();
                // Process-wide figure (outside every scope only `stats()` sees it).
                Some(heapwise::stats().allocs - before)
            }
            "inside" => {
                let scope = heapwise::Scope::new().name("bench");
                scope.run(|s| {
                    f();
                    Some(s.usage().allocs)
                })
            }
            other => panic!("heapwise: unknown mode {other}"),
        }
    }
}

/// A configuration with a single mode, for allocators without scopes.
#[derive(Debug)]
pub struct Plain<F: Fn() -> Option<u64> + Sync> {
    /// The mode's name ("bare", "global").
    pub modes: &'static [&'static str],
    /// Reads the tool's process-wide allocation count, if it has one.
    pub count: F,
}

impl<F: Fn() -> Option<u64> + Sync> Config for Plain<F> {
    fn modes(&self) -> &'static [&'static str] {
        self.modes
    }

    fn run_in(&self, _mode: &str, f: &mut dyn FnMut()) -> Option<u64> {
        let before = (self.count)();
        f();
        let after = (self.count)();
        Some(after? - before?)
    }
}

// ---------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------

/// `n` pairs of a 64-byte `Box` allocation and its free.
#[inline(never)]
pub fn churn(n: u64) {
    for _ in 0..n {
        let b = Box::new([0u8; 64]);
        // The box's address escapes, so the allocation cannot be elided.
        black_box(&b);
        drop(b);
    }
}

/// Like [`churn`], but through `GlobalAlloc::alloc` instead of `alloc_zeroed`.
///
/// `Box::new([0u8; 64])` is compiled to `alloc_zeroed` (glibc `calloc`, which
/// skips glibc's tcache; mimalloc `mi_zalloc_aligned` with `rep stosb`). Filling
/// the block with a run-time byte keeps the plain `alloc` (glibc `malloc`).
#[inline(never)]
pub fn churn_alloc(n: u64) {
    for i in 0..n {
        let b = Box::new([i as u8; 64]);
        black_box(&b);
        drop(b);
    }
}

/// Builds a `HashMap<String, Vec<u64>>` of `keys` keys, then drops it.
#[inline(never)]
pub fn hashmap(keys: u64) {
    let mut m: HashMap<String, Vec<u64>> = HashMap::new();
    for i in 0..keys {
        m.insert(format!("key{i}"), vec![i; 1 + (i % 4) as usize]);
    }
    black_box(&m);
    drop(m);
}

/// One record of the serde workload (about 150 bytes of JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    id: u64,
    name: String,
    email: String,
    tags: Vec<String>,
    scores: Vec<f64>,
    active: bool,
    parent: Option<u64>,
}

/// `n` deterministic records.
pub fn records(n: u64) -> Vec<Record> {
    const TAGS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    (0..n)
        .map(|i| {
            let r = next();
            Record {
                id: i,
                name: format!("user-{}", r % 1_000_000),
                email: format!("user{}@example{}.org", r % 100_000, r % 7),
                tags: (0..1 + r % 4).map(|k| TAGS[((r >> (8 + k)) % 6) as usize].to_string()).collect(),
                scores: (0..1 + (r >> 20) % 4).map(|k| ((r >> k) % 10_000) as f64 / 16.0).collect(),
                active: r & 1 == 1,
                parent: if r & 2 == 0 { Some(r % 1000) } else { None },
            }
        })
        .collect()
}

/// Serializes `data` to a JSON string, parses it back, drops both. Returns the
/// JSON length in bytes.
#[inline(never)]
pub fn serde_roundtrip(data: &[Record]) -> usize {
    let json = serde_json::to_string(data).expect("serialize");
    let back: Vec<Record> = serde_json::from_str(&json).expect("parse");
    assert_eq!(back.len(), data.len());
    let len = black_box(&json).len();
    black_box(&back);
    drop(back);
    drop(json);
    len
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Default size of each workload, in its unit.
pub fn default_n(workload: &str) -> u64 {
    match workload {
        "churn" | "churn_alloc" => 4_000_000,     // pairs
        "churn2t" | "churn2t_alloc" => 4_000_000, // pairs per thread
        "hashmap" => 200_000,                     // keys
        "serde" => 130_000,                       // records: ~20 MB of JSON
        other => panic!("unknown workload {other}"),
    }
}

fn unit(workload: &str) -> &'static str {
    match workload {
        "churn" | "churn2t" | "churn_alloc" | "churn2t_alloc" => "pair",
        "hashmap" => "key",
        "serde" => "record",
        _ => unreachable!(),
    }
}

struct Args {
    workload: String,
    mode: String,
    reps: usize,
    warmup: usize,
    n: Option<u64>,
}

fn parse_args(cfg: &dyn Config) -> Args {
    let mut a = Args {
        workload: "churn".into(),
        mode: cfg.modes()[0].into(),
        reps: 5,
        warmup: 1,
        n: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--workload" => a.workload = v(),
            "--mode" => a.mode = v(),
            "--reps" => a.reps = v().parse().expect("--reps"),
            "--warmup" => a.warmup = v().parse().expect("--warmup"),
            "--n" => a.n = Some(v().parse().expect("--n")),
            "--list-modes" => {
                println!("{}", cfg.modes().join(" "));
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!(
                    "usage: BIN --workload churn|churn2t|churn_alloc|churn2t_alloc|hashmap|serde --mode {} [--reps R] [--warmup W] [--n N] | --list-modes",
                    cfg.modes().join("|")
                );
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(a.reps >= 1);
    assert!(cfg.modes().contains(&a.mode.as_str()), "mode {} not in {:?}", a.mode, cfg.modes());
    a
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// One timed run: seconds, and the allocations the tool counted (the minimum
/// over threads for `churn2t`).
fn once(cfg: &dyn Config, workload: &str, mode: &str, n: u64, data: &[Record]) -> (f64, Option<u64>, usize) {
    match workload {
        "churn" | "churn_alloc" => {
            let work = if workload == "churn" { churn } else { churn_alloc };
            let t = Instant::now();
            let c = cfg.run_in(mode, &mut || work(n));
            (t.elapsed().as_secs_f64(), c, 0)
        }
        "hashmap" => {
            let t = Instant::now();
            let c = cfg.run_in(mode, &mut || hashmap(n));
            (t.elapsed().as_secs_f64(), c, 0)
        }
        "serde" => {
            let mut len = 0;
            let t = Instant::now();
            let c = cfg.run_in(mode, &mut || len = serde_roundtrip(data));
            (t.elapsed().as_secs_f64(), c, len)
        }
        "churn2t" | "churn2t_alloc" => {
            let work = if workload == "churn2t" { churn } else { churn_alloc };
            let barrier = Barrier::new(3);
            let (t, counts) = std::thread::scope(|s| {
                let hs: Vec<_> = (0..2)
                    .map(|_| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            // Each thread enters its own scope (for "inside").
                            cfg.run_in(mode, &mut || {
                                barrier.wait();
                                work(n);
                            })
                        })
                    })
                    .collect();
                barrier.wait();
                let t = Instant::now();
                let counts: Vec<Option<u64>> = hs.into_iter().map(|h| h.join().unwrap()).collect();
                (t.elapsed().as_secs_f64(), counts)
            });
            let c = counts.iter().copied().collect::<Option<Vec<u64>>>().map(|v| *v.iter().min().unwrap());
            (t, c, 0)
        }
        other => panic!("unknown workload {other}"),
    }
}

/// The whole benchmark process: parse arguments, warm up, time `reps` runs,
/// print one `RESULT` line.
pub fn main(name: &str, cfg: &dyn Config) {
    let a = parse_args(cfg);
    let n = a.n.unwrap_or_else(|| default_n(&a.workload));
    let data = if a.workload == "serde" { records(n) } else { Vec::new() };
    for _ in 0..a.warmup {
        once(cfg, &a.workload, &a.mode, n, &data);
    }
    let mut secs = Vec::with_capacity(a.reps);
    let mut counted = None;
    let mut json_len = 0;
    for _ in 0..a.reps {
        let (s, c, len) = once(cfg, &a.workload, &a.mode, n, &data);
        secs.push(s);
        counted = c;
        json_len = len;
        // Sanity: the tool must have seen the allocations we think we make
        // (1 per pair for churn), so a benchmark cannot silently measure nothing.
        if let Some(c) = c {
            let min = match a.workload.as_str() {
                "churn" | "churn2t" | "churn_alloc" | "churn2t_alloc" => n,
                "hashmap" => 2 * n,
                "serde" => 4 * n,
                _ => 0,
            };
            assert!(c >= min, "{name} {} {}: counted {c} allocations, expected >= {min}", a.workload, a.mode);
        }
    }
    let per_unit: Vec<f64> = secs.iter().map(|s| s * 1e9 / n as f64).collect();
    let mut sorted = per_unit.clone();
    let med = median(&mut sorted);
    let min = sorted[0];
    let max = sorted[sorted.len() - 1];
    let mut ms: Vec<f64> = secs.iter().map(|s| s * 1e3).collect();
    let med_ms = median(&mut ms);
    println!(
        "RESULT config={name} workload={} mode={} n={n} reps={} unit={} ns_per_unit={med:.4} min_ns_per_unit={min:.4} max_ns_per_unit={max:.4} ms_per_run={med_ms:.4} counted_allocs={} json_bytes={json_len}",
        a.workload,
        a.mode,
        a.reps,
        unit(&a.workload),
        counted.map_or("-".to_string(), |c| c.to_string()),
    );
}
