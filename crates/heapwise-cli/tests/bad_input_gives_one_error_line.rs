//! Missing, empty, random, truncated or otherwise wrong input: exit code 1
//! and exactly one `heapwise: error: ...` line naming the file, never a
//! panic. Usage errors keep clap's exit code 2.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;
use heapwise_pprof::ProfileBuilder;

/// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// The subcommands, each reading `file` as its (first) input.
fn every_command(file: &str, good: &str, out: &str) -> Vec<Vec<String>> {
    [
        vec!["top", file],
        vec!["top", file, "--json"],
        vec!["top", good, "--base", file],
        vec!["diff", file, good],
        vec!["diff", good, file],
        vec!["flame", file, "-o", out],
        vec!["flame", good, "--base", file, "-o", out],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_owned).collect())
    .collect()
}

fn check_all(file: &str, good: &str, out: &str, needles: &[&str]) {
    for args in every_command(file, good, out) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        let mut all = needles.to_vec();
        all.push(file);
        assert_one_error_line(&o, &all);
        assert!(
            !std::path::Path::new(out).exists(),
            "{args:?} wrote {out} despite the error"
        );
    }
}

#[test]
fn unreadable_and_corrupt_files_are_one_line_errors() {
    let dir = TempDir::new("bad-input");
    let good = write_profile(&inline_profile(), dir.join("good.pb.gz"));
    let out = dir.join("out.svg");
    let out = out.to_str().unwrap();

    let missing = dir.join("missing.pb.gz");
    check_all(missing.to_str().unwrap(), &good, out, &["no such file"]);

    let empty = dir.join("empty.pb.gz");
    std::fs::write(&empty, b"").unwrap();
    check_all(empty.to_str().unwrap(), &good, out, &["empty file"]);

    for seed in [1, 2, 3, 0x5eed] {
        let random = dir.join(&format!("random-{seed}.bin"));
        std::fs::write(&random, random_bytes(4096, seed)).unwrap();
        check_all(
            random.to_str().unwrap(),
            &good,
            out,
            &["not a pprof profile"],
        );
    }

    // Gzip magic followed by noise, and a real profile cut short.
    let mut noise = vec![0x1f, 0x8b];
    noise.extend(random_bytes(512, 9));
    let bad_gzip = dir.join("noise.pb.gz");
    std::fs::write(&bad_gzip, noise).unwrap();
    check_all(
        bad_gzip.to_str().unwrap(),
        &good,
        out,
        &["not a pprof profile", "gzip"],
    );

    let whole = std::fs::read(&good).unwrap();
    for cut in [10, whole.len() / 2, whole.len() - 4] {
        let truncated = dir.join(&format!("truncated-{cut}.pb.gz"));
        std::fs::write(&truncated, &whole[..cut]).unwrap();
        check_all(
            truncated.to_str().unwrap(),
            &good,
            out,
            &["not a pprof profile", "gzip"],
        );
    }

    // A directory is not a profile either.
    check_all(
        dir.path().to_str().unwrap(),
        &good,
        out,
        &["is a directory"],
    );
}

#[test]
fn bad_options_are_one_line_errors() {
    let dir = TempDir::new("bad-options");
    let good = write_profile(&inline_profile(), dir.join("good.pb.gz"));

    let o = run(&["top", &good, "--sample-index", "inuse_space"]);
    assert_one_error_line(
        &o,
        &[
            &good,
            "no sample type \"inuse_space\"",
            "alloc_objects, alloc_space",
        ],
    );
    let o = run(&["top", &good, "--sample-index", "7"]);
    assert_one_error_line(&o, &[&good, "sample index 7 is out of range"]);
    let o = run(&["top", &good, "--focus", "(unclosed"]);
    assert_one_error_line(&o, &["--focus", "unclosed group"]);
    let o = run(&["flame", &good, "-o", "/nonexistent-dir/flame.svg"]);
    assert_one_error_line(&o, &["/nonexistent-dir/flame.svg", "cannot write"]);

    // A profile with nothing to draw.
    let mut b = ProfileBuilder::new();
    b.sample_type("inuse_space", "bytes");
    let empty = write_profile(&b.build(), dir.join("no-samples.pb.gz"));
    let o = run(&["flame", &empty, "-o", "-"]);
    assert_one_error_line(&o, &[&empty, "no stack has a positive inuse_space value"]);
}

#[test]
fn usage_errors_keep_clap_exit_code_2() {
    for args in [
        &["top"][..],
        &["frobnicate"],
        &["top", "a.pb.gz", "-n", "many"],
        &["diff", "only-one.pb.gz"],
        // A page of a million nodes took 5 GB.
        &[
            "animate",
            "s.heapsnapshot",
            "-o",
            "-",
            "--max-nodes",
            "10001",
        ],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
    let help = run_ok(&["--help"]);
    for command in ["top", "diff", "flame"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn a_negative_sample_index_is_out_of_range_in_both_spellings() {
    let dir = TempDir::new("negative-index");
    let good = write_profile(&inline_profile(), dir.join("good.pb.gz"));
    for args in [
        &["top", &good, "--sample-index", "-1"][..],
        &["top", &good, "--sample-index=-1"],
        &["diff", &good, &good, "--sample-index", "-1"],
        &["flame", &good, "--sample-index", "-2", "-o", "-"],
    ] {
        let o = run(args);
        assert_one_error_line(
            &o,
            &[
                "sample index -",
                "is out of range; the profile has 2 sample types (alloc_objects, alloc_space)",
            ],
        );
    }
}

#[test]
fn standard_input_cannot_be_both_profiles() {
    for args in [
        &["diff", "-", "-"][..],
        &["top", "-", "--base", "-"],
        &["flame", "-", "--base", "-", "-o", "-"],
    ] {
        let o = heapwise()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running heapwise");
        assert_one_error_line(
            &o,
            &["both profiles are '-': only one can come from standard input"],
        );
    }
}

/// A gzip of `members` × `per_member` empty samples (`12 00`), built by
/// compressing one member: concatenated members are one gzip stream.
fn empty_samples_gzip(per_member: usize, members: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&[0x12u8, 0x00].repeat(per_member)).unwrap();
    e.finish().unwrap().repeat(members)
}

#[test]
fn a_profile_too_large_to_decode_is_a_one_line_error_in_bounded_memory() {
    let dir = TempDir::new("too-large");
    // 250 million empty samples: 18 GB decoded, from under 1 MB on disk.
    let bomb = dir.join("bomb.pb.gz");
    std::fs::write(&bomb, empty_samples_gzip(500_000, 500)).unwrap();
    let bomb = bomb.to_str().unwrap();
    let good = write_profile(&inline_profile(), dir.join("good.pb.gz"));
    let out = dir.join("out.svg");
    // Under a 1 GiB address-space limit, so a regression fails here
    // rather than taking the machine's memory.
    let out = out.to_str().unwrap();
    for args in [
        &["top", bomb][..],
        &["diff", &good, bomb],
        &["flame", &good, "--base", bomb, "-o", out],
    ] {
        let o = run_within_1_gib(args);
        assert_one_error_line(
            &o,
            &[
                bomb,
                ": profile too large: decoding would take more than the 256 MiB memory limit (",
                " samples in the first ",
            ],
        );
    }
}

/// Profiles small on disk whose stacks expand past what a report walks or a
/// flame graph draws: one location with 100,000 inlined lines named by every
/// sample (`top` took 8.7 s, `flame` more than 1.5 GB), and hundreds of
/// distinct stacks thousands of frames deep (500 of 40,000: `flame` wrote a
/// 3.8 GB SVG in a minute). Each is a one-line error, at once, under a
/// 1 GiB address-space limit.
#[test]
fn profiles_whose_stacks_expand_too_far_are_one_line_errors() {
    use heapwise_pprof::{Line, Location};
    let dir = TempDir::new("expand");
    let mut b = ProfileBuilder::new();
    b.sample_type("alloc_space", "bytes");
    let f = b.function("f", "f", "f.c", 1);
    let lines = vec![
        Line {
            function_id: f,
            line: 1,
            column: 0,
        };
        100_000
    ];
    let loc = b.add_location(Location {
        id: 1,
        address: 0x1000,
        line: lines,
        ..Location::default()
    });
    for i in 0..100 {
        b.sample(&[loc; 100], &[i + 1], &[]);
    }
    let inlined = write_profile(&b.build(), dir.join("inlined.pb.gz"));
    // 600 distinct stacks of 4,000 frames: a leaf of their own over one
    // frame repeated.
    let mut b = ProfileBuilder::new();
    b.sample_type("alloc_space", "bytes");
    let location = |b: &mut ProfileBuilder, id: u64| {
        let name = format!("f{id}");
        let function_id = b.function(&name, &name, "", 0);
        b.add_location(Location {
            id,
            address: id,
            line: vec![Line {
                function_id,
                line: 0,
                column: 0,
            }],
            ..Location::default()
        })
    };
    let common = location(&mut b, 1);
    for stack in 0..600u64 {
        let mut locs = vec![common; 4_000];
        locs[0] = location(&mut b, stack + 2);
        b.sample(&locs, &[1], &[]);
    }
    let wide = write_profile(&b.build(), dir.join("wide.pb.gz"));
    let out = dir.join("out.svg");
    let out = out.to_str().unwrap();
    for (args, says) in [
        (&["top", &inlined][..], "profile too large: its samples' stacks expand to more than 67,108,864 frames (inlined lines counted)"),
        (&["diff", &inlined, &inlined], "profile too large: its samples' stacks expand"),
        (&["flame", &inlined, "-o", out], "profile too large: its samples' stacks expand"),
        (&["flame", &wide, "-o", out], "profile too large to draw: its distinct stacks hold more than 2,097,152 frames (heapwise top reads it)"),
    ] {
        let o = run_within_1_gib(args);
        assert_one_error_line(&o, &[says]);
        assert!(!std::path::Path::new(out).exists(), "{args:?} wrote {out}");
    }
}

/// A function name from a hostile file cannot drive the terminal the text
/// reports are printed on (set its title, clear it) nor forge a row: its
/// control characters are written as escapes. JSON escapes them its way.
#[test]
fn names_that_would_drive_a_terminal_are_escaped_in_text_reports() {
    let dir = TempDir::new("escapes");
    let name = "evil\x1b]0;pwned\x07\x1b[2J\nFAKE ROW\r";
    let profile = |bytes: i64| {
        let mut b = ProfileBuilder::new();
        b.sample_type("inuse_space", "bytes");
        let f = b.function(name, name, "", 0);
        let loc = b.add_location(heapwise_pprof::Location {
            id: 1,
            address: 0x1000,
            line: vec![heapwise_pprof::Line {
                function_id: f,
                line: 0,
                column: 0,
            }],
            ..Default::default()
        });
        b.sample(&[loc], &[bytes], &[]);
        b.build()
    };
    let file = write_profile(&profile(4096), dir.join("evil.pb.gz"));
    let before = write_profile(&profile(1024), dir.join("before.pb.gz"));
    for args in [&["top", &file][..], &["diff", &before, &file]] {
        let out = run_ok(args);
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: {out:?}"
        );
        assert!(
            out.contains("evil\\x1b]0;pwned\\x07\\x1b[2J\\x0aFAKE ROW\\x0d"),
            "{args:?}: {out}"
        );
    }
    let json = run_ok(&["top", &file, "--json"]);
    assert!(json.contains("evil\\u001b]0;pwned"), "{json}");
}

/// Files given together share one memory limit: each was decoded within
/// its own, so thirty files under it took 6.6 GB. Here each file decodes
/// to about 160 MB (2 million one-value samples), under the 256 MiB limit
/// alone, not two together.
#[test]
fn profiles_merged_share_one_memory_limit() {
    let dir = TempDir::new("merge-budget");
    // sample_type {type: 1, unit: 2}, strings "", "x", "y", then samples
    // {value: 1}.
    let mut raw = vec![0x0a, 0x04, 0x08, 0x01, 0x10, 0x02];
    raw.extend_from_slice(&[0x32, 0x00, 0x32, 0x01, b'x', 0x32, 0x01, b'y']);
    raw.extend_from_slice(&[0x12, 0x02, 0x10, 0x01].repeat(2_000_000));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&raw).unwrap();
    let gz = e.finish().unwrap();
    let one = dir.join("one.pb.gz");
    std::fs::write(&one, &gz).unwrap();
    let one = one.to_str().unwrap();
    let out = run(&["top", one]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = run(&["top", one, one]);
    assert_one_error_line(
        &o,
        &[
            "the 2 files given share one 256 MiB limit: ",
            ": profile too large: decoding would take more than the ",
            " (--max-memory raises it)",
        ],
    );
    // Only the limit's refusal names it: a second file that is missing
    // or broken is just that.
    let missing = dir.join("missing.pb.gz");
    let o = run(&["top", one, missing.to_str().unwrap()]);
    assert_one_error_line(&o, &["missing.pb.gz: "]);
    assert!(!stderr(&o).contains("share one"), "{}", stderr(&o));
    let o = run(&["top", one, one, "--max-memory", "300000KiB"]);
    assert_one_error_line(&o, &["the 2 files given share one 307200000-byte limit: "]);
    // Raised, both fit; lowered, neither.
    let o = run(&["top", one, one, "--max-memory", "512MiB"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["top", one, "--max-memory", "64MiB"]);
    assert_one_error_line(
        &o,
        &[": profile too large: decoding would take more than the 64 MiB memory limit"],
    );
}

/// A snapshot or a heaptrack recording given where a profile goes: the
/// error names the command that reads it.
#[test]
fn another_heapwise_input_given_as_a_profile_is_named() {
    let dir = TempDir::new("other-format");
    for (name, bytes, says) in [
        (
            "snap.heapsnapshot",
            &b"{\"snapshot\":{}}"[..],
            "; it looks like JSON: a .heapsnapshot is read by heapwise snapshot",
        ),
        (
            "heaptrack.ls.1",
            b"v 10400 3\nX ls\n",
            "; it looks like a heaptrack recording: heapwise import heaptrack FILE converts it",
        ),
        (
            "heap.txt",
            &b"heap profile: 1: 8 [2: 16] @ heap/1048576\n"[..],
            "; it looks like Go's text format (written with debug=1): write it with debug=0, or convert it with go tool pprof -proto FILE",
        ),
        (
            "heaptrack.ls.1.zst",
            &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0],
            "; it looks like a heaptrack recording: heapwise import heaptrack FILE converts it",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let o = run(&["top", path.to_str().unwrap()]);
        assert_one_error_line(&o, &[": not a pprof profile: ", says]);
    }
}
