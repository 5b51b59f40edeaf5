//! Leak checks: `HEAPWISE_LEAK_CHECK=1` at exit, [`assert_no_leaks`] in a
//! test; and `HEAPWISE_SNAPSHOT_AT_EXIT=PATH`, a snapshot saved at exit. A *direct* leak (a block nothing reachable points to, LeakSanitizer's
//! meaning) fails the check; the report is LeakSanitizer's format.

use super::take;

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
    let snapshot = match take() {
        Ok(s) => s,
        Err(e) => panic!("heapwise::snapshot::assert_no_leaks: {e}"),
    };
    let analysis = snapshot.analyze();
    if analysis.direct_leaks().next().is_some() {
        panic!("heapwise found leaks:\n{}", analysis.leak_report());
    }
}

/// What to do at exit: save the snapshot here (`%p`: the process id), and
/// whether to check for leaks. Set once, by the load-time constructor.
static AT_EXIT: std::sync::OnceLock<(Option<std::path::PathBuf>, bool)> =
    std::sync::OnceLock::new();

/// Registers the work at exit: `HEAPWISE_SNAPSHOT_AT_EXIT=PATH` saves a
/// snapshot, `HEAPWISE_LEAK_CHECK=1` checks it for leaks. Called by the
/// load-time constructor.
pub(crate) fn at_exit(save: Option<std::path::PathBuf>, check: bool) {
    if (save.is_none() && !check) || AT_EXIT.set((save, check)).is_err() {
        return;
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
                eprintln!("heapwise: {what}: {e}");
                return;
            }
        };
        if let Some(path) = save {
            let path = path
                .to_string_lossy()
                .replace("%p", &std::process::id().to_string());
            if let Err(e) = snapshot.save(&path) {
                eprintln!("heapwise: HEAPWISE_SNAPSHOT_AT_EXIT: {path}: {e}");
            }
        }
        if !check {
            return;
        }
        let analysis = snapshot.analyze();
        if analysis.direct_leaks().next().is_some() {
            eprintln!("\n=================================================================");
            eprintln!("==heapwise: detected memory leaks\n");
            eprint!("{}", analysis.leak_report());
            // SAFETY: ends the process at once, as LeakSanitizer does.
            unsafe { libc::_exit(LEAK_EXIT_CODE) };
        }
    }
    // SAFETY: `on_exit` is an `extern "C" fn()` that lives as long as the
    // process.
    if unsafe { libc::atexit(on_exit) } != 0 {
        eprintln!("heapwise: atexit failed; no snapshot or leak check at exit");
    }
}
