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
//! forwarded to the program. One sent to the whole process group reaches
//! the program twice, directly and forwarded, since a handler cannot tell
//! the two apart: `timeout` does so (to its child, then to its group; use
//! `timeout --foreground`), as does a shell's `kill %JOB`. Its exit status is returned, 128+N for a
//! death by signal N, 127 if it was not found and 126 if it could not be
//! run (as a shell and `env` say). The report goes to standard error, so
//! the program's standard output stays its own.
//!
//! A statically linked program (no `PT_INTERP`: the loader, which reads
//! `LD_PRELOAD`, never runs) and a setuid or setgid one (the loader ignores
//! `LD_PRELOAD` for it) are refused before they start.
//!
//! Files: `start.rs` (finding the program and the library, the checks
//! before it starts), `paths.rs` (`%p` patterns), `report.rs` (what is
//! printed when it has ended); this one sets the environment, runs the
//! program and waits.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use crate::signals;
use crate::units::plural;

mod paths;
mod report;
mod start;

pub use start::{find_preload, NotStarted};

use paths::{expand, others_written, snapshot_path, with_pid};
use start::{check_loadable, check_writable, find_program};

/// The program ran, and reporting on it failed (a broken pipe, an
/// unreadable profile): `heapwise run` still exits with the program's
/// status, `code`, after saying why (nothing, for a broken pipe).
#[derive(Debug)]
pub struct ReportFailed {
    /// The program's exit status.
    pub code: i32,
    source: anyhow::Error,
}

impl std::fmt::Display for ReportFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the report on the program")
    }
}

impl std::error::Error for ReportFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

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
        // Taken already (another run, a server): said now, in the flag's
        // terms, rather than by the preload as the program starts, which
        // then runs without an endpoint. A port taken between this check
        // and the program's start is still the preload's to report.
        std::net::TcpListener::bind(addr.as_str())
            .map_err(|e| anyhow!("--http {addr}: {}", crate::input::describe_io(&e)))?;
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
    let ended = Ended {
        pid,
        status,
        started,
        output,
        requested,
        snapshot,
    };
    match after(options, &ended, report) {
        Ok(()) => Ok(code),
        Err(source) => Err(anyhow::Error::new(ReportFailed { code, source })),
    }
}

/// How the program ended, and where its files were to go.
struct Ended {
    pid: i32,
    status: std::process::ExitStatus,
    started: std::time::SystemTime,
    /// The `%p` pattern the processes wrote to.
    output: PathBuf,
    /// `-o`, made absolute (`output` unless that had no `%p`).
    requested: PathBuf,
    /// The snapshots' `%p` pattern.
    snapshot: PathBuf,
}

/// The program's files moved into place and reported on.
fn after(options: &RunOptions, ended: &Ended, report: &mut impl Write) -> Result<()> {
    let Ended {
        pid,
        status,
        started,
        ref output,
        ref requested,
        ref snapshot,
    } = *ended;
    let mut profile_path = expand(output, pid);
    if output != requested && profile_path.exists() {
        std::fs::rename(&profile_path, requested).with_context(|| {
            format!(
                "renaming {} to {}",
                profile_path.display(),
                requested.display()
            )
        })?;
        profile_path = requested.clone();
        let snapshot_written = expand(snapshot, pid);
        if snapshot_written.exists() {
            let wanted = snapshot_path(requested);
            std::fs::rename(&snapshot_written, &wanted).with_context(|| {
                format!(
                    "renaming {} to {}",
                    snapshot_written.display(),
                    wanted.display()
                )
            })?;
        }
    }
    if profile_path.exists() {
        report::write_report(
            &profile_path,
            options.top,
            options.peak,
            options.rate == Some(0),
            status,
            report,
        )?;
    } else {
        report::no_profile(&profile_path, status, options.every.is_some(), report)?;
    }
    if options.snapshot_at_exit {
        let at = if output == requested {
            expand(snapshot, pid)
        } else {
            snapshot_path(requested)
        };
        report::snapshot_report(&at, report)?;
    }
    let others = others_written(output, &profile_path, started);
    if others > 0 {
        writeln!(
            report,
            "\nheapwise: {} from the program's child processes (forked or exec'd; %p in {} is each one's pid; heapwise top FILE… merges several, but a forked child's profile also holds what its parent allocated before the fork)",
            plural(others, "more profile"),
            output.display()
        )?;
    }
    Ok(())
}
