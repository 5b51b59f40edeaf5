//! `go tool pprof` reads heapwise's heap profiles: demangled Rust names of
//! the allocation sites, the values heapwise recorded, `-base` between two
//! of our profiles, and offline symbolization of an addresses-only profile
//! from the binary's build ID.
//!
//! Needs `go`: ignored in a plain run; `.ci/run` installs it and runs these
//! tests (`--include-ignored`), where a missing `go` fails them.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};

use common::go::{flat, pprof_command};
use heapwise::profile::{self, ProfileOptions};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("heapwise-go-{}-{name}", std::process::id()))
}

fn pprof(args: &[&str], files: &[&Path], env: &[(&str, &str)]) -> String {
    let mut cmd = pprof_command();
    cmd.args(args).args(files);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running go tool pprof");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[inline(never)]
fn parse_request_bodies(n: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(vec![i as u8; 3000]));
    }
    v
}

#[inline(never)]
fn build_index(n: usize) -> Vec<String> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box("k".repeat(200 + i % 2)));
    }
    v
}

#[test]
#[ignore = "needs go tool pprof"]
fn go_tool_pprof_reads_our_heap_profile() {
    profile::set_rate(1);
    let bodies = parse_request_bodies(100);
    let index = build_index(1000);
    let path = temp("heap.pb.gz");
    profile::write_heap(&path).unwrap();

    let top = pprof(
        &[
            "-top",
            "-unit=B",
            "-sample_index=alloc_space",
            "-nodecount=1000",
        ],
        &[&path],
        &[],
    );
    // 100 bodies of 3000 bytes and the Vec holding them.
    assert_eq!(
        flat(&top, "profile_go_tool::parse_request_bodies"),
        Some(302_400),
        "{top}"
    );
    // 1000 strings of 200 or 201 bytes, and the Vec of 1000 Strings.
    assert_eq!(
        flat(&top, "profile_go_tool::build_index"),
        Some(200_500 + 24_000),
        "{top}"
    );
    let raw = pprof(&["-raw"], &[&path], &[]);
    assert!(raw.contains("PeriodType: space bytes"), "{raw}");
    assert!(
        raw.contains("alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes")
    );
    assert!(
        raw.contains("profile_go_tool::parse_request_bodies"),
        "{raw}"
    );
    assert!(raw.contains("bytes:[3000]"), "{raw}");
    // The default view of a heap profile is inuse_space.
    let inuse = pprof(&["-top", "-unit=B", "-nodecount=1000"], &[&path], &[]);
    assert_eq!(
        flat(&inuse, "profile_go_tool::parse_request_bodies"),
        Some(302_400),
        "{inuse}"
    );

    // -base between two of our profiles: only what happened in between.
    let base = path.clone();
    drop(bodies);
    let more = parse_request_bodies(7);
    let later = temp("heap2.pb.gz");
    profile::write_heap(&later).unwrap();
    let delta = pprof(
        &[
            "-top",
            "-unit=B",
            "-sample_index=alloc_space",
            "-nodecount=1000",
            "-base",
        ],
        &[&base, &later],
        &[],
    );
    assert_eq!(
        flat(&delta, "profile_go_tool::parse_request_bodies"),
        Some(21_000 + 168),
        "{delta}"
    );
    let live = pprof(
        &[
            "-top",
            "-unit=B",
            "-sample_index=inuse_space",
            "-nodecount=1000",
            "-base",
        ],
        &[&base, &later],
        &[],
    );
    assert_eq!(
        flat(&live, "profile_go_tool::parse_request_bodies"),
        Some(21_168 - 302_400),
        "{live}"
    );
    drop((more, index));
    for p in [base, later] {
        let _ = std::fs::remove_file(p);
    }
}

#[inline(never)]
fn offline_site(n: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(vec![i as u8; 3000]));
    }
    v
}

#[test]
#[ignore = "needs go tool pprof"]
fn an_addresses_only_profile_is_symbolized_offline_by_build_id() {
    profile::set_rate(1);
    let bodies = offline_site(10);
    let p = ProfileOptions::new().addresses_only().heap();
    assert!(p.function.is_empty(), "no symbols in the profile itself");
    let path = temp("addresses.pb.gz");
    std::fs::write(&path, p.encode_gzip()).unwrap();
    // pprof finds the binary by the mapping's path and checks its build ID.
    let top = pprof(
        &[
            "-top",
            "-unit=B",
            "-sample_index=alloc_space",
            "-nodecount=1000",
        ],
        &[&path],
        &[],
    );
    // pprof names what it symbolizes its own way (`offline_site`), and the
    // standard library's allocation frames stay at the leaf: check the
    // site's cumulative figure.
    let cum = top
        .lines()
        .find(|l| {
            l.split_whitespace()
                .last()
                .is_some_and(|f| f.ends_with("offline_site"))
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(3)?
                .trim_end_matches('B')
                .parse::<i64>()
                .ok()
        });
    assert_eq!(cum, Some(30_000 + 240), "{top}");
    drop(bodies);
    let _ = std::fs::remove_file(path);
}
