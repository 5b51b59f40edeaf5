//! `heapwise run --full` and heaptrack on a program nobody here wrote:
//! Debian's `sqlite3` loading a generated SQL script (a million
//! allocations). The allocation counts agree within 0.5% and the top sites
//! by count are the same (Debian's binaries are stripped: both name the
//! library, heaptrack by its soname, heapwise by its file, compared up to
//! `.so`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{run_json, run_ok, TempDir};

/// (total, top 3 names) of alloc_objects in `profile`.
fn counts(profile: &Path) -> (i64, Vec<String>) {
    let json = run_json(&[
        "top",
        "--json",
        "-n",
        "3",
        "--sample-index",
        "alloc_objects",
        profile.to_str().unwrap(),
    ]);
    let names = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap();
            match name.find(".so") {
                Some(at) => format!("{}]", &name[..at + 3]),
                None => name.to_string(),
            }
        })
        .collect();
    (json["total"].as_i64().unwrap(), names)
}

#[test]
#[ignore = "needs heaptrack and sqlite3"]
fn heapwise_run_counts_what_heaptrack_counts_in_sqlite3() {
    let sqlite3 = heapwise_test_support::sqlite3();
    let dir = TempDir::new("run-sqlite3");
    let mut sql =
        String::from("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);\nBEGIN;\n");
    for i in 0..20_000u64 {
        let pad = "x".repeat((i * 7919 % 40) as usize);
        sql.push_str(&format!(
            "INSERT INTO t(name, v) VALUES('name-{}-{pad}', {});\n",
            i * 2_654_435_761 % 1_000_000_007,
            i as f64 / 3.0
        ));
    }
    sql.push_str("COMMIT;\nCREATE INDEX ti ON t(name);\nSELECT count(*) FROM t GROUP BY substr(name, 1, 7) ORDER BY 1 DESC LIMIT 3;\n");
    let script = dir.join("load.sql");
    std::fs::write(&script, sql).unwrap();
    let read = format!(".read {}", script.display());
    let args = [":memory:", read.as_str()];

    let data = heapwise_test_support::run_heaptrack(&sqlite3, &args, &[], dir.path());
    let imported = dir.join("heaptrack.pb.gz");
    run_ok(&[
        "import",
        "heaptrack",
        data.to_str().unwrap(),
        "-o",
        imported.to_str().unwrap(),
    ]);

    let own = dir.join("heapwise.pb.gz");
    let out = Command::new(env!("CARGO_BIN_EXE_heapwise"))
        .env("HEAPWISE_PRELOAD", common::preload())
        .args(["run", "--full", "-o", own.to_str().unwrap(), "--"])
        .arg(&sqlite3)
        .args(args)
        .output()
        .expect("running heapwise run");
    heapwise_test_support::expect_success(&out, "heapwise run -- sqlite3");

    let ((ht_total, ht_top), (hw_total, hw_top)) = (counts(&imported), counts(&own));
    eprintln!("allocations: heaptrack {ht_total}, heapwise {hw_total}; top sites: heaptrack {ht_top:?}, heapwise {hw_top:?}");
    assert!(hw_total > 100_000, "{hw_total}");
    let diff = (ht_total - hw_total).abs() as f64 / ht_total as f64;
    assert!(
        diff <= 0.005,
        "heaptrack counted {ht_total} allocations, heapwise {hw_total}: {:.3}% apart",
        diff * 100.0
    );
    assert_eq!(ht_top, hw_top, "the top sites by allocation count");
}
