//! Profiles other tools wrote keep their allocator's frames at the leaf
//! (jemalloc_pprof: `prof_backtrace_impl`, jemalloc's paths, the
//! `GlobalAlloc` wrapper): `top`, `diff` and `flame` leave them out, so a
//! site is the code that allocated, unless `--keep-allocator-frames`.
//! (All of a jemalloc profile's bytes were in `prof_backtrace_impl`, and
//! `diff` of two showed that one site.)

mod common;

use common::*;
use heapwise_pprof::{Line, Location, Profile, ProfileBuilder};

/// A jemalloc_pprof-shaped heap profile: `retain` bytes under
/// `myapp::retain_large`, 1 KiB under `myapp::retain_small`.
fn jemalloc_profile(retain: i64) -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("inuse_space", "bytes");
    let mut id = 0;
    let mut location = |b: &mut ProfileBuilder, names: &[&str]| {
        id += 1;
        let line = names
            .iter()
            .map(|n| Line {
                function_id: b.function(n, n, "", 0),
                line: 1,
                column: 0,
            })
            .collect();
        b.add_location(Location {
            id,
            address: 0x1000 * id,
            line,
            ..Location::default()
        })
    };
    let prof = location(&mut b, &["prof_backtrace_impl", "_rjem_je_prof_backtrace"]);
    let je = location(
        &mut b,
        &[
            "prof_alloc_prep",
            "imalloc_body",
            "imalloc",
            "_rjem_je_malloc_default",
        ],
    );
    let large = location(
        &mut b,
        &[
            "<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::alloc",
            "__rustc::__rust_alloc",
            "alloc::vec::from_elem",
            "myapp::retain_large",
        ],
    );
    let small = location(&mut b, &["__rustc::__rust_alloc", "myapp::retain_small"]);
    let main = location(&mut b, &["myapp::main"]);
    b.sample(&[prof, je, large, main], &[retain], &[]);
    b.sample(&[prof, je, small, main], &[1024], &[]);
    b.build()
}

fn rows(json: &serde_json::Value) -> Vec<(String, i64)> {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let value = r["flat"].as_i64().or_else(|| r["delta"].as_i64()).unwrap();
            (r["name"].as_str().unwrap().to_owned(), value)
        })
        .filter(|(_, v)| *v != 0)
        .collect()
}

#[test]
fn top_and_diff_name_the_code_that_allocated() {
    let dir = TempDir::new("others-frames");
    let old = write_profile(&jemalloc_profile(4096), dir.join("je1.pb.gz"));
    let new = write_profile(&jemalloc_profile(1 << 20), dir.join("je2.pb.gz"));
    let top = run_json(&["top", &new, "--json"]);
    assert_eq!(
        rows(&top),
        [
            ("myapp::retain_large".to_owned(), 1 << 20),
            ("myapp::retain_small".to_owned(), 1024)
        ]
    );
    let diff = run_json(&["diff", &old, &new, "--json"]);
    assert_eq!(
        rows(&diff),
        [("myapp::retain_large".to_owned(), (1 << 20) - 4096)]
    );
    let kept = run_json(&["top", &new, "--json", "--keep-allocator-frames"]);
    assert_eq!(
        rows(&kept),
        [("prof_backtrace_impl".to_owned(), (1 << 20) + 1024)]
    );
}

#[test]
fn flame_draws_the_code_that_allocated_at_the_top() {
    let dir = TempDir::new("others-frames-flame");
    let new = write_profile(&jemalloc_profile(1 << 20), dir.join("je2.pb.gz"));
    let svg = dir.join("je.svg");
    run_ok(&["flame", &new, "-o", svg.to_str().unwrap()]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("myapp::retain_large"), "{text}");
    assert!(!text.contains("prof_backtrace_impl"), "{text}");
}
