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
    // In the right order, no warning; the wrong way round, one.
    let o = run(&["snapshot", "diff", SAMPLE, new.to_str().unwrap()]);
    assert!(o.status.success() && o.stderr.is_empty(), "{o:?}");
    let o = run(&["snapshot", "diff", new.to_str().unwrap(), SAMPLE]);
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("holds block #50, allocated after every block of")
            && err.contains("(the newest is #40): diff takes the earlier snapshot first"),
        "{err}"
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

/// A `.heapsnapshot` whose blocks each name a leaf of a deep trace tree:
/// `depth` levels of one spine, then `leaves` leaves, one block each.
fn deep_traces(depth: u64, leaves: u64) -> String {
    let meta = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"]},"#;
    let mut nodes = vec!["9,1,1,0,0,0,0".to_owned()];
    for leaf in 0..leaves {
        nodes.push(format!("8,3,{},16,0,{},0", leaf + 10, depth + 1 + leaf));
    }
    let mut tree = String::new();
    for id in 1..=depth {
        tree.push_str(&format!("{id},0,0,0,["));
    }
    let leaf_nodes: Vec<String> = (0..leaves)
        .map(|leaf| format!("{},1,1,16,[]", depth + 1 + leaf))
        .collect();
    tree.push_str(&leaf_nodes.join(","));
    tree.push_str(&"]".repeat(depth as usize));
    format!(
        r#"{meta}"node_count":{},"edge_count":0,"trace_function_count":2}},"nodes":[{}],"edges":[],"trace_function_infos":[0,2,4,0,1,1,1,3,4,0,2,1],"trace_tree":[{tree}],"strings":["","(root)","spine","leaf","x.c"]}}"#,
        leaves + 1,
        nodes.join(",")
    )
}

/// Each block's stack is copied out of the trace tree: a deep tree with
/// many leaves is far larger as stacks than as a file. 3,000 levels and
/// 100,000 leaves (3.8 MB) took 7 GB and 18 s before the reader's 4 GiB
/// limit refused it, charged frame by frame; the stacks' cost is charged
/// before any is made, so it is refused at once, here under a 1 GiB
/// address-space limit.
#[test]
fn stacks_from_a_deep_trace_tree_are_charged_before_they_are_made() {
    let dir = TempDir::new("snapshot-deep-traces");
    let small = dir.join("small.heapsnapshot");
    std::fs::write(&small, deep_traces(10, 5)).unwrap();
    let g = HeapGraph::load_heapsnapshot(&small).unwrap();
    assert_eq!(g.blocks().len(), 5);
    assert_eq!(
        g.stack(g.block(heapwise_heapgraph::BlockId(0)).stack).len(),
        10
    );
    let deep = dir.join("deep.heapsnapshot");
    std::fs::write(&deep, deep_traces(3_000, 100_000)).unwrap();
    let deep = deep.to_str().unwrap();
    let o = run_within_1_gib(&["snapshot", "leaks", deep]);
    assert_one_error_line(
        &o,
        &[&format!(
            "heapwise: error: {deep}: reading would take more than the 4096 MiB memory limit"
        )],
    );
}
