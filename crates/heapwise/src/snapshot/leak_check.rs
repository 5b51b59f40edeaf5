//! Leak checks: `HEAPWISE_LEAK_CHECK=1` at exit, [`assert_no_leaks`] in a
//! test. A *direct* leak (a block nothing reachable points to, LeakSanitizer's
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

/// Registers the check at exit (`HEAPWISE_LEAK_CHECK=1`). Called by the
/// load-time constructor.
pub(crate) fn at_exit() {
    extern "C" fn check() {
        let snapshot = match take() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("heapwise: HEAPWISE_LEAK_CHECK: {e}");
                return;
            }
        };
        let analysis = snapshot.analyze();
        if analysis.direct_leaks().next().is_some() {
            eprintln!("\n=================================================================");
            eprintln!("==heapwise: detected memory leaks\n");
            eprint!("{}", analysis.leak_report());
            // SAFETY: ends the process at once, as LeakSanitizer does.
            unsafe { libc::_exit(LEAK_EXIT_CODE) };
        }
    }
    // SAFETY: `check` is an `extern "C" fn()` that lives as long as the
    // process.
    if unsafe { libc::atexit(check) } != 0 {
        eprintln!("heapwise: HEAPWISE_LEAK_CHECK: atexit failed; no leak check");
    }
}
