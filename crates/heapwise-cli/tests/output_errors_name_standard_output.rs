//! A failed write to standard output names it (`writing to stdout: No
//! space left on device (os error 28)`), as one error line with exit code
//! 1; a closed pipe stays a success (see `broken_pipe_is_not_an_error`).

#![cfg(target_os = "linux")]

mod common;

use std::fs::OpenOptions;

use common::*;

#[test]
fn a_full_stdout_is_a_one_line_error_naming_it() {
    let dir = TempDir::new("dev-full");
    let file = write_profile(&inline_profile(), dir.join("heap.pb.gz"));
    for args in [
        &["top", &file][..],
        &["top", &file, "--json"],
        &["diff", &file, &file],
        &["flame", &file, "-o", "-"],
        &["probes"],
    ] {
        let full = OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("opening /dev/full");
        let o = heapwise()
            .args(args)
            .stdout(full)
            .output()
            .expect("running heapwise");
        assert_one_error_line(
            &o,
            &["heapwise: error: writing to stdout: No space left on device (os error 28)"],
        );
    }
}
