//! memlab reads the `.heapsnapshot` and computes the same retained sizes.

mod common;

use heapwise_heapgraph::BlockId;

#[test]
#[ignore = "needs memlab"]
fn memlab_computes_the_same_retained_sizes_for_the_top_dominators() {
    let g = common::sample_graph();
    let a = g.analyze();
    let dir = std::env::temp_dir().join(format!("heapwise-memlab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sample.heapsnapshot");
    a.save_heapsnapshot(&file).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/memlab_retained.js");
    let (memlab, text) = heapwise_test_support::memlab_retained(script.as_ref(), &file);
    assert_eq!(
        memlab.len(),
        g.blocks().len(),
        "every block is a native node:\n{text}"
    );
    let top = a.top_dominators(5);
    assert!(
        a.retained_bytes(top[0]) > g.block(top[0]).size,
        "a real dominator"
    );
    for b in top {
        let block = g.block(b);
        let (retained, size, name) = &memlab[&block.seq];
        assert_eq!(
            *retained,
            a.retained_bytes(b),
            "block #{} ({name})",
            block.seq
        );
        assert_eq!(*size, block.size);
        assert_eq!(name, g.site_name(g.block_site(b)));
    }
    // Every block, not just the top: the same dominator tree.
    for (i, block) in g.blocks().iter().enumerate() {
        assert_eq!(
            memlab[&block.seq].0,
            a.retained_bytes(BlockId(i as u32)),
            "block #{}",
            block.seq
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
