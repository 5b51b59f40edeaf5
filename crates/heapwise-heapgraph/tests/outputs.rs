//! The `.heapsnapshot` and pprof outputs of a known graph.

mod common;

use heapwise_heapgraph::heapsnapshot::ReadOptions;
use heapwise_heapgraph::{ErrorKind, HeapGraph, LeakClass, RootKind};

fn snapshot_bytes(g: &HeapGraph) -> Vec<u8> {
    let mut out = Vec::new();
    g.analyze().write_heapsnapshot(&mut out).unwrap();
    out
}

#[test]
fn a_heapsnapshot_reads_back_to_the_same_analysis() {
    let g = common::sample_graph();
    let bytes = snapshot_bytes(&g);
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\"edge_count\",\"trace_node_id\",\"detachedness\"]"));
    let keys: Vec<usize> = [
        "\"nodes\":",
        "\"edges\":",
        "\"trace_function_infos\":",
        "\"trace_tree\":",
        "\"samples\":",
        "\"locations\":",
        "\"strings\":",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "V8's key order");
    let r = HeapGraph::read_heapsnapshot(&bytes, &ReadOptions::new()).unwrap();
    assert_eq!(r.blocks().len(), g.blocks().len());
    assert_eq!(r.edge_count(), g.edge_count());
    assert_eq!(r.roots().len(), 3);
    assert_eq!(r.roots()[0].kind, RootKind::Global);
    assert_eq!(r.roots()[0].name, "app::V");
    assert_eq!(r.roots()[1].kind, RootKind::ThreadStack);
    assert_eq!(r.roots()[2].kind, RootKind::Registers);
    let (a, b) = (g.analyze(), r.analyze());
    for (i, block) in g.blocks().iter().enumerate() {
        let j = r.block_by_seq(block.seq).unwrap();
        let i = heapwise_heapgraph::BlockId(i as u32);
        assert_eq!(r.block(j).size, block.size);
        assert_eq!(
            r.stack(r.block(j).stack),
            g.stack(block.stack),
            "stack of #{}",
            block.seq
        );
        assert_eq!(b.leak_class(j), a.leak_class(i), "#{}", block.seq);
        assert_eq!(b.retained_bytes(j), a.retained_bytes(i), "#{}", block.seq);
    }
    for (x, y) in g.edges().zip(r.edges()) {
        assert_eq!(x.offset, y.offset);
    }
    assert_eq!(a.leaks_by_site(), b.leaks_by_site());
    // The leaked cycle's earliest block is direct.
    assert_eq!(b.leak_class(r.block_by_seq(30).unwrap()), LeakClass::Direct);
    // Written again, the same bytes.
    assert_eq!(snapshot_bytes(&r).len(), bytes.len());
}

#[test]
fn hostile_heapsnapshots_give_one_line_errors() {
    let good = snapshot_bytes(&common::sample_graph());
    let text = String::from_utf8(good.clone()).unwrap();
    let half_way = format!(
        "the file ends early, at byte {} (truncated?)",
        good.len() / 2
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "expected '{' at byte 0"),
        (
            b"{".to_vec(),
            "the file ends early, at byte 1 (truncated?): expected '\"'",
        ),
        (b"{}".to_vec(), "no \"snapshot\" (its meta) in the file"),
        (good[..good.len() / 2].to_vec(), &half_way),
        (
            text.replacen("\"edges\":[", "\"edges\":[1,2,999999,", 1)
                .into_bytes(),
            "edges[0]: to_node 999999 is not a node",
        ),
        (
            text.replacen("\"nodes\":[", "\"nodes\":[-1,", 1)
                .into_bytes(),
            "nodes[0]: expected a non-negative integer",
        ),
        (
            text.replacen("\"trace_tree\":[", "\"trace_tree\":[[[[", 1)
                .into_bytes(),
            "",
        ),
        (format!("{text}x").into_bytes(), "trailing data"),
    ];
    for (input, want) in cases {
        let err = HeapGraph::read_heapsnapshot(&input, &ReadOptions::new()).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
    }
    // A block of 2^64 - 1 bytes: sums of sizes wrapped.
    let (huge, node) = with_last_node_field(&text, "self_size", u64::MAX);
    let err = HeapGraph::read_heapsnapshot(huge.as_bytes(), &ReadOptions::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("node {node}: self_size 18446744073709551615 is larger than any address space (2^48 bytes)")
    );
    let deep = format!("{{\"x\":{}}}", "[".repeat(100_000));
    let err = HeapGraph::read_heapsnapshot(deep.as_bytes(), &ReadOptions::new()).unwrap_err();
    assert!(err.to_string().starts_with("nesting too deep"), "{err}");
    let err =
        HeapGraph::read_heapsnapshot(&good, &ReadOptions::new().max_memory(1000)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert_eq!(
        err.to_string(),
        "reading would take more than the 0 MiB memory limit"
    );
}

/// `text` (a `.heapsnapshot`) with the last node's `field` set to
/// `value`, and that node's index.
fn with_last_node_field(text: &str, field: &str, value: u64) -> (String, usize) {
    let fields = &text[text.find("\"node_fields\":[").unwrap()..];
    let fields: Vec<&str> = fields[..fields.find(']').unwrap()].split(',').collect();
    let at = fields
        .iter()
        .position(|f| f.contains(&format!("\"{field}\"")))
        .unwrap();
    let start = text.find("\"nodes\":[").unwrap() + "\"nodes\":[".len();
    let end = start + text[start..].find(']').unwrap();
    let mut nodes: Vec<String> = text[start..end].split(',').map(str::to_owned).collect();
    let last = nodes.len() / fields.len() - 1;
    nodes[last * fields.len() + at] = value.to_string();
    (
        format!("{}{}{}", &text[..start], nodes.join(","), &text[end..]),
        last,
    )
}

#[test]
fn a_file_that_is_not_json_is_refused_at_its_first_bytes() {
    // /dev/zero was read whole first (6 GB in 30 s, then killed).
    let err = HeapGraph::load_heapsnapshot("/dev/zero").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/zero: not a .heapsnapshot: expected '{' at byte 0"
    );
    let dir = std::env::temp_dir().join(format!("heapgraph-not-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gz = dir.join("heap.pb.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    let err = HeapGraph::load_heapsnapshot(&gz).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("not a .heapsnapshot: expected '{' at byte 0 (it is gzip-compressed: a pprof profile? heapwise top reads those)"),
        "{err}"
    );
    let good = dir.join("good.heapsnapshot");
    std::fs::write(&good, snapshot_bytes(&common::sample_graph())).unwrap();
    let g = HeapGraph::load_heapsnapshot(&good).unwrap();
    assert_eq!(g.blocks().len(), common::sample_graph().blocks().len());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn stacks_that_print_alike_are_one_leak_entry() {
    // Two stacks that differ only in allocator frames (the report skips
    // them): the in-process report printed two entries with one stack,
    // the CLI (from the file) one.
    let mut b = heapwise_heapgraph::GraphBuilder::new();
    let site = heapwise_heapgraph::Frame::new("app::leak", "src/app.rs", 7);
    let one = b.stack(&[
        heapwise_heapgraph::Frame::new("alloc::alloc::alloc", "alloc.rs", 1),
        site.clone(),
    ]);
    let two = b.stack(&[
        heapwise_heapgraph::Frame::new("alloc::raw_vec::finish_grow", "raw_vec.rs", 2),
        site,
    ]);
    b.block(0x1000, 1000, 1, one);
    b.block(0x2000, 56, 2, two);
    let g = b.build(|_| Some(0)).unwrap();
    let report = g.analyze().leak_report();
    assert_eq!(
        report,
        "Direct leak of 1056 byte(s) in 2 object(s) allocated from:\n    #0 app::leak src/app.rs:7\n\nSUMMARY: heapwise: 1056 byte(s) leaked in 2 allocation(s).\n"
    );
}

#[test]
fn the_pprof_profile_has_retained_and_leak_sample_types_by_stack() {
    let g = common::sample_graph();
    let p = g.analyze().to_pprof();
    p.validate().unwrap();
    let idx = |name: &str| p.sample_type_index(name).unwrap();
    assert_eq!(p.total(idx("inuse_space")), g.total_bytes() as i64);
    assert_eq!(p.total(idx("direct_leak_objects")), 2);
    assert_eq!(p.total(idx("direct_leak_space")), 24 + 40);
    assert_eq!(p.total(idx("indirect_leak_space")), 2 * 24 + 40);
    let fill = p
        .sample
        .iter()
        .find(|s| p.stack_function_names(s)[1] == "app::fill")
        .unwrap();
    assert_eq!(fill.value[idx("retained_space")], 32 + 400);
    assert_eq!(fill.value[idx("retained_objects")], 5);
    let tree = p
        .sample
        .iter()
        .find(|s| p.stack_function_names(s)[1] == "app::Tree::new")
        .unwrap();
    assert_eq!(
        tree.value[idx("retained_space")],
        3 * 48,
        "not counted twice"
    );
}

#[test]
fn the_leak_report_reads_like_leak_sanitizers() {
    let g = common::sample_graph();
    assert_eq!(
        g.analyze().leak_report(),
        "\
Direct leak of 40 byte(s) in 1 object(s) allocated from:
    #0 app::leak_cycle src/app.rs:50
    #1 app::main src/main.rs:3

Direct leak of 24 byte(s) in 1 object(s) allocated from:
    #0 app::leak_chain src/app.rs:40
    #1 app::main src/main.rs:3

Indirect leak of 48 byte(s) in 2 object(s) allocated from:
    #0 app::leak_chain src/app.rs:40
    #1 app::main src/main.rs:3

Indirect leak of 40 byte(s) in 1 object(s) allocated from:
    #0 app::leak_cycle src/app.rs:50
    #1 app::main src/main.rs:3

SUMMARY: heapwise: 152 byte(s) leaked in 5 allocation(s).
"
    );
}

#[test]
fn names_repeated_across_many_roots_count_against_the_memory_limit() {
    // 200 synthetic root nodes sharing one 1 MB name, each pointing to the
    // one block: 1 MB of input, but 200 MB if every root copied its name.
    let roots = 200;
    let meta = r#"{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic"]],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"]]}}"#;
    let mut nodes = vec![format!("9,0,1,0,{roots},0,0")];
    for i in 0..roots {
        nodes.push(format!("9,1,{},0,1,0,0", 2 + i));
    }
    nodes.push("8,0,1000,8,0,0,0".to_owned());
    let mut edges = Vec::new();
    for i in 0..roots {
        edges.push(format!("3,0,{}", 7 * (1 + i)));
    }
    for _ in 0..roots {
        edges.push(format!("1,0,{}", 7 * (1 + roots)));
    }
    let text = format!(
        "{{\"snapshot\":{meta},\"nodes\":[{}],\"edges\":[{}],\"strings\":[\"\",\"{}\"]}}",
        nodes.join(","),
        edges.join(","),
        "r".repeat(1 << 20)
    );
    let options = ReadOptions::new().max_memory(32 << 20);
    let Err(err) = HeapGraph::read_heapsnapshot(text.as_bytes(), &options) else {
        panic!("200 MB of root names read within a 32 MiB limit");
    };
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
}

#[test]
fn diff_matches_blocks_by_sequence_number() {
    use heapwise_heapgraph::{diff, Block, Edge};
    let g = common::sample_graph();
    // Later: #40 ((unknown), 8 bytes) freed; #50, 1000 bytes, allocated
    // where #10 was (app::fill), at #40's place in the block list.
    let gone = g.block_by_seq(40).unwrap();
    let fill = g.block(g.block_by_seq(10).unwrap()).stack;
    let mut blocks: Vec<Block> = g.blocks().to_vec();
    blocks[gone.0 as usize] = Block {
        addr: 0,
        size: 1000,
        seq: 50,
        stack: fill,
    };
    let edges: Vec<Edge> = g.edges().filter(|e| e.to != gone).collect();
    let stacks = g.stacks().iter().map(|s| s.to_vec()).collect();
    let roots = g
        .roots()
        .iter()
        .map(|r| heapwise_heapgraph::Root {
            addr: 0,
            ..r.clone()
        })
        .collect();
    let later = HeapGraph::from_parts(blocks, roots, stacks, &edges).unwrap();
    let rows = diff(&g.analyze(), &later.analyze());
    assert_eq!(rows.len(), 6);
    let first = &rows[0];
    assert_eq!(first.site, "app::fill");
    assert_eq!((first.before.bytes, first.after.bytes), (32, 1032));
    assert_eq!(
        (first.before.retained_bytes, first.after.retained_bytes),
        (432, 1432)
    );
    assert_eq!(
        (first.new_blocks, first.new_bytes, first.freed_blocks),
        (1, 1000, 0)
    );
    let last = &rows[5];
    assert_eq!(last.site, "(unknown)");
    assert_eq!(
        (last.after.blocks, last.freed_blocks, last.freed_bytes),
        (0, 1, 8)
    );
    assert_eq!(last.bytes_delta(), -8);
    assert!(rows[1..5]
        .iter()
        .all(|r| r.bytes_delta() == 0 && r.new_blocks == 0));
}

/// Names from a hostile file cannot drive the terminal a report is printed
/// on: the leak report and `why`'s path escape their control characters.
#[test]
fn reports_escape_control_characters_in_names() {
    use heapwise_heapgraph::{Frame, GraphBuilder, Root, Target};
    let mut b = GraphBuilder::new();
    let evil = "evil\x1b]0;title\x07\nFAKE ROW";
    let s = b.stack(&[Frame::new(evil, "x\x1b[2J.c", 1)]);
    b.root(Root::new(RootKind::Global, "root\x1b[31m", 0x1000, 8));
    b.block(0x5000, 16, 1, s);
    b.block(0x6000, 16, 2, s);
    let words = [(0x1000u64, 0x5000u64)];
    let g = b
        .build(|a| Some(words.iter().find(|w| w.0 == a).map_or(0, |w| w.1)))
        .unwrap();
    let report = g.analyze().leak_report();
    assert!(
        report.contains("evil\\x1b]0;title\\x07\\x0aFAKE ROW x\\x1b[2J.c:1"),
        "{report}"
    );
    let path = g
        .why_alive(Target::Block(g.block_by_seq(1).unwrap()))
        .unwrap()
        .display(&g)
        .to_string();
    assert!(path.contains("root\\x1b[31m"), "{path}");
    for text in [&report, &path] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }
}
