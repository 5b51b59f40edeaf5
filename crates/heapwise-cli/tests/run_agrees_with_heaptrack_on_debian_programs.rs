//! `heapwise run --full` and heaptrack on more unmodified Debian programs
//! (the sqlite3 comparison is `run_agrees_with_heaptrack_on_sqlite3.rs`):
//! `python3 -c` building a large dict, `xz` and `gzip` compressing a
//! generated file, and `g++` compiling a small C++ file (the compiler
//! proper, `cc1plus`, which the `g++` driver execs: heapwise follows the
//! exec; heaptrack does not, so it is run on `cc1plus` directly with the
//! arguments the driver gives it). For each: the allocation counts agree
//! within 0.5%, and the top 3 sites by bytes allocated are named the same
//! (stripped binaries: both name the object, heaptrack by its soname,
//! heapwise by its file, compared up to `.so`). heaptrack's figures leave
//! out the one allocation its own preload library causes (see [`figures`]).
//!
//! Not here: `gzip`, which makes no heap allocation at all (its buffers
//! are static): `heapwise run` counts 0, heaptrack only the one of its
//! own.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_json, run_ok, TempDir};

/// The flat `sample_index` of every function in `profile`, largest first
/// (names of stripped objects cut after `.so`), and the total.
fn flat(profile: &Path, sample_index: &str) -> (i64, Vec<(String, i64)>) {
    let json = run_json(&[
        "top",
        "--json",
        "-n",
        "0",
        "--sample-index",
        sample_index,
        profile.to_str().unwrap(),
    ]);
    let mut rows: Vec<(String, i64)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap();
            let name = match name.find(".so") {
                Some(at) => format!("{}]", &name[..at + 3]),
                None => name.to_string(),
            };
            (name, r["flat"].as_i64().unwrap())
        })
        .filter(|(_, flat)| *flat > 0)
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (json["total"].as_i64().unwrap(), rows)
}

/// Whether `program` links libstdc++ (`ldd`).
fn links_libstdcxx(program: &Path) -> bool {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .expect("running ldd");
    String::from_utf8_lossy(&out.stdout).contains("libstdc++")
}

/// `profile`'s total allocations and bytes and its top 3 sites by bytes,
/// leaving out what `[libstdc++.so]` allocated itself when `own_only`:
/// heaptrack's preload library is C++, so it brings libstdc++ into a
/// program that does not link it, and libstdc++'s load-time constructor
/// makes one allocation (its 72,704-byte exception emergency pool) that
/// heaptrack records as the program's. heapwise's preload is Rust and
/// brings no such library.
fn figures(profile: &Path, own_only: bool) -> (i64, i64, Vec<String>) {
    let keep = |rows: &[(String, i64)]| -> Vec<(String, i64)> {
        rows.iter()
            .filter(|(name, _)| !own_only || name != "[libstdc++.so]")
            .cloned()
            .collect()
    };
    let (objects, object_rows) = flat(profile, "alloc_objects");
    let (bytes, byte_rows) = flat(profile, "alloc_space");
    let dropped = |total: i64, rows: &[(String, i64)]| {
        total - rows.iter().map(|r| r.1).sum::<i64>() + keep(rows).iter().map(|r| r.1).sum::<i64>()
    };
    let top = keep(&byte_rows).into_iter().take(3).map(|r| r.0).collect();
    (
        dropped(objects, &object_rows),
        dropped(bytes, &byte_rows),
        top,
    )
}

/// heaptrack's recording of `program ARGS` (environment `envs`), imported
/// as a pprof profile.
fn heaptrack(dir: &TempDir, program: &Path, args: &[&str], envs: &[(&str, &str)]) -> PathBuf {
    let data = heapwise_test_support::run_heaptrack(program, args, envs, dir.path());
    let imported = dir.join("heaptrack.pb.gz");
    run_ok(&[
        "import",
        "heaptrack",
        data.to_str().unwrap(),
        "-o",
        imported.to_str().unwrap(),
    ]);
    imported
}

/// The profiles `heapwise run --full -- PROGRAM ARGS` writes into `dir`
/// (one per process: `%p`).
fn heapwise(dir: &TempDir, program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Vec<PathBuf> {
    let out = Command::new(env!("CARGO_BIN_EXE_heapwise"))
        .current_dir(dir.path())
        .env("HEAPWISE_PRELOAD", common::preload())
        .envs(envs.iter().copied())
        .args(["run", "--full", "-o", "hw.%p.pb.gz", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("running heapwise run");
    heapwise_test_support::expect_success(&out, &format!("heapwise run -- {}", program.display()));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("hw.") && n.ends_with(".pb.gz"))
        })
        .collect();
    files.sort();
    files
}

/// Asserts the counts within 0.5% and the same top 3 sites by bytes;
/// `program` is the one heaptrack ran.
fn agree(what: &str, program: &Path, heaptrack: &Path, heapwise: &Path, at_least: i64) {
    let own_only = !links_libstdcxx(&resolve(program));
    let (ht_total, ht_bytes, ht_top) = figures(heaptrack, own_only);
    let (hw_total, hw_bytes, hw_top) = figures(heapwise, false);
    eprintln!(
        "{what}: allocations heaptrack {ht_total}, heapwise {hw_total}; bytes heaptrack {ht_bytes}, heapwise {hw_bytes}; top sites by bytes: heaptrack {ht_top:?}, heapwise {hw_top:?}"
    );
    assert!(hw_total >= at_least, "{what}: {hw_total} allocations");
    let diff = (ht_total - hw_total).abs() as f64 / ht_total as f64;
    assert!(
        diff <= 0.005,
        "{what}: heaptrack counted {ht_total} allocations, heapwise {hw_total}: {:.3}% apart",
        diff * 100.0
    );
    assert_eq!(ht_top, hw_top, "{what}: the top sites by bytes allocated");
}

#[test]
#[ignore = "needs heaptrack and Debian's python3"]
fn python3_building_a_dict() {
    let python = heapwise_test_support::debian_python3();
    let dir = TempDir::new("run-python3");
    let args = [
        "-c",
        "d = {str(i): [i] * (i % 7) for i in range(200000)}\nprint(len(d))",
    ];
    // PYTHONMALLOC=malloc: every object through malloc (not only pymalloc's
    // arenas and the large blocks), for a million-allocation comparison;
    // a fixed hash seed, so both runs build the same tables.
    let envs = [("PYTHONMALLOC", "malloc"), ("PYTHONHASHSEED", "0")];
    let ht = heaptrack(&dir, &python, &args, &envs);
    let hw = heapwise(&dir, &python, &args, &envs);
    assert_eq!(hw.len(), 1, "{hw:?}");
    agree("python3", &python, &ht, &hw[0], 400_000);
}

/// `program`'s file: itself if it names a path, else `which`'s answer.
fn resolve(program: &Path) -> PathBuf {
    if program.components().count() > 1 {
        return program.to_path_buf();
    }
    let out = Command::new("which")
        .arg(program)
        .output()
        .expect("running which");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A 16 MiB file of compressible, not trivially repetitive text.
fn generated_file(dir: &TempDir) -> PathBuf {
    let mut text = String::new();
    let mut x: u64 = 1;
    while text.len() < 16 << 20 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        text.push_str(&format!("line {} value {}\n", x >> 40, (x >> 20) % 1000));
    }
    let file = dir.join("input.txt");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
#[ignore = "needs heaptrack and xz (xz-utils)"]
fn xz_compressing_a_file() {
    let xz = heapwise_test_support::tool("xz", "-V", "xz-utils");
    let dir = TempDir::new("run-xz");
    let input = generated_file(&dir);
    let input = input.to_str().unwrap();
    let args = ["-T1", "-6", "-c", "-k", input];
    let ht = heaptrack(&dir, &xz, &args, &[]);
    let hw = heapwise(&dir, &xz, &args, &[]);
    assert_eq!(hw.len(), 1, "{hw:?}");
    agree("xz", &xz, &ht, &hw[0], 1);
}

#[test]
#[ignore = "needs heaptrack and g++"]
fn gxx_compiling_a_small_file() {
    let gxx = heapwise_test_support::tool("g++", "--version", "g++");
    let dir = TempDir::new("run-gxx");
    let src = dir.join("small.cc");
    std::fs::write(
        &src,
        "#include <map>\n#include <string>\n#include <vector>\n#include <iostream>\n\
         template <int N> struct fib { static const long v = fib<N - 1>::v + fib<N - 2>::v; };\n\
         template <> struct fib<0> { static const long v = 0; };\n\
         template <> struct fib<1> { static const long v = 1; };\n\
         int main() {\n  std::map<std::string, std::vector<int>> m;\n\
           m[\"a\"].push_back(fib<40>::v);\n  std::cout << m.size() << '\\n';\n}\n",
    )
    .unwrap();
    let asm = dir.join("small.s");
    let driver_args = [
        "-O1",
        "-S",
        src.to_str().unwrap(),
        "-o",
        asm.to_str().unwrap(),
    ];
    // The driver's command line for cc1plus (`g++ -###`), for heaptrack,
    // which does not follow the driver's exec.
    let o = Command::new(&gxx)
        .arg("-###")
        .args(driver_args)
        .output()
        .expect("running g++ -###");
    let listing = String::from_utf8_lossy(&o.stderr);
    let line = listing
        .lines()
        .find(|l| {
            l.trim_start()
                .split(' ')
                .next()
                .is_some_and(|w| w.ends_with("/cc1plus"))
        })
        .unwrap_or_else(|| panic!("no cc1plus in g++ -###:\n{listing}"));
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| w.trim_matches('"').to_string())
        .collect();
    let cc1plus = PathBuf::from(&words[0]);
    let cc1plus_args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let ht = heaptrack(&dir, &cc1plus, &cc1plus_args, &[]);
    let hw = heapwise(&dir, &gxx, &driver_args, &[]);
    // The driver's profile and cc1plus's: the compiler's is the one with
    // the most allocations.
    assert!(hw.len() >= 2, "the driver and cc1plus: {hw:?}");
    let compiler = hw
        .iter()
        .max_by_key(|p| flat(p, "alloc_objects").0)
        .unwrap();
    agree("cc1plus", &cc1plus, &ht, compiler, 10_000);
}
