//! Fuzzes `HeapGraph::read_heapsnapshot`: no input may panic, abort or take
//! more memory than the reader's limit, and whatever reads must analyse,
//! and write and read back to a graph of the same size.

#![no_main]

use heapwise_heapgraph::heapsnapshot::ReadOptions;
use heapwise_heapgraph::HeapGraph;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ReadOptions::new().max_memory(64 << 20);
    if let Ok(graph) = HeapGraph::read_heapsnapshot(data, &options) {
        let analysis = graph.analyze();
        let mut out = Vec::new();
        analysis.write_heapsnapshot(&mut out).expect("writes");
        let again = HeapGraph::read_heapsnapshot(&out, &options).expect("reads what it wrote");
        assert_eq!(again.blocks().len(), graph.blocks().len());
        assert_eq!(again.edge_count(), graph.edge_count());
    }
});
