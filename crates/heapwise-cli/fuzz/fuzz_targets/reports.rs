//! Fuzzes what the `heapwise` subcommands do with a profile: whatever
//! decodes must give a top table, a diff against itself and a flame graph
//! (or a clean error) without panicking, and every flame graph must be
//! well-formed XML 1.0, whatever the names hold. Run it as `README.md`
//! says, with an RSS limit.

#![no_main]

use heapwise_cli::{
    diff_report, top_report, write_diff_flamegraph, write_flamegraph, DiffOptions, FlameOptions,
    TopOptions,
};
use heapwise_pprof::{DecodeOptions, Profile};
use libfuzzer_sys::fuzz_target;

fn assert_xml(svg: &[u8]) {
    let text = std::str::from_utf8(svg).expect("the SVG is UTF-8");
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    if let Err(e) = roxmltree::Document::parse_with_options(text, options) {
        panic!("the flame graph is not well-formed XML: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let options = DecodeOptions::new()
        .max_decompressed_size(16 << 20)
        .max_memory(64 << 20);
    let Ok(profile) = Profile::decode_with(data, &options) else {
        return;
    };
    let all = TopOptions {
        max_rows: 0,
        ..TopOptions::default()
    };
    if let Ok(report) = top_report(&profile, &all) {
        let _ = report.to_string();
        let _ = report.to_json();
    }
    if let Ok(report) = diff_report(&profile, &profile, &DiffOptions::default()) {
        let _ = report.to_string();
    }
    let mut svg = Vec::new();
    if write_flamegraph(&profile, &FlameOptions::default(), &mut svg).is_ok() {
        assert_xml(&svg);
    }
    svg.clear();
    if write_diff_flamegraph(&profile, &profile, &FlameOptions::default(), &mut svg).is_ok() {
        assert_xml(&svg);
    }
});
