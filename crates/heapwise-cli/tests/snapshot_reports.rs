//! `heapwise snapshot leaks|retained|why|diff` over a `.heapsnapshot`
//! (heapwise-heapgraph's sample graph: a global Vec of boxes, a tree on
//! the main thread's stack, a leaked chain and a leaked cycle).

mod common;

use common::*;
use heapwise_heapgraph::{Block, Edge, HeapGraph};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../heapwise-heapgraph/fuzz/corpus/read/sample.heapsnapshot"
);

#[test]
fn leaks_are_reported_like_leak_sanitizer() {
    let out = run_ok(&["snapshot", "leaks", SAMPLE]);
    assert!(out.starts_with(
        "Direct leak of 40 byte(s) in 1 object(s) allocated from:\n    #0 app::leak_cycle src/app.rs:50\n"
    ));
    assert!(out.ends_with("SUMMARY: heapwise: 152 byte(s) leaked in 5 allocation(s).\n"));
}

#[test]
fn retained_lists_sites_and_suspects() {
    let out = run_ok(&["snapshot", "retained", SAMPLE, "-n", "3"]);
    assert_eq!(
        out,
        "736 bytes in 14 blocks; showing 3 of 6 sites by retained size
    retained       %    blocks        bytes  site
         432  58.70%         1           32  app::fill
         400  54.35%         4          400  app::make_box
         144  19.57%         3          144  app::Tree::new
leak suspects (retaining 10% of the heap or more):
  #10 app::fill retains 432 bytes (58.70%) in 5 blocks
  #20 app::Tree::new retains 144 bytes (19.57%) in 3 blocks
  #11 app::make_box retains 100 bytes (13.59%) in 1 block
"
    );
}

#[test]
fn why_names_the_root_then_each_block_and_offset() {
    assert_eq!(
        run_ok(&["snapshot", "why", SAMPLE, "app::make_box"]),
        "globals: app::V +0x0\n-> #10 app::fill (32 bytes) +0x0\n-> #11 app::make_box (100 bytes)\n"
    );
    assert_eq!(
        run_ok(&["snapshot", "why", SAMPLE, "#22"]),
        "thread stacks: thread main +0x8\n-> #20 app::Tree::new (48 bytes) +0x8\n-> #22 app::Tree::new (48 bytes)\n"
    );
    let o = run(&["snapshot", "why", SAMPLE, "#6"]);
    assert_one_error_line(
        &o,
        &["#6 is not reachable from any root: it is an indirect leak"],
    );
    let o = run(&["snapshot", "why", SAMPLE, "app::nowhere"]);
    assert_one_error_line(
        &o,
        &["no live block was allocated at site \"app::nowhere\""],
    );
}

#[test]
fn diff_shows_what_grew_and_what_was_freed_by_site() {
    // The sample without block #40 ((unknown), 8 bytes) and with a new
    // 1000-byte block #50 allocated where #10 was (app::fill).
    let g = HeapGraph::load_heapsnapshot(SAMPLE).unwrap();
    let gone = g.block_by_seq(40).unwrap();
    let mut blocks: Vec<Block> = g.blocks().to_vec();
    let fill = g.block(g.block_by_seq(10).unwrap()).stack;
    blocks[gone.0 as usize] = Block {
        addr: 0,
        size: 1000,
        seq: 50,
        stack: fill,
    };
    let edges: Vec<Edge> = g.edges().filter(|e| e.to != gone).collect();
    let stacks = g.stacks().iter().map(|s| s.to_vec()).collect();
    let later = HeapGraph::from_parts(blocks, g.roots().to_vec(), stacks, &edges).unwrap();
    let dir = TempDir::new("snapshot-diff");
    let new = dir.join("later.heapsnapshot");
    later.analyze().save_heapsnapshot(&new).unwrap();
    let out = run_ok(&["snapshot", "diff", SAMPLE, new.to_str().unwrap(), "-n", "0"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 6, "{out}");
    assert_eq!(
        rows[0],
        ["1032", "+1000", "+1000", "1", "0", "app::fill"],
        "{out}"
    );
    assert_eq!(rows[5], ["0", "-8", "-8", "0", "1", "(unknown)"], "{out}");
    assert!(
        rows[1..5].iter().all(|r| r[1] == "+0" && r[3] == "0"),
        "{out}"
    );
}

#[test]
fn a_file_that_is_not_a_snapshot_is_one_error_line() {
    let o = run(&[
        "snapshot",
        "leaks",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
    ]);
    assert_one_error_line(
        &o,
        &["Cargo.toml: not a .heapsnapshot: expected '{' at byte 0"],
    );
}

#[test]
fn a_file_that_cannot_be_read_says_why() {
    // It said "X: cannot read X".
    let dir = TempDir::new("snapshot-unreadable");
    let missing = dir.join("missing.heapsnapshot");
    let missing = missing.to_str().unwrap();
    let directory = dir.path().to_str().unwrap();
    for (file, why) in [
        (missing, "no such file or directory"),
        (directory, "is a directory"),
    ] {
        for args in [
            &["snapshot", "leaks", file][..],
            &["animate", file, "-o", "-"],
        ] {
            let o = run(args);
            assert_one_error_line(&o, &[&format!("heapwise: error: {file}: {why}")]);
        }
    }
}

#[test]
fn pprof_writes_retained_and_leaks_by_stack_for_top() {
    let dir = TempDir::new("snapshot-pprof");
    let out = dir.join("retained.pb.gz");
    run_ok(&["snapshot", "pprof", SAMPLE, "-o", out.to_str().unwrap()]);
    let p = heapwise_pprof::Profile::decode(&std::fs::read(&out).unwrap()).unwrap();
    p.validate().unwrap();
    let types: Vec<&str> = p.sample_type.iter().map(|t| p.string(t.ty)).collect();
    for t in [
        "retained_space",
        "direct_leak_space",
        "indirect_leak_objects",
    ] {
        assert!(types.contains(&t), "{types:?}");
    }
    let top = run_ok(&[
        "top",
        out.to_str().unwrap(),
        "--sample-index",
        "direct_leak_space",
    ]);
    assert!(top.contains("app::leak_cycle"), "{top}");
}
