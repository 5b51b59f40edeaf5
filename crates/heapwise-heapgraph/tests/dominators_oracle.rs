//! Retained sizes and leak classes against brute force on random graphs:
//! a block's retained set is what becomes unreachable when it is removed.

use heapwise_heapgraph::{
    Block, BlockId, Edge, Frame, HeapGraph, Holder, LeakClass, Root, RootId, RootKind, StackId,
};

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_graph(rng: &mut Rng) -> HeapGraph {
    let n = 1 + rng.below(14) as u32;
    let roots = rng.below(3) as u32;
    let blocks: Vec<Block> = (0..n)
        .map(|i| Block {
            addr: 0,
            size: 1 + rng.below(100),
            seq: 1000 - u64::from(i) * 7 % 1000,
            stack: StackId(rng.below(3) as u32),
        })
        .collect();
    let stacks = (0..3)
        .map(|s| vec![Frame::new(format!("site{s}"), "f.rs", 1)])
        .collect();
    let roots_v = (0..roots)
        .map(|r| Root::new(RootKind::Global, format!("g{r}"), 0, 64))
        .collect();
    let mut edges = Vec::new();
    for _ in 0..rng.below(u64::from(n) * 3) {
        let from = if roots > 0 && rng.below(4) == 0 {
            Holder::Root(RootId(rng.below(u64::from(roots)) as u32))
        } else {
            Holder::Block(BlockId(rng.below(u64::from(n)) as u32))
        };
        edges.push(Edge {
            from,
            offset: 8 * rng.below(4),
            to: BlockId(rng.below(u64::from(n)) as u32),
        });
    }
    HeapGraph::from_parts(blocks, roots_v, stacks, &edges).expect("valid")
}

/// Blocks reachable from `starts` avoiding `removed`.
fn reach(g: &HeapGraph, starts: &[u32], removed: Option<u32>) -> Vec<bool> {
    let mut seen = vec![false; g.blocks().len()];
    let mut stack: Vec<u32> = starts
        .iter()
        .copied()
        .filter(|&s| Some(s) != removed)
        .collect();
    for &s in &stack {
        seen[s as usize] = true;
    }
    while let Some(b) = stack.pop() {
        for (_, t) in g.edges_from(Holder::Block(BlockId(b))) {
            if Some(t.0) != removed && !seen[t.0 as usize] {
                seen[t.0 as usize] = true;
                stack.push(t.0);
            }
        }
    }
    seen
}

#[test]
fn retained_sizes_and_leak_classes_match_brute_force() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let g = random_graph(&mut rng);
        let a = g.analyze();
        let n = g.blocks().len();
        let from_roots: Vec<u32> = (0..g.roots().len() as u32)
            .flat_map(|r| g.edges_from(Holder::Root(RootId(r))).map(|(_, t)| t.0))
            .collect();
        let reachable = reach(&g, &from_roots, None);
        // Leak classes: reachable as computed; a leaked block is indirect
        // iff a direct leak (other than itself) reaches it; every leaked
        // block is reached from a direct one; a direct leak is reached by
        // no leaked block it does not reach (it heads its cycle) and is the
        // earliest of its cycle.
        let direct: Vec<u32> = a.direct_leaks().map(|b| b.0).collect();
        for (b, &r) in reachable.iter().enumerate() {
            let c = a.leak_class(BlockId(b as u32));
            assert_eq!(c == LeakClass::Reachable, r, "block {b}");
        }
        let from_direct = reach(&g, &direct, None);
        for (b, (&r, &d)) in reachable.iter().zip(&from_direct).enumerate() {
            assert!(r || d, "leak {b} not under a direct leak");
        }
        for &d in &direct {
            let from_d = reach(&g, &[d], None);
            for (o, &r) in reachable.iter().enumerate() {
                if !r && o != d as usize && reach(&g, &[o as u32], None)[d as usize] {
                    // o reaches d: then d must reach o (same cycle), and d
                    // must be the earlier.
                    assert!(
                        from_d[o],
                        "direct leak {d} is reached from outside its cycle"
                    );
                    assert!(g.block(BlockId(d)).seq < g.block(BlockId(o as u32)).seq);
                }
            }
        }
        // Retained: removing b makes exactly its retained set unreachable
        // from the roots and the direct leaks.
        let mut starts = from_roots.clone();
        starts.extend(&direct);
        for b in 0..n as u32 {
            let still = reach(&g, &starts, Some(b));
            let lost: Vec<usize> = (0..n).filter(|&x| !still[x]).collect();
            let bytes: u64 = lost.iter().map(|&x| g.block(BlockId(x as u32)).size).sum();
            assert_eq!(a.retained_bytes(BlockId(b)), bytes, "block {b}");
            assert_eq!(a.retained_blocks(BlockId(b)), lost.len() as u64);
        }
    }
}
