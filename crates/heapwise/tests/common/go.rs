//! Running the real `go tool pprof` in tests.

use std::process::Command;

/// `go tool pprof` with this project's environment (panics naming the
/// package when `go` is missing: see `heapwise-test-support`).
pub(crate) fn pprof_command() -> Command {
    heapwise_test_support::go_tool_pprof()
}

/// The flat value pprof's `-top -unit=B` shows for the row naming `function`.
pub(crate) fn flat(top: &str, function: &str) -> Option<i64> {
    top.lines()
        .find(|l| l.split_whitespace().last() == Some(function))
        .and_then(|l| {
            l.split_whitespace()
                .next()?
                .trim_end_matches('B')
                .parse()
                .ok()
        })
}
