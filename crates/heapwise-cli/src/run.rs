//! `heapwise run -- CMD ARGS…`: runs a program with the preload library
//! (`libheapwise_preload.so`, crate `heapwise-preload`) in `LD_PRELOAD`, so
//! heapwise's runtime counts and profiles its `malloc` family without a
//! rebuild, then prints where the profile went, a summary line and its top sites.
//!
//! The library is `HEAPWISE_PRELOAD` if that is set; else it is looked
//! for beside the
//! `heapwise` binary, in its `deps/` and the directory above it (cargo
//! builds it there as a dependency and runs tests from there), and in
//! cargo's target directory (`CARGO_TARGET_DIR`, else `./target`; release
//! first). Build it with the binary (`cargo build --release -p heapwise-cli
//! -p heapwise-preload`): one left beside it by an older build is used as
//! found. It goes first in `LD_PRELOAD`, before any library already there,
//! so that it interposes and the one after it (another allocator, say) is
//! what it forwards to.
//!
//! The environment is the runtime's: `HEAPWISE_PROFILE_AT_EXIT` (the
//! `-o` path, made absolute; `%p` is each process's id, so a forked child
//! writes its own file; without `%p`, `.%p` goes before the extension and
//! the command's file is renamed to the `-o` path when it ends, so no child
//! writes over it; its directory must take new files before the program
//! starts), `HEAPWISE_PROFILE_RATE` (`--rate`, `--full` is
//! 1), `HEAPWISE_PROFILE_EVERY`, `HEAPWISE_TRACE`.
//!
//! A program the command execs (a shell's commands, a compiler driver's
//! passes) inherits the environment and so the preload: each writes its own
//! profile (`%p`), and the report counts them. `--no-follow` sets
//! `HEAPWISE_NO_FOLLOW=1` and `HEAPWISE_NO_FOLLOW_PARENT` (this process's
//! id), so only the command itself is profiled, in whatever program it
//! execs into (a wrapper such as a pyenv shim hands on to the real
//! program), with the copies of it that it forks: in a program a child
//! process execs, the preload takes itself out of `LD_PRELOAD` as it loads
//! (keeping any other library there) and takes out the variables set here
//! before the runtime reads them, so it writes nothing.
//!
//! `--snapshot-at-exit` sets `HEAPWISE_SNAPSHOT=1` (every allocation
//! recorded with its size and sequence number) and
//! `HEAPWISE_SNAPSHOT_AT_EXIT` to the profile's path with `.heapsnapshot`
//! for `.pb.gz`: the program saves a heap snapshot as it exits, and the
//! report lists its leaks by site. `--leak-check` sets `HEAPWISE_SNAPSHOT=1`
//! and `HEAPWISE_LEAK_CHECK=1`: direct leaks at exit are reported
//! LeakSanitizer's way on standard error and the exit status is 23. The
//! scan is conservative: a leaked block's address left in a stale word of
//! a live stack frame (an uninitialised slot of `exit`'s frames, say)
//! keeps it from being reported, as it does for LeakSanitizer.
//!
//! `--http ADDR` sets `HEAPWISE_HTTP=ADDR`: the preload serves heapwise's
//! endpoint (`/debug/pprof/heap`, `/debug/pprof/allocs`,
//! `/debug/heapwise/stats`, ...) on that loopback address from the
//! program's start to its exit, and says so on standard error. Only the
//! command's process serves, in whatever program it execs into (a wrapper
//! such as a pyenv shim or `sh -c 'exec …'` hands the endpoint on to the
//! program it runs; with port 0 each program says where, as the port
//! changes); the processes it starts do not. A program with heapwise of its own keeps
//! its figures in its own runtime: the endpoint closes before `main`, with
//! a line saying so.
//!
//! SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1 and SIGUSR2 sent to
//! `heapwise` (not the terminal's, which reach the program directly) are
//! forwarded to the program; its exit status is returned, 128+N for a
//! death by signal N, 127 if it was not found and 126 if it could not be
//! run (as a shell and `env` say). The report goes to standard error, so the program's
//! standard output stays its own.
//!
//! A statically linked program (no `PT_INTERP`: the loader, which reads
//! `LD_PRELOAD`, never runs) and a setuid or setgid one (the loader ignores
//! `LD_PRELOAD` for it) are refused before they start.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use crate::input::read_profile;
use crate::sample_index::SampleIndex;
use crate::signals;
use crate::top::{top_report, TopOptions};
use crate::units::plural;
use heapwise_pprof::Profile;

/// The preload library's file name.
pub const PRELOAD: &str = "libheapwise_preload.so";

/// What `heapwise run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Profiler sampling rate in bytes (`None`: the runtime's default).
    pub rate: Option<u64>,
    /// The profile's path (`%p`: the process id).
    pub output: PathBuf,
    /// Rewrite the profile on this interval (`HEAPWISE_PROFILE_EVERY`).
    pub every: Option<String>,
    /// The stats line's interval (`HEAPWISE_TRACE`).
    pub trace: Option<String>,
    /// Rows of the top table.
    pub top: usize,
    /// Report what was live at the peak instead of what was allocated.
    pub peak: bool,
    /// Programs the command's child processes exec write no profile, and
    /// what they exec runs without the preload (`HEAPWISE_NO_FOLLOW=1`).
    pub no_follow: bool,
    /// Serve the endpoint on this address (`HEAPWISE_HTTP`).
    pub http: Option<String>,
    /// Save a heap snapshot at exit (`HEAPWISE_SNAPSHOT_AT_EXIT`).
    pub snapshot_at_exit: bool,
    /// Check for leaks at exit (`HEAPWISE_LEAK_CHECK`).
    pub leak_check: bool,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

/// Runs the program and reports; returns the exit code `heapwise` should
/// exit with (the program's).
pub fn run_program(options: &RunOptions, report: &mut impl Write) -> Result<i32> {
    let Some((program, args)) = options.command.split_first() else {
        bail!("no command given: heapwise run [OPTIONS] -- CMD ARGS...");
    };
    let path = find_program(program)?;
    check_loadable(&path)?;
    let preload = find_preload()?;
    let cwd = std::env::current_dir().context("the current directory")?;
    let requested = cwd.join(&options.output);
    check_writable(&requested)?;
    // Every process writes its own file; without `%p` in `-o`, the
    // command's is renamed to `-o` when it ends (else each child process
    // that exits after writing would overwrite the last one's, and a
    // wrapper script's shell, exiting last, would leave only its own).
    let output = with_pid(&requested);
    let mut cmd = Command::new(program);
    cmd.args(args);
    let ld_preload = match std::env::var_os("LD_PRELOAD") {
        Some(old) if !old.is_empty() => {
            let mut s = preload.clone().into_os_string();
            s.push(":");
            s.push(old);
            s
        }
        _ => preload.clone().into_os_string(),
    };
    cmd.env("LD_PRELOAD", ld_preload)
        .env("HEAPWISE_PROFILE_AT_EXIT", &output);
    if let Some(rate) = options.rate {
        cmd.env("HEAPWISE_PROFILE_RATE", rate.to_string());
    }
    if let Some(every) = &options.every {
        cmd.env("HEAPWISE_PROFILE_EVERY", every);
    }
    if let Some(trace) = &options.trace {
        cmd.env("HEAPWISE_TRACE", trace);
    }
    if options.no_follow {
        // The command stays profiled through its own execs; what it starts
        // does not (`heapwise-preload`'s `no_follow.rs`).
        cmd.env("HEAPWISE_NO_FOLLOW", "1")
            .env("HEAPWISE_NO_FOLLOW_PARENT", std::process::id().to_string());
    }
    if let Some(addr) = &options.http {
        // The process started here serves, in whatever program it execs
        // into; the processes it starts do not (`heapwise-preload`'s
        // `http.rs`).
        cmd.env("HEAPWISE_HTTP", addr)
            .env("HEAPWISE_HTTP_PARENT", std::process::id().to_string())
            .env("HEAPWISE_HTTP_SAID", "0");
    }
    let snapshot = snapshot_path(&output);
    if options.snapshot_at_exit || options.leak_check {
        cmd.env("HEAPWISE_SNAPSHOT", "1");
    }
    if options.snapshot_at_exit {
        cmd.env("HEAPWISE_SNAPSHOT_AT_EXIT", &snapshot);
    }
    if options.leak_check {
        cmd.env("HEAPWISE_LEAK_CHECK", "1");
    }
    let started = std::time::SystemTime::now();
    let mut child = cmd.spawn().map_err(|e| {
        let why = match e.raw_os_error() {
            Some(libc::ENOEXEC) => "not an executable format (a script needs a #! line)".to_owned(),
            _ => crate::input::describe_io(&e),
        };
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        NotStarted::error(code, format!("cannot run {}: {why}", path.display()))
    })?;
    let pid = child.id() as i32;
    signals::forward_to(pid);
    let status = child.wait().context("waiting for the program")?;
    signals::forward_to(0);
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    let mut profile_path = expand(&output, pid);
    if output != requested && profile_path.exists() {
        std::fs::rename(&profile_path, &requested).with_context(|| {
            format!(
                "renaming {} to {}",
                profile_path.display(),
                requested.display()
            )
        })?;
        profile_path = requested.clone();
        let snapshot_written = expand(&snapshot, pid);
        if snapshot_written.exists() {
            let wanted = snapshot_path(&requested);
            std::fs::rename(&snapshot_written, &wanted).with_context(|| {
                format!(
                    "renaming {} to {}",
                    snapshot_written.display(),
                    wanted.display()
                )
            })?;
        }
    }
    if !profile_path.exists() {
        let why = match status.signal() {
            Some(signal) => format!(
                "the program died of signal {signal}{} before writing one{}",
                signal_name(signal).map_or(String::new(), |n| format!(" ({n})")),
                match options.every {
                    Some(_) => " (before the first --every rewrite)",
                    None => "; --every 10s rewrites it as the program runs, so one survives a kill",
                }
            ),
            None => "the program wrote none: it exec'd into a program without the preload, left through _exit, or its write failed (said above)".to_owned(),
        };
        writeln!(
            report,
            "heapwise: no profile at {}: {why}",
            profile_path.display()
        )?;
    } else {
        write_report(&profile_path, options.top, options.peak, report)?;
    }
    if options.snapshot_at_exit {
        let at = if output == requested {
            expand(&snapshot, pid)
        } else {
            snapshot_path(&requested)
        };
        snapshot_report(&at, report)?;
    }
    let others = others_written(&output, &profile_path, started);
    if others > 0 {
        writeln!(
            report,
            "\nheapwise: {} from the program's child processes (forked or exec'd; %p in {} is each one's pid; heapwise top FILE… merges several)",
            plural(others, "more profile"),
            output.display()
        )?;
    }
    Ok(code)
}

/// How many files other than `main` match the `%p` pattern `output` and
/// were written since `since` (the program's children's profiles).
fn others_written(output: &Path, main: &Path, since: std::time::SystemTime) -> usize {
    let (Some(dir), Some(name)) = (output.parent(), output.file_name().and_then(|n| n.to_str()))
    else {
        return 0;
    };
    let Some((pre, post)) = name.split_once("%p") else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path() != main)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_prefix(pre)
                    .and_then(|rest| rest.strip_suffix(post))
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .count()
}

/// The snapshot's path beside the profile's: `.pb.gz` (or the whole
/// extension) replaced by `.heapsnapshot`.
fn snapshot_path(profile: &Path) -> PathBuf {
    let name = profile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".pb.gz")
        .or_else(|| name.rsplit_once('.').map(|(s, _)| s))
        .unwrap_or(&name);
    profile.with_file_name(format!("{stem}.heapsnapshot"))
}

/// Where the snapshot went and its leaks by site.
fn snapshot_report(path: &Path, out: &mut impl Write) -> Result<()> {
    let graph = match heapwise_heapgraph::HeapGraph::load_heapsnapshot(path) {
        Ok(g) => g,
        Err(e) => {
            writeln!(out, "heapwise: no heap snapshot at {}: {e}", path.display())?;
            return Ok(());
        }
    };
    let analysis = graph.analyze();
    writeln!(
        out,
        "\nheapwise: heap snapshot at {} ({} live blocks; heapwise snapshot leaks|retained|why FILE)",
        path.display(),
        graph.blocks().len()
    )?;
    crate::snapshot::leak_summary(&analysis, out)?;
    Ok(())
}

/// `path` itself if it has a `%p`, else with `.%p` inserted before its
/// extension (`.pb.gz` counts as one): `heap.pb.gz` is `heap.%p.pb.gz`.
fn with_pid(path: &Path) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    if text.contains("%p") {
        return path.to_path_buf();
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, extension) = match name.strip_suffix(".pb.gz") {
        Some(stem) => (stem, ".pb.gz"),
        None => match name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => (stem, &name[stem.len()..]),
            _ => (name.as_str(), ""),
        },
    };
    path.with_file_name(format!("{stem}.%p{extension}"))
}

/// `path` with each `%p` replaced by `pid`.
fn expand(path: &Path, pid: i32) -> PathBuf {
    match path.to_str() {
        Some(s) => PathBuf::from(s.replace("%p", &pid.to_string())),
        None => path.to_path_buf(),
    }
}

/// The report on the profile at `profile_path`, which exists.
fn write_report(profile_path: &Path, top: usize, peak: bool, out: &mut impl Write) -> Result<()> {
    let profile = read_profile(profile_path)?;
    let (what, how, index) = if peak {
        ("bytes live at the peak", "--peak", "peak_space")
    } else {
        (
            "bytes allocated",
            "--sample-index alloc_space",
            "alloc_space",
        )
    };
    writeln!(out, "heapwise: profile at {}", profile_path.display())?;
    if let Some(summary) = summary(&profile) {
        writeln!(out, "heapwise: {summary}")?;
    }
    writeln!(
        out,
        "\nTop sites by {what} (heapwise top {} {how}):",
        profile_path.display()
    )?;
    let report = top_report(
        &profile,
        &TopOptions {
            sample_index: SampleIndex::Name(index.into()),
            max_rows: top,
            focus: None,
        },
    )
    .with_context(|| profile_path.display().to_string())?;
    report.write_text(&mut *out)?;
    if report.total == 0 && profile.period > 1 {
        // An empty table is otherwise a puzzle: a short program allocates
        // less than one sampling period.
        writeln!(
            out,
            "heapwise: no allocation was sampled: at one sample every {} allocated, a program that allocates less shows nothing; --full records every allocation",
            binary_size(profile.period)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The whole run in one line, as heaptrack's summary gives it: how many
/// allocations and bytes (with how many were temporary, in full mode), the
/// peak, and what was not freed at exit. Sampled figures are estimates,
/// marked `~`. `None` for a profile without those sample types or with no
/// allocation in it.
fn summary(profile: &Profile) -> Option<String> {
    let total = |name: &str| -> Option<i64> {
        let i = profile.sample_type_index(name)?;
        Some(
            profile
                .sample
                .iter()
                .map(|s| s.value.get(i).copied().unwrap_or(0))
                .sum(),
        )
    };
    let (allocs, bytes) = (total("alloc_objects")?, total("alloc_space")?);
    if allocs == 0 {
        return None;
    }
    let exact = profile.period <= 1;
    let about = if exact { "" } else { "~" };
    let count = |n: i64, what: &str| format!("{about}{}", plural_grouped(n, what));
    let mut line = format!(
        "{} ({about}{})",
        count(allocs, "allocation"),
        human_bytes(bytes)
    );
    if exact {
        if let Some(temporary) = total("temporary_objects").filter(|&t| t > 0) {
            line.push_str(&format!(", {} temporary", grouped(temporary)));
        }
    } else {
        line.push_str(&format!(
            ", estimated from one sample every {}",
            binary_size(profile.period)
        ));
    }
    if let (Some(peak), Some(blocks)) = (total("peak_space"), total("peak_objects")) {
        line.push_str(&format!(
            "; peak heap {about}{} in {}",
            human_bytes(peak),
            count(blocks, "block")
        ));
    }
    match (total("inuse_space"), total("inuse_objects")) {
        (Some(0), _) if exact => line.push_str("; all freed at exit"),
        (Some(0), _) => line.push_str("; no sampled block live at exit"),
        (Some(live), Some(blocks)) => line.push_str(&format!(
            "; not freed at exit: {about}{} in {}",
            human_bytes(live),
            count(blocks, "block")
        )),
        _ => {}
    }
    Some(line)
}

/// The usual name of a signal that kills.
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return None,
    })
}

/// `n` with its digits in groups of three: `300,410`.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::from(if n < 0 { "-" } else { "" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` grouped, then `what`, plural unless `n` is one.
fn plural_grouped(n: i64, what: &str) -> String {
    format!("{} {what}{}", grouped(n), if n == 1 { "" } else { "s" })
}

/// `bytes` in binary units with one decimal: `4.0 KiB`, `1.9 GiB`.
fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `bytes` as `--rate` takes it: `512 KiB`, `3 MiB`, `1000 bytes`.
fn binary_size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The program's file: `program` itself if it names a path, else the
/// first executable of that name on `PATH`.
/// A name with a slash in it is a path, as to a shell and `execvp`.
fn find_program(program: &std::ffi::OsStr) -> Result<PathBuf> {
    let given = Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return match given.metadata() {
            Ok(m) if m.is_dir() => Err(NotStarted::error(
                126,
                format!("{}: is a directory", given.display()),
            )),
            Ok(_) => Ok(given.to_path_buf()),
            Err(e) => Err(NotStarted::error(
                if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                },
                format!("{}: {}", given.display(), crate::input::describe_io(&e)),
            )),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(given);
        if candidate
            .metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        {
            return Ok(candidate);
        }
    }
    Err(NotStarted::error(
        127,
        format!("{}: command not found on PATH", given.display()),
    ))
}

/// The command did not start: `heapwise run` then exits with `code`, 127
/// for a program not found and 126 for one that cannot be run, as a shell,
/// `env` and `timeout` do.
#[derive(Debug)]
pub struct NotStarted {
    /// The exit status.
    pub code: i32,
    message: String,
}

impl NotStarted {
    fn error(code: i32, message: String) -> anyhow::Error {
        anyhow::Error::new(NotStarted { code, message })
    }
}

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NotStarted {}

/// Fails, before the program runs, if the profiles' directory does not
/// take new files: the runtime would say so only as the program exits (or
/// not at all, if the program has closed its standard error), and the run
/// would be lost. A directory named with `%p` differs per process and is
/// not checked.
fn check_writable(output: &Path) -> Result<()> {
    let Some(dir) = output.parent() else {
        return Ok(());
    };
    if dir
        .as_os_str()
        .as_encoded_bytes()
        .windows(2)
        .any(|w| w == b"%p")
    {
        return Ok(());
    }
    let probe = dir.join(format!(".heapwise-run.{}.check", std::process::id()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => bail!(
            "cannot write the profile {}: {}: {}",
            output.display(),
            dir.display(),
            crate::input::describe_io(&e)
        ),
    }
}

/// Refuses a program the loader will not preload into: setuid or setgid,
/// or an ELF without an interpreter (statically linked). Scripts and
/// other formats pass (their interpreter is checked by nobody).
fn check_loadable(path: &Path) -> Result<()> {
    let name = path.display();
    let meta = path
        .metadata()
        .map_err(|e| anyhow!("{name}: {}", crate::input::describe_io(&e)))?;
    let mode = meta.permissions().mode();
    if mode & 0o6000 != 0 {
        bail!("{name} is setuid or setgid: the loader ignores LD_PRELOAD for it, so heapwise cannot see its allocations");
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| anyhow!("{name}: {}", crate::input::describe_io(&e)))?;
    if has_interpreter(&head) == Some(false) {
        bail!("{name} is statically linked: no dynamic loader runs to preload heapwise into it");
    }
    Ok(())
}

/// Whether the ELF file starting with `head` has a `PT_INTERP` program
/// header; `None` if it is not a 64-bit little-endian ELF file whose
/// program headers lie in `head`.
fn has_interpreter(head: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(head.get(at..at + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(at)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// The preload library, or an error naming every place looked in.
pub fn find_preload() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("HEAPWISE_PRELOAD") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "HEAPWISE_PRELOAD names {}, which is not a file",
                p.display()
            );
        }
        return Ok(p);
    }
    let mut places = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        places.push(dir.join(PRELOAD));
        places.push(dir.join("deps").join(PRELOAD));
        if let Some(up) = dir.parent() {
            places.push(up.join(PRELOAD));
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    for profile in ["release", "debug"] {
        places.push(target.join(profile).join(PRELOAD));
    }
    first_file(&places)
}

/// The first of `places` that is a file, or an error listing them.
fn first_file(places: &[PathBuf]) -> Result<PathBuf> {
    if let Some(found) = places.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let list: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "cannot find {PRELOAD} (build it: cargo build --release -p heapwise-preload); looked in: {}",
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_without_pid_gets_one_before_its_extension() {
        for (given, with) in [
            ("/t/heap.pb.gz", "/t/heap.%p.pb.gz"),
            ("/t/heap.prof", "/t/heap.%p.prof"),
            ("/t/heap", "/t/heap.%p"),
            ("/t/.hidden", "/t/.hidden.%p"),
            ("/t/h.%p.pb.gz", "/t/h.%p.pb.gz"),
            ("/t/%p/heap.pb.gz", "/t/%p/heap.pb.gz"),
        ] {
            assert_eq!(with_pid(Path::new(given)), Path::new(with), "{given}");
        }
    }

    #[test]
    fn the_childrens_profiles_are_counted_by_the_pattern() {
        let dir = std::env::temp_dir().join(format!("heapwise-run-others-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let since = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
        for name in [
            "h.10.pb.gz",
            "h.11.pb.gz",
            "h.12.pb.gz",
            "h.x.pb.gz",
            "h..pb.gz",
            "other.pb.gz",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let pattern = dir.join("h.%p.pb.gz");
        assert_eq!(others_written(&pattern, &dir.join("h.10.pb.gz"), since), 2);
        // Without %p there is one file only.
        assert_eq!(
            others_written(&dir.join("h.pb.gz"), &dir.join("h.pb.gz"), since),
            0
        );
        // Files from before the run are not counted.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(others_written(&pattern, &dir.join("h.10.pb.gz"), later), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_interpreter_header_decides_static_or_dynamic() {
        let own = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(has_interpreter(&own[..64 * 1024]), Some(true));
        assert_eq!(has_interpreter(b"#!/bin/sh\n"), None);
        // An ELF header with no program headers.
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert_eq!(has_interpreter(&elf), Some(false));
    }

    #[test]
    fn a_missing_library_names_every_place_looked_in() {
        let places = [
            PathBuf::from("/nonexistent/a.so"),
            PathBuf::from("/nonexistent/b.so"),
        ];
        let e = first_file(&places).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/a.so, /nonexistent/b.so"), "{e}");
        assert!(
            e.contains("cargo build --release -p heapwise-preload"),
            "{e}"
        );
    }

    #[test]
    fn percent_p_is_the_pid() {
        assert_eq!(
            expand(Path::new("/t/heapwise.%p.pb.gz"), 7),
            Path::new("/t/heapwise.7.pb.gz")
        );
    }
}
