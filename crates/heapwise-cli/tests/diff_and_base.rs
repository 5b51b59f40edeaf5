//! `heapwise diff OLD NEW` and `--base OLD`: what grew and shrank, with
//! exact figures, and a clear error for profiles that cannot be compared.

mod common;

use common::*;
use heapwise_pprof::{Profile, ProfileBuilder};

const KIB: i64 = 1 << 10;

/// A heap-style profile (objects and bytes) with four sites under
/// `app::main`; a site with 0 bytes has no sample.
fn sites(cache_fill: i64, load_config: i64, spawn_worker: i64, steady: i64) -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("inuse_objects", "count")
        .sample_type("inuse_space", "bytes")
        .period("space", "bytes", 1);
    let main = b.frame("app::main", "src/main.rs", 3);
    for (name, bytes) in [
        ("app::cache_fill", cache_fill),
        ("app::load_config", load_config),
        ("app::spawn_worker", spawn_worker),
        ("app::steady", steady),
    ] {
        if bytes != 0 {
            let leaf = b.frame(name, "src/lib.rs", 10);
            b.sample(&[leaf, main], &[bytes / KIB, bytes], &[]);
        }
    }
    b.build()
}

/// A CPU profile: nothing a heap profile can be compared or merged with.
fn cpu() -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("samples", "count")
        .sample_type("cpu", "nanoseconds")
        .period("cpu", "nanoseconds", 10_000_000);
    let f = b.frame("app::spin", "src/spin.rs", 1);
    b.sample(&[f], &[3, 30_000_000], &[]);
    b.build()
}

fn before() -> Profile {
    sites(256 * KIB, 768 * KIB, 0, 100 * KIB)
}

fn after() -> Profile {
    sites(1280 * KIB, 0, 256 * KIB, 100 * KIB)
}

#[test]
fn diff_reports_growth_and_shrinkage_by_site() {
    let dir = TempDir::new("diff");
    let old = write_profile(&before(), dir.join("before.pb.gz"));
    let new = write_profile(&after(), dir.join("after.pb.gz"));

    let json = run_json(&["diff", &old, &new, "--json"]);
    assert_eq!(json["sample_type"], "inuse_space");
    assert_eq!(json["old_total"], 1124 * KIB);
    assert_eq!(json["new_total"], 1636 * KIB);
    assert_eq!(json["delta"], 512 * KIB);
    assert_eq!(json["grew"], 2);
    assert_eq!(json["shrank"], 1);
    assert_eq!(json["unchanged"], 1);
    let rows: Vec<(&str, i64, i64, i64)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["old"].as_i64().unwrap(),
                r["new"].as_i64().unwrap(),
                r["delta"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("app::cache_fill", 256 * KIB, 1280 * KIB, 1024 * KIB),
            ("app::load_config", 768 * KIB, 0, -768 * KIB),
            ("app::spawn_worker", 0, 256 * KIB, 256 * KIB),
        ]
    );

    let text = run_ok(&["diff", &old, &new]);
    let expected = "\
Type: inuse_space
Total: 1.10MB -> 1.60MB (+512kB, +45.55%)
2 sites grew, 1 shrank, 1 unchanged
       old        new       delta    change
     256kB     1.25MB        +1MB  +400.00%  app::cache_fill
     768kB          0      -768kB      gone  app::load_config
         0      256kB      +256kB       new  app::spawn_worker
";
    assert_eq!(text, expected);

    // Another sample type, and a row limit.
    let text = run_ok(&[
        "diff",
        &old,
        &new,
        "--sample-index",
        "inuse_objects",
        "-n",
        "1",
    ]);
    assert!(
        text.starts_with("Type: inuse_objects\nTotal: 1124 -> 1636 (+512, +45.55%)\n"),
        "{text}"
    );
    assert!(text.contains("showing the 1 largest changes"), "{text}");
    assert!(
        text.ends_with("       256       1280       +1024  +400.00%  app::cache_fill\n"),
        "{text}"
    );

    // Comparing a profile with itself: nothing changed.
    let text = run_ok(&["diff", &old, &old]);
    assert!(
        text.contains("0 sites grew, 0 shrank, 3 unchanged"),
        "{text}"
    );
}

#[test]
fn top_with_a_base_subtracts_it() {
    let dir = TempDir::new("base");
    let old = write_profile(&before(), dir.join("before.pb.gz"));
    let new = write_profile(&after(), dir.join("after.pb.gz"));

    let json = run_json(&["top", &new, "--base", &old, "-n", "0", "--json"]);
    let rows: Vec<(&str, i64, i64)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["flat"].as_i64().unwrap(),
                r["cum"].as_i64().unwrap(),
            )
        })
        .collect();
    // pprof's order: by the size of flat, shrinkage included.
    assert_eq!(
        rows,
        [
            ("app::cache_fill", 1024 * KIB, 1024 * KIB),
            ("app::load_config", -768 * KIB, -768 * KIB),
            ("app::spawn_worker", 256 * KIB, 256 * KIB),
            ("app::main", 0, 512 * KIB),
        ]
    );
    // The total is the sum of the magnitudes, as in pprof.
    assert_eq!(json["total"], 2048 * KIB);

    let text = run_ok(&["top", &new, "--base", &old]);
    assert!(
        text.contains("    -768kB 37.50% 12.50%     -768kB 37.50%  app::load_config\n"),
        "{text}"
    );
}

#[test]
#[ignore = "needs go tool pprof"]
fn top_with_a_base_matches_go_tool_pprof() {
    let dir = TempDir::new("base-go");
    let old = write_profile(&before(), dir.join("before.pb.gz"));
    let new = write_profile(&after(), dir.join("after.pb.gz"));
    let text = run_ok(&["top", &new, "--base", &old]);
    let theirs = pprof(&["-top", "-nodefraction=0", &format!("-base={old}")], &new);
    assert_eq!(
        from_showing(&text),
        from_showing(&theirs),
        "\n{text}\n{theirs}"
    );
}

#[test]
fn incompatible_profiles_are_a_clear_error() {
    let dir = TempDir::new("incompatible");
    let heap = write_profile(&before(), dir.join("heap.pb.gz"));
    let cpu = write_profile(&cpu(), dir.join("cpu.pb.gz"));

    let o = run(&["diff", &heap, &cpu]);
    assert_one_error_line(
        &o,
        &[
            &heap,
            &cpu,
            "sample types differ",
            "[samples/count, cpu/nanoseconds]",
            "[inuse_objects/count, inuse_space/bytes]",
        ],
    );
    let o = run(&["top", &cpu, "--base", &heap]);
    assert_one_error_line(&o, &[&heap, &cpu, "sample types differ"]);
    let out = dir.join("flame.svg");
    let o = run(&["flame", &cpu, "--base", &heap, "-o", out.to_str().unwrap()]);
    assert_one_error_line(&o, &[&heap, &cpu, "sample types differ"]);
    assert!(!out.exists());
}

#[test]
fn top_and_flame_merge_several_profiles() {
    let dir = TempDir::new("merge");
    let old = write_profile(&before(), dir.join("before.pb.gz"));
    let new = write_profile(&after(), dir.join("after.pb.gz"));

    let json = run_json(&["top", &old, &new, "-n", "0", "--json"]);
    assert_eq!(json["total"], 2760 * KIB);
    let rows: Vec<(&str, i64)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["flat"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("app::cache_fill", 1536 * KIB),
            ("app::load_config", 768 * KIB),
            ("app::spawn_worker", 256 * KIB),
            ("app::steady", 200 * KIB),
            ("app::main", 0),
        ]
    );
    // One file from standard input at most.
    let o = run(&["top", "-", "-"]);
    assert_one_error_line(&o, &["both profiles are '-'"]);
    let o = run(&["top", &old, "-", "-"]);
    assert_one_error_line(&o, &["2 of the 3 profiles are '-'"]);
    let out = dir.join("merged.svg");
    run_ok(&["flame", &old, &new, "-o", out.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("app::cache_fill"), "{svg}");
}

#[test]
fn profiles_that_cannot_be_merged_are_a_clear_error() {
    let dir = TempDir::new("merge-incompatible");
    let heap = write_profile(&before(), dir.join("heap.pb.gz"));
    let cpu = write_profile(&cpu(), dir.join("cpu.pb.gz"));
    let o = run(&["top", &heap, &heap, &cpu]);
    assert_one_error_line(
        &o,
        &[
            &format!("merging {heap} and 2 more: "),
            "sample types differ",
            &format!("{heap} has [inuse_objects/count, inuse_space/bytes], {cpu} has [samples/count, cpu/nanoseconds]"),
        ],
    );
}

#[test]
#[ignore = "needs go tool pprof"]
fn top_of_several_profiles_matches_go_tool_pprof() {
    let dir = TempDir::new("merge-pprof");
    let old = write_profile(&before(), dir.join("before.pb.gz"));
    let new = write_profile(&after(), dir.join("after.pb.gz"));
    let text = run_ok(&["top", &old, &new]);
    let theirs = pprof(&["-top", "-nodefraction=0", &old], &new);
    assert_eq!(
        from_showing(&text),
        from_showing(&theirs),
        "\n{text}\n{theirs}"
    );
}
