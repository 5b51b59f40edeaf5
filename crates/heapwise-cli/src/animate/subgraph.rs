//! Which blocks and roots the page animates.
//!
//! A browser draws a few hundred nodes readably, so at most `--max-nodes`
//! blocks are kept:
//!
//! - **reachable blocks**: the first ones the mark greys (breadth-first
//!   from the roots, see [`steps`](super::steps)). Every block greyed before
//!   a kept one is kept, so the animation is exactly the first steps of
//!   the mark over the whole heap, each scan limited to the kept blocks;
//! - **leaked blocks**: breadth-first from the direct leaks (in block
//!   order), so chains and cycles stay together. They get at least half
//!   the budget if there are that many, and what the reachable blocks
//!   leave;
//! - **roots**: those with a pointer to a kept block, in root order (up to
//!   `--max-nodes` of them). Every root is scanned, drawn or not.
//!
//! When blocks are left out the page says how many of each kind it shows.

use heapwise_heapgraph::{Analysis, BlockId, Holder, LeakClass, RootId};

use super::steps::{grey_order, targets};

const NONE: u32 = u32::MAX;

/// The animated subgraph.
#[derive(Debug)]
pub(crate) struct Subgraph {
    /// The kept blocks (the page's nodes): the reachable ones in the order
    /// the mark greys them, then the leaked ones.
    pub(crate) blocks: Vec<BlockId>,
    /// How many of `blocks` are reachable (they come first).
    pub(crate) reachable_shown: usize,
    /// Reachable blocks in the whole heap.
    pub(crate) reachable_total: usize,
    /// Leaked blocks in the whole heap.
    pub(crate) leaked_total: usize,
    /// The drawn roots, in root order.
    pub(crate) roots: Vec<RootId>,
    /// Roots with a pointer to a kept block.
    pub(crate) roots_total: usize,
    /// Per block of the heap, its node, or `NONE`.
    node_of: Vec<u32>,
}

impl Subgraph {
    /// At most `max_nodes` blocks (and roots) of `analysis`'s graph.
    pub(crate) fn select(analysis: &Analysis<'_>, max_nodes: usize) -> Subgraph {
        let graph = analysis.graph();
        let classes = analysis.leak_classes();
        let leaked_total = classes
            .iter()
            .filter(|&&c| c != LeakClass::Reachable)
            .count();
        let reachable_total = classes.len() - leaked_total;
        let reachable_kept = reachable_total.min(max_nodes - leaked_total.min(max_nodes / 2));
        let leaked_kept = leaked_total.min(max_nodes - reachable_kept);

        let mut blocks = grey_order(graph, reachable_kept);
        let mut node_of = vec![NONE; classes.len()];
        for (i, b) in blocks.iter().enumerate() {
            node_of[b.0 as usize] = i as u32;
        }
        // The leaked blocks, breadth-first from each direct leak.
        let mut next = blocks.len();
        for direct in analysis.direct_leaks() {
            if blocks.len() - reachable_kept >= leaked_kept {
                break;
            }
            if node_of[direct.0 as usize] != NONE {
                continue;
            }
            node_of[direct.0 as usize] = blocks.len() as u32;
            blocks.push(direct);
            while next < blocks.len() && blocks.len() - reachable_kept < leaked_kept {
                for b in targets(graph, Holder::Block(blocks[next])) {
                    if blocks.len() - reachable_kept < leaked_kept
                        && classes[b.0 as usize] != LeakClass::Reachable
                        && node_of[b.0 as usize] == NONE
                    {
                        node_of[b.0 as usize] = blocks.len() as u32;
                        blocks.push(b);
                    }
                }
                next += 1;
            }
            next = blocks.len();
        }

        let all_roots: Vec<RootId> = (0..graph.roots().len() as u32)
            .map(RootId)
            .filter(|&r| {
                graph
                    .edges_from(Holder::Root(r))
                    .any(|(_, b)| node_of[b.0 as usize] != NONE)
            })
            .collect();
        let roots_total = all_roots.len();
        let roots = all_roots.into_iter().take(max_nodes).collect();
        Subgraph {
            blocks,
            reachable_shown: reachable_kept,
            reachable_total,
            leaked_total,
            roots,
            roots_total,
            node_of,
        }
    }

    /// The node of block `b`, if it is kept.
    pub(crate) fn node(&self, b: BlockId) -> Option<usize> {
        match self.node_of[b.0 as usize] {
            NONE => None,
            i => Some(i as usize),
        }
    }

    /// True if some block or root is left out.
    pub(crate) fn is_partial(&self) -> bool {
        self.blocks.len() < self.reachable_total + self.leaked_total
            || self.roots.len() < self.roots_total
    }
}
