//! `heapwise import heaptrack`: real heaptrack 1.4 recordings (a C and a
//! Rust program, sources beside them in `testdata/`) in each compression,
//! the older file formats, and hostile input, which must give one error
//! line naming the problem, never a panic or unbounded memory.

mod common;

use std::io::Write;

use common::*;
use heapwise_cli::heaptrack::{import, ErrorKind, ImportOptions};
use heapwise_pprof::Profile;

fn testdata(name: &str) -> String {
    format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The sum of value `index` over samples whose leaf function is `name`.
fn at_leaf(p: &Profile, name: &str, index: usize) -> i64 {
    p.sample
        .iter()
        .filter(|s| p.stack_function_names(s).first() == Some(&name))
        .map(|s| s.value[index])
        .sum()
}

fn sample_types(p: &Profile) -> Vec<(&str, &str)> {
    p.sample_types()
}

/// `heaptrack_c.c`: `leaf` allocates 1000 blocks of 32 bytes, each freed
/// at once, then 10 of 100 bytes that are never freed; `strdup` one more.
fn check_c_recording(p: &Profile) {
    assert_eq!(
        sample_types(p),
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
            ("peak_objects", "count"),
            ("peak_space", "bytes"),
            ("temporary_objects", "count"),
            ("temporary_space", "bytes"),
        ]
    );
    assert_eq!(p.string(p.default_sample_type), "inuse_space");
    assert_eq!(p.total(0), 1012); // and one from libstdc++'s start-up
    assert_eq!(at_leaf(p, "leaf", 0), 1010);
    assert_eq!(at_leaf(p, "leaf", 1), 1000 * 32 + 10 * 100);
    assert_eq!(at_leaf(p, "leaf", 2), 10);
    assert_eq!(at_leaf(p, "leaf", 3), 1000);
    assert_eq!(at_leaf(p, "__GI___strdup", 2), 1);
    // heaptrack_print: "temporary memory allocations: 1000", all from
    // leaf; "peak heap memory consumption: 73.72K", 73716 bytes in its
    // flame graph of peak cost (leaf's 1000, strdup's 12 and libstdc++'s
    // 72704 from its start-up).
    assert_eq!(at_leaf(p, "leaf", 6), 1000);
    assert_eq!(at_leaf(p, "leaf", 7), 32000);
    assert_eq!(p.total(6), 1000);
    assert_eq!(p.total(5), 73716);
    assert_eq!(at_leaf(p, "leaf", 4), 10);
    assert_eq!(at_leaf(p, "leaf", 5), 1000);
    assert_eq!(at_leaf(p, "__GI___strdup", 5), 12);
    assert!(p.comment.iter().any(|&c| p
        .string(c)
        .starts_with("peak: 73716 bytes live at the high-water mark")));
    let sample = p
        .sample
        .iter()
        .find(|s| p.stack_function_names(s).first() == Some(&"leaf"))
        .unwrap();
    assert_eq!(
        &p.stack_function_names(sample)[..3],
        ["leaf", "main", "__libc_start_call_main"]
    );
    assert!(p.validate().is_ok());
}

#[test]
fn a_real_recording_in_every_compression() {
    let zst = std::fs::read(testdata("heaptrack_c.zst")).unwrap();
    let plain = zstd::decode_all(&zst[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    for data in [&zst, &plain, &gz] {
        check_c_recording(&import(&data[..], &ImportOptions::new()).unwrap());
    }
}

#[test]
fn the_cli_writes_a_profile_heapwise_top_reads() {
    let dir = TempDir::new("heaptrack-cli");
    let out = dir.join("c.pb.gz");
    let printed = run_ok(&[
        "import",
        "heaptrack",
        &testdata("heaptrack_c.zst"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(printed, "");
    check_c_recording(&Profile::decode(&std::fs::read(&out).unwrap()).unwrap());
    let top = run_ok(&[
        "top",
        out.to_str().unwrap(),
        "--sample-index",
        "alloc_objects",
        "-n",
        "1",
    ]);
    assert!(
        top.contains("      1010 99.80% 99.80%       1010 99.80%  leaf\n"),
        "{top}"
    );
}

#[test]
fn standard_input_to_standard_output() {
    let data = std::fs::read(testdata("heaptrack_c.zst")).unwrap();
    let mut child = heapwise()
        .args(["import", "heaptrack", "-", "-o", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    check_c_recording(&Profile::decode(&out.stdout).unwrap());
}

#[test]
fn rust_frames_are_demangled_and_the_allocation_plumbing_hidden() {
    let data = std::fs::read(testdata("heaptrack_rust.zst")).unwrap();
    let p = import(&data[..], &ImportOptions::new()).unwrap();
    // heaptrack_rust.rs: 1000 strings and 500 boxes, in closures.
    assert_eq!(at_leaf(&p, "r::make_strings::{{closure}}", 0), 1000);
    assert_eq!(at_leaf(&p, "r::make_boxes::{{closure}}", 0), 500);
    // heaptrack_print: 2 temporary allocations, a peak of 108.14K (108142
    // bytes in its flame graph of peak cost).
    assert_eq!((p.total(6), p.total(5)), (2, 108142));
    let kept = import(&data[..], &ImportOptions::new().keep_allocator_frames(true)).unwrap();
    // The 1500 blocks, the two Vecs and two of the runtime's.
    assert_eq!(at_leaf(&kept, "alloc::alloc::alloc", 0), 1504);
    assert_eq!(kept.total(0), p.total(0));
}

/// A recording in format 2 (heaptrack 1.1: strings are the rest of the
/// line) and the same in format 0 (before 1.0: no allocation infos, blocks
/// by address).
#[test]
fn older_file_formats() {
    let v2 = "v 10100 2\n\
              X ./prog --flag\n\
              s /usr/bin/prog\n\
              s operator new(unsigned long)\n\
              s make thing\n\
              s prog.cpp\n\
              i 1000 1 2\n\
              i 1100 1 3 4 a\n\
              t 2 0\n\
              t 1 1\n\
              a 10 2\n\
              + 0\n\
              + 0\n\
              - 0\n\
              c 1f4\n";
    let p = import(v2.as_bytes(), &ImportOptions::new()).unwrap();
    // operator new is plumbing: the leaf is its caller.
    assert_eq!(at_leaf(&p, "make thing", 0), 2);
    assert_eq!(at_leaf(&p, "make thing", 3), 16);
    assert_eq!(p.duration_nanos, 500_000_000);
    assert!(p
        .comment
        .iter()
        .any(|&c| p.string(c) == "command: ./prog --flag"));

    // An argument with newlines (heaptrack writes it as it is): the lines
    // up to the next record are the command's.
    let split = v2.replace("X ./prog --flag\n", "X ./prog 'a\nb c\n\n--d'\n");
    let p = import(split.as_bytes(), &ImportOptions::new()).unwrap();
    assert_eq!(at_leaf(&p, "make thing", 0), 2);
    assert!(p
        .comment
        .iter()
        .any(|&c| p.string(c) == "command: ./prog 'a\nb c\n\n--d'"));

    let v0 = "s /usr/bin/prog\n\
              s make thing\n\
              i 1100 1 2\n\
              t 1 0\n\
              + 10 1 7f00\n\
              + 10 1 7f10\n\
              + 20 1 7f20\n\
              - 7f00\n\
              - 9999\n";
    let p = import(v0.as_bytes(), &ImportOptions::new()).unwrap();
    assert_eq!(at_leaf(&p, "make thing", 0), 3);
    assert_eq!(at_leaf(&p, "make thing", 1), 0x40);
    assert_eq!(at_leaf(&p, "make thing", 2), 2);
    assert_eq!(at_leaf(&p, "make thing", 3), 0x30);
}

/// The peak and the temporary allocations are what heaptrack_print finds
/// (each figure here is its output for the same file): the peak is what
/// was live when the live bytes were first highest, even once freed; a
/// free right after an allocation of the same allocation info is
/// temporary (from format 1 on, even another block of it; in format 0 the
/// same address); and after a free, heaptrack's "last allocation" is 0,
/// so a free of allocation info 0 right after another free counts too.
#[test]
fn peak_and_temporary_allocations_as_heaptrack_print_finds_them() {
    let v3 = "v 10400 3\n\
              s 4 main\ns 5 spike\ns 4 temp\n\
              i 1000 0 1\ni 2000 0 2\ni 3000 0 3\n\
              t 1 0\nt 2 1\nt 3 1\n\
              a 10 1\na 100 2\na 8 3\n\
              + 0\n+ 2\n- 2\n- 0\n\
              + 0\n+ 1\n+ 1\n- 1\n- 1\n\
              + 2\n+ 0\n- 2\n";
    let p = import(v3.as_bytes(), &ImportOptions::new()).unwrap();
    // heaptrack_print: "temporary memory allocations: 3", one from each;
    // "peak heap memory consumption: 528B": main 16, spike 512, temp 0.
    let at = |name: &str, index: usize| at_leaf(&p, name, index);
    assert_eq!([at("main", 6), at("spike", 6), at("temp", 6)], [1, 1, 1]);
    assert_eq!([at("main", 7), at("spike", 7), at("temp", 7)], [16, 256, 8]);
    assert_eq!([at("main", 4), at("spike", 4), at("temp", 4)], [1, 2, 0]);
    assert_eq!([at("main", 5), at("spike", 5), at("temp", 5)], [16, 512, 0]);
    // "total memory leaked: 32B".
    assert_eq!([at("main", 3), at("spike", 3), at("temp", 3)], [32, 0, 0]);

    let v0 = "s /usr/bin/prog\n\
              s make thing\n\
              i 1100 1 2\n\
              t 1 0\n\
              + 10 1 7f00\n\
              - 9999\n\
              - 7f00\n\
              + 10 1 7f10\n\
              + 10 1 7f20\n\
              - 7f10\n";
    let p = import(v0.as_bytes(), &ImportOptions::new()).unwrap();
    // heaptrack_print: 1 temporary allocation, a peak of 32B.
    assert_eq!(at_leaf(&p, "make thing", 6), 1);
    assert_eq!(at_leaf(&p, "make thing", 4), 2);
    assert_eq!(at_leaf(&p, "make thing", 5), 32);
}

const HEADER: &str = "v 10400 3\ns 4 main\ni 1000 0 1\nt 1 0\na 20 1\n";

/// Hostile or broken input, each with the kind and message it gives.
#[test]
fn bad_input_gives_an_error_naming_the_problem() {
    let long_line = format!("{HEADER}s 1000001 {}\n", "x".repeat(0x1000001));
    let cases: Vec<(String, ErrorKind, &str)> = vec![
        (String::new(), ErrorKind::Malformed, "no heaptrack records"),
        ("hello world\n".into(), ErrorKind::Malformed, "line 1: not a heaptrack record"),
        ("\u{7f}ELF\u{2}\u{1}".into(), ErrorKind::Malformed, "line 1: truncated"),
        (format!("{HEADER}+ 1\n"), ErrorKind::Malformed, "line 6: allocation 0x1 does not exist (1 defined so far)"),
        (format!("{HEADER}t 1 5\n"), ErrorKind::Malformed, "line 6: parent trace 0x5 does not exist (1 defined so far)"),
        (format!("{HEADER}t 9 0\n"), ErrorKind::Malformed, "line 6: instruction pointer 0x9 does not exist"),
        (format!("{HEADER}i 10 0 7\n"), ErrorKind::Malformed, "line 6: function string 0x7 does not exist"),
        (format!("{HEADER}a 20 2\n"), ErrorKind::Malformed, "line 6: trace 0x2 does not exist"),
        (format!("{HEADER}+ 0\n- 0\n- 0\n"), ErrorKind::Malformed, "line 8: allocation 0x0 is freed more often than it is allocated"),
        (format!("{HEADER}+ 0\n+"), ErrorKind::Malformed, "line 7: truncated (the data ends in the middle of a line)"),
        (format!("{HEADER}+\n"), ErrorKind::Malformed, "line 6: missing allocation"),
        (format!("{HEADER}+ 0 0\n"), ErrorKind::Malformed, "line 6: unexpected \"0\" at the end of the line"),
        (format!("{HEADER}+ zz\n"), ErrorKind::Malformed, "line 6: \"zz\" is not a hexadecimal number"),
        (format!("{HEADER}+  0\n"), ErrorKind::Malformed, "line 6: empty field"),
        (format!("{HEADER}a 11111111111111111 1\n"), ErrorKind::Malformed, "line 6: \"11111111111111111\" does not fit in 64 bits"),
        (format!("{HEADER}+ {}\n", "g".repeat(1000)), ErrorKind::Malformed, "line 6: \"gggggggggggggggggggggggggggggggggggggggg\"... is not a hexadecimal number"),
        (format!("{HEADER}s 10 short\n"), ErrorKind::Malformed, "line 6: string of 16 bytes, but the line holds 5"),
        (format!("{HEADER}a ffffffffffffff 1\n{}", "+ 1\n".repeat(256)), ErrorKind::Malformed, "allocation 0x1: 256 blocks of 72057594037927935 bytes do not fit in a 64-bit count"),
        (format!("{HEADER}q 1\n"), ErrorKind::Malformed, "line 6: unknown record type 'q'"),
        (format!("{HEADER}v 10400 3\n"), ErrorKind::Malformed, "line 6: the version line is not the first record"),
        ("v 10600 4\n".into(), ErrorKind::Unsupported, "heaptrack file format 4 (written by heaptrack 1.6.0) is newer than the formats this importer reads (0 to 3)"),
        ("v 10400 3\nx /bin/prog\nm 9 /bin/prog 0 0 1000\n".into(), ErrorKind::Unsupported, "line 2: a raw heaptrack recording (made with --raw)"),
        (long_line, ErrorKind::TooLarge, "line 6: longer than the 16 MiB limit for a line"),
    ];
    let mut cases: Vec<(Vec<u8>, ErrorKind, &str)> = cases
        .into_iter()
        .map(|(s, k, m)| (s.into_bytes(), k, m))
        .collect();
    let zst = std::fs::read(testdata("heaptrack_c.zst")).unwrap();
    cases.push((
        zst[..zst.len() - 9].to_vec(),
        ErrorKind::Compression,
        "zstd: ",
    ));
    cases.push((
        vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3],
        ErrorKind::Compression,
        "zstd: ",
    ));
    cases.push((
        vec![0x1f, 0x8b, 8, 0, 0, 0],
        ErrorKind::Compression,
        "gzip: ",
    ));
    for (input, kind, message) in cases {
        let e = import(&input[..], &ImportOptions::new()).expect_err(message);
        assert_eq!(e.kind(), kind, "{e}");
        assert!(e.to_string().contains(message), "{e:?} for {message}");
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().len() < 200, "{e}");
    }
}

/// Comment lines compress a thousandfold: a small zstd or gzip file that
/// would decompress to 100 MB stops at the input limit.
#[test]
fn compression_bombs_stop_at_the_input_limit() {
    let mut plain = Vec::new();
    for _ in 0..(100 << 20) / 64 {
        plain.extend_from_slice(&[b'#'; 63]);
        plain.push(b'\n');
    }
    let zst = zstd::encode_all(&plain[..], 19).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    drop(plain);
    for bomb in [zst, gz] {
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let options = ImportOptions::new().max_input(8 << 20);
        let e = import(&bomb[..], &options).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert_eq!(
            e.to_string(),
            "the data is larger than the 8 MiB limit for decompressed input (see --max-input)"
        );
    }
}

/// Many strings, trace nodes or allocation infos stop at the memory limit
/// before the memory is taken.
#[test]
fn the_recording_stops_at_the_memory_limit() {
    let strings = format!("v 10400 3\n{}", "s 8 abcdefgh\n".repeat(100_000));
    let traces = format!("{HEADER}{}", "t 1 1\n".repeat(1_000_000));
    let infos = format!("{HEADER}{}", "a 10 1\n".repeat(1_000_000));
    for (data, what) in [
        (strings, "strings"),
        (traces, "trace nodes"),
        (infos, "allocation infos"),
    ] {
        let options = ImportOptions::new().max_memory(1 << 20);
        let e = import(data.as_bytes(), &options).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("importing would take more than the 1 MiB memory limit (")
                && text.contains(what),
            "{text}"
        );
        // The same within the default limit.
        assert!(import(data.as_bytes(), &ImportOptions::new()).is_ok());
    }
    // Replaying allocations and frees for the peak and the temporary
    // allocations takes memory per allocation info, not per event: a
    // million of them fit in 64 KiB.
    let events = format!("{HEADER}{}", "+ 0\n+ 0\n- 0\n".repeat(1_000_000));
    let p = import(
        events.as_bytes(),
        &ImportOptions::new().max_memory(64 << 10),
    )
    .unwrap();
    assert_eq!(p.total(6), 1_000_000);
    assert_eq!(p.total(4), 1_000_001);
}

/// A string is charged what the allocator takes for it, not its length: 4
/// million one-letter strings took 237 MB under a 100 MiB limit. 50,000
/// of them hold ~2.8 MB (a 32-byte block and a 24-byte `String` each):
/// over 2 MiB, which charging 25 bytes each (1.2 MB) let through.
#[test]
fn short_strings_are_charged_what_they_take() {
    let strings = format!("v 10400 3\n{}", "s 1 a\n".repeat(50_000));
    let e = import(
        strings.as_bytes(),
        &ImportOptions::new().max_memory(2 << 20),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert!(import(
        strings.as_bytes(),
        &ImportOptions::new().max_memory(4 << 20)
    )
    .is_ok());
}

#[test]
fn the_cli_reports_bad_input_in_one_line() {
    let dir = TempDir::new("heaptrack-bad");
    let bad = dir.join("heaptrack.bad.zst");
    std::fs::write(&bad, format!("{HEADER}+ 7\n")).unwrap();
    let out = dir.join("out.pb.gz");
    let o = run(&[
        "import",
        "heaptrack",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "heapwise: error: {}: line 6: allocation 0x7 does not exist (1 defined so far)\n",
            bad.display()
        )
    );
    assert!(!out.exists());
    let o = run(&[
        "import",
        "heaptrack",
        "/nonexistent/heaptrack.x.zst",
        "-o",
        "-",
    ]);
    assert_eq!(
        stderr(&o),
        "heapwise: error: /nonexistent/heaptrack.x.zst: no such file or directory\n"
    );
    let o = run(&[
        "import",
        "heaptrack",
        &testdata("heaptrack_c.zst"),
        "-o",
        "-",
        "--max-memory",
        "1000",
    ]);
    assert!(
        stderr(&o)
            .contains("heaptrack_c.zst: importing would take more than the 1000-byte memory limit"),
        "{}",
        stderr(&o)
    );
}

#[test]
#[ignore = "needs go tool pprof"]
fn go_tool_pprof_reads_the_imported_profile() {
    let dir = TempDir::new("heaptrack-pprof");
    let out = dir.join("c.pb.gz");
    run_ok(&[
        "import",
        "heaptrack",
        &testdata("heaptrack_c.zst"),
        "-o",
        out.to_str().unwrap(),
    ]);
    let o = heapwise_test_support::go_tool_pprof()
        .args(["-top", "-sample_index=alloc_objects"])
        .arg(&out)
        .output()
        .expect("running go tool pprof");
    heapwise_test_support::expect_success(&o, "go tool pprof -top");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("imported from heaptrack 1.4.0 data (file format 3)")
            && text.contains("      1010 99.80% 99.80%       1010 99.80%  leaf\n"),
        "{text}"
    );
}
