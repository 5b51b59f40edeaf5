//! Leak checks: `HEAPWISE_LEAK_CHECK=1` at exit, [`assert_no_leaks`] in a
//! test; and `HEAPWISE_SNAPSHOT_AT_EXIT=PATH`, a snapshot saved at exit. A
//! *direct* leak (a block nothing reachable points to, LeakSanitizer's
//! meaning) fails the check, if a second snapshot taken right after finds
//! it leaked too (see `confirmed_leaks`); the report is LeakSanitizer's
//! format, with a line saying how many threads did not answer for their
//! registers, if any. With `HEAPWISE_LEAK_CHECK=1` the process keeps a
//! copy of its standard error (a close-on-exec descriptor above 2) for the
//! report, which must survive a program that closes stderr at exit; a
//! failed check flushes C's stdio before it ends the process.

use std::sync::atomic::{AtomicI32, Ordering::Relaxed};

use super::{take, Snapshot};
use crate::util::say::say;

/// The exit status of a process whose leak check found direct leaks
/// (LeakSanitizer's).
pub const LEAK_EXIT_CODE: i32 = 23;

/// Panics, with LeakSanitizer's report, if the heap holds a direct leak
/// now; also if no snapshot can be taken (the message names the setting:
/// run the test with `HEAPWISE_SNAPSHOT=1`).
///
/// ```no_run
/// # #[global_allocator]
/// # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
/// let kept = Box::new(1); // reachable from this stack: not a leak
/// heapwise::snapshot::assert_no_leaks();
/// # drop(kept);
/// ```
#[track_caller]
pub fn assert_no_leaks() {
    match take().and_then(confirmed_leaks) {
        Ok(None) => {}
        Ok(Some(report)) => panic!("heapwise found leaks:\n{report}"),
        Err(e) => panic!("heapwise::snapshot::assert_no_leaks: {e}"),
    }
}

/// The leak report, if `first` holds direct leaks. A block counts only if
/// two snapshots in a row find it leaked: a leaked block stays leaked,
/// while a block that another thread allocated after it answered for its
/// registers, and held in a register or a deeper frame at the fork, looks
/// leaked only by chance (`threads.rs`). The second snapshot is taken only
/// if the first found direct leaks.
fn confirmed_leaks(first: Snapshot) -> Result<Option<String>, super::Error> {
    let leaked: std::collections::HashSet<u64> = {
        let analysis = first.analyze();
        if analysis.direct_leaks().next().is_none() {
            return Ok(None);
        }
        let graph = first.graph();
        analysis
            .direct_leaks()
            .chain(analysis.indirect_leaks())
            .map(|b| graph.block(b).seq)
            .collect()
    };
    drop(first);
    let second = take()?;
    let analysis = second.analyze();
    let graph = second.graph();
    let again = |b: super::graph::BlockId| leaked.contains(&graph.block(b).seq);
    if !analysis.direct_leaks().any(again) {
        return Ok(None);
    }
    Ok(Some(format!(
        "{}{}",
        analysis.leak_report_of(again),
        unanswered(&second)
    )))
}

/// A line for a leak report when some threads' registers were not taken:
/// a block only their registers pointed to is then reported leaked.
fn unanswered(snapshot: &Snapshot) -> String {
    match snapshot.threads() {
        (_, 0) => String::new(),
        (answered, missed) => format!(
            "heapwise: {missed} of {} threads did not answer for their registers \
             (stacks scanned whole); a block only their registers held is reported leaked{}\n",
            answered + missed,
            snapshot.note().map_or(String::new(), |n| format!(": {n}")),
        ),
    }
}

/// What to do at exit: save the snapshot here (`%p`: the process id), and
/// whether to check for leaks. Set once, by the load-time constructor.
static AT_EXIT: std::sync::OnceLock<(Option<std::path::PathBuf>, bool)> =
    std::sync::OnceLock::new();

/// Where the report at exit goes: a copy of standard error taken when the
/// check was registered, or -1. A program may close its standard error
/// before its exit handlers are done (coreutils' `close_stdout` closes
/// both streams: `sort` under `heapwise run --leak-check` exited 23 with
/// no report), and the report explains the exit status.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

/// Writes the whole of `report` to [`REPORT_FD`], or to standard error if
/// there is none.
fn write_report(report: &[u8]) {
    let fd = REPORT_FD.load(Relaxed);
    if fd < 0 {
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), report);
        return;
    }
    let mut rest = report;
    while !rest.is_empty() {
        // SAFETY: `fd` is this module's copy of standard error, open until
        // the process ends; `rest` is a live buffer of that many bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            rest = &rest[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            return;
        }
    }
}

/// Registers the work at exit: `HEAPWISE_SNAPSHOT_AT_EXIT=PATH` saves a
/// snapshot, `HEAPWISE_LEAK_CHECK=1` checks it for leaks. Called by the
/// load-time constructor.
pub(crate) fn at_exit(save: Option<std::path::PathBuf>, check: bool) {
    if (save.is_none() && !check) || AT_EXIT.set((save, check)).is_err() {
        return;
    }
    #[cfg(unix)]
    if check {
        // SAFETY: duplicates a descriptor (close-on-exec, numbered 3 or
        // more); fails harmlessly (-1) if standard error is closed.
        REPORT_FD.store(unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) }, Relaxed);
    }
    extern "C" fn on_exit() {
        let Some((save, check)) = AT_EXIT.get() else {
            return;
        };
        let snapshot = match take() {
            Ok(s) => s,
            Err(e) => {
                let what = if save.is_some() {
                    "HEAPWISE_SNAPSHOT_AT_EXIT"
                } else {
                    "HEAPWISE_LEAK_CHECK"
                };
                say!("heapwise: {what}: {e}");
                return;
            }
        };
        if let Some(path) = save {
            let path = path
                .to_string_lossy()
                .replace("%p", &std::process::id().to_string());
            if let Err(e) = snapshot.save(&path) {
                say!("heapwise: HEAPWISE_SNAPSHOT_AT_EXIT: {path}: {e}");
            }
        }
        if !check {
            return;
        }
        match confirmed_leaks(snapshot) {
            Ok(None) => {}
            Ok(Some(report)) => {
                // The whole report in one write, as each line of the
                // others (`util/say.rs`).
                let report = format!(
                    "\n=================================================================\n==heapwise: detected memory leaks\n\n{report}"
                );
                write_report(report.as_bytes());
                // The program's buffered output (C's stdio: a `puts` into a
                // pipe or file) would be lost by `_exit`, which does not
                // flush, where `exit` would have, after this handler.
                // SAFETY: flushes every open stdio stream; this handler
                // runs inside `exit`, before stdio is torn down.
                unsafe { libc::fflush(std::ptr::null_mut()) };
                // SAFETY: ends the process at once, as LeakSanitizer does.
                unsafe { libc::_exit(LEAK_EXIT_CODE) };
            }
            Err(e) => say!("heapwise: HEAPWISE_LEAK_CHECK: {e}"),
        }
    }
    // SAFETY: `on_exit` is an `extern "C" fn()` that lives as long as the
    // process.
    if unsafe { libc::atexit(on_exit) } != 0 {
        say!("heapwise: atexit failed; no snapshot or leak check at exit");
    }
}
