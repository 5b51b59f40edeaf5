//! The mark order: the tri-colour mark phase over the animated subgraph,
//! computed once, deterministically, for the page to replay.
//!
//! Breadth-first from the roots: the first step scans every root in root
//! order (each root's pointers in offset order) and greys the blocks they
//! point to, in that order, into a FIFO work queue; each later step pops
//! the queue's front, scans its pointers in offset order (greying and
//! queueing each white block pointed to) and blackens it. The mark ends
//! when the queue is empty: every block still white is unreachable.

use std::collections::VecDeque;

use heapwise_heapgraph::{BlockId, HeapGraph, Holder, RootId};

use super::subgraph::Subgraph;

/// One step of the mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    /// The node scanned and blackened (popped from the queue), or `None`
    /// for the first step, which scans the roots.
    pub(crate) scanned: Option<usize>,
    /// The white nodes it greyed, in the order they joined the queue.
    pub(crate) greyed: Vec<usize>,
}

/// The blocks `holder` points to, in offset order (ties by block id), with
/// repeats.
pub(crate) fn targets(graph: &HeapGraph, holder: Holder) -> Vec<BlockId> {
    let mut edges: Vec<(u64, BlockId)> = graph.edges_from(holder).collect();
    edges.sort_unstable();
    edges.into_iter().map(|(_, to)| to).collect()
}

/// The blocks reachable from the roots in the order a breadth-first mark
/// greys them, at most `limit` of them.
pub(crate) fn grey_order(graph: &HeapGraph, limit: usize) -> Vec<BlockId> {
    let mut seen = vec![false; graph.blocks().len()];
    let mut order = Vec::new();
    let mut grey = |b: BlockId, order: &mut Vec<BlockId>| {
        if order.len() < limit && !seen[b.0 as usize] {
            seen[b.0 as usize] = true;
            order.push(b);
        }
    };
    for r in 0..graph.roots().len() {
        for b in targets(graph, Holder::Root(RootId(r as u32))) {
            grey(b, &mut order);
        }
    }
    let mut next = 0;
    while next < order.len() && order.len() < limit {
        for b in targets(graph, Holder::Block(order[next])) {
            grey(b, &mut order);
        }
        next += 1;
    }
    order
}

/// The mark over `sub`'s nodes: pointers to blocks outside it are ignored
/// (every root is scanned, drawn or not).
pub(crate) fn mark(graph: &HeapGraph, sub: &Subgraph) -> Vec<Step> {
    let mut seen = vec![false; sub.blocks.len()];
    let mut queue = VecDeque::new();
    let mut grey = |b: BlockId, greyed: &mut Vec<usize>, queue: &mut VecDeque<usize>| {
        if let Some(i) = sub.node(b) {
            if !seen[i] {
                seen[i] = true;
                greyed.push(i);
                queue.push_back(i);
            }
        }
    };
    let mut first = Step {
        scanned: None,
        greyed: Vec::new(),
    };
    for r in 0..graph.roots().len() {
        for b in targets(graph, Holder::Root(RootId(r as u32))) {
            grey(b, &mut first.greyed, &mut queue);
        }
    }
    let mut steps = vec![first];
    while let Some(i) = queue.pop_front() {
        let mut step = Step {
            scanned: Some(i),
            greyed: Vec::new(),
        };
        for b in targets(graph, Holder::Block(sub.blocks[i])) {
            grey(b, &mut step.greyed, &mut queue);
        }
        steps.push(step);
    }
    steps
}

/// Each node's breadth-first depth in the mark (the blocks the roots point
/// to are at 0), `None` for the nodes it never reaches.
pub(crate) fn depths(steps: &[Step], nodes: usize) -> Vec<Option<u32>> {
    let mut depth = vec![None; nodes];
    for step in steps {
        let d = step
            .scanned
            .map_or(0, |s| depth[s].map_or(0, |d: u32| d + 1));
        for &g in &step.greyed {
            depth[g] = Some(d);
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_heapgraph::{Block, Edge, Frame, LeakClass, Root, RootKind, StackId};

    /// Root 0 -> 2, 1 (offsets 8, 0: scanned as 1, 2); 1 -> 3; 2 -> 3, 0;
    /// 4 <-> 5 leaked; 6 -> 4 leaked.
    fn graph() -> HeapGraph {
        let blocks: Vec<Block> = (0..7)
            .map(|i| Block {
                addr: 0,
                size: 16,
                seq: 10 + i,
                stack: StackId(0),
            })
            .collect();
        let roots = vec![Root::new(RootKind::Global, "g", 0, 16)];
        let e = |from, offset, to| Edge {
            from,
            offset,
            to: BlockId(to),
        };
        let b = |i| Holder::Block(BlockId(i));
        let edges = [
            e(Holder::Root(RootId(0)), 8, 2),
            e(Holder::Root(RootId(0)), 0, 1),
            e(b(1), 0, 3),
            e(b(2), 0, 3),
            e(b(2), 8, 0),
            e(b(4), 0, 5),
            e(b(5), 0, 4),
            e(b(6), 0, 4),
        ];
        let stacks = vec![vec![Frame::new("app::f", "f.rs", 1)]];
        HeapGraph::from_parts(blocks, roots, stacks, &edges).unwrap()
    }

    #[test]
    fn breadth_first_in_offset_order_blackens_the_reachable_blocks() {
        let g = graph();
        let order: Vec<u32> = grey_order(&g, usize::MAX).iter().map(|b| b.0).collect();
        assert_eq!(order, [1, 2, 3, 0]);
        assert_eq!(grey_order(&g, 2).len(), 2);
        let analysis = g.analyze();
        let sub = Subgraph::select(&analysis, 100);
        let steps = mark(&g, &sub);
        let blackened: Vec<BlockId> = steps
            .iter()
            .filter_map(|s| s.scanned)
            .map(|i| sub.blocks[i])
            .collect();
        assert_eq!(blackened, grey_order(&g, usize::MAX));
        for b in 0..7 {
            let b = BlockId(b);
            assert_eq!(
                blackened.contains(&b),
                analysis.leak_class(b) == LeakClass::Reachable,
                "{b:?}"
            );
        }
        let depth = depths(&steps, sub.blocks.len());
        let at = |b: u32| depth[sub.node(BlockId(b)).unwrap()];
        assert_eq!(
            [at(1), at(2), at(3), at(0)],
            [Some(0), Some(0), Some(1), Some(1)]
        );
        assert_eq!(at(4), None);
    }

    #[test]
    fn a_truncated_subgraph_replays_the_start_of_the_full_mark() {
        let g = graph();
        let analysis = g.analyze();
        let sub = Subgraph::select(&analysis, 4);
        // Two reachable blocks (the first greyed) and two leaked ones.
        assert_eq!(sub.blocks.len(), 4);
        assert_eq!(sub.reachable_shown, 2);
        let steps = mark(&g, &sub);
        let blackened: Vec<BlockId> = steps
            .iter()
            .filter_map(|s| s.scanned)
            .map(|i| sub.blocks[i])
            .collect();
        assert_eq!(blackened, grey_order(&g, 2));
    }
}
