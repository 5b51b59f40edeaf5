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

    /// Sets the heap profiler's sampling rate in bytes (`--profile-rate`;
    /// 0 = off, 1 = every allocation) before the workload runs. Returns
    /// `false` where the binary has no heap profiler whose rate it can set.
    fn set_profile_rate(&self, _bytes: u64) -> bool {
        false
    }

    /// Sets how many frames a sampled stack keeps (`--max-depth`). Returns
    /// `false` where the binary has no heap profiler whose depth it can set.
    fn set_max_depth(&self, _frames: usize) -> bool {
        false
    }

    /// The profiler's own memory now, as `key=value` fields for the `RESULT`
    /// line (each key prefixed with `prefix`); empty where there is none.
    fn profiler_memory(&self, _prefix: &str) -> Vec<(String, String)> {
        Vec::new()
    }

    /// After the timed runs, outside the timed region: if the profiler is on,
    /// builds its profile once (unless `build` is false:
    /// `--no-heap-profile`, then only a cheap check), asserts that it holds samples (so a profiled
    /// run cannot silently measure nothing), writes it to `write` if given,
    /// and returns `key=value` fields for the `RESULT` line.
    fn finish_profile(
        &self,
        _build: bool,
        _write: Option<&std::path::Path>,
    ) -> Vec<(String, String)> {
        Vec::new()
    }
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
        assert!(
            heapwise::installed(),
            "heapwise::Alloc is not the global allocator"
        );
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

    fn set_profile_rate(&self, bytes: u64) -> bool {
        heapwise::profile::set_rate(bytes);
        assert_eq!(heapwise::profile::rate(), bytes);
        true
    }

    fn set_max_depth(&self, frames: usize) -> bool {
        heapwise::profile::set_max_depth(frames);
        assert_eq!(heapwise::profile::max_depth(), frames);
        true
    }

    fn profiler_memory(&self, prefix: &str) -> Vec<(String, String)> {
        let m = heapwise::profile::memory();
        [
            ("samples", m.samples as usize),
            ("live_samples", m.live_samples),
            ("stacks", m.stacks),
            ("buckets", m.buckets),
            ("stack_bytes", m.stack_bytes),
            ("bucket_bytes", m.bucket_bytes),
            ("live_bytes", m.live_bytes),
            ("unwind_bytes", m.unwind_bytes),
            ("carried_bytes", m.carried_bytes),
            ("bitmap_bytes", m.bitmap_bytes),
            ("total_bytes", m.total_bytes()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v.to_string()))
        .collect()
    }

    fn finish_profile(
        &self,
        build: bool,
        write: Option<&std::path::Path>,
    ) -> Vec<(String, String)> {
        let rate = heapwise::profile::rate();
        let mut out = vec![("profile_rate".to_string(), rate.to_string())];
        if rate == 0 {
            return out;
        }
        // Cheap check first (all that callgrind.sh runs, with --no-heap-profile).
        let m = heapwise::profile::memory();
        assert!(
            m.samples > 0 && m.stacks > 0,
            "heapwise profiling at rate {rate} took no sample: {m:?}"
        );
        if build {
            let t = Instant::now();
            let p = heapwise::profile::heap();
            let build_ms = t.elapsed().as_secs_f64() * 1e3;
            assert!(
                !p.sample.is_empty(),
                "heapwise::profile::heap() at rate {rate} has no sample"
            );
            out.push(("profile_samples".into(), p.sample.len().to_string()));
            out.push(("profile_build_ms".into(), format!("{build_ms:.1}")));
            if let Some(path) = write {
                let t = Instant::now();
                std::fs::write(path, p.encode_gzip()).expect("write the heap profile");
                out.push((
                    "profile_write_ms".into(),
                    format!("{:.1}", t.elapsed().as_secs_f64() * 1e3),
                ));
            }
        }
        out
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
                tags: (0..1 + r % 4)
                    .map(|k| TAGS[((r >> (8 + k)) % 6) as usize].to_string())
                    .collect(),
                scores: (0..1 + (r >> 20) % 4)
                    .map(|k| ((r >> k) % 10_000) as f64 / 16.0)
                    .collect(),
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

/// A realistic mix of allocations, deterministic (fixed seed, fixed hasher):
/// per item `i` of `n`,
///
/// - a `HashMap<String, Vec<u64>>` entry: a 10-25 byte `format!` key and a
///   vec grown by `push` to 1-24 elements (reallocations 4 -> 8 -> 16 -> 32);
/// - a `String` of varied size (mostly 8-256 bytes, 1 in 16 up to 4 KiB),
///   built by `push_str` (reallocations), kept until its batch of 1024 is
///   handed to a second thread, which frees it (cross-thread frees) while
///   this one waits for its acknowledgement: so the interleaving of the two
///   threads' allocator calls, and with it glibc's bin and consolidation work,
///   is the same in every run (with the threads running freely, callgrind's
///   counts of glibc's `_int_free`/`malloc_consolidate` varied by 2-3% run to
///   run);
/// - `Box` churn: a 48-byte box replaces one in a ring of 64 (one alloc, one
///   free of an older box);
/// - every 8192 items, a large buffer of 256 KiB - 4 MiB (glibc serves these
///   with `mmap`), touched every 4 KiB, the latest 3 kept.
///
/// `at_peak` is called once at the end, with the map and the last strings
/// alive, before everything is dropped (the harness takes the profiler's
/// memory figures there, in the untimed warm-up run). Returns a checksum.
/// About 12 blocks per item (7 of them new blocks of a `realloc`), 3.65M per
/// run at the default n = 300k, ~0.5 s over glibc on the reference machine.
#[inline(never)]
pub fn mixed(n: u64, at_peak: &mut dyn FnMut()) -> u64 {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;
    use std::sync::mpsc::sync_channel;

    const WORDS: [&str; 8] = [
        "lorem ",
        "ipsum ",
        "dolor ",
        "sit ",
        "amet, ",
        "consectetur ",
        "adipiscing ",
        "elit. ",
    ];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let (tx, rx) = sync_channel::<Vec<String>>(1);
    let (ack_tx, ack_rx) = sync_channel::<()>(1);
    std::thread::scope(|s| {
        // The second thread frees what the first allocated.
        let freer = s.spawn(move || {
            let mut freed = 0u64;
            for batch in rx {
                freed += batch.len() as u64;
                drop(black_box(batch));
                ack_tx.send(()).unwrap();
            }
            freed
        });
        let mut map: HashMap<String, Vec<u64>, BuildHasherDefault<DefaultHasher>> =
            HashMap::default();
        let mut texts: Vec<String> = Vec::with_capacity(1024);
        let mut ring: Vec<Box<[u64; 6]>> = (0..64).map(|k| Box::new([k; 6])).collect();
        let mut big: Vec<Vec<u8>> = Vec::new();
        let mut sum = 0u64;
        for i in 0..n {
            let r = next();
            // Map entry: key and a vec grown by push.
            let mut v = Vec::new();
            for k in 0..1 + r % 24 {
                v.push(i ^ k);
            }
            map.insert(format!("k{:x}-{i}", r >> 40), v);
            // A string of varied size, built by appends.
            let len = if r & 0xf == 0 {
                256 + (r >> 8) % 3840
            } else {
                8 + (r >> 8) % 248
            } as usize;
            let mut t = String::new();
            let mut w = r;
            while t.len() < len {
                t.push_str(WORDS[(w & 7) as usize]);
                w = w.rotate_right(3);
            }
            sum = sum.wrapping_add(t.len() as u64);
            texts.push(t);
            if texts.len() == 1024 {
                tx.send(std::mem::replace(&mut texts, Vec::with_capacity(1024)))
                    .unwrap();
                ack_rx.recv().unwrap();
            }
            // Box churn.
            let slot = (r >> 32) as usize % ring.len();
            ring[slot] = Box::new([i; 6]);
            black_box(&ring[slot]);
            // Now and then a large buffer.
            if i % 8192 == 8191 {
                let size = 256 * 1024 + ((r >> 16) % (15 * 256)) as usize * 1024;
                let mut b = vec![0u8; size];
                for p in (0..size).step_by(4096) {
                    b[p] = i as u8;
                }
                sum = sum.wrapping_add(black_box(&b)[size / 2] as u64);
                big.push(b);
                if big.len() > 3 {
                    big.remove(0);
                }
            }
        }
        at_peak();
        sum = sum.wrapping_add(map.len() as u64);
        black_box(&map);
        drop(map);
        drop(texts);
        drop(ring);
        drop(big);
        drop(tx);
        let freed = freer.join().unwrap();
        assert_eq!(freed, n / 1024 * 1024);
        sum
    })
}

/// `n` GitHub-event-like records as newline-delimited JSON (the shape of a
/// GH Archive hour: a `PushEvent` with 1-4 commits, a `WatchEvent`,
/// `IssuesEvent` or `CreateEvent`; actor, repo, payload, timestamps), about
/// 1 KB each: 50,000 events make ~50 MB. Deterministic (fixed seed).
pub fn events_json(n: u64) -> String {
    use std::fmt::Write;
    const KINDS: [&str; 4] = ["PushEvent", "WatchEvent", "IssuesEvent", "CreateEvent"];
    const WORDS: [&str; 12] = [
        "fix", "parser", "update", "docs", "refactor", "the", "handling", "of", "empty", "input",
        "tests", "bump",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = String::with_capacity(n as usize * 1100);
    for i in 0..n {
        let r = next();
        let kind = KINDS[[0, 0, 0, 0, 0, 1, 2, 3][(r % 8) as usize]];
        let login = format!("user{}", r % 200_000);
        let repo = format!("org{}/project-{}", (r >> 20) % 5000, (r >> 33) % 90_000);
        let _ = write!(
            out,
            r#"{{"id":"{}","type":"{kind}","actor":{{"id":{},"login":"{login}","display_login":"{login}","gravatar_id":"","url":"https://api.github.com/users/{login}","avatar_url":"https://avatars.githubusercontent.com/u/{}?"}},"repo":{{"id":{},"name":"{repo}","url":"https://api.github.com/repos/{repo}"}},"payload":{{"#,
            2_489_651_045 + i,
            r % 200_000,
            r % 200_000,
            (r >> 16) % 30_000_000,
        );
        match kind {
            "PushEvent" => {
                let commits = 1 + (r >> 40) % 4;
                let _ = write!(
                    out,
                    r#""push_id":{},"size":{commits},"distinct_size":{commits},"ref":"refs/heads/main","head":"{:016x}{:016x}{:08x}","before":"{:016x}{:016x}{:08x}","commits":["#,
                    536_740_396 + i,
                    next(),
                    next(),
                    next() as u32,
                    next(),
                    next(),
                    next() as u32,
                );
                for c in 0..commits {
                    let w = next();
                    let message: Vec<&str> = (0..3 + w % 9)
                        .map(|k| WORDS[((w >> (4 * k)) % 12) as usize])
                        .collect();
                    let _ = write!(
                        out,
                        r#"{}{{"sha":"{:016x}{:016x}{:08x}","author":{{"email":"{login}@users.noreply.github.com","name":"{login}"}},"message":"{}","distinct":true,"url":"https://api.github.com/repos/{repo}/commits/{:016x}"}}"#,
                        if c == 0 { "" } else { "," },
                        w,
                        next(),
                        next() as u32,
                        message.join(" "),
                        w,
                    );
                }
                out.push_str("]");
            }
            "IssuesEvent" => {
                let _ = write!(
                    out,
                    r#""action":"opened","issue":{{"url":"https://api.github.com/repos/{repo}/issues/{0}","id":{1},"number":{0},"title":"{2} {3}","user":{{"login":"{login}","id":{4},"site_admin":false}},"labels":[],"state":"open","locked":false,"comments":{5},"created_at":"2015-01-01T15:00:{6:02}Z","body":"{2} {3} {2}"}}"#,
                    r % 3000,
                    (r >> 8) % 50_000_000,
                    WORDS[(r % 12) as usize],
                    WORDS[((r >> 4) % 12) as usize],
                    r % 200_000,
                    (r >> 50) % 20,
                    i % 60,
                );
            }
            "CreateEvent" => {
                let _ = write!(
                    out,
                    r#""ref":"feature-{}","ref_type":"branch","master_branch":"main","description":"{}","pusher_type":"user""#,
                    r % 1000,
                    WORDS[(r % 12) as usize],
                );
            }
            _ => out.push_str(r#""action":"started""#),
        }
        let _ = writeln!(
            out,
            r#"}},"public":true,"created_at":"2015-01-01T15:{:02}:{:02}Z"}}"#,
            (i / 60) % 60,
            i % 60
        );
    }
    out
}

/// Parses newline-delimited JSON events into `serde_json::Value`s, all kept
/// alive (`at_peak` is called with them alive), then drops them. Returns the
/// number of events.
#[inline(never)]
pub fn events(json: &str, at_peak: &mut dyn FnMut()) -> usize {
    let values: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).expect("parse an event"))
        .collect();
    at_peak();
    let n = black_box(&values).len();
    drop(values);
    n
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
        "mixed" => 300_000,                       // items (~6 allocations each)
        "events" => 50_000,                       // events: ~50 MB of JSON
        other => panic!("unknown workload {other}"),
    }
}

fn unit(workload: &str) -> &'static str {
    match workload {
        "churn" | "churn2t" | "churn_alloc" | "churn2t_alloc" => "pair",
        "hashmap" => "key",
        "serde" => "record",
        "mixed" => "item",
        "events" => "event",
        _ => unreachable!(),
    }
}

struct Args {
    workload: String,
    mode: String,
    reps: usize,
    warmup: usize,
    n: Option<u64>,
    profile_rate: Option<u64>,
    max_depth: Option<usize>,
    write_profile: Option<std::path::PathBuf>,
    heap_profile: bool,
    /// Attach a trivial probe (an atomic add) to heapwise's alloc, free and
    /// realloc events for the whole run: the cost of allocation events.
    alloc_probe: bool,
}

/// Parses a rate as `HEAPWISE_PROFILE_RATE` does: bytes with an optional
/// binary unit (`512KiB`, `512k`, `1MiB`), or `off` (0), `full` (1).
pub fn parse_rate(text: &str) -> u64 {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "off" => return 0,
        "full" => return 1,
        _ => {}
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("bad rate {text:?}"));
    let mul = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => panic!("bad rate unit in {text:?}"),
    };
    n * mul
}

fn parse_args(cfg: &dyn Config) -> Args {
    let mut a = Args {
        workload: "churn".into(),
        mode: cfg.modes()[0].into(),
        reps: 5,
        warmup: 1,
        n: None,
        profile_rate: None,
        max_depth: None,
        write_profile: None,
        heap_profile: true,
        alloc_probe: false,
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
            "--profile-rate" => a.profile_rate = Some(parse_rate(&v())),
            "--prof-full" => a.profile_rate = Some(1),
            "--max-depth" => a.max_depth = Some(v().parse().expect("--max-depth")),
            "--write-profile" => a.write_profile = Some(v().into()),
            "--no-heap-profile" => a.heap_profile = false,
            "--alloc-probe" => a.alloc_probe = true,
            "--list-modes" => {
                println!("{}", cfg.modes().join(" "));
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!(
                    "usage: BIN --workload churn|churn2t|churn_alloc|churn2t_alloc|hashmap|serde|mixed|events --mode {} [--reps R] [--warmup W] [--n N]\n           [--profile-rate BYTES|off|full] [--prof-full] [--max-depth FRAMES] [--write-profile PATH] [--no-heap-profile] [--alloc-probe] | --list-modes",
                    cfg.modes().join("|")
                );
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(a.reps >= 1);
    assert!(
        cfg.modes().contains(&a.mode.as_str()),
        "mode {} not in {:?}",
        a.mode,
        cfg.modes()
    );
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
fn once(
    cfg: &dyn Config,
    workload: &str,
    mode: &str,
    n: u64,
    data: &[Record],
    json: &str,
    at_peak: &mut dyn FnMut(),
) -> (f64, Option<u64>, usize) {
    match workload {
        "events" => {
            let t = Instant::now();
            let c = cfg.run_in(mode, &mut || {
                assert_eq!(events(json, at_peak), n as usize);
            });
            (t.elapsed().as_secs_f64(), c, json.len())
        }
        "mixed" => {
            let t = Instant::now();
            let c = cfg.run_in(mode, &mut || {
                black_box(mixed(n, at_peak));
            });
            (t.elapsed().as_secs_f64(), c, 0)
        }
        "churn" | "churn_alloc" => {
            let work = if workload == "churn" {
                churn
            } else {
                churn_alloc
            };
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
            let work = if workload == "churn2t" {
                churn
            } else {
                churn_alloc
            };
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
            let c = counts
                .iter()
                .copied()
                .collect::<Option<Vec<u64>>>()
                .map(|v| *v.iter().min().unwrap());
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
    // The rate is set first: the serde data is built under it as well.
    if let Some(rate) = a.profile_rate {
        assert!(
            cfg.set_profile_rate(rate),
            "{name} has no heap profiler whose rate --profile-rate can set"
        );
    }
    if let Some(frames) = a.max_depth {
        assert!(cfg.set_max_depth(frames), "{name} has no heap profiler whose depth --max-depth can set");
    }
    let data = if a.workload == "serde" {
        records(n)
    } else {
        Vec::new()
    };
    let json = if a.workload == "events" {
        events_json(n)
    } else {
        String::new()
    };
    static PROBED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let _probes = a.alloc_probe.then(|| {
        use std::sync::atomic::Ordering::Relaxed;
        let g = heapwise::probe::ProbeGroup::new();
        heapwise::events::alloc::attach_in(&g, |_, _, _, _| {
            PROBED.fetch_add(1, Relaxed);
        });
        heapwise::events::free::attach_in(&g, |_, _, _, _| {
            PROBED.fetch_add(1, Relaxed);
        });
        heapwise::events::realloc::attach_in(&g, |_, _, _, _, _, _| {
            PROBED.fetch_add(1, Relaxed);
        });
        g
    });
    // The profiler's memory at the workload's peak (mixed: map and strings
    // alive), taken in the first warm-up run, which is not timed.
    let mut peak = Vec::new();
    for w in 0..a.warmup {
        let mut hook = || {
            if w == 0 {
                peak = cfg.profiler_memory("peak_");
            }
        };
        once(cfg, &a.workload, &a.mode, n, &data, &json, &mut hook);
    }
    let mut secs = Vec::with_capacity(a.reps);
    let mut counted = None;
    let mut json_len = 0;
    for _ in 0..a.reps {
        let (s, c, len) = once(cfg, &a.workload, &a.mode, n, &data, &json, &mut || {});
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
                "mixed" => 4 * n,
                "events" => 20 * n,
                _ => 0,
            };
            assert!(
                c >= min,
                "{name} {} {}: counted {c} allocations, expected >= {min}",
                a.workload,
                a.mode
            );
        }
    }
    let per_unit: Vec<f64> = secs.iter().map(|s| s * 1e9 / n as f64).collect();
    let mut sorted = per_unit.clone();
    let med = median(&mut sorted);
    let min = sorted[0];
    let max = sorted[sorted.len() - 1];
    let mut ms: Vec<f64> = secs.iter().map(|s| s * 1e3).collect();
    let med_ms = median(&mut ms);
    // glibc consolidates the small blocks a workload freed (events: 3M) only
    // at the next large allocation; a profiled binary makes one below (its
    // figures), a plain one would not before exiting. Every binary pays it
    // here, so whole-process times compare the same work.
    drop(black_box(vec![0u8; 1 << 16]));
    // Outside the timed region: the profiler's memory at the end (before the
    // profile is built, so that it describes the workload alone), then the
    // profile, checked to hold samples.
    let end = cfg.profiler_memory("end_");
    let mut extra = cfg.finish_profile(a.heap_profile, a.write_profile.as_deref());
    extra.extend(peak);
    extra.extend(end);
    if a.alloc_probe {
        extra.push((
            "probe_calls".into(),
            PROBED
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_string(),
        ));
    }
    let extra: String = extra.iter().map(|(k, v)| format!(" {k}={v}")).collect();
    println!(
        "RESULT config={name} workload={} mode={} n={n} reps={} unit={} ns_per_unit={med:.4} min_ns_per_unit={min:.4} max_ns_per_unit={max:.4} ms_per_run={med_ms:.4} counted_allocs={} json_bytes={json_len}{extra}",
        a.workload,
        a.mode,
        a.reps,
        unit(&a.workload),
        counted.map_or("-".to_string(), |c| c.to_string()),
    );
}
