//! The fuzz corpus (`fuzz/corpus/read`), replayed on stable: every input
//! reads or fails with a one-line error, and what reads round-trips.

mod common;

use heapwise_heapgraph::heapsnapshot::ReadOptions;
use heapwise_heapgraph::HeapGraph;

#[test]
fn the_fuzz_corpus_reads_or_fails_with_one_line() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/read");
    let options = ReadOptions::new().max_memory(64 << 20);
    let mut inputs = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        inputs += 1;
        match HeapGraph::read_heapsnapshot(&data, &options) {
            Ok(graph) => {
                let mut out = Vec::new();
                graph.analyze().write_heapsnapshot(&mut out).unwrap();
                let again = HeapGraph::read_heapsnapshot(&out, &options).unwrap();
                assert_eq!(again.blocks().len(), graph.blocks().len());
            }
            Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
    assert!(inputs > 0, "the corpus has inputs");
}

#[test]
fn the_corpus_seed_is_the_sample_graph() {
    // fuzz/corpus/read/sample.heapsnapshot is the sample graph's snapshot:
    // regenerate it if the writer changes.
    let mut out = Vec::new();
    common::sample_graph()
        .analyze()
        .write_heapsnapshot(&mut out)
        .unwrap();
    let seed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/corpus/read/sample.heapsnapshot"
    );
    if std::env::var_os("HEAPWISE_UPDATE_CORPUS").is_some() {
        std::fs::write(seed, &out).unwrap();
    }
    assert_eq!(
        std::fs::read(seed).unwrap(),
        out,
        "HEAPWISE_UPDATE_CORPUS=1 regenerates it"
    );
}
