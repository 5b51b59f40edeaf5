//! Running the real `go tool pprof` in tests.

use std::process::Command;

/// True if `go` runs. If not, prints a notice, or fails if
/// `HEAPWISE_REQUIRE_GO` is set (as `.ci/run` does).
pub(crate) fn go_available() -> bool {
    let found = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("HEAPWISE_REQUIRE_GO").is_none(),
            "`go` is not on PATH, and HEAPWISE_REQUIRE_GO is set"
        );
        eprintln!("notice: `go` is not on PATH; skipping the go tool pprof check");
    }
    found
}

/// `go tool pprof` with this project's environment: no toolchain download,
/// no module proxy.
pub(crate) fn pprof_command() -> Command {
    let mut cmd = Command::new("go");
    cmd.args(["tool", "pprof"]);
    cmd.env("GOTOOLCHAIN", "local").env("GOPROXY", "off");
    cmd
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
