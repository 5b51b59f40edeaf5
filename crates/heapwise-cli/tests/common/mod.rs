//! Helpers shared by the integration tests: running the built `heapwise`
//! binary, temporary directories, test profiles, and finding the external
//! tools (`go`, `chromium`) that some tests compare against.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use heapwise_pprof::{Line, Profile, ProfileBuilder};

/// A directory removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("heapwise-cli-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a temporary directory");
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `heapwise` binary under test.
pub(crate) fn heapwise() -> Command {
    Command::new(env!("CARGO_BIN_EXE_heapwise"))
}

/// The preload library cargo built for these tests (heapwise-cli's
/// dev-dependency), in `deps/` beside the `heapwise` binary: named in
/// `HEAPWISE_PRELOAD` by the `heapwise run` tests, so that a library left
/// beside the binary by an older `cargo build` is not the one tested.
pub(crate) fn preload() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_heapwise"))
        .parent()
        .expect("the binary's directory")
        .join("deps")
        .join("libheapwise_preload.so")
}

/// Runs `heapwise ARGS` to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    heapwise().args(args).output().expect("running heapwise")
}

/// [`run`] under a 1 GiB address-space limit (`ulimit -v`), so that input
/// that would take unbounded memory fails the test rather than the machine.
pub(crate) fn run_within_1_gib(args: &[&str]) -> Output {
    let script = format!(
        "ulimit -v 1048576 && exec '{}' \"$@\"",
        env!("CARGO_BIN_EXE_heapwise")
    );
    std::process::Command::new("sh")
        .args(["-c", &script, "heapwise"])
        .args(args)
        .output()
        .expect("running heapwise under sh")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `heapwise ARGS`, asserts success with nothing on stderr, and
/// returns stdout.
pub(crate) fn run_ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "heapwise {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs `heapwise ARGS --json` (the caller includes `--json`) and parses it.
pub(crate) fn run_json(args: &[&str]) -> serde_json::Value {
    let out = run_ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"))
}

/// Asserts that `o` is a failure with exit code 1 and exactly one stderr
/// line `heapwise: error: ...` that contains every string in `needles`.
pub(crate) fn assert_one_error_line(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr:\n{err}");
    assert!(o.stdout.is_empty(), "stdout not empty: {}", stdout(o));
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "want one stderr line, got:\n{err}");
    assert!(err.ends_with('\n'), "{err:?}");
    assert!(lines[0].starts_with("heapwise: error: "), "{err}");
    for needle in needles {
        assert!(lines[0].contains(needle), "{needle:?} not in {err}");
    }
}

/// Parses `svg` as XML 1.0, which fails on any character XML forbids, and
/// checks that it is an SVG heapwise drew: an `svg` root with many
/// elements, marked as heapwise's.
pub(crate) fn assert_valid_svg(svg: &str) {
    let options = roxmltree::ParsingOptions {
        // inferno's SVG has the standard SVG 1.1 doctype.
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(svg, options)
        .unwrap_or_else(|e| panic!("the SVG is not well-formed XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let elements = doc.descendants().filter(|n| n.is_element()).count();
    assert!(elements > 10, "only {elements} elements");
    assert!(
        heapwise_cli::flame::is_heapwise_svg(svg.as_bytes()),
        "no heapwise marker at the start: {}",
        &svg[..svg.len().min(300)]
    );
}

/// Reads the SVG at `path` and checks it with [`assert_valid_svg`].
pub(crate) fn read_svg(path: &Path) -> String {
    let svg =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert_valid_svg(&svg);
    svg
}

/// Writes `profile` gzipped to `path` and returns the path as a string.
pub(crate) fn write_profile(profile: &Profile, path: PathBuf) -> String {
    let mut file = std::fs::File::create(&path).expect("creating a profile file");
    profile.write_gzip(&mut file).expect("writing a profile");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// A two-type heap-style profile exercising inlining and recursion:
///
/// - `app::decode` is inlined into `app::parse` (one location, two lines),
///   and also called from `app::main` without inlining: `(partial-inline)`.
/// - `app::grow` is always inlined into `app::push`: `(inline)`.
/// - `app::walk` recurses: its cum must count each sample once.
pub(crate) fn inline_profile() -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("alloc_objects", "count")
        .sample_type("alloc_space", "bytes")
        .period("space", "bytes", 1);
    let func = |b: &mut ProfileBuilder, name: &str| b.function(name, name, "src/app.rs", 1);
    let line = |function_id, line| Line {
        function_id,
        line,
        column: 0,
    };
    let decode = func(&mut b, "app::decode");
    let parse = func(&mut b, "app::parse");
    let grow = func(&mut b, "app::grow");
    let push = func(&mut b, "app::push");
    let walk = func(&mut b, "app::walk");
    let main = func(&mut b, "app::main");

    let decode_in_parse = b.location(0, 0x1000, &[line(decode, 12), line(parse, 40)]);
    let decode_alone = b.location(0, 0x1100, &[line(decode, 14)]);
    let grow_in_push = b.location(0, 0x2000, &[line(grow, 7), line(push, 22)]);
    let walk_a = b.location(0, 0x3000, &[line(walk, 30)]);
    let walk_b = b.location(0, 0x3010, &[line(walk, 31)]);
    let main_a = b.location(0, 0x4000, &[line(main, 3)]);
    let main_b = b.location(0, 0x4010, &[line(main, 4)]);
    let main_c = b.location(0, 0x4020, &[line(main, 5)]);
    let main_d = b.location(0, 0x4030, &[line(main, 6)]);

    b.sample(&[decode_in_parse, main_a], &[3, 3 << 20], &[]);
    b.sample(&[decode_alone, main_b], &[2, 700 << 10], &[]);
    b.sample(
        &[grow_in_push, walk_a, walk_b, walk_a, main_c],
        &[5, 1536 << 10],
        &[],
    );
    b.sample(&[walk_b, walk_a, main_d], &[1, 96 << 10], &[]);
    b.sample(&[main_d], &[7, 12_345], &[]);
    b.build()
}

/// A profile with `n` distinct leaf functions under one root, for output
/// larger than a pipe's buffer.
pub(crate) fn wide_profile(n: usize) -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("inuse_space", "bytes");
    let root = b.frame("wide::main", "src/main.rs", 1);
    for i in 0..n {
        let leaf = b.frame(
            &format!("wide::allocation_site_number_{i:06}"),
            "src/lib.rs",
            i as i64,
        );
        b.sample(&[leaf, root], &[(i as i64 + 1) * 64], &[]);
    }
    b.build()
}

/// `go` with this project's environment (panics naming the package when
/// it is missing: see `heapwise-test-support`).
pub(crate) fn go() -> Command {
    heapwise_test_support::go()
}

/// Runs `go tool pprof -symbolize=none ARGS FILE` and returns its stdout.
pub(crate) fn pprof(args: &[&str], file: &str) -> String {
    let out = go()
        .args(["tool", "pprof", "-symbolize=none"])
        .args(args)
        .arg(file)
        .output()
        .expect("running go tool pprof");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// One row of a `-top` table: name (with any inline label) and the
/// flat and cum columns as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextRow {
    pub(crate) name: String,
    pub(crate) flat: String,
    pub(crate) cum: String,
}

/// The rows of a `-top` table (pprof's or ours).
pub(crate) fn top_rows(text: &str) -> Vec<TextRow> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("flat  flat%"))
        .skip(1)
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            assert!(fields.len() >= 6, "not a -top row: {l:?}");
            TextRow {
                flat: fields[0].to_owned(),
                cum: fields[3].to_owned(),
                name: fields[5..].join(" "),
            }
        })
        .collect()
}

/// The text from the `Showing nodes accounting for` line on.
pub(crate) fn from_showing(text: &str) -> String {
    let start = text
        .find("Showing nodes accounting for")
        .unwrap_or_else(|| panic!("no header in:\n{text}"));
    text[start..].to_owned()
}
