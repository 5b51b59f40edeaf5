//! A stable-toolchain replay of the cargo-fuzz target `fuzz/reports`: every
//! kept input (seeds and past crashes, such as a profile whose function
//! names hold control characters) goes through the top table, a diff and
//! both flame graphs without panicking, and every flame graph parses as
//! XML 1.0; and of `fuzz/heaptrack_import`: every kept input imports or
//! gives a one-line error.

mod common;

use common::assert_valid_svg;
use heapwise_cli::heaptrack::{import, ImportOptions};
use heapwise_cli::{
    diff_report, top_report, write_diff_flamegraph, write_flamegraph, DiffOptions, FlameOptions,
    TopOptions,
};
use heapwise_pprof::{DecodeOptions, Profile};

#[test]
fn every_kept_fuzz_input_gives_reports_and_well_formed_flame_graphs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/reports");
    let options = DecodeOptions::new()
        .max_decompressed_size(16 << 20)
        .max_memory(64 << 20);
    let (mut inputs, mut graphs) = (0, 0);
    for entry in std::fs::read_dir(dir).expect("the fuzz corpus directory") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        inputs += 1;
        let Ok(profile) = Profile::decode_with(&data, &options) else {
            continue;
        };
        let all = TopOptions {
            max_rows: 0,
            ..TopOptions::default()
        };
        if let Ok(report) = top_report(&profile, &all) {
            let _ = report.to_string();
        }
        if let Ok(report) = diff_report(&profile, &profile, &DiffOptions::default()) {
            let _ = report.to_string();
        }
        let mut svg = Vec::new();
        if write_flamegraph(&profile, &FlameOptions::default(), &mut svg).is_ok() {
            assert_valid_svg(std::str::from_utf8(&svg).unwrap());
            graphs += 1;
        }
        svg.clear();
        if write_diff_flamegraph(&profile, &profile, &FlameOptions::default(), &mut svg).is_ok() {
            assert_valid_svg(std::str::from_utf8(&svg).unwrap());
        }
    }
    assert!(
        inputs >= 6 && graphs >= 4,
        "{inputs} inputs, {graphs} graphs"
    );
}

#[test]
fn every_kept_heaptrack_input_imports_or_gives_one_error_line() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/heaptrack_import");
    let options = ImportOptions::new()
        .max_input(16 << 20)
        .max_memory(64 << 20);
    let (mut inputs, mut profiles) = (0, 0);
    for entry in std::fs::read_dir(dir).expect("the fuzz corpus directory") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        inputs += 1;
        match import(&data[..], &options) {
            Ok(profile) => {
                assert!(profile.validate().is_ok());
                profiles += 1;
            }
            Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
    assert!(
        inputs >= 5 && profiles >= 5,
        "{inputs} inputs, {profiles} profiles"
    );
}
