//! Tests that need a process of their own (a panic hook, `fork`, the
//! environment read before `main`): the test re-runs itself, by name, as a
//! child with a role, and asserts on what the child did. Run directly, such a
//! test is always the parent, so it cannot pass without its child running.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "HEAPWISE_TEST_CHILD";

/// The role this process was started with by [`run`], if it is a child.
pub(crate) fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// What a child did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Outcome {
    /// Asserts the child exited with success, showing its output if not.
    pub(crate) fn assert_success(&self) -> &Outcome {
        match self.status {
            None => panic!(
                "the child hung (killed)\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            ),
            Some(s) if !s.success() => panic!(
                "the child failed: {s}\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            ),
            Some(_) => self,
        }
    }
}

/// Runs the test `test` of this binary as a child with `role` and `env`;
/// kills it if it has not exited after `timeout` (`status` is then `None`).
pub(crate) fn run(test: &str, role: &str, env: &[(&str, &str)], timeout: Duration) -> Outcome {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let mut stderr = String::new();
    let err_reader = std::thread::spawn(move || {
        let _ = err.read_to_string(&mut stderr);
        stderr
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        status,
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Runs `test` as a child once with each `RUST_BACKTRACE` setting (0, 1,
/// full), asserting each one succeeded within `timeout` and printed
/// `needle` on stdout; the outcomes, for more checks.
pub(crate) fn run_with_each_backtrace(test: &str, needle: &str, timeout: Duration) -> Vec<Outcome> {
    ["0", "1", "full"]
        .into_iter()
        .map(|backtrace| {
            let out = run(test, "backtrace", &[("RUST_BACKTRACE", backtrace)], timeout);
            out.assert_success();
            assert!(
                out.stdout.contains(needle),
                "RUST_BACKTRACE={backtrace}: {}",
                out.stdout
            );
            out
        })
        .collect()
}
