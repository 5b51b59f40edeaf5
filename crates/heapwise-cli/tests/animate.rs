//! `heapwise animate`: the page replays a tri-colour mark that blackens
//! exactly the reachable blocks and leaves exactly the leaked ones white
//! (as `Analysis::leak_class` says), hostile names stay text, and bad
//! input is one error line.
//!
//! The browser test runs headless Chromium and is ignored in a plain run;
//! `.ci/run` installs Debian's chromium and runs it (`--include-ignored`).
//! What the page's data says is checked without a browser.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use heapwise_heapgraph::{
    Block, BlockId, Edge, Frame, HeapGraph, Holder, LeakClass, Root, RootId, RootKind, StackId,
};
use serde_json::Value;

/// A site name that would end a script element, open a tag, end a
/// JavaScript string and a line in old JavaScript.
const HOSTILE: &str = "</script><b>\"'\u{2028}";

/// `static CACHE: Vec<Box<Node>>`: the global points to the Vec's buffer
/// (#1), which holds two boxes (#2, #3; the main thread's stack also
/// points to #3); a leaked chain #4 -> #5 and a leaked cycle #6 <-> #7.
/// The boxes are allocated at the hostile site.
fn graph() -> HeapGraph {
    let stacks = ["app::fill", HOSTILE, "app::list", "app::cycle"]
        .iter()
        .map(|site| vec![Frame::new(*site, "src/app.rs", 7)])
        .collect();
    let block = |seq, size, stack| Block {
        addr: 0,
        size,
        seq,
        stack: StackId(stack),
    };
    let blocks = vec![
        block(1, 16, 0),
        block(2, 64, 1),
        block(3, 64, 1),
        block(4, 32, 2),
        block(5, 32, 2),
        block(6, 40, 3),
        block(7, 40, 3),
    ];
    let roots = vec![
        Root::new(RootKind::Global, "app::CACHE", 0, 24),
        Root::new(RootKind::ThreadStack, "thread main", 0, 64),
    ];
    let edge = |from, offset, to| Edge {
        from,
        offset,
        to: BlockId(to),
    };
    let b = |i| Holder::Block(BlockId(i));
    let edges = [
        edge(Holder::Root(RootId(0)), 0, 0),
        edge(Holder::Root(RootId(1)), 8, 2),
        edge(b(0), 0, 1),
        edge(b(0), 8, 2),
        edge(b(3), 8, 4),
        edge(b(5), 0, 6),
        edge(b(6), 0, 5),
    ];
    HeapGraph::from_parts(blocks, roots, stacks, &edges).unwrap()
}

/// Saves [`graph`] in `dir` as `name` and returns its path.
fn save(dir: &TempDir, name: &str) -> PathBuf {
    let path = dir.join(name);
    graph().analyze().save_heapsnapshot(&path).unwrap();
    path
}

/// Runs `heapwise animate SNAPSHOT -o OUT ARGS` and returns the page.
fn animate(snapshot: &Path, out: &Path, args: &[&str]) -> String {
    let mut all = vec![
        "animate",
        snapshot.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    assert_eq!(run_ok(&all), "");
    std::fs::read_to_string(out).unwrap()
}

/// The JSON document embedded in the page.
fn embedded_data(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"heapwise-data\">";
    let start = html.find(open).expect("the data element") + open.len();
    let len = html[start..].find("</script>").expect("its end");
    serde_json::from_str(&html[start..start + len]).expect("the data is JSON")
}

/// Each leak class of the snapshot at `path` (read back, as the command
/// reads it), by sequence number.
fn leak_classes(path: &Path) -> BTreeMap<u64, LeakClass> {
    let graph = HeapGraph::load_heapsnapshot(path).unwrap();
    let analysis = graph.analyze();
    (0..graph.blocks().len() as u32)
        .map(BlockId)
        .map(|b| (graph.block(b).seq, analysis.leak_class(b)))
        .collect()
}

/// Replays the page's steps as its script does (checking that each
/// scanned node is the queue's front and only white nodes are greyed);
/// returns the final colour of each node by sequence number.
fn replay(data: &Value) -> BTreeMap<u64, &'static str> {
    let nodes = data["nodes"].as_array().unwrap();
    let mut colour = vec!["white"; nodes.len()];
    let mut queue = std::collections::VecDeque::new();
    for (k, step) in data["steps"].as_array().unwrap().iter().enumerate() {
        match step["scan"].as_u64() {
            None => assert_eq!(k, 0, "only the first step scans the roots"),
            Some(i) => {
                assert_eq!(queue.pop_front(), Some(i as usize), "step {k}");
                assert_eq!(colour[i as usize], "grey");
            }
        }
        for g in step["grey"].as_array().unwrap() {
            let g = g.as_u64().unwrap() as usize;
            assert_eq!(colour[g], "white", "step {k} greys node {g} twice");
            colour[g] = "grey";
            queue.push_back(g);
        }
        if let Some(i) = step["scan"].as_u64() {
            colour[i as usize] = "black";
        }
    }
    assert!(queue.is_empty(), "the mark ends with an empty queue");
    nodes
        .iter()
        .zip(colour)
        .map(|(n, c)| (n["seq"].as_u64().unwrap(), c))
        .collect()
}

/// What the final colours must be: black for reachable, white for leaked.
fn expected_colours(classes: &BTreeMap<u64, LeakClass>) -> BTreeMap<u64, &'static str> {
    classes
        .iter()
        .map(|(&seq, &c)| {
            (
                seq,
                if c == LeakClass::Reachable {
                    "black"
                } else {
                    "white"
                },
            )
        })
        .collect()
}

#[test]
fn the_mark_blackens_exactly_the_reachable_blocks() {
    let dir = TempDir::new("animate");
    let snapshot = save(&dir, "heap.heapsnapshot");
    let html = animate(&snapshot, &dir.join("mark.html"), &[]);
    let data = embedded_data(&html);
    let classes = leak_classes(&snapshot);
    assert_eq!(
        classes
            .values()
            .filter(|&&c| c != LeakClass::Reachable)
            .count(),
        4
    );
    assert_eq!(replay(&data), expected_colours(&classes));
    // Breadth-first from the roots in root order: the buffer (CACHE), the
    // second box (the thread's stack), then the buffer's scan greys the
    // first box only.
    let seq = |i: &Value| {
        data["nodes"][i.as_u64().unwrap() as usize]["seq"]
            .as_u64()
            .unwrap()
    };
    let steps = data["steps"].as_array().unwrap();
    let greyed: Vec<Vec<u64>> = steps
        .iter()
        .map(|s| s["grey"].as_array().unwrap().iter().map(seq).collect())
        .collect();
    assert_eq!(greyed, [vec![1, 3], vec![2], vec![], vec![]]);
    let scanned: Vec<u64> = steps[1..].iter().map(|s| seq(&s["scan"])).collect();
    assert_eq!(scanned, [1, 3, 2]);
    assert_eq!(data["partial"], false);
    assert!(html.contains("All 7 blocks (3 reachable, 4 leaked) and the 2 roots"));
    // The same snapshot gives the same page, on a file or on stdout.
    let again = run_ok(&["animate", snapshot.to_str().unwrap(), "-o", "-"]);
    assert_eq!(again, html);
}

#[test]
fn a_hostile_site_name_stays_text() {
    let dir = TempDir::new("animate-hostile");
    // The file name goes into the title.
    let snapshot = save(&dir, "a<b>&\"'.heapsnapshot");
    let html = animate(&snapshot, &dir.join("mark.html"), &[]);
    assert!(
        html.contains("<title>heapwise animate: a&lt;b&gt;&amp;&quot;&#39;.heapsnapshot</title>")
    );
    assert!(!html.contains("<b>"), "markup from a name");
    assert!(!html.contains('\u{2028}'));
    assert_eq!(
        html.matches("</script>").count(),
        3,
        "three script elements"
    );
    let open = "id=\"heapwise-data\">";
    let start = html.find(open).unwrap() + open.len();
    let raw = &html[start..start + html[start..].find("</script>").unwrap()];
    assert!(
        !raw.contains(['<', '>', '&']),
        "unescaped in the data: {raw}"
    );
    assert!(raw.contains(r#""\u003c/script\u003e\u003cb\u003e\"'\u2028""#));
    let data = embedded_data(&html);
    let sites: Vec<&str> = data["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["site"].as_str().unwrap())
        .collect();
    assert_eq!(
        sites.iter().filter(|&&s| s == HOSTILE).count(),
        2,
        "{sites:?}"
    );
}

#[test]
fn a_large_heap_is_cut_to_a_subgraph_and_the_page_says_so() {
    let dir = TempDir::new("animate-cut");
    let snapshot = save(&dir, "heap.heapsnapshot");
    let html = animate(&snapshot, &dir.join("mark.html"), &["--max-nodes", "4"]);
    let data = embedded_data(&html);
    assert_eq!(data["partial"], true);
    assert!(
        html.contains("2 of 3 reachable blocks") && html.contains("2 of 4 leaked"),
        "{}",
        &html[html.find("id=\"note\"").unwrap()..][..400]
    );
    // The first two blocks the full mark greys, and the start of its
    // order; the two leaked nodes stay white.
    let colours = replay(&data);
    assert_eq!(colours.len(), 4);
    assert_eq!(colours[&1], "black");
    assert_eq!(colours[&3], "black");
    assert_eq!(colours.values().filter(|&&c| c == "white").count(), 2);
}

#[test]
fn bad_input_is_one_error_line() {
    let dir = TempDir::new("animate-bad");
    let out = dir.join("mark.html");
    let out = out.to_str().unwrap();
    let o = run(&[
        "animate",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        "-o",
        out,
    ]);
    assert_one_error_line(
        &o,
        &["Cargo.toml: not a .heapsnapshot: expected '{' at byte 0"],
    );
    let missing = dir.join("missing.heapsnapshot");
    let o = run(&["animate", missing.to_str().unwrap(), "-o", out]);
    assert_one_error_line(&o, &["missing.heapsnapshot"]);
    assert!(!Path::new(out).exists(), "no page for bad input");
    // An output that cannot be written names it.
    let snapshot = save(&dir, "heap.heapsnapshot");
    let nowhere = dir.join("no/such/dir/mark.html");
    let o = run(&[
        "animate",
        snapshot.to_str().unwrap(),
        "-o",
        nowhere.to_str().unwrap(),
    ]);
    assert_one_error_line(&o, &["mark.html: cannot write"]);
}

/// Loads `page` with `query` in headless Chromium and returns the DOM
/// after its scripts ran.
fn dump_dom(page: &Path, query: &str, profile_dir: &Path) -> String {
    // Let the page's setTimeout chain (one step each) run to the end.
    heapwise_test_support::chromium_dom(page, query, profile_dir, 10_000)
}

/// The text of the element whose start tag begins with `open`, with
/// HTML's escapes undone.
fn element_text(dom: &str, open: &str) -> String {
    let start = dom
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in:\n{dom}"));
    let text = &dom[start..];
    let text = &text[text.find('>').unwrap() + 1..];
    let text = &text[..text.find('<').unwrap()];
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Every drawn block's final colour, from its element's attributes.
fn drawn_colours(dom: &str) -> BTreeMap<u64, String> {
    let node =
        regex::Regex::new(r#"<g class="node[^"]*" data-seq="(\d+)" data-colour="(\w+)""#).unwrap();
    node.captures_iter(dom)
        .map(|c| (c[1].parse().unwrap(), c[2].to_owned()))
        .collect()
}

#[test]
#[ignore = "needs headless chromium"]
fn the_page_replays_the_mark_in_chromium() {
    let dir = TempDir::new("animate-chromium");
    let snapshot = save(&dir, "heap.heapsnapshot");
    let page = dir.join("mark.html");
    animate(&snapshot, &page, &[]);
    let dom = dump_dom(&page, "?autoplay=fast", &dir.join("chromium"));
    // The page shows any script error in #errors.
    let errors = element_text(&dom, "<pre id=\"errors\"");
    assert!(errors.is_empty(), "script errors: {errors}");
    let result = element_text(&dom, "<pre id=\"heapwise-result\"");
    let result: Value = serde_json::from_str(&result)
        .unwrap_or_else(|e| panic!("no result from the page ({e}): {result:?}\n{dom}"));
    assert_eq!(result["errors"], serde_json::json!([]), "script errors");
    assert_eq!(result["done"], true);
    assert_eq!(result["steps"], 4);
    // Every frame differs from the one before: all white, the roots'
    // targets grey, then one block blackened a step.
    let frames: Vec<&str> = result["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(frames.len(), 5, "{frames:?}");
    assert_eq!(frames[0], "wwwwwww");
    assert!(frames.windows(2).all(|w| w[0] != w[1]), "{frames:?}");
    assert!(frames[1].contains('g'), "{frames:?}");
    let expected = expected_colours(&leak_classes(&snapshot));
    let final_colours: BTreeMap<u64, String> = result["colours"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(seq, c)| (seq.parse().unwrap(), c.as_str().unwrap().to_owned()))
        .collect();
    let expected: BTreeMap<u64, String> = expected
        .into_iter()
        .map(|(s, c)| (s, c.to_owned()))
        .collect();
    assert_eq!(final_colours, expected);
    // The drawing agrees, and the hostile name is text in it, not markup.
    assert_eq!(drawn_colours(&dom), expected);
    assert!(
        dom.contains("&lt;/script&gt;&lt;b&gt;\"'"),
        "the name as text"
    );
    assert!(!dom.contains("<b>\"'"), "the name became markup");
}
