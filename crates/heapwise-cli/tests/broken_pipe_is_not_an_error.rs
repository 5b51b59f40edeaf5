//! `heapwise top big.pb.gz | head -1`: when the reader closes the pipe
//! early, heapwise stops, exits 0 and prints nothing on stderr.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::*;

/// Runs `heapwise ARGS` with stdout on a pipe that is closed after the
/// first bytes, and asserts a silent success. The output is far larger
/// than a pipe's buffer, so heapwise is still writing when the pipe
/// closes.
fn assert_quiet_on_closed_pipe(args: &[&str]) {
    let mut child = heapwise()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting heapwise");
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut first = [0u8; 16];
    stdout
        .read_exact(&mut first)
        .expect("reading the first bytes");
    drop(stdout);
    let out = child.wait_with_output().expect("waiting for heapwise");
    assert!(
        out.status.success(),
        "{args:?}: {} with stderr:\n{}",
        out.status,
        stderr(&out)
    );
    assert!(out.stderr.is_empty(), "{args:?}: stderr:\n{}", stderr(&out));
}

#[test]
fn a_closed_stdout_pipe_ends_every_command_quietly() {
    let dir = TempDir::new("pipe");
    let wide = write_profile(&wide_profile(5_000), dir.join("wide.pb.gz"));
    let other = write_profile(&wide_profile(10), dir.join("other.pb.gz"));

    // The whole table would be over a megabyte.
    let full = run_ok(&["top", &wide, "-n", "0"]);
    assert!(full.len() > 256 << 10, "{}", full.len());

    assert_quiet_on_closed_pipe(&["top", &wide, "-n", "0"]);
    assert_quiet_on_closed_pipe(&["top", &wide, "-n", "0", "--json"]);
    assert_quiet_on_closed_pipe(&["diff", &other, &wide, "-n", "0"]);
    assert_quiet_on_closed_pipe(&["flame", &wide, "-o", "-"]);
}

#[test]
fn head_in_a_shell_pipeline() {
    let dir = TempDir::new("pipe-shell");
    let wide = write_profile(&wide_profile(5_000), dir.join("wide.pb.gz"));
    // `set -o pipefail` is not POSIX; save heapwise's status by hand.
    let script = format!(
        "{{ '{}' top '{}' -n 0 2> '{}'; echo $? > '{}'; }} | head -n 1",
        env!("CARGO_BIN_EXE_heapwise"),
        wide,
        dir.join("stderr").display(),
        dir.join("status").display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("running sh");
    assert!(out.status.success());
    assert_eq!(stdout(&out), "Type: inuse_space\n");
    let status = std::fs::read_to_string(dir.join("status")).unwrap();
    assert_eq!(status.trim(), "0");
    assert_eq!(std::fs::read_to_string(dir.join("stderr")).unwrap(), "");
}
