//! `HEAPWISE_PROFILE_RATE` and `HEAPWISE_TRACE`, read before `main`: each
//! case re-runs this test binary as a child with the variable set.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::process::Command;

const CHILD: &str = "HEAPWISE_TEST_CHILD";

/// Runs the test `name` of this binary in a child process with `env`.
fn child(name: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

#[test]
fn report_rate() {
    if in_child() {
        println!("rate={}", heapwise::profile::rate());
    }
}

#[test]
fn the_rate_is_read_from_the_environment() {
    if in_child() {
        return;
    }
    for (value, rate) in [
        ("1MiB", 1 << 20),
        ("1", 1),
        ("0", 0),
        ("4096", 4096),
        ("64 KiB", 65536),
    ] {
        let (stdout, stderr) = child("report_rate", &[("HEAPWISE_PROFILE_RATE", value)]);
        assert!(
            stdout.contains(&format!("rate={rate}\n")),
            "{value}: {stdout}"
        );
        assert!(!stderr.contains("heapwise:"), "{value}: {stderr}");
    }
    let (stdout, _) = child("report_rate", &[]);
    assert!(stdout.contains("rate=524288\n"), "the default: {stdout}");
}

#[test]
fn a_bad_rate_is_one_clear_line_and_the_default_is_kept() {
    if in_child() {
        return;
    }
    let (stdout, stderr) = child("report_rate", &[("HEAPWISE_PROFILE_RATE", "12parsecs")]);
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
fn busy_for_a_while() {
    if in_child() {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        while std::time::Instant::now() < until {
            std::hint::black_box(vec![0u8; 1000]);
        }
    }
}

#[test]
fn the_trace_prints_one_line_per_interval() {
    if in_child() {
        return;
    }
    let (_, stderr) = child("busy_for_a_while", &[("HEAPWISE_TRACE", "50ms")]);
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
    let (_, stderr) = child("busy_for_a_while", &[("HEAPWISE_TRACE", "soon")]);
    assert!(
        stderr.contains("heapwise: HEAPWISE_TRACE: invalid interval \"soon\""),
        "{stderr}"
    );
}
