//! `heapwise flame` writes a well-formed SVG that a real browser renders,
//! runs the script of (search works) and shows the expected frames.
//!
//! The browser tests run headless Chromium and are ignored in a plain run;
//! `.ci/run` installs Debian's chromium and runs them (`--include-ignored`),
//! where a missing browser fails them. What the SVG says is checked without
//! a browser, in a plain run.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use heapwise_pprof::{Profile, ProfileBuilder};

const MIB: i64 = 1 << 20;

/// Names with the characters XML must escape, and a space before a number.
/// Not `alloc::…`: the allocation plumbing is left out of the graph.
const RESERVE: &str = "app::Assets<u8>::reserve & grow";
const INSERT: &str = "std::collections::HashMap<K, V>::insert";
const LOAD: &str = "app::load_assets";
const MAIN: &str = "app::main";
const WORKER: &str = "app::worker 2";
/// How the SVG spells WORKER: a no-break space keeps the `2` from being
/// read as a count.
const WORKER_IN_SVG: &str = "app::worker\u{a0}2";

/// main -> load_assets -> Vec<u8>::reserve: 3 MiB; main -> HashMap::insert:
/// 6 MiB; main -> worker 2: 3 MiB (scaled by `k` for the base).
fn profile(load: i64, insert: i64, worker: i64) -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("alloc_space", "bytes")
        .sample_type("inuse_space", "bytes");
    let main = b.frame(MAIN, "src/main.rs", 3);
    let load_assets = b.frame(LOAD, "src/assets.rs", 20);
    let reserve = b.frame(RESERVE, "alloc/src/vec.rs", 900);
    let insert_fn = b.frame(INSERT, "std/src/map.rs", 1100);
    let worker_fn = b.frame(WORKER, "src/worker.rs", 2);
    b.sample(&[reserve, load_assets, main], &[load, load], &[]);
    b.sample(&[insert_fn, main], &[insert, insert], &[]);
    b.sample(&[worker_fn, main], &[worker, worker], &[]);
    b.build()
}

/// Every check of [`assert_valid_svg`], and the document ends with the
/// root's closing tag.
fn assert_well_formed_xml(svg: &str) {
    assert_valid_svg(svg);
    assert!(svg.trim_end().ends_with("</svg>"));
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Loads `svg_path` (with `query`) in headless Chromium and returns the
/// DOM after its scripts ran.
fn dump_dom(svg_path: &Path, query: &str, profile_dir: &Path) -> String {
    // Let the script's setTimeout (zoom reset, ?s= search) run.
    let dom = heapwise_test_support::chromium_dom(svg_path, query, profile_dir, 5_000);
    assert!(
        !dom.contains("parsererror"),
        "the browser could not parse the SVG:\n{dom}"
    );
    dom
}

/// The text of the `<text id="matched">` element.
fn matched_text(dom: &str) -> &str {
    let start = dom.find("id=\"matched\"").expect("a matched element");
    let text = &dom[start..];
    let open = text.find('>').unwrap() + 1;
    let close = text.find("</text>").unwrap();
    &text[open..close]
}

/// Draws the flame graph of `profile(3, 6, 3 MiB)` into `dir/flame.svg`,
/// titled "Heap & <friends>"; returns the profile's path and the SVG's path
/// and text.
fn draw(dir: &TempDir) -> (String, PathBuf, String) {
    let file = write_profile(&profile(3 * MIB, 6 * MIB, 3 * MIB), dir.join("heap.pb.gz"));
    let svg_path = dir.join("flame.svg");
    let svg_arg = svg_path.to_str().unwrap();
    run_ok(&["flame", &file, "-o", svg_arg, "--title", "Heap & <friends>"]);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    (file, svg_path, svg)
}

#[test]
fn flame_graph_is_well_formed() {
    let dir = TempDir::new("flame");
    let (file, svg_path, svg) = draw(&dir);
    assert_well_formed_xml(&svg);
    for name in [RESERVE, INSERT, LOAD, MAIN, WORKER_IN_SVG] {
        assert!(svg.contains(&xml_escape(name)), "{name} not in the SVG");
    }
    assert!(svg.contains("Heap &amp; &lt;friends&gt;"));
    // The default sample type is the last one; tooltips count bytes.
    assert!(svg.contains("(3,145,728 bytes, 25.00%)"), "tooltip figures");

    // `-o -` writes the same bytes to stdout.
    assert_eq!(
        run_ok(&["flame", &file, "-o", "-", "--title", "Heap & <friends>"]),
        svg
    );
    // The default output file is flame.svg in the working directory, and
    // heapwise says so.
    let o = heapwise()
        .args(["flame", &file])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "heapwise: wrote ./flame.svg\n");
    // (It replaced the graph drawn above: heapwise's own.)
    assert!(read_svg(&svg_path).contains(">inuse_space (bytes)</text>"));
}

#[test]
#[ignore = "needs headless chromium"]
fn flame_graph_is_interactive_in_chromium() {
    let dir = TempDir::new("flame-chromium");
    let (_, svg_path, svg) = draw(&dir);
    let dom = dump_dom(&svg_path, "?s=load_assets", &dir.join("chromium"));
    for name in [RESERVE, INSERT, LOAD, MAIN, WORKER_IN_SVG] {
        assert!(
            dom.contains(&xml_escape(name)),
            "{name} not in the DOM:\n{dom}"
        );
    }
    // The script ran: it makes the drawing fluid by dropping the root's
    // fixed width, and it ran the search given in the URL, which matched
    // load_assets, 3 of 12 MiB.
    assert!(svg.contains("<svg version=\"1.1\" width=\"1200\""));
    let root = &dom[dom.find("<svg").unwrap()..];
    let root = &root[..root.find('>').unwrap()];
    assert!(
        !root.contains("width="),
        "root still has a fixed width: {root}"
    );
    assert_eq!(matched_text(&dom), "Matched: 25.0%");
}

/// Draws the differential flame graph of `profile(6, 6, 1 MiB)` against
/// `profile(3, 6, 3 MiB)` into `dir/diff.svg`; returns its path and text.
fn draw_differential(dir: &TempDir) -> (PathBuf, String) {
    let old = write_profile(&profile(3 * MIB, 6 * MIB, 3 * MIB), dir.join("old.pb.gz"));
    let new = write_profile(&profile(6 * MIB, 6 * MIB, MIB), dir.join("new.pb.gz"));
    let svg_path = dir.join("diff.svg");
    run_ok(&[
        "flame",
        &new,
        "--base",
        &old,
        "-o",
        svg_path.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    (svg_path, svg)
}

#[test]
fn differential_flame_graph_against_a_base() {
    let dir = TempDir::new("flame-diff");
    let (_, svg) = draw_differential(&dir);
    assert_well_formed_xml(&svg);
    assert!(svg.contains("Differential"), "no differential subtitle");
    // Widths are the new profile's (reserve: 6 of 13 MiB); each frame's
    // own change is given as a share of the new total and drawn red for
    // growth, blue for shrinkage.
    let titles: Vec<&str> = svg
        .split("<title>")
        .skip(1)
        .map(|t| &t[..t.find('<').unwrap()])
        .collect();
    for title in [
        "app::Assets&lt;u8&gt;::reserve &amp; grow (6,291,456 bytes, 46.15%; +23.08%)",
        "app::worker\u{a0}2 (1,048,576 bytes, 7.69%; -15.38%)",
        "app::load_assets (6,291,456 bytes, 46.15%; 0.00%)",
    ] {
        assert!(titles.contains(&title), "{title:?} not in {titles:#?}");
    }
    assert!(svg.contains("fill=\"rgb(255,"), "no red frame");
    assert!(svg.contains(",255)\""), "no blue frame");
}

#[test]
#[ignore = "needs headless chromium"]
fn differential_flame_graph_renders_in_chromium() {
    let dir = TempDir::new("flame-diff-chromium");
    let (svg_path, _) = draw_differential(&dir);
    let dom = dump_dom(&svg_path, "", &dir.join("chromium"));
    for name in [RESERVE, LOAD, MAIN, WORKER_IN_SVG] {
        assert!(dom.contains(&xml_escape(name)), "{name} not in the DOM");
    }
}
