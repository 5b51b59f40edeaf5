//! `--peak` and `--temporary`: the views of heapwise's extra heap-profile
//! sample types, in `top` and `flame`.

mod common;

use common::*;
use heapwise_pprof::{Profile, ProfileBuilder};

/// A heapwise heap profile: `app::spike` was the peak and is gone,
/// `app::steady` is live, `app::scratch` allocates temporaries.
fn heap() -> Profile {
    let mut b = ProfileBuilder::new();
    for (t, u) in [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
        ("peak_objects", "count"),
        ("peak_space", "bytes"),
        ("temporary_objects", "count"),
        ("temporary_space", "bytes"),
    ] {
        b.sample_type(t, u);
    }
    b.period("space", "bytes", 1)
        .default_sample_type("inuse_space");
    let main = b.frame("app::main", "src/main.rs", 3);
    let spike = b.frame("app::spike", "src/lib.rs", 10);
    let steady = b.frame("app::steady", "src/lib.rs", 20);
    let scratch = b.frame("app::scratch", "src/lib.rs", 30);
    b.sample(
        &[spike, main],
        &[1000, 10_000_000, 0, 0, 1000, 10_000_000, 0, 0],
        &[],
    );
    b.sample(
        &[steady, main],
        &[200, 200_000, 200, 200_000, 200, 200_000, 0, 0],
        &[],
    );
    b.sample(
        &[scratch, main],
        &[5000, 500_000, 0, 0, 1, 100, 4999, 499_900],
        &[],
    );
    b.build()
}

fn top_names(json: &serde_json::Value) -> Vec<(String, i64)> {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["flat"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn top_peak_and_temporary_pick_their_sample_types() {
    let dir = TempDir::new("peak");
    let file = write_profile(&heap(), dir.join("heap.pb.gz"));
    let json = run_json(&["top", &file, "--json"]);
    assert_eq!(json["sample_type"], "inuse_space");
    let json = run_json(&["top", &file, "--peak", "--json"]);
    assert_eq!(json["sample_type"], "peak_space");
    let rows = top_names(&json);
    assert_eq!(rows[0], ("app::spike".to_string(), 10_000_000));
    assert_eq!(rows[1], ("app::steady".to_string(), 200_000));
    let json = run_json(&["top", &file, "--temporary", "--json"]);
    assert_eq!(json["sample_type"], "temporary_objects");
    assert_eq!(top_names(&json)[0], ("app::scratch".to_string(), 4999));
    let text = run_ok(&["top", &file, "--peak"]);
    assert!(text.contains("app::spike"), "{text}");
    let svg_path = dir.join("peak.svg");
    run_ok(&["flame", &file, "--peak", "-o", svg_path.to_str().unwrap()]);
    let svg = read_svg(&svg_path);
    assert!(
        svg.contains("app::spike"),
        "the peak's flame graph: {svg:.300}"
    );
}

#[test]
fn peak_with_sample_index_or_on_a_go_profile_is_one_error_line() {
    let dir = TempDir::new("peak-errors");
    let file = write_profile(&heap(), dir.join("heap.pb.gz"));
    let o = run(&["top", &file, "--peak", "--sample-index", "inuse_space"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    // A Go heap profile has no peak: the error lists what it has.
    let mut b = ProfileBuilder::new();
    b.sample_type("inuse_objects", "count")
        .sample_type("inuse_space", "bytes");
    let f = b.frame("main.main", "main.go", 1);
    b.sample(&[f], &[1, 10], &[]);
    let go = write_profile(&b.build(), dir.join("go.pb.gz"));
    let o = run(&["top", &go, "--peak"]);
    assert_one_error_line(&o, &["peak_space", "inuse_space"]);
}
