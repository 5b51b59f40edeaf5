//! Independent check of the encoder: `go tool pprof` must read what we
//! write and report our functions and values.
//!
//! The tests need `go` and are ignored in a plain run; `.ci/run` installs
//! golang-go and runs them (`--include-ignored`), where a missing `go`
//! fails them.

use std::path::PathBuf;

use heapwise_pprof::{Profile, ProfileBuilder};

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("heapwise-pprof-{}-{name}", std::process::id()))
}

/// Runs `go tool pprof ARGS FILE` and returns its stdout.
fn pprof(args: &[&str], file: &std::path::Path) -> String {
    let out = heapwise_test_support::go_tool_pprof()
        .arg("-symbolize=none")
        .args(args)
        .arg(file)
        .output()
        .expect("running go tool pprof");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn our_profile() -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("alloc_objects", "count")
        .sample_type("alloc_space", "bytes")
        .period("space", "bytes", 1)
        .time_nanos(1_700_000_000_000_000_000)
        .comment("heapwise test profile");
    let parse = b.frame("heapwise_demo::parse_config", "src/config.rs", 42);
    let load = b.frame("heapwise_demo::load_assets", "src/assets.rs", 7);
    let main = b.frame("heapwise_demo::main", "src/main.rs", 3);
    let size = b.label_num("bytes", 4096, "bytes");
    b.sample(&[parse, main], &[31, 126_976], &[size]);
    b.sample(&[load, main], &[5, 9_437_184], &[]);
    b.build()
}

#[test]
#[ignore = "needs go tool pprof"]
fn go_tool_pprof_reads_our_gzipped_output() {
    let path = temp_path("ours.pb.gz");
    let mut file = std::fs::File::create(&path).unwrap();
    our_profile().write_gzip(&mut file).unwrap();
    drop(file);

    let raw = pprof(&["-raw"], &path);
    assert!(
        raw.contains("alloc_objects/count alloc_space/bytes"),
        "{raw}"
    );
    assert!(raw.contains("PeriodType: space bytes"), "{raw}");
    for needle in [
        "heapwise_demo::parse_config",
        "heapwise_demo::load_assets",
        "heapwise_demo::main",
        "126976",
        "9437184",
        "31",
        "bytes:[4096 bytes]",
        "heapwise test profile",
    ] {
        assert!(raw.contains(needle), "-raw output lacks {needle:?}:\n{raw}");
    }

    let top = pprof(&["-top", "-sample_index=alloc_objects"], &path);
    assert!(top.contains("Type: alloc_objects"), "{top}");
    // 31 + 5 objects in all; the flat count of parse_config is 31.
    assert!(top.contains("of 36 total"), "{top}");
    let line = top
        .lines()
        .find(|l| l.contains("heapwise_demo::parse_config"))
        .unwrap_or_else(|| panic!("-top lacks parse_config:\n{top}"));
    assert!(line.trim_start().starts_with("31 "), "{line}");

    let top = pprof(&["-top", "-sample_index=alloc_space"], &path);
    assert!(top.contains("heapwise_demo::load_assets"), "{top}");
    assert!(top.contains("9216kB"), "{top}");
    assert!(top.contains("of 9340kB total"), "{top}");
    let _ = std::fs::remove_file(&path);
}

#[test]
#[ignore = "needs go tool pprof"]
fn go_tool_pprof_reads_our_raw_output_and_reencoded_go_profiles() {
    // Raw (uncompressed) protobuf is accepted by pprof too.
    let path = temp_path("ours.pb");
    std::fs::write(&path, our_profile().encode()).unwrap();
    let top = pprof(&["-top"], &path);
    assert!(top.contains("heapwise_demo::main"), "{top}");
    let _ = std::fs::remove_file(&path);

    // A Go heap profile, decoded and re-encoded by us, still reads as one.
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/go_heap.pb.gz"
    ))
    .unwrap();
    let p = Profile::decode(&gz).unwrap();
    let path = temp_path("reencoded.pb.gz");
    std::fs::write(&path, p.encode_gzip()).unwrap();
    let top = pprof(&["-top", "-sample_index=inuse_space"], &path);
    assert!(top.contains("main.allocLarge"), "{top}");
    assert!(top.contains("1024kB"), "{top}");
    let _ = std::fs::remove_file(&path);
}
