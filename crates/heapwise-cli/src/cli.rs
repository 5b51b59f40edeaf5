//! The command line: argument definitions and what each subcommand runs.
//!
//! `main.rs` only parses a [`Cli`], calls [`run`] and turns the result
//! into an exit status with [`exit_status`]: 0 on success and on a closed
//! output pipe, 1 with one `heapwise: error: ...` line on stderr otherwise
//! (clap's own usage errors exit with 2 before [`run`] is reached).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use heapwise_pprof::Profile;
use regex::Regex;

use crate::animate::{run_animate, AnimateArgs};
use crate::demo::{self, run_demo, DemoOptions};
use crate::diff::{diff_report, DiffOptions};
use crate::flame::{write_diff_flamegraph, write_flamegraph, FlameOptions};
use crate::heaptrack::{self, ImportOptions};
use crate::input::{describe_io, read_profile_within};
use crate::output::{check_overwrite, finish, stdout, write_file};
use crate::run::{run_program, NotStarted, ReportFailed, RunOptions};
use crate::sample_index::SampleIndex;
use crate::snapshot::{run_snapshot, SnapshotArgs};
use crate::top::{top_report, TopOptions};

/// heapwise: read pprof heap profiles (Go's, heapwise's own, or heaptrack
/// recordings imported) and show where the memory went.
#[derive(Debug, Parser)]
#[command(name = "heapwise", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Flat and cumulative table by function, like `go tool pprof -top`.
    Top(TopArgs),
    /// What grew and what shrank between two profiles, by allocation site.
    Diff(DiffArgs),
    /// Write an interactive SVG flame graph.
    Flame(FlameArgs),
    /// Convert another profiler's recording into a pprof heap profile.
    Import(ImportArgs),
    /// Run a small built-in service under heapwise, profile it, write
    /// heap.pb.gz and flame.svg, and print what it found.
    Demo(DemoArgs),
    /// List the probe events (tracepoints) linked into this program, the
    /// heapwise runtime's own among them, one a line:
    /// `crate::module:event(arg: type, ...)`. A program lists its own with
    /// `print!("{}", heapwise_probe::list())`.
    Probes(ProbesArgs),
    /// Reports over a heap snapshot (`.heapsnapshot`): leaks, retained
    /// size by site, why a block is alive, and the diff of two.
    Snapshot(SnapshotArgs),
    /// Write a web page (one self-contained HTML file) that replays a
    /// garbage collector's tri-colour mark over a `.heapsnapshot`: the
    /// blocks still white at the end are the leaked ones.
    Animate(AnimateArgs),
    /// Run a program (any dynamically linked one, not built with heapwise)
    /// with heapwise preloaded; write its heap profile and print the top
    /// sites. Exits with the program's status.
    Run(RunArgs),
}

/// A sampling rate as `HEAPWISE_PROFILE_RATE` takes it (`512KiB`, `1`).
fn rate_arg(text: &str) -> Result<u64, String> {
    heapwise::profile::__parse_rate(text)
}

/// `--every`: checked here as the runtime will read it, so a bad value is
/// a usage error naming the flag, not a warning naming the variable after
/// the program ran.
fn every_arg(text: &str) -> Result<String, String> {
    heapwise::profile::__parse_every(text).map(|_| text.to_owned())
}

/// `--trace`: as [`every_arg`]; `0` and `off`, which would print nothing,
/// are refused (leave the flag out).
fn trace_arg(text: &str) -> Result<String, String> {
    match heapwise::__parse_trace_interval(text)? {
        Some(_) => Ok(text.to_owned()),
        None => Err(format!(
            "{text:?} prints no line: give an interval (1s, 500ms)"
        )),
    }
}

/// `--http`: a loopback address with a port, as the preload's endpoint
/// serves only on one.
fn http_arg(text: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<std::net::SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| {
            format!("{text:?} is not an address with a port (127.0.0.1:6060, localhost:0): {e}")
        })?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "{text:?} is not a loopback address: the profile endpoint serves on 127.0.0.1, [::1] or localhost only"
        ));
    }
    Ok(text.to_owned())
}

/// Arguments of `heapwise run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Profiler sampling rate: on average one sample per this many bytes
    /// allocated, with an optional unit (64KiB, 1MiB; default 512KiB).
    #[arg(long, value_name = "BYTES", conflicts_with = "full", value_parser = rate_arg)]
    pub rate: Option<u64>,
    /// Record every allocation (rate 1): exact counts.
    #[arg(long)]
    pub full: bool,
    /// Where the profile goes; %p is the process id. Each process writes
    /// its own: without %p, those of the command's children get their pid
    /// before the extension (heap.1234.pb.gz), and the command's is
    /// renamed to FILE when it ends.
    #[arg(short, long, value_name = "FILE", default_value = "heapwise.%p.pb.gz")]
    pub output: PathBuf,
    /// Also rewrite the profile on this interval (10s, 500ms, 1m), so one
    /// survives a kill.
    #[arg(long, value_name = "INTERVAL", value_parser = every_arg)]
    pub every: Option<String>,
    /// Print heapwise's stats line to stderr on this interval.
    #[arg(long, value_name = "INTERVAL", value_parser = trace_arg)]
    pub trace: Option<String>,
    /// Rows of the top table.
    #[arg(
        short = 'n',
        long = "nodecount",
        value_name = "N",
        default_value_t = 10
    )]
    pub nodecount: usize,
    /// Show the top sites by what was live at the peak (the high-water
    /// mark) instead of by bytes allocated.
    #[arg(long)]
    pub peak: bool,
    /// Profile this program only, through its own execs (a wrapper script
    /// that execs the real program hands on): programs its child processes
    /// exec run without heapwise (forked copies of it are still profiled).
    #[arg(long)]
    pub no_follow: bool,
    /// Serve the program's live heap profile (/debug/pprof/heap and the
    /// rest of heapwise's endpoint) on this loopback address while it runs.
    #[arg(long, value_name = "ADDR", value_parser = http_arg)]
    pub http: Option<String>,
    /// Record every allocation with its size and sequence number and save
    /// a heap snapshot when the program exits, next to the profile
    /// (`heapwise.%p.heapsnapshot`), with its leaks in the report.
    #[arg(long, conflicts_with_all = ["rate", "full"])]
    pub snapshot_at_exit: bool,
    /// Check for leaks at exit, as LeakSanitizer does: direct leaks are
    /// reported on standard error and the program's exit status is 23.
    #[arg(long, conflicts_with_all = ["rate", "full"])]
    pub leak_check: bool,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// Arguments of `heapwise import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What to import.
    #[command(subcommand)]
    pub format: ImportFormat,
}

/// The formats `heapwise import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportFormat {
    /// A heaptrack data file (heaptrack.NAME.PID.zst, .gz or uncompressed)
    /// as a heap profile with heapwise's sample types: alloc_objects and
    /// alloc_space over the whole recording, inuse_objects and inuse_space
    /// for what was never freed, peak_* for what was live at the peak and
    /// temporary_* for heaptrack's temporary allocations.
    Heaptrack(HeaptrackArgs),
}

/// Arguments of `heapwise import heaptrack`.
#[derive(Debug, Args)]
pub struct HeaptrackArgs {
    /// The heaptrack data file (`-` reads standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the profile (gzipped profile.proto); `-` is standard
    /// output.
    #[arg(short, long, value_name = "OUT.pb.gz")]
    pub output: PathBuf,
    /// Keep the allocation plumbing (allocator shims, the standard
    /// library's allocation paths, operator new) at the leaf of each stack.
    #[arg(long)]
    pub keep_allocator_frames: bool,
    /// Refuse input that decompresses to more than this (bytes, or with a
    /// unit: KiB, MiB, GiB, TiB).
    #[arg(long, value_name = "SIZE", default_value = "16GiB", value_parser = parse_size)]
    pub max_input: u64,
    /// Refuse input whose recording and profile would take more memory
    /// than this (bytes, or with a unit: KiB, MiB, GiB, TiB).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: u64,
}

/// Arguments of `heapwise probes`.
#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// Also show where each event is declared (`at file:line`).
    #[arg(long)]
    pub locations: bool,
}

/// Arguments of `heapwise demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write heap.pb.gz and flame.svg.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// How many requests the toy service handles.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub requests: usize,
    /// Profiler sampling rate in bytes, with an optional unit (1 records
    /// every allocation; 512KiB samples like Go's default).
    #[arg(long, value_name = "BYTES", default_value_t = 1, value_parser = rate_arg)]
    pub rate: u64,
    /// Rows of the top table.
    #[arg(short = 'n', long = "nodecount", value_name = "N", default_value_t = 8)]
    pub nodecount: usize,
    /// Also record the requests to FILE as a Chrome trace (scopes as
    /// slices, limit crossings, live-bytes counters), for Perfetto UI
    /// (ui.perfetto.dev) or chrome://tracing; as Perfetto's protobuf format
    /// when FILE ends in .pftrace or .perfetto-trace.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// `--max-memory`, shared by the subcommands that read profiles.
#[derive(Debug, Args)]
pub struct MaxMemoryArg {
    /// The most memory decoding may take (the profiles given together
    /// share it); a larger profile is refused.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub max_memory: u64,
}

/// `--keep-allocator-frames`, shared by the subcommands that read profiles.
#[derive(Debug, Args)]
pub struct AllocatorFramesArg {
    /// Keep the allocation plumbing at the leaf of each stack (allocator
    /// entry points and wrappers, the standard library's allocation paths,
    /// jemalloc's profiler frames), which is otherwise left out of
    /// profiles other tools wrote, so that the leaf is the code that
    /// allocated. heapwise's own profiles never hold it.
    #[arg(long)]
    pub keep_allocator_frames: bool,
}

impl AllocatorFramesArg {
    /// `profile` as the reports see it.
    fn apply(&self, mut profile: Profile) -> Profile {
        if !self.keep_allocator_frames {
            profile.hide_allocator_frames();
        }
        profile
    }
}

/// `--sample-index`, shared by every subcommand.
#[derive(Debug, Args)]
pub struct SampleIndexArg {
    /// Which value to report: a sample type's name (inuse_space,
    /// inuse_objects, alloc_space, alloc_objects, and in heapwise's heap
    /// profiles peak_space, peak_objects, temporary_objects,
    /// temporary_space) or its position from 0. Default: the profile's
    /// default type, else its last (inuse_space for a Go heap profile).
    #[arg(
        long = "sample-index",
        alias = "sample_index",
        value_name = "TYPE",
        allow_negative_numbers = true
    )]
    pub sample_index: Option<SampleIndex>,
    /// What was live at the peak (the high-water mark): --sample-index
    /// peak_space.
    #[arg(long, conflicts_with_all = ["sample_index", "temporary"])]
    pub peak: bool,
    /// Blocks freed before their thread allocated anything else (recorded
    /// at rate 1): --sample-index temporary_objects.
    #[arg(long, conflicts_with = "sample_index")]
    pub temporary: bool,
}

impl SampleIndexArg {
    fn get(&self) -> SampleIndex {
        if self.peak {
            return SampleIndex::Name("peak_space".into());
        }
        if self.temporary {
            return SampleIndex::Name("temporary_objects".into());
        }
        self.sample_index.clone().unwrap_or_default()
    }
}

/// Arguments of `heapwise top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The profile (gzipped or raw protobuf; `-` reads standard input).
    /// Several are merged into one, as `go tool pprof` merges the profiles
    /// it is given: `heapwise top heapwise.*.pb.gz` over every process of
    /// a `heapwise run`.
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub sample_index: SampleIndexArg,
    /// Subtract this base profile first (pprof's -base).
    #[arg(long, value_name = "OLD")]
    pub base: Option<PathBuf>,
    /// Show at most N rows; 0 shows all.
    #[arg(
        short = 'n',
        long = "nodecount",
        value_name = "N",
        default_value_t = 10
    )]
    pub nodecount: usize,
    /// Count only samples with a function name matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub focus: Option<String>,
    /// Print JSON with exact values instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub frames: AllocatorFramesArg,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub memory: MaxMemoryArg,
}

/// Arguments of `heapwise diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older profile.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The newer profile.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub sample_index: SampleIndexArg,
    /// Show at most N changed sites; 0 shows all.
    #[arg(
        short = 'n',
        long = "nodecount",
        value_name = "N",
        default_value_t = 10
    )]
    pub nodecount: usize,
    /// Print JSON with exact values instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub frames: AllocatorFramesArg,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub memory: MaxMemoryArg,
}

/// Arguments of `heapwise flame`.
#[derive(Debug, Args)]
pub struct FlameArgs {
    /// The profile; several are merged into one (see `top`).
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Where to write the SVG; `-` is standard output. Default:
    /// ./flame.svg, which is not overwritten if it is not a heapwise flame
    /// graph.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub sample_index: SampleIndexArg,
    /// Draw a differential flame graph against this base profile: widths
    /// from FILE, red for growth and blue for shrinkage since OLD.
    #[arg(long, value_name = "OLD")]
    pub base: Option<PathBuf>,
    /// The title at the top of the graph.
    #[arg(long, value_name = "TITLE")]
    pub title: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub frames: AllocatorFramesArg,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub memory: MaxMemoryArg,
}

/// Runs a parsed command line, writing reports to standard output.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Top(args) => top(&args),
        Command::Diff(args) => diff(&args),
        Command::Flame(args) => flame(&args),
        Command::Import(ImportArgs {
            format: ImportFormat::Heaptrack(args),
        }) => import_heaptrack(&args),
        Command::Probes(args) => {
            let list = heapwise::probe::list();
            let mut out = stdout();
            if args.locations {
                write!(out, "{list:#}")?;
            } else {
                write!(out, "{list}")?;
            }
            finish(out)
        }
        Command::Snapshot(args) => {
            let mut out = stdout();
            run_snapshot(&args, &mut out)?;
            finish(out)
        }
        Command::Animate(args) => run_animate(&args),
        Command::Run(args) => {
            let options = RunOptions {
                rate: if args.full { Some(1) } else { args.rate },
                output: args.output,
                every: args.every,
                trace: args.trace,
                top: args.nodecount,
                peak: args.peak,
                no_follow: args.no_follow,
                http: args.http,
                snapshot_at_exit: args.snapshot_at_exit,
                leak_check: args.leak_check,
                command: args.command,
            };
            // Buffered: the report is written after the program ended, in
            // one go (unbuffered, each piece of the table was its own
            // `write`: a compile by `cc1plus` made 270 `write` calls in all,
            // the profile's own included; 9 now).
            let mut report = io::BufWriter::new(io::stderr().lock());
            let ran = run_program(&options, &mut report);
            // The report is written: a failure to write it is said (unless
            // the reader went away), and the status is the program's.
            let flushed = report.flush();
            drop(report);
            let (code, failed) = match ran {
                Ok(code) => (code, flushed.err().map(anyhow::Error::from)),
                Err(e) => {
                    let code = match (
                        e.downcast_ref::<NotStarted>(),
                        e.downcast_ref::<ReportFailed>(),
                    ) {
                        (Some(n), _) => n.code,
                        (None, Some(r)) => r.code,
                        (None, None) => return Err(e),
                    };
                    (code, Some(e))
                }
            };
            if let Some(e) = failed.filter(|e| !is_broken_pipe(e)) {
                let _ = writeln!(io::stderr().lock(), "heapwise: error: {}", error_line(&e));
            }
            std::process::exit(code)
        }
        Command::Demo(args) => {
            if args.rate == 1 && !heapwise::snapshot::enabled() {
                if let Some(code) = demo::restart_with_snapshots() {
                    std::process::exit(code);
                }
            }
            let options = DemoOptions {
                out_dir: args.out_dir,
                requests: args.requests,
                rate: args.rate,
                top: args.nodecount,
                trace: args.trace,
            };
            let mut out = stdout();
            run_demo(&options, &mut out)?;
            finish(out)
        }
    }
}

/// The exit status for `result`, printing the error line if there is one.
/// A broken pipe on output (`heapwise top big.pb.gz | head -1`) is a
/// success: the reader had what it wanted.
pub fn exit_status(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr().lock(), "heapwise: error: {}", error_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// True if `e` was caused by writing to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `e` with its causes, as one line.
pub fn error_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The profile at `path`, minus the one at `base` if given.
fn load(
    paths: &[PathBuf],
    base: Option<&Path>,
    max_memory: u64,
    frames: &AllocatorFramesArg,
) -> Result<Profile> {
    let profile = frames.apply(read_profiles(paths, max_memory)?);
    match base {
        None => Ok(profile),
        Some(base_path) => {
            let base = frames.apply(read_profile_within(base_path, max_memory)?);
            profile
                .diff_base(&base)
                .map_err(|e| anyhow!("{} with base {}: {e}", names(paths), base_path.display()))
        }
    }
}

/// The profile at `paths`, or their merge if there are several.
fn read_profiles(paths: &[PathBuf], max_memory: u64) -> Result<Profile> {
    if let [path] = paths {
        return read_profile_within(path, max_memory);
    }
    // One memory limit for all of them: each within what the ones before
    // left (thirty files each under the limit took 6.6 GB).
    let mut left = max_memory;
    let mut profiles = Vec::with_capacity(paths.len());
    for path in paths {
        let profile = read_profile_within(path, left).map_err(|e| {
            if left < max_memory && e.downcast_ref::<crate::input::TooLarge>().is_some() {
                let limit = if max_memory % (1 << 20) == 0 {
                    format!("{} MiB", max_memory >> 20)
                } else {
                    format!("{max_memory}-byte")
                };
                e.context(format!(
                    "the {} files given share one {limit} limit",
                    paths.len()
                ))
            } else {
                e
            }
        })?;
        left = left.saturating_sub(profile.heap_size());
        profiles.push(profile);
    }
    Profile::merge(&profiles).map_err(|e| {
        // Named by file: the first that does not go with the first file.
        let first = paths[0].display().to_string();
        for (path, p) in paths.iter().zip(&profiles).skip(1) {
            if let Err(e) = Profile::merge([&profiles[0], p]) {
                let text = e
                    .to_string()
                    .replace("profile 0", "\0first")
                    .replace("profile 1", "\0second")
                    .replace("\0first", &first)
                    .replace("\0second", &path.display().to_string());
                return anyhow!("merging {}: {text}", names(paths));
            }
        }
        anyhow!("merging {}: {e}", names(paths))
    })
}

/// The files' names, for a message: `a.pb.gz`, or `a.pb.gz and 2 more`.
fn names(paths: &[PathBuf]) -> String {
    match paths {
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!("{} and {} more", first.display(), rest.len()),
        [] => String::new(),
    }
}

fn write_json(value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    let mut out = stdout();
    out.write_all(text.as_bytes())?;
    finish(out)
}

/// A regex from the command line; its error as one short line.
fn compile_regex(flag: &str, pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let reason = text
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(&text)
            .to_owned();
        anyhow!("invalid {flag} regex {pattern:?}: {reason}")
    })
}

/// Standard input can be read once: fails if more than one of `files`
/// and `base` is `-`.
fn one_stdin(files: &[PathBuf], base: Option<&Path>) -> Result<()> {
    let dashes = files
        .iter()
        .map(PathBuf::as_path)
        .chain(base)
        .filter(|p| p.as_os_str() == "-")
        .count();
    let all = files.len() + usize::from(base.is_some());
    match dashes {
        0 | 1 => Ok(()),
        2 if all == 2 => bail!("both profiles are '-': only one can come from standard input"),
        n => bail!("{n} of the {all} profiles are '-': only one can come from standard input"),
    }
}

fn top(args: &TopArgs) -> Result<()> {
    one_stdin(&args.files, args.base.as_deref())?;
    let focus = args
        .focus
        .as_deref()
        .map(|p| compile_regex("--focus", p))
        .transpose()?;
    let profile = load(
        &args.files,
        args.base.as_deref(),
        args.memory.max_memory,
        &args.frames,
    )?;
    let options = TopOptions {
        sample_index: args.sample_index.get(),
        max_rows: args.nodecount,
        focus,
    };
    let report = top_report(&profile, &options).with_context(|| names(&args.files))?;
    if args.json {
        return write_json(&report.to_json());
    }
    let mut out = stdout();
    report.write_text(&mut out)?;
    finish(out)
}

fn diff(args: &DiffArgs) -> Result<()> {
    one_stdin(std::slice::from_ref(&args.old), Some(&args.new))?;
    let old = args
        .frames
        .apply(read_profile_within(&args.old, args.memory.max_memory)?);
    let new = args
        .frames
        .apply(read_profile_within(&args.new, args.memory.max_memory)?);
    let options = DiffOptions {
        sample_index: args.sample_index.get(),
        max_rows: args.nodecount,
    };
    let report = diff_report(&old, &new, &options).with_context(|| {
        format!(
            "comparing {} with {}",
            args.old.display(),
            args.new.display()
        )
    })?;
    if args.json {
        return write_json(&report.to_json());
    }
    let mut out = stdout();
    report.write_text(&mut out)?;
    finish(out)
}

/// The flame graph's file when `-o` is not given.
const DEFAULT_FLAME_FILE: &str = "./flame.svg";

fn flame(args: &FlameArgs) -> Result<()> {
    one_stdin(&args.files, args.base.as_deref())?;
    let output = match &args.output {
        Some(path) => path.clone(),
        None => {
            let path = PathBuf::from(DEFAULT_FLAME_FILE);
            check_overwrite(&path)?;
            path
        }
    };
    let profile = args
        .frames
        .apply(read_profiles(&args.files, args.memory.max_memory)?);
    let options = FlameOptions {
        sample_index: args.sample_index.get(),
        title: args.title.clone(),
    };
    let mut svg = Vec::new();
    match &args.base {
        None => {
            write_flamegraph(&profile, &options, &mut svg).with_context(|| names(&args.files))?
        }
        Some(base_path) => {
            let base = args
                .frames
                .apply(read_profile_within(base_path, args.memory.max_memory)?);
            write_diff_flamegraph(&base, &profile, &options, &mut svg).with_context(|| {
                format!("{} with base {}", names(&args.files), base_path.display())
            })?;
        }
    }
    if output.as_os_str() == "-" {
        let mut out = stdout();
        out.write_all(&svg)?;
        return finish(out);
    }
    let mut inputs: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    inputs.extend(args.base.as_deref());
    write_file(&output, &svg, &inputs)?;
    if args.output.is_none() {
        // Say where the graph went when the user did not choose.
        let _ = writeln!(io::stderr().lock(), "heapwise: wrote {}", output.display());
    }
    Ok(())
}

/// A size in bytes: a number, optionally followed by KiB, MiB, GiB or TiB.
fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit.trim_start() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        "TiB" => 40,
        _ => {
            return Err(format!(
                "{text:?}: expected bytes, or a number with KiB, MiB, GiB or TiB"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{text:?}: expected bytes, or a number with KiB, MiB, GiB or TiB"))
}

fn import_heaptrack(args: &HeaptrackArgs) -> Result<()> {
    let name = args.file.display();
    let options = ImportOptions::new()
        .max_input(args.max_input)
        .max_memory(args.max_memory)
        .keep_allocator_frames(args.keep_allocator_frames);
    let imported = if args.file.as_os_str() == "-" {
        heaptrack::import(io::stdin().lock(), &options)
    } else {
        let file =
            std::fs::File::open(&args.file).map_err(|e| anyhow!("{name}: {}", describe_io(&e)))?;
        heaptrack::import(file, &options)
    };
    let profile = imported.map_err(|e| anyhow!("{name}: {e}"))?;
    let bytes = profile.encode_gzip();
    if args.output.as_os_str() == "-" {
        let mut out = stdout();
        out.write_all(&bytes)?;
        return finish(out);
    }
    write_file(&args.output, &bytes, &[&args.file])
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("16GiB"), Ok(16 << 30));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        for bad in ["", "MiB", "1.5GiB", "1GB", "-1", "99999999999TiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
