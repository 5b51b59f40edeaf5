//! Where each node is drawn: columns by breadth-first depth.
//!
//! The roots make the first column; a reachable block's column is its
//! depth in the mark plus one (the blocks the roots point to are in the
//! second), in the order the mark greys them; the leaked blocks follow in
//! columns of their own at the right, by depth from their direct leak. A
//! column of more than [`ROWS`] nodes wraps into several. Everything is
//! a function of the subgraph and the mark order, so the same snapshot
//! gives the same picture.

use heapwise_heapgraph::{HeapGraph, Holder};

use super::steps::{depths, targets, Step};
use super::subgraph::Subgraph;

/// A node's box width, in pixels.
pub(crate) const NODE_W: u32 = 150;
/// A node's box height.
pub(crate) const NODE_H: u32 = 20;
/// The distance between the left edges of two columns.
const COL_W: u32 = 190;
/// The distance between the tops of two rows.
const ROW_H: u32 = 28;
/// Nodes in a column before it wraps.
pub(crate) const ROWS: usize = 20;
/// The space around the drawing, and above it for the column titles.
const MARGIN: u32 = 20;
const HEADER: u32 = 40;

/// The drawing's geometry.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Top-left corner of each node's box, by node.
    pub(crate) nodes: Vec<(u32, u32)>,
    /// Top-left corner of each drawn root's box, in `Subgraph::roots` order.
    pub(crate) roots: Vec<(u32, u32)>,
    /// Where the leaked columns start (`None` if no leaked block is drawn).
    pub(crate) leaked_x: Option<u32>,
    /// The drawing's size.
    pub(crate) width: u32,
    /// Its height.
    pub(crate) height: u32,
}

/// Lays out `sub` with its mark `steps`.
pub(crate) fn layout(graph: &HeapGraph, sub: &Subgraph, steps: &[Step]) -> Layout {
    let n = sub.blocks.len();
    let mut reached = depths(steps, n);
    // Leaked nodes: depth from the direct leak each breadth-first walk
    // started at (they are kept in that order).
    for i in sub.reachable_shown..n {
        let d = *reached[i].get_or_insert(0);
        for b in targets(graph, Holder::Block(sub.blocks[i])) {
            if let Some(j) = sub.node(b) {
                if j > i && reached[j].is_none() {
                    reached[j] = Some(d + 1);
                }
            }
        }
    }
    let depth: Vec<usize> = reached.iter().map(|d| d.unwrap_or(0) as usize).collect();
    let reachable_layers = depth[..sub.reachable_shown]
        .iter()
        .max()
        .map_or(0, |&d| d + 1);
    let leaked_layers = depth[sub.reachable_shown..]
        .iter()
        .max()
        .map_or(0, |&d| d + 1);
    // Layer 0: roots; 1..: reachable depths; then the leaked depths.
    let layer_of = |i: usize| {
        if i < sub.reachable_shown {
            1 + depth[i]
        } else {
            1 + reachable_layers + depth[i]
        }
    };
    let layers = 1 + reachable_layers + leaked_layers;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for i in 0..n {
        members[layer_of(i)].push(i);
    }
    let mut x = MARGIN;
    let mut layer_x = Vec::with_capacity(layers);
    for (l, m) in members.iter().enumerate() {
        let count = if l == 0 { sub.roots.len() } else { m.len() };
        layer_x.push(x);
        x += COL_W * count.div_ceil(ROWS).max(1) as u32;
    }
    let place = |l: usize, k: usize| {
        (
            layer_x[l] + COL_W * (k / ROWS) as u32,
            MARGIN + HEADER + ROW_H * (k % ROWS) as u32,
        )
    };
    let mut nodes = vec![(0, 0); n];
    for (l, m) in members.iter().enumerate() {
        for (k, &i) in m.iter().enumerate() {
            nodes[i] = place(l, k);
        }
    }
    let roots = (0..sub.roots.len()).map(|k| place(0, k)).collect();
    let tallest = members
        .iter()
        .map(Vec::len)
        .chain([sub.roots.len()])
        .max()
        .unwrap_or(0)
        .min(ROWS) as u32;
    Layout {
        nodes,
        roots,
        leaked_x: (leaked_layers > 0).then(|| layer_x[1 + reachable_layers]),
        width: x - COL_W + NODE_W + MARGIN,
        height: MARGIN + HEADER + ROW_H * tallest.max(1) + MARGIN,
    }
}
