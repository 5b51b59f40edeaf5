//! `go tool pprof` against the live endpoint: the binary profile, the
//! legacy `?debug=1` text (symbolized through `/debug/pprof/symbol`), a
//! `-seconds` delta, and the server's error message on a bad request.
//!
//! Needs `go`: ignored in a plain run; `.ci/run` installs it and runs these
//! tests (`--include-ignored`), where a missing `go` fails them.
#![cfg(feature = "http")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Output;

use common::go::{flat, pprof_command};
use heapwise::profile;

/// A directory of this process's own for pprof's saved copies of fetched
/// profiles (`PPROF_TMPDIR`; otherwise they go to `$HOME/pprof`).
fn pprof_tmp() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapwise-http-go-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pprof(args: &[&str]) -> Output {
    pprof_command()
        .args(args)
        .env("PPROF_TMPDIR", pprof_tmp())
        .output()
        .expect("running go tool pprof")
}

fn pprof_ok(args: &[&str]) -> String {
    let out = pprof(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[inline(never)]
fn http_go_tool_site() -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(40);
    for i in 0..40 {
        v.push(black_box(vec![i as u8; 10_000]));
    }
    v
}

#[test]
#[ignore = "needs go tool pprof"]
fn go_tool_pprof_reads_the_live_endpoint() {
    profile::set_rate(1);
    let kept = http_go_tool_site();
    let server = heapwise::http::serve("127.0.0.1:0").unwrap();
    let base = format!("http://{}/debug/pprof", server.local_addr());
    let site = "http_go_tool::http_go_tool_site";
    // 40 blocks of 10,000 bytes and the Vec of 40 Vecs.
    let bytes = 40 * 10_000 + 40 * 24;

    // The binary profile, symbolized by heapwise.
    let heap = format!("{base}/heap");
    let raw = pprof_ok(&["-raw", &heap]);
    assert!(raw.contains("PeriodType: space bytes"), "{raw}");
    assert!(
        raw.contains("alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"),
        "{raw}"
    );
    assert!(raw.contains(site), "{raw}");
    let top = pprof_ok(&["-top", "-unit=B", "-nodecount=1000", &heap]);
    assert_eq!(flat(&top, site), Some(bytes), "{top}");

    // The legacy text: addresses only, resolved through /debug/pprof/symbol.
    let legacy = format!("{base}/heap?debug=1");
    let raw = pprof_ok(&["-raw", &legacy]);
    assert!(
        raw.contains("alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"),
        "{raw}"
    );
    assert!(raw.contains(site), "{raw}");
    let top = pprof_ok(&["-top", "-unit=B", "-nodecount=1000", &legacy]);
    assert_eq!(flat(&top, site), Some(bytes), "{top}");

    // `-seconds`: pprof asks for ?seconds=1 and reads the delta.
    let allocs = format!("{base}/allocs");
    let raw = pprof_ok(&["-raw", "-seconds", "1", &allocs]);
    assert!(raw.contains("alloc_space/bytes"), "{raw}");

    // A bad request: pprof shows the server's message (X-Go-Pprof).
    let out = pprof(&["-raw", &format!("{base}/heap?seconds=0")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("400 Bad Request") && stderr.contains("invalid value for \"seconds\""),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(pprof_tmp());
    drop(kept);
}
