//! heaptrack and heapwise at rate 1 count the same allocations: one
//! workload (known functions allocating known numbers of blocks) runs
//! under heaptrack with heapwise's profiling off and under heapwise at
//! rate 1, `heapwise import heaptrack` converts heaptrack's recording, and
//! the two profiles' allocation counts agree within 0.5% and name the same
//! top sites.
//!
//! The workload is this test binary itself, re-run with only
//! [`workload_counts_are_exact`] and `WORKLOAD_PROFILE` set; a plain run of
//! that test checks heapwise's exact counts in-process.

#![allow(clippy::vec_box)] // the boxes are the allocations under test

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;

use common::{run_ok, TempDir};
use heapwise_cli::{top_report, SampleIndex, TopOptions};
use heapwise_pprof::Profile;

/// How many blocks each site allocates.
const STRINGS: usize = 60_000;
const BOXES: usize = 30_000;
const VECS: usize = 10_000;

/// In a re-run of the workload: where heapwise writes its profile, or
/// `-` for none (under heaptrack).
const PROFILE_VAR: &str = "HEAPWISE_TEST_WORKLOAD_PROFILE";

#[inline(never)]
fn make_strings(n: usize) -> Vec<String> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = String::with_capacity(24);
        s.push_str(if i % 2 == 0 { "even" } else { "odd" });
        v.push(black_box(s));
    }
    v
}

#[inline(never)]
fn make_boxes(n: usize) -> Vec<Box<[u64; 4]>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(Box::new([i as u64; 4])));
    }
    v
}

#[inline(never)]
fn make_vecs(n: usize) -> Vec<Vec<u32>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(Vec::<u32>::with_capacity(i % 64 + 1)));
    }
    v
}

/// What the workload keeps.
type Kept = (Vec<String>, Vec<Box<[u64; 4]>>, Vec<Vec<u32>>);

/// Runs the workload: every site's blocks allocated, half of them freed.
fn workload() -> Kept {
    let mut strings = make_strings(STRINGS);
    let mut boxes = make_boxes(BOXES);
    let mut vecs = make_vecs(VECS);
    strings.truncate(STRINGS / 2);
    boxes.truncate(BOXES / 2);
    vecs.truncate(VECS / 2);
    (strings, boxes, vecs)
}

/// Blocks allocated by functions named `name` (leaf frame).
fn allocs_at(p: &Profile, name: &str) -> i64 {
    value_at(p, name, 0)
}

/// The sum of value `index` of the samples whose leaf is `name`.
fn value_at(p: &Profile, name: &str, index: usize) -> i64 {
    p.sample
        .iter()
        .filter(|s| {
            p.stack_function_names(s)
                .first()
                .is_some_and(|n| n.ends_with(name))
        })
        .map(|s| s.value[index])
        .sum()
}

#[test]
fn workload_counts_are_exact() {
    if let Some(out) = std::env::var_os(PROFILE_VAR) {
        // A re-run: the rate comes from HEAPWISE_PROFILE_RATE. What is
        // kept is never freed, so it is in use at the end of heaptrack's
        // recording as in heapwise's profile.
        std::mem::forget(workload());
        if out != "-" {
            heapwise::profile::write_heap(&out).expect("writing the profile");
        }
        return;
    }
    heapwise::profile::set_rate(1);
    let kept = workload();
    let p = heapwise::profile::heap();
    // Each site: its blocks, and the one Vec holding them.
    assert_eq!(allocs_at(&p, "::make_strings"), STRINGS as i64 + 1);
    assert_eq!(allocs_at(&p, "::make_boxes"), BOXES as i64 + 1);
    assert_eq!(allocs_at(&p, "::make_vecs"), VECS as i64 + 1);
    drop(kept);
}

/// The top `n` functions by flat allocation count.
fn top_names(p: &Profile, n: usize) -> Vec<String> {
    let options = TopOptions {
        sample_index: SampleIndex::Name("alloc_objects".into()),
        max_rows: n,
        ..TopOptions::default()
    };
    let report = top_report(p, &options).expect("a top table");
    report.rows.iter().map(|r| r.name.clone()).collect()
}

#[test]
#[ignore = "needs heaptrack"]
fn heaptrack_and_heapwise_count_the_same_allocations() {
    let dir = TempDir::new("heaptrack");
    let exe = std::env::current_exe().expect("the test binary");
    let args = [
        "--exact",
        "workload_counts_are_exact",
        "--test-threads=1",
        "--quiet",
    ];

    // Under heaptrack, heapwise's profiling off.
    let data = heapwise_test_support::run_heaptrack(
        &exe,
        &args,
        &[(PROFILE_VAR, "-"), ("HEAPWISE_PROFILE_RATE", "0")],
        dir.path(),
    );
    let imported = dir.join("heaptrack.pb.gz");
    run_ok(&[
        "import",
        "heaptrack",
        data.to_str().unwrap(),
        "-o",
        imported.to_str().unwrap(),
    ]);

    // Under heapwise at rate 1.
    let own = dir.join("heapwise.pb.gz");
    let out = std::process::Command::new(&exe)
        .args(args)
        .env(PROFILE_VAR, &own)
        .env("HEAPWISE_PROFILE_RATE", "1")
        .output()
        .expect("running the workload");
    heapwise_test_support::expect_success(&out, "the workload under heapwise");

    let read = |path: &std::path::Path| Profile::decode(&std::fs::read(path).unwrap()).unwrap();
    let (ht, hw) = (read(&imported), read(&own));
    let (ht_total, hw_total) = (ht.total(0), hw.total(0));
    let tops = (top_names(&ht, 3), top_names(&hw, 3));
    eprintln!(
        "allocations: heaptrack {ht_total}, heapwise {hw_total}; top sites: heaptrack {:?}, heapwise {:?}",
        tops.0, tops.1
    );
    let expected = (STRINGS + BOXES + VECS) as i64;
    assert!(hw_total >= expected && ht_total >= expected);
    let diff = (ht_total - hw_total).abs() as f64 / hw_total as f64;
    assert!(
        diff <= 0.005,
        "heaptrack counted {ht_total} allocations, heapwise {hw_total}: {:.2}% apart",
        diff * 100.0
    );
    for site in ["make_strings", "make_boxes", "make_vecs"] {
        let (a, b) = (
            allocs_at(&ht, &format!("::{site}")),
            allocs_at(&hw, &format!("::{site}")),
        );
        assert_eq!(a, b, "{site}: heaptrack {a}, heapwise {b}");
        let inuse = ht.sample_type_index("inuse_objects").unwrap();
        let (a, b) = (
            value_at(&ht, &format!("::{site}"), inuse),
            value_at(&hw, &format!("::{site}"), inuse),
        );
        assert_eq!(a, b, "{site} in use: heaptrack {a}, heapwise {b}");
    }
    assert_eq!(tops.0, tops.1, "the top sites by allocation count");
}
