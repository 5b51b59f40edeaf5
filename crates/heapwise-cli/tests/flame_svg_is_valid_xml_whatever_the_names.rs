//! Function names, units and titles may hold characters XML 1.0 forbids
//! (`"\x00\x01"`); the flame graph shows them as visible escapes and stays
//! a well-formed SVG, drawn alone, against a base, to a file or to stdout.

mod common;

use common::*;
use heapwise_pprof::{Profile, ProfileBuilder};

/// Names with every kind of character XML forbids or the folded format
/// cannot carry, beside ordinary ones.
fn hostile_profile(scale: i64) -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("alloc_space", "bytes\x02");
    let main = b.frame("app::main", "src/main.rs", 1);
    let nul = b.frame("\x00\x01", "src/nul.rs", 2);
    let controls = b.frame("tab\there\nnewline\rreturn\x1b[31m\x7f", "src/c.rs", 3);
    let nonchars = b.frame("odd\u{fffe}\u{ffff}", "src/odd.rs", 4);
    b.sample(&[nul, main], &[1024 * scale], &[]);
    b.sample(&[controls, main], &[2048], &[]);
    b.sample(&[nonchars, nul, main], &[512], &[]);
    b.build()
}

#[test]
fn control_characters_in_names_are_escaped_in_every_svg() {
    let dir = TempDir::new("flame-xml");
    let file = write_profile(&hostile_profile(1), dir.join("new.pb.gz"));
    let base = write_profile(&hostile_profile(3), dir.join("old.pb.gz"));
    let out = dir.join("flame.svg");
    let out_arg = out.to_str().unwrap();

    run_ok(&["flame", &file, "-o", out_arg, "--title", "bell\x07 title"]);
    let svg = read_svg(&out);
    for shown in [
        "\\x00\\x01",
        "tab\\x09here\\x0anewline\\x0dreturn\\x1b[31m\\x7f",
        "odd\\u{fffe}\\u{ffff}",
        "bell\\x07 title",
        "bytes\\x02",
    ] {
        assert!(svg.contains(shown), "{shown} not in the SVG");
    }

    let stdout_svg = run_ok(&["flame", &file, "-o", "-"]);
    assert_valid_svg(&stdout_svg);

    run_ok(&["flame", &file, "--base", &base, "-o", out_arg]);
    let diff = read_svg(&out);
    assert!(diff.contains("\\x00\\x01"));
}
