//! `heapwise demo`: runs the built-in service under heapwise, writes a heap
//! profile that `go tool pprof` reads (an ignored test: it needs `go`) with the demo's demangled Rust
//! function names and the same figures as `heapwise top`, and a flame graph.

mod common;

use common::*;
use heapwise_pprof::Profile;

#[test]
fn the_demo_profiles_itself_and_finds_the_leak() {
    let dir = TempDir::new("demo");
    let out = run_ok(&["demo", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(out.contains("served 20000 requests"), "{out}");
    for kind in ["put ", "get ", "scan ", "login "] {
        assert!(out.lines().any(|l| l.starts_with(kind)), "{kind}: {out}");
    }
    assert!(
        out.contains("scans stopped cooperatively at their 512 KiB per-request limit"),
        "{out}"
    );
    // The leak is the top in-use site.
    let rows = top_rows(&out[out.find("Top sites").unwrap()..out.find("\nHeap snapshot").unwrap()]);
    assert_eq!(rows[0].name, "heapwise_cli::demo::Service::login", "{out}");
    // The snapshot finds the true leak (the audit records, each with its
    // text), and the sessions retain the most.
    let snapshot = &out[out.find("\nHeap snapshot").unwrap()..];
    let direct = snapshot
        .lines()
        .find(|l| {
            l.starts_with("Direct leak") && l.ends_with("allocated from heapwise_cli::demo::audit")
        })
        .unwrap_or_else(|| panic!("{out}"));
    let logins: u64 = out
        .lines()
        .find(|l| l.starts_with("login "))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    let leaked: u64 = direct
        .split(" in ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Conservative: a stale word may keep a few records reachable.
    assert!(
        leaked <= logins && leaked >= logins * 99 / 100,
        "{leaked} of {logins}: {out}"
    );
    assert!(
        snapshot.contains("Indirect leak of") && snapshot.contains("SUMMARY: heapwise:"),
        "{out}"
    );
    let retained = &snapshot[snapshot.find("site\n").unwrap() + 5..];
    assert!(
        retained
            .lines()
            .next()
            .unwrap()
            .ends_with("heapwise_cli::demo::Service::login"),
        "{out}"
    );
    let saved = dir.join("heap.heapsnapshot");
    let leaks = run_ok(&["snapshot", "leaks", saved.to_str().unwrap()]);
    assert!(leaks.contains("heapwise_cli::demo::audit"), "{leaks}");

    let heap = dir.join("heap.pb.gz");
    let profile = Profile::decode(&std::fs::read(&heap).unwrap()).unwrap();
    profile.validate().unwrap();
    assert_eq!(profile.period, 1);
    let svg = read_svg(&dir.join("flame.svg"));
    assert!(svg.contains("heapwise_cli::demo::Service::login"));
    // Names are demangled; the mangled form is kept as the system name.
    for f in &profile.function {
        let name = profile.string(f.name);
        assert!(
            !name.starts_with("_ZN") && !name.starts_with("_R"),
            "{name}"
        );
    }
}

#[test]
#[ignore = "needs go tool pprof"]
fn go_tool_pprof_reads_the_demos_profile() {
    let dir = TempDir::new("demo-go");
    run_ok(&["demo", "--out-dir", dir.path().to_str().unwrap()]);
    let heap = dir.join("heap.pb.gz");
    let heap = heap.to_str().unwrap();
    for index in ["inuse_space", "alloc_space", "alloc_objects"] {
        let ours = run_ok(&["top", heap, "--sample-index", index, "-n", "0"]);
        let theirs = pprof(
            &["-top", "-nodefraction=0", &format!("-sample_index={index}")],
            heap,
        );
        assert_eq!(
            from_showing(&ours),
            from_showing(&theirs),
            "{index}:\n{ours}\n---\n{theirs}"
        );
    }
    // Scope names are sample labels: pprof can focus on one kind of request.
    let login = pprof(
        &["-top", "-tagfocus=scope=login", "-sample_index=inuse_space"],
        heap,
    );
    let rows = top_rows(&login);
    assert_eq!(
        rows[0].name, "heapwise_cli::demo::Service::login",
        "{login}"
    );
    assert!(!login.contains("Service::put"), "{login}");
    let raw = pprof(&["-raw"], heap);
    assert!(
        raw.contains("heapwise_cli::demo::Service::scan"),
        "demangled names"
    );
}

/// memlab reads the demo's runtime snapshot and computes the same retained
/// sizes for its top dominators.
#[test]
#[ignore = "needs memlab"]
fn memlab_agrees_on_the_demos_snapshot() {
    use heapwise_heapgraph::HeapGraph;
    let dir = TempDir::new("demo-memlab");
    run_ok(&["demo", "--out-dir", dir.path().to_str().unwrap()]);
    let file = dir.join("heap.heapsnapshot");
    let g = HeapGraph::load_heapsnapshot(&file).unwrap();
    let a = g.analyze();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../heapwise-heapgraph/tests/memlab_retained.js"
    );
    let (memlab, _) = heapwise_test_support::memlab_retained(script.as_ref(), &file);
    assert_eq!(
        memlab.len(),
        g.blocks().len(),
        "every block is a native node"
    );
    let top = a.top_dominators(5);
    for b in top {
        let block = g.block(b);
        let (retained, size, _) = &memlab[&block.seq];
        assert_eq!(
            (*retained, *size),
            (a.retained_bytes(b), block.size),
            "block #{} ({})",
            block.seq,
            g.site_name(g.block_site(b))
        );
    }
}
