//! `HEAPWISE_PROFILE_RATE` and `HEAPWISE_TRACE`, read before `main`: each
//! test re-runs itself as a child with the variable set (`common/child.rs`)
//! and asserts on what the child printed. Run directly, a test is always the
//! parent, so it cannot pass without its children running.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::time::{Duration, Instant};

use common::child;

/// Runs `test` again as a child in `role` with `env`; its stdout and stderr.
fn child_of(test: &str, role: &str, env: &[(&str, &str)]) -> (String, String) {
    let out = child::run(test, role, env, Duration::from_secs(60));
    out.assert_success();
    (out.stdout, out.stderr)
}

/// The child's part of the rate tests: print the rate it started with.
fn print_rate() {
    println!("rate={}", heapwise::profile::rate());
}

/// The child's part of the trace tests: allocate for 300 ms.
fn stay_busy() {
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        std::hint::black_box(vec![0u8; 1000]);
    }
}

#[test]
fn the_rate_is_read_from_the_environment() {
    const TEST: &str = "the_rate_is_read_from_the_environment";
    if child::role().is_some() {
        return print_rate();
    }
    for (value, rate) in [
        ("1MiB", 1 << 20),
        ("1", 1),
        ("0", 0),
        ("4096", 4096),
        ("64 KiB", 65536),
        ("1TiB", 1u64 << 40),
    ] {
        let (stdout, stderr) = child_of(TEST, "rate", &[("HEAPWISE_PROFILE_RATE", value)]);
        assert!(
            stdout.contains(&format!("rate={rate}\n")),
            "{value}: {stdout}"
        );
        assert!(!stderr.contains("heapwise:"), "{value}: {stderr}");
    }
    let (stdout, _) = child_of(TEST, "rate", &[]);
    assert!(stdout.contains("rate=524288\n"), "the default: {stdout}");
}

#[test]
fn a_bad_rate_is_one_clear_line_and_the_default_is_kept() {
    const TEST: &str = "a_bad_rate_is_one_clear_line_and_the_default_is_kept";
    if child::role().is_some() {
        return print_rate();
    }
    let (stdout, stderr) = child_of(TEST, "rate", &[("HEAPWISE_PROFILE_RATE", "12parsecs")]);
    assert!(stdout.contains("rate=524288\n"), "{stdout}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("heapwise:"))
        .collect();
    assert_eq!(
        lines,
        ["heapwise: HEAPWISE_PROFILE_RATE: invalid rate \"12parsecs\": unknown unit \"parsecs\" (use B, KiB, MiB, GiB or TiB); keeping the default (512 KiB)"]
    );
}

#[test]
fn the_trace_prints_one_line_per_interval() {
    const TEST: &str = "the_trace_prints_one_line_per_interval";
    if child::role().is_some() {
        return stay_busy();
    }
    let (_, stderr) = child_of(TEST, "busy", &[("HEAPWISE_TRACE", "50ms")]);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("heapwise "))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    assert!(lines[0].starts_with("heapwise 1 @0."), "{}", lines[0]);
    for l in &lines {
        for field in [
            ": live ",
            " peak ",
            " | alloc ",
            "/s | free ",
            " | prof 512KiB ",
            " | own ",
        ] {
            assert!(l.contains(field), "{field:?} missing in {l}");
        }
    }
    let (_, stderr) = child_of(TEST, "busy", &[("HEAPWISE_TRACE", "soon")]);
    assert!(
        stderr.contains("heapwise: HEAPWISE_TRACE: invalid interval \"soon\""),
        "{stderr}"
    );
}
