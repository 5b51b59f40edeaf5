//! Building, encoding and writing a profile is heapwise's own work: it
//! appears in no profile, moves no process figure but
//! `Stats::heapwise_bytes`, and is charged to no scope. At rate 1 an export
//! used to add ~8,800 samples (the protobuf encoder, flate2) and ~100k
//! allocations to the figures.
//!
//! The figures it compares are the whole process's, so nothing else may
//! allocate meanwhile: it runs without libtest (`harness = false` in
//! Cargo.toml), whose main thread prints, and so allocates, when a test
//! runs for over 60 seconds (as this one does under valgrind).

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::hint::black_box;

use heapwise::{profile, Scope};

#[inline(never)]
fn program_work() -> Vec<Vec<u8>> {
    (0..1000).map(|i| vec![1u8; 100 + i]).collect()
}

fn main() {
    // Arguments meant for libtest (`--test-threads`, `--skip`) are ignored.
    exports_are_invisible_to_profiles_stats_and_scopes();
    println!("test exports_are_invisible_to_profiles_stats_and_scopes ... ok");
    // The line `.ci/run`'s summary counts.
    println!("test result: ok. 1 passed; 0 failed; 0 ignored");
}

fn exports_are_invisible_to_profiles_stats_and_scopes() {
    profile::set_rate(1);
    let kept = black_box(program_work());
    let dir = std::env::temp_dir().join(format!("heapwise-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("heap.pb.gz");

    let scope = Scope::new().name("exporting");
    let before = (heapwise::stats(), profile::memory().samples);
    scope.run(|_| {
        for _ in 0..3 {
            profile::write_heap(&path).unwrap();
            profile::write_allocs(&path).unwrap();
        }
    });
    let after = (heapwise::stats(), profile::memory().samples);
    assert_eq!(after.1, before.1, "no export was sampled");
    let (b, a) = (before.0, after.0);
    assert_eq!(
        (a.allocs, a.allocated_bytes, a.frees, a.calls),
        (b.allocs, b.allocated_bytes, b.frees, b.calls),
        "no export was counted in the process figures"
    );
    assert_eq!(a.peak_bytes, b.peak_bytes);
    assert!(
        a.heapwise_peak_bytes > b.heapwise_bytes,
        "but as heapwise's own: {a:?}"
    );
    assert_eq!(scope.usage().calls, 0, "nor in the scope that exported");

    // The profile read back names the program's site and nothing of the export.
    let p = heapwise_pprof::Profile::decode(&std::fs::read(&path).unwrap()).unwrap();
    let frames: Vec<String> = p
        .sample
        .iter()
        .flat_map(|s| p.stack_function_names(s))
        .map(str::to_owned)
        .collect();
    assert!(
        frames.iter().any(|f| f.contains("program_work")),
        "{frames:?}"
    );
    for own in [
        "heapwise_pprof::",
        "flate2::",
        "zlib_rs::",
        "addr2line::",
        "gimli::",
    ] {
        assert!(
            !frames.iter().any(|f| f.contains(own)),
            "{own} in the profile"
        );
    }

    // heap() returns the caller's copy: counted, but never sampled.
    let b = (heapwise::stats(), profile::memory().samples);
    let p = profile::heap();
    let a = (heapwise::stats(), profile::memory().samples);
    assert!(
        a.0.allocs > b.0.allocs,
        "the returned profile is the caller's memory"
    );
    assert_eq!(a.1, b.1, "and not sampled");
    drop((p, kept));
    std::fs::remove_dir_all(&dir).unwrap();
}
