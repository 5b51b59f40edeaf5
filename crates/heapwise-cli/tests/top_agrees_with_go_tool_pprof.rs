//! `heapwise top` must report what `go tool pprof -top` reports: on a heap
//! profile written by Go itself, and on a profile with inlined frames and
//! recursion built with `ProfileBuilder`.
//!
//! The comparisons need `go` and are ignored in a plain run; `.ci/run`
//! installs it and runs them (`--include-ignored`), where a missing `go`
//! fails them. The figures computed by hand are checked in a plain run.

mod common;

use std::collections::BTreeMap;

use common::*;

/// The Go program: `runtime.MemProfileRate = 1` records every allocation,
/// so the figures are exact and the same on every run.
const GO_MAIN: &str = r#"package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

var sink [][]byte

//go:noinline
func allocBig() {
	for i := 0; i < 8; i++ {
		sink = append(sink, make([]byte, 256<<10))
	}
}

//go:noinline
func allocMedium() {
	for i := 0; i < 40; i++ {
		sink = append(sink, make([]byte, 8<<10))
	}
}

//go:noinline
func allocSmall() {
	for i := 0; i < 500; i++ {
		sink = append(sink, make([]byte, 96))
	}
}

func main() {
	runtime.MemProfileRate = 1
	allocBig()
	allocMedium()
	allocSmall()
	runtime.GC()
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		panic(err)
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
	runtime.KeepAlive(sink)
}
"#;

/// Builds and runs the Go program, which writes `heap.pb.gz` into `dir`.
fn go_heap_profile(dir: &TempDir) -> String {
    std::fs::write(dir.join("go.mod"), "module heapwisetest\n\ngo 1.19\n").unwrap();
    std::fs::write(dir.join("main.go"), GO_MAIN).unwrap();
    let path = dir.join("heap.pb.gz");
    let out = go()
        .arg("run")
        .arg(".")
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .expect("running go");
    assert!(
        out.status.success(),
        "go run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    path.to_str().unwrap().to_owned()
}

/// name -> (flat, cum) from `heapwise top --json -n 0`.
fn our_values(file: &str, sample_index: &str) -> BTreeMap<String, (i64, i64)> {
    let json = run_json(&[
        "top",
        file,
        "--sample-index",
        sample_index,
        "-n",
        "0",
        "--json",
    ]);
    assert_eq!(json["sample_type"], sample_index, "{json}");
    json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap().to_owned();
            (
                name,
                (r["flat"].as_i64().unwrap(), r["cum"].as_i64().unwrap()),
            )
        })
        .collect()
}

/// name -> (flat, cum) from `go tool pprof -top -unit=B`, which prints
/// exact integers (`2097510B`, or `5B` for a count).
fn pprof_values(file: &str, sample_index: &str) -> BTreeMap<String, (i64, i64)> {
    let text = pprof(
        &[
            "-top",
            "-nodefraction=0",
            "-unit=B",
            &format!("-sample_index={sample_index}"),
        ],
        file,
    );
    let number = |s: &str| -> i64 {
        s.trim_end_matches('B')
            .parse()
            .unwrap_or_else(|_| panic!("not an integer: {s:?} in\n{text}"))
    };
    top_rows(&text)
        .into_iter()
        .map(|row| {
            let name = row
                .name
                .trim_end_matches(" (inline)")
                .trim_end_matches(" (partial-inline)")
                .to_owned();
            (name, (number(&row.flat), number(&row.cum)))
        })
        .collect()
}

/// Our text table against pprof's, from the `Showing nodes` line on (the
/// lines before it are pprof's file and time headers).
fn assert_same_text(file: &str, sample_index: &str) {
    let ours = run_ok(&["top", file, "--sample-index", sample_index, "-n", "0"]);
    let theirs = pprof(
        &[
            "-top",
            "-nodefraction=0",
            &format!("-sample_index={sample_index}"),
        ],
        file,
    );
    assert!(
        ours.starts_with(&format!("Type: {sample_index}\n")),
        "{ours}"
    );
    assert_eq!(
        from_showing(&ours),
        from_showing(&theirs),
        "\nheapwise:\n{ours}\ngo tool pprof:\n{theirs}"
    );
}

#[test]
#[ignore = "needs go tool pprof"]
fn top_matches_go_tool_pprof_on_a_heap_profile_written_by_go() {
    let dir = TempDir::new("go-heap");
    let file = go_heap_profile(&dir);

    for sample_index in [
        "alloc_space",
        "alloc_objects",
        "inuse_space",
        "inuse_objects",
    ] {
        let ours = our_values(&file, sample_index);
        let theirs = pprof_values(&file, sample_index);
        assert_eq!(ours, theirs, "{sample_index}: heapwise vs go tool pprof");
        assert_same_text(&file, sample_index);
    }

    // The functions the Go program allocates from, with the sizes it
    // allocated (plus the growth of `sink`, appended to in each).
    let alloc = our_values(&file, "alloc_space");
    let (big, _) = alloc["main.allocBig"];
    let (medium, _) = alloc["main.allocMedium"];
    let (small, _) = alloc["main.allocSmall"];
    assert!((8 * (256 << 10)..9 * (256 << 10)).contains(&big), "{big}");
    assert!(
        (40 * (8 << 10)..41 * (8 << 10)).contains(&medium),
        "{medium}"
    );
    assert!((500 * 96..1000 * 96).contains(&small), "{small}");
    let objects = our_values(&file, "alloc_objects");
    assert!(objects["main.allocSmall"].0 >= 500, "{objects:?}");
    // main.main allocated nothing itself but is on every stack.
    let (main_flat, main_cum) = alloc["main.main"];
    assert_eq!(main_flat, 0);
    assert!(main_cum >= big + medium + small);

    // The default sample type of a Go heap profile is its last,
    // inuse_space, in both tools.
    let text = run_ok(&["top", &file]);
    assert!(text.starts_with("Type: inuse_space\n"), "{text}");
    let theirs = pprof(&["-top"], &file);
    assert!(theirs.contains("Type: inuse_space"), "{theirs}");

    // The default table is at most ten rows and says if it cut any (how
    // many functions the Go runtime allocates from varies run to run).
    let rows = top_rows(&text);
    let node_count = run_json(&["top", &file, "--json"])["node_count"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(rows.len(), node_count.min(10), "{text}");
    assert_eq!(rows[0].name, "main.allocBig");
    assert_eq!(
        text.contains(&format!("Showing top 10 nodes out of {node_count}\n")),
        node_count > 10,
        "{text}"
    );
    println!("heapwise top:\n{text}");
}

#[test]
fn top_counts_inlined_frames_and_recursion() {
    let dir = TempDir::new("inline");
    let file = write_profile(&inline_profile(), dir.join("inline.pb.gz"));

    // Hand-computed figures (frames are lines; flat goes to line[0] of the
    // leaf location; cum counts a function once per sample).
    let ours = our_values(&file, "alloc_space");
    let mib = 1 << 20;
    let kib = 1 << 10;
    let want: BTreeMap<String, (i64, i64)> = [
        ("app::decode", (3 * mib + 700 * kib, 3 * mib + 700 * kib)),
        ("app::grow", (1536 * kib, 1536 * kib)),
        ("app::walk", (96 * kib, 1536 * kib + 96 * kib)),
        (
            "app::main",
            (12_345, 3 * mib + 700 * kib + 1536 * kib + 96 * kib + 12_345),
        ),
        ("app::parse", (0, 3 * mib)),
        ("app::push", (0, 1536 * kib)),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();
    assert_eq!(ours, want);

    let text = run_ok(&["top", &file, "--sample-index", "alloc_space", "-n", "0"]);
    assert!(text.contains("app::grow (inline)"), "{text}");
    assert!(text.contains("app::decode (partial-inline)"), "{text}");
}

#[test]
#[ignore = "needs go tool pprof"]
fn top_matches_go_tool_pprof_on_inlined_frames_and_recursion() {
    let dir = TempDir::new("inline-go");
    let file = write_profile(&inline_profile(), dir.join("inline.pb.gz"));
    for sample_index in ["alloc_space", "alloc_objects"] {
        assert_eq!(
            our_values(&file, sample_index),
            pprof_values(&file, sample_index),
            "{sample_index}: heapwise vs go tool pprof"
        );
        assert_same_text(&file, sample_index);
    }
}

#[test]
fn focus_keeps_the_whole_total_and_n_limits_the_rows() {
    let dir = TempDir::new("focus");
    let file = write_profile(&inline_profile(), dir.join("inline.pb.gz"));

    let json = run_json(&[
        "top",
        &file,
        "--focus",
        "^app::(walk|push)$",
        "-n",
        "0",
        "--json",
    ]);
    let names: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // Only the two samples through walk or push count; main is on them.
    assert_eq!(names, ["app::grow", "app::walk", "app::main", "app::push"]);
    // Percentages stay relative to the whole profile, as in pprof.
    assert_eq!(
        json["total"],
        3 * (1 << 20) + (700 << 10) + (1536 << 10) + (96 << 10) + 12_345
    );

    let text = run_ok(&["top", &file, "-n", "2"]);
    assert!(text.contains("Showing top 2 nodes out of 6"), "{text}");
    assert_eq!(top_rows(&text).len(), 2);
}

#[test]
#[ignore = "needs go tool pprof"]
fn focus_and_row_limit_match_go_tool_pprof() {
    let dir = TempDir::new("focus-go");
    let file = write_profile(&inline_profile(), dir.join("inline.pb.gz"));
    let ours = run_ok(&["top", &file, "--focus", "^app::(walk|push)$", "-n", "0"]);
    let theirs = pprof(
        &["-top", "-nodefraction=0", "-focus=^app::(walk|push)$"],
        &file,
    );
    let active = "Active filters:\n   focus=^app::(walk|push)$\n";
    assert!(ours.contains(active), "{ours}");
    assert!(theirs.contains(active), "{theirs}");
    assert_eq!(
        from_showing(&ours),
        from_showing(&theirs),
        "\n{ours}\n{theirs}"
    );

    let ours = run_ok(&["top", &file, "-n", "3"]);
    let theirs = pprof(&["-top", "-nodefraction=0", "-nodecount=3"], &file);
    assert_eq!(
        from_showing(&ours),
        from_showing(&theirs),
        "\n{ours}\n{theirs}"
    );
}
