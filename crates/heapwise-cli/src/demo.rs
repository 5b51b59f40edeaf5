//! `heapwise demo`: heapwise on a small built-in workload.
//!
//! A toy key-value service handles a deterministic stream of requests, each
//! inside a scope named after its kind (`put`, `get`, `scan`, `login`). Scans
//! run under a per-request limit and stop cooperatively when they cross it.
//! `login` has a bug: it stores every session and never expires one, so its
//! memory only grows. The whole run is profiled with every allocation
//! recorded (`--rate 1`, the default here), then the demo
//!
//! - prints what each kind of request allocated and still holds (from the
//!   scopes),
//! - writes the heap profile (`heap.pb.gz`, for `go tool pprof` or
//!   `heapwise top`) and an interactive flame graph of the memory in use
//!   (`flame.svg`),
//! - prints the top in-use sites, where the leak stands out;
//! - takes a heap snapshot (`heapwise::snapshot`; the demo restarts itself
//!   with `HEAPWISE_SNAPSHOT=1` for it when the rate is 1), saves it as
//!   `heap.heapsnapshot` and prints what it finds: `login`'s second bug,
//!   an audit record per login that nothing points to once it is written
//!   (a true leak, direct, with its text an indirect one), and the sites
//!   that retain the most, the session list first;
//! - with `--trace FILE`, records the requests to a Chrome trace
//!   (`heapwise::record`): each request a slice named after its kind, the
//!   scans' limit crossings as instants, live bytes per kind as counters
//!   (Perfetto's protobuf format instead when FILE ends in `.pftrace` or
//!   `.perfetto-trace`).
//!
//! The binary installs `heapwise::Alloc` as its global allocator (see
//! `main.rs`), so the demo measures itself.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use heapwise::{Bytes, Scope, KIB};

use crate::flame::{write_flamegraph, FlameOptions};
use crate::sample_index::SampleIndex;
use crate::top::{top_report, TopOptions};

/// What `heapwise demo` runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where `heap.pb.gz` and `flame.svg` are written.
    pub out_dir: PathBuf,
    /// How many requests to serve.
    pub requests: usize,
    /// The profiler's sampling rate in bytes (1 = every allocation).
    pub rate: u64,
    /// Rows of the top table.
    pub top: usize,
    /// Also record the requests to this Chrome trace file (scopes as
    /// slices, limit crossings, live-bytes counters; `heapwise::record`);
    /// Perfetto protobuf when it ends in `.pftrace` or `.perfetto-trace`.
    pub trace: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out_dir: PathBuf::from("."),
            requests: 20_000,
            rate: 1,
            top: 8,
            trace: None,
        }
    }
}

/// The four kinds of request, each with its own named scope.
const KINDS: [&str; 4] = ["put", "get", "scan", "login"];
/// Each scan may allocate this much before it is cancelled.
const SCAN_LIMIT: u64 = 512 * KIB;

struct Service {
    store: HashMap<String, Vec<u8>>,
    /// The bug: sessions are kept forever.
    sessions: Vec<Session>,
}

/// What a login writes to the audit trail. The second bug: the trail takes
/// the record by raw pointer and never frees it, and nothing else keeps it.
#[allow(dead_code)] // the fields are the leaked memory
struct AuditRecord {
    user: u64,
    text: String,
}

#[allow(dead_code)] // the fields are the leaked memory
struct Session {
    user: String,
    token: Vec<u8>,
}

/// A deterministic request stream (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl Service {
    #[inline(never)]
    fn put(&mut self, key: u64, len: usize) {
        let value = black_box(vec![key as u8; len]);
        self.store.insert(format!("user/{key:04}"), value);
    }

    #[inline(never)]
    fn get(&self, key: u64) -> usize {
        // The response body: a copy of the value with a header line.
        let mut body = format!("HTTP/1.1 200 OK\r\nkey: user/{key:04}\r\n\r\n").into_bytes();
        if let Some(v) = self.store.get(&format!("user/{key:04}")) {
            body.extend_from_slice(v);
        }
        black_box(body).len()
    }

    /// Collects every value under a prefix; stops when its scope's limit is
    /// crossed. Returns whether it completed.
    #[inline(never)]
    fn scan(&self, prefix: &str, scope: &Scope) -> bool {
        let mut out: Vec<u8> = Vec::new();
        let mut keys: Vec<&String> = self
            .store
            .keys()
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        for k in keys {
            if scope.check().is_err() {
                return false;
            }
            out.extend_from_slice(&self.store[k]);
        }
        black_box(out);
        true
    }

    #[inline(never)]
    fn login(&mut self, user: u64) {
        let token = black_box(vec![0xA5u8; 1024]);
        self.sessions.push(Session {
            user: format!("user-{user}"),
            token,
        });
        audit(user);
    }
}

#[inline(never)]
fn audit(user: u64) {
    let record = Box::new(AuditRecord {
        user,
        text: format!("login by user-{user}"),
    });
    // Handed to a "C" audit sink that forgets it: the leak.
    black_box(Box::into_raw(record));
}

/// Runs the demo, writing its report to `out`.
pub fn run_demo(options: &DemoOptions, out: &mut impl Write) -> Result<()> {
    if !heapwise::installed() {
        bail!("heapwise::Alloc is not this program's global allocator");
    }
    heapwise::profile::set_rate(options.rate);
    let kinds: Vec<Scope> = KINDS.iter().map(|k| Scope::detached().name(*k)).collect();
    // Entered once, so they are listed in `Scope::named()` (the trace's
    // live-bytes counters read them from there) although only their
    // children run requests.
    for kind in &kinds {
        kind.run(|_| ());
    }
    let mut service = Service {
        store: HashMap::new(),
        sessions: Vec::new(),
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut served = [0u64; 4];
    let mut cancelled = 0;
    let recording = options
        .trace
        .as_ref()
        .map(|_| heapwise::record::Recorder::new().start());
    // The requests run on a thread of their own, which has exited when the
    // snapshot is taken: the scan is conservative, and addresses left in
    // dead frames of a live thread's stack would count as pointers.
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("requests".into())
            .spawn_scoped(s, || {
                serve(
                    options,
                    &kinds,
                    &mut service,
                    &mut rng,
                    &mut served,
                    &mut cancelled,
                )
            })
            .map(drop)
    })
    .context("starting the request thread")?;
    let trace = recording.map(|r| r.finish());
    report(options, &kinds, served, cancelled, trace, out)?;
    drop(service);
    Ok(())
}

/// Serves the request stream.
fn serve(
    options: &DemoOptions,
    kinds: &[Scope],
    service: &mut Service,
    rng: &mut Rng,
    served: &mut [u64; 4],
    cancelled: &mut usize,
) {
    for _ in 0..options.requests {
        let roll = rng.below(100);
        let kind = match roll {
            0..=29 => 0,
            30..=79 => 1,
            80..=84 => 2,
            _ => 3,
        };
        served[kind] += 1;
        let key = rng.below(1000);
        // Each request is a child of its kind's scope: counted there too, and
        // its profile samples are labelled with the kind. It carries the
        // kind's name too, which names its slice in the trace.
        let request = kinds[kind].child().name(KINDS[kind]);
        let request = if kind == 2 {
            request.limit_bytes(SCAN_LIMIT)
        } else {
            request
        };
        request.run(|scope| match kind {
            0 => service.put(key, 256 + rng.below(3840) as usize),
            1 => {
                service.get(key);
            }
            2 => {
                let prefix = format!("user/0{}", rng.below(10));
                if !service.scan(&prefix, scope) {
                    *cancelled += 1;
                }
            }
            _ => service.login(key),
        });
    }
}

/// Writes the profile, the flame graph, the snapshot, and the report.
fn report(
    options: &DemoOptions,
    kinds: &[Scope],
    served: [u64; 4],
    cancelled: usize,
    trace: Option<heapwise::record::Trace>,
    out: &mut impl Write,
) -> Result<()> {
    let profile = heapwise::profile::heap();
    std::fs::create_dir_all(&options.out_dir)
        .with_context(|| format!("{}: cannot create the directory", options.out_dir.display()))?;
    let heap_path = options.out_dir.join("heap.pb.gz");
    let flame_path = options.out_dir.join("flame.svg");
    write_file(&heap_path, &profile.encode_gzip())?;
    let mut svg = Vec::new();
    write_flamegraph(
        &profile,
        &FlameOptions {
            sample_index: SampleIndex::Name("inuse_space".into()),
            title: Some("heapwise demo: memory in use, by stack".into()),
        },
        &mut svg,
    )?;
    write_file(&flame_path, &svg)?;

    let mut text = String::new();
    let rate = match options.rate {
        1 => "every allocation recorded".to_string(),
        r => format!("sampling every {r} bytes on average"),
    };
    writeln!(
        text,
        "heapwise demo: a toy key-value service served {} requests in named scopes ({rate})\n",
        options.requests
    )?;
    writeln!(
        text,
        "{:<8} {:>8} {:>12} {:>9} {:>12}",
        "scope", "requests", "allocated", "allocs", "live now"
    )?;
    for (i, scope) in kinds.iter().enumerate() {
        let u = scope.usage();
        writeln!(
            text,
            "{:<8} {:>8} {:>12} {:>9} {:>12}",
            KINDS[i],
            served[i],
            Bytes::from(u.bytes),
            u.allocs,
            Bytes::from(u.live_bytes)
        )?;
    }
    writeln!(
        text,
        "\n{cancelled} of {} scans stopped cooperatively at their {} per-request limit.",
        served[2],
        Bytes::from(SCAN_LIMIT)
    )?;
    writeln!(
        text,
        "`login` keeps {} live after all its requests ended: the sessions are never expired.\n",
        Bytes::from(kinds[3].usage().live_bytes)
    )?;
    writeln!(
        text,
        "wrote {} and {}",
        heap_path.display(),
        flame_path.display()
    )?;
    if let (Some(trace), Some(path)) = (&trace, &options.trace) {
        let saved = if is_perfetto(path) {
            trace.save_perfetto(path)
        } else {
            trace.save(path)
        };
        saved.with_context(|| format!("{}: cannot write the trace", path.display()))?;
        writeln!(
            text,
            "wrote {} ({} events, {} counter samples; open it in https://ui.perfetto.dev)",
            path.display(),
            trace.events(),
            trace.counter_samples()
        )?;
    }
    writeln!(
        text,
        "\nTop sites by memory in use (heapwise top {}):",
        heap_path.display()
    )?;
    out.write_all(text.as_bytes())?;
    let report = top_report(
        &profile,
        &TopOptions {
            sample_index: SampleIndex::Name("inuse_space".into()),
            max_rows: options.top,
            focus: None,
        },
    )?;
    report.write_text(&mut *out)?;
    // The snapshot shows the service's memory, not the report's.
    drop((report, profile));
    let snapshot_path = options.out_dir.join("heap.heapsnapshot");
    let snapshot = snapshot_report(&snapshot_path, out)?;
    writeln!(
        out,
        "\nNext: go tool pprof -top -tagfocus=scope=login {0}   heapwise top {0} --sample-index alloc_space   open {1}",
        heap_path.display(),
        flame_path.display()
    )?;
    if snapshot {
        writeln!(
            out,
            "      heapwise snapshot why {0} heapwise_cli::demo::Service::login   heapwise snapshot leaks {0}",
            snapshot_path.display()
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Takes and saves the heap snapshot and prints its leaks and the top
/// sites by retained size; `false` if the process does not track every
/// block (a rate other than 1).
fn snapshot_report(path: &Path, out: &mut impl Write) -> Result<bool> {
    if !heapwise::snapshot::enabled() {
        writeln!(
            out,
            "\n(no heap snapshot: it needs every allocation recorded from the start, HEAPWISE_SNAPSHOT=1)"
        )?;
        return Ok(false);
    }
    let snapshot = heapwise::snapshot::take()?;
    snapshot.save(path)?;
    let analysis = snapshot.analyze();
    let graph = snapshot.graph();
    writeln!(
        out,
        "\nHeap snapshot ({} live blocks, program paused {:.1} ms; heapwise snapshot leaks {}):",
        graph.blocks().len(),
        snapshot.pause().as_secs_f64() * 1e3,
        path.display()
    )?;
    crate::snapshot::leak_summary(&analysis, out)?;
    writeln!(
        out,
        "\nTop sites by retained size (heapwise snapshot retained {}):",
        path.display()
    )?;
    crate::snapshot::retained(&analysis, 5, out)?;
    writeln!(out, "wrote {}", path.display())?;
    Ok(true)
}

/// Runs this command again with `HEAPWISE_SNAPSHOT=1` (read at start, so
/// every block is tracked from the first), for the demo's snapshot; its
/// exit status, or `None` if it could not be started (the demo then runs
/// here, without a snapshot).
pub fn restart_with_snapshots() -> Option<i32> {
    if std::env::var_os("HEAPWISE_SNAPSHOT").is_some() {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("HEAPWISE_SNAPSHOT", "1")
        .status()
        .ok()?;
    Some(status.code().unwrap_or(1))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}

/// Whether a trace file's name asks for Perfetto's protobuf format (the
/// extensions Perfetto's own tools use).
fn is_perfetto(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase());
    name.is_some_and(|n| n.ends_with(".pftrace") || n.ends_with(".perfetto-trace"))
}
