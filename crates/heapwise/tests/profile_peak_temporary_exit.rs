//! The peak and temporary sample types, and the profile written at exit
//! (`HEAPWISE_PROFILE_AT_EXIT`, `HEAPWISE_PROFILE_EVERY`). The peak is the
//! process's, so each test runs its scenario in a child of its own
//! (`common/child.rs`) with no other test's allocations beside it.

#![allow(clippy::vec_box)] // the boxes are the allocations under test

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::child;
use common::profile::value;
use heapwise::pprof::Profile;
use heapwise::profile;

#[inline(never)]
fn spike(n: usize) -> Vec<Box<[u8; 10_000]>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(black_box(Box::new([7u8; 10_000])));
    }
    v
}

#[inline(never)]
fn steady(n: usize) -> Vec<Box<[u8; 1000]>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(black_box(Box::new([1u8; 1000])));
    }
    v
}

#[inline(never)]
fn after_the_peak(n: usize) -> Vec<Box<[u8; 100]>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(black_box(Box::new([2u8; 100])));
    }
    v
}

#[inline(never)]
fn short_lived(n: usize) {
    for i in 0..n {
        drop(black_box(Box::new([i as u8; 100])));
    }
}

#[inline(never)]
fn held_until_later(n: usize) -> Vec<Box<[u8; 200]>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(black_box(Box::new([3u8; 200])));
    }
    v
}

#[inline(never)]
fn leaked(n: usize) {
    for _ in 0..n {
        std::mem::forget(black_box(Box::new([4u8; 300])));
    }
}

fn read(path: &Path) -> Profile {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Profile::decode(&bytes).unwrap()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("heapwise-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_peak_names_a_spike_that_is_gone() {
    const TEST: &str = "the_peak_names_a_spike_that_is_gone";
    if let Some(path) = child::role() {
        profile::set_rate(1);
        let kept = steady(200);
        drop(spike(1000));
        let later = after_the_peak(100);
        profile::write_peak(&path).unwrap();
        black_box((kept, later));
        return;
    }
    let d = dir("peak");
    let path = d.join("peak.pb.gz");
    child::run(TEST, path.to_str().unwrap(), &[], Duration::from_secs(60)).assert_success();
    let p = read(&path);
    assert_eq!(p.string(p.default_sample_type), "peak_space");
    // At the peak: the spike and what was kept; not what came after.
    assert_eq!(value(&p, "spike", Some(10_000), "peak_space"), 10_000_000);
    assert_eq!(value(&p, "spike", Some(10_000), "peak_objects"), 1000);
    assert_eq!(value(&p, "spike", Some(10_000), "inuse_space"), 0);
    assert_eq!(value(&p, "steady", Some(1000), "peak_space"), 200_000);
    assert_eq!(value(&p, "after_the_peak", Some(100), "peak_space"), 0);
    assert_eq!(
        value(&p, "after_the_peak", Some(100), "inuse_space"),
        10_000
    );
    let comment = p.comment.iter().map(|&c| p.string(c)).collect::<Vec<_>>();
    assert!(
        comment.iter().any(|c| c.starts_with("peak: ")),
        "{comment:?}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_sampled_profile_carries_the_process_figures() {
    const TEST: &str = "a_sampled_profile_carries_the_process_figures";
    if let Some(path) = child::role() {
        // The default rate: a few samples of what follows, every call counted.
        let kept = steady(3000);
        short_lived(5000);
        let before = heapwise::stats();
        profile::write_heap(&path).unwrap();
        let after = heapwise::stats();
        assert_eq!(
            (
                after.allocs,
                after.frees,
                after.allocated_bytes,
                after.peak_bytes
            ),
            (
                before.allocs,
                before.frees,
                before.allocated_bytes,
                before.peak_bytes
            ),
            "writing a profile is heapwise's own work"
        );
        let p = read(Path::new(&path));
        let comment = p.comment.iter().map(|&c| p.string(c)).collect::<Vec<_>>();
        let expected = format!(
            "{} allocs={} allocated_bytes={} frees={} live_bytes={} peak_bytes={}",
            profile::__PROCESS_TOTALS,
            before.allocs,
            before.allocated_bytes,
            before.frees,
            before.live_bytes,
            before.peak_bytes
        );
        assert!(
            comment.contains(&expected.as_str()),
            "{comment:?}\n{expected}"
        );
        assert!(
            before.allocs >= 8000 && before.live_bytes >= 3_000_000,
            "{before:?}"
        );
        black_box(kept);
        return;
    }
    let d = dir("totals");
    let path = d.join("heap.pb.gz");
    child::run(TEST, path.to_str().unwrap(), &[], Duration::from_secs(60)).assert_success();
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn temporary_blocks_are_counted_in_full_mode_only() {
    const TEST: &str = "temporary_blocks_are_counted_in_full_mode_only";
    if let Some(role) = child::role() {
        let (rate, path) = role.split_once(' ').unwrap();
        profile::set_rate(rate.parse().unwrap());
        short_lived(1000);
        let held = held_until_later(100);
        let other = black_box(vec![0u8; 10]);
        drop(held);
        drop(other);
        profile::write_heap(path).unwrap();
        return;
    }
    let d = dir("temporary");
    let path = d.join("heap.pb.gz");
    let role = format!("1 {}", path.display());
    child::run(TEST, &role, &[], Duration::from_secs(60)).assert_success();
    let p = read(&path);
    assert_eq!(
        value(&p, "short_lived", Some(100), "temporary_objects"),
        1000
    );
    assert_eq!(
        value(&p, "short_lived", Some(100), "temporary_space"),
        100_000
    );
    assert_eq!(
        value(&p, "held_until_later", Some(200), "temporary_objects"),
        0
    );
    assert_eq!(
        value(&p, "held_until_later", Some(200), "alloc_objects"),
        100
    );
    // Sampled: not every allocation is seen, so none is called temporary.
    let role = format!("4096 {}", path.display());
    child::run(TEST, &role, &[], Duration::from_secs(60)).assert_success();
    let p = read(&path);
    let i = p.sample_type_index("temporary_objects").unwrap();
    assert!(p.sample.iter().all(|s| s.value[i] == 0));
    let _ = std::fs::remove_dir_all(d);
}

/// The one profile the child wrote in `d` (a kill during a rewrite may
/// leave a temporary file beside it).
fn written(d: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".pb.gz"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn the_profile_at_exit_is_written_when_main_returns_and_at_process_exit() {
    const TEST: &str = "the_profile_at_exit_is_written_when_main_returns_and_at_process_exit";
    if let Some(role) = child::role() {
        leaked(500);
        if role == "exit" {
            std::process::exit(0);
        }
        return;
    }
    for role in ["return", "exit"] {
        let d = dir(&format!("exit-{role}"));
        let path = d.join("heap.%p.pb.gz");
        let env = [
            ("HEAPWISE_PROFILE_AT_EXIT", path.to_str().unwrap()),
            ("HEAPWISE_PROFILE_RATE", "1"),
        ];
        let out = child::run(TEST, role, &env, Duration::from_secs(60));
        out.assert_success();
        assert!(!out.stderr.contains("heapwise:"), "{}", out.stderr);
        let file = written(&d);
        assert!(!file.to_str().unwrap().contains("%p"), "{file:?}");
        let p = read(&file);
        assert_eq!(p.string(p.default_sample_type), "inuse_space");
        assert_eq!(
            value(&p, "leaked", Some(300), "inuse_objects"),
            500,
            "{role}"
        );
        assert_eq!(
            value(&p, "leaked", Some(300), "peak_objects"),
            500,
            "{role}"
        );
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_profile_directory_that_takes_no_files_is_reported_before_main() {
    const TEST: &str = "a_profile_directory_that_takes_no_files_is_reported_before_main";
    if child::role().is_some() {
        eprintln!("main runs");
        leaked(10);
        return;
    }
    let d = dir("unwritable");
    let missing = d.join("missing");
    let path = missing.join("heap.pb.gz");
    let env = [("HEAPWISE_PROFILE_AT_EXIT", path.to_str().unwrap())];
    let out = child::run(TEST, "return", &env, Duration::from_secs(60));
    out.assert_success();
    let said = format!(
        "heapwise: HEAPWISE_PROFILE_AT_EXIT: {}: no such file or directory; no profile at exit\nmain runs\n",
        missing.display()
    );
    assert!(out.stderr.contains(&said), "{}", out.stderr);
    // Through the API: an error now, and the one setting per process is
    // still there to take.
    let e = profile::write_at_exit(&path, None).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    let file = d.join("a-file");
    std::fs::write(&file, b"").unwrap();
    let e = profile::write_at_exit(file.join("x.pb.gz"), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: not a directory", file.display())
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_forked_child_writes_its_own_profile_at_exit() {
    const TEST: &str = "a_forked_child_writes_its_own_profile_at_exit";
    if child::role().is_some() {
        leaked(100);
        // SAFETY: the child only allocates and exits; this process has the
        // test harness's threads, which the child does not touch.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            leaked(200);
            std::process::exit(0);
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        return;
    }
    let d = dir("fork");
    let path = d.join("heap.%p.pb.gz");
    let env = [
        ("HEAPWISE_PROFILE_AT_EXIT", path.to_str().unwrap()),
        ("HEAPWISE_PROFILE_RATE", "1"),
    ];
    child::run(TEST, "fork", &env, Duration::from_secs(60)).assert_success();
    let mut leaks: Vec<i64> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| {
            value(
                &read(&e.unwrap().path()),
                "leaked",
                Some(300),
                "inuse_objects",
            )
        })
        .collect();
    leaks.sort();
    // The parent's 100; the child's 100 inherited and 200 of its own.
    assert_eq!(leaks, [100, 300]);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn the_profile_rewritten_on_an_interval_survives_a_kill() {
    const TEST: &str = "the_profile_rewritten_on_an_interval_survives_a_kill";
    if child::role().is_some() {
        leaked(500);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let d = dir("every");
    let path = d.join("heap.pb.gz");
    let env = [
        ("HEAPWISE_PROFILE_AT_EXIT", path.to_str().unwrap()),
        ("HEAPWISE_PROFILE_EVERY", "100ms"),
        ("HEAPWISE_PROFILE_RATE", "1"),
    ];
    let started = Instant::now();
    // Killed (SIGKILL) when the time is up: no exit handler runs.
    let out = child::run(TEST, "loop", &env, Duration::from_secs(3));
    assert!(out.status.is_none(), "the child was to be killed: {out:?}");
    assert!(started.elapsed() >= Duration::from_secs(3));
    let p = read(&written(&d));
    assert_eq!(value(&p, "leaked", Some(300), "inuse_objects"), 500);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn bad_interval_is_one_line_and_the_profile_is_still_written_at_exit() {
    const TEST: &str = "bad_interval_is_one_line_and_the_profile_is_still_written_at_exit";
    if child::role().is_some() {
        leaked(10);
        return;
    }
    let d = dir("bad-every");
    let path = d.join("heap.pb.gz");
    let env = [
        ("HEAPWISE_PROFILE_AT_EXIT", path.to_str().unwrap()),
        ("HEAPWISE_PROFILE_EVERY", "often"),
    ];
    let out = child::run(TEST, "bad", &env, Duration::from_secs(60));
    out.assert_success();
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("heapwise:"))
        .collect();
    assert_eq!(
        lines,
        ["heapwise: HEAPWISE_PROFILE_EVERY: \"often\" is not a number with a unit (10s, 500ms, 1m); written at exit only"]
    );
    read(&written(&d));
    // EVERY without AT_EXIT says what it needs.
    let out = child::run(
        TEST,
        "bad",
        &[("HEAPWISE_PROFILE_EVERY", "1s")],
        Duration::from_secs(60),
    );
    out.assert_success();
    assert!(
        out.stderr
            .contains("heapwise: HEAPWISE_PROFILE_EVERY: needs HEAPWISE_PROFILE_AT_EXIT"),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(d);
}
