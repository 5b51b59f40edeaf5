//! The dominator tree, by the semi-NCA algorithm, iteratively.
//!
//! Semi-NCA (Georgiadis, 2005) computes semidominators exactly as
//! Lengauer–Tarjan does (simple link-eval with path compression, over
//! vertices in decreasing DFS preorder), then each immediate dominator as
//! the nearest common ancestor of the vertex's DFS parent and its
//! semidominator, walking the partial dominator tree: no buckets, and one
//! array fewer than Lengauer–Tarjan. The semidominator step is O(m log n)
//! as in simple Lengauer–Tarjan; the nearest-ancestor walk is quadratic in
//! theory but short in practice (a tenth of a second for 10 million
//! blocks in the benchmark). Cooper–Harvey–Kennedy, the other candidate, iterates
//! over every predecessor until nothing changes and is quadratic in the
//! worst case (long chains, deep cycles: why DevTools left it); on the
//! synthetic 10-million-block heap of `bench/heapgraph` a straightforward
//! CHK took several times as long as these dominator steps, so semi-NCA it
//! is.
//!
//! Every loop is iterative (explicit stacks), so depth is bounded by
//! memory, not the thread's stack: a 10-million-block linked list is fine.
//!
//! The graph: node 0 is a pseudo-root whose successors are every root
//! (nodes `1..=R`) and a `(leaked)` node (`R + 1`) whose successors are the
//! direct leaks; blocks are nodes `R + 2 ..`. Every block is then
//! reachable, so every block has an immediate dominator.

use crate::csr;
use crate::model::HeapGraph;

/// "No node".
pub(crate) const NONE: u32 = u32::MAX;

/// The node numbering of the dominator graph.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nodes {
    pub(crate) roots: u32,
}

impl Nodes {
    pub(crate) const TOP: u32 = 0;
    pub(crate) fn leaked(self) -> u32 {
        self.roots + 1
    }
    pub(crate) fn block(self, b: u32) -> u32 {
        self.roots + 2 + b
    }
    pub(crate) fn as_block(self, node: u32) -> Option<u32> {
        node.checked_sub(self.roots + 2)
    }
    pub(crate) fn as_root(self, node: u32) -> Option<u32> {
        (node >= 1 && node <= self.roots).then(|| node - 1)
    }
}

/// The immediate dominator of every node (`NONE` for the pseudo-root) and
/// the nodes in DFS preorder (every dominator precedes what it dominates).
#[derive(Debug)]
pub(crate) struct DomTree {
    pub(crate) idom: Vec<u32>,
    pub(crate) preorder: Vec<u32>,
}

/// The successors of a node as `(targets, add)`: the successor nodes are
/// `target + add`.
fn successors<'a>(
    graph: &'a HeapGraph,
    nodes: Nodes,
    top: &'a [u32],
    direct: &'a [u32],
    v: u32,
) -> (&'a [u32], u32) {
    let add = nodes.block(0);
    if v == Nodes::TOP {
        (top, 0)
    } else if v == nodes.leaked() {
        (direct, add)
    } else if let Some(r) = nodes.as_root(v) {
        (graph.holder_targets(r as usize), add)
    } else {
        (graph.holder_targets((v - 2) as usize), add)
    }
}

/// The dominator tree of `graph` with `direct` (block ids) as the direct
/// leaks.
///
/// Memory beyond the graph, per node (a block, mostly), at the peak: 20
/// bytes plus 4 per edge (the semidominator loop; the predecessor lists
/// are built at 12 bytes plus 8 per edge). Each phase holds only what it
/// reads: no cursor array for filling the predecessor lists (each list is
/// filled downwards from its end), the preorder inverted only once `pre`
/// is no longer needed, and the link-eval forest kept in the list starts'
/// place as they are used up.
pub(crate) fn dominators(graph: &HeapGraph, direct: &[u32]) -> DomTree {
    let nodes = Nodes {
        roots: graph.roots.len() as u32,
    };
    let total = nodes.block(graph.blocks.len() as u32) as usize;
    let top: Vec<u32> = (1..=nodes.leaked()).collect();
    let succ = |v: u32| successors(graph, nodes, &top, direct, v);
    let first_edge = |v: u32| -> Option<usize> {
        if v == Nodes::TOP || v == nodes.leaked() {
            None
        } else {
            Some(graph.edge_start[v as usize - 1 - usize::from(v > nodes.roots)] as usize)
        }
    };

    // DFS preorder numbers and parents, iteratively. Each graph edge's
    // target's number (`edge_pre`) is noted as the DFS crosses it, so the
    // predecessor lists are then built from sequential reads.
    let mut pre = vec![NONE; total];
    let mut parent: Vec<u32> = Vec::with_capacity(total);
    let mut edge_pre = vec![NONE; graph.edge_to.len()];
    let mut stack: Vec<(u32, u32)> = vec![(Nodes::TOP, 0)];
    pre[0] = 0;
    parent.push(0);
    while let Some(top_entry) = stack.last_mut() {
        let (v, pos) = *top_entry;
        let (targets, add) = succ(v);
        if let Some(&t) = targets.get(pos as usize) {
            top_entry.1 += 1;
            let w = t + add;
            if pre[w as usize] == NONE {
                pre[w as usize] = parent.len() as u32;
                parent.push(pre[v as usize]);
                stack.push((w, 0));
            }
            if let Some(e) = first_edge(v) {
                edge_pre[e + pos as usize] = pre[w as usize];
            }
        } else {
            stack.pop();
        }
    }
    drop(stack);
    let n = parent.len();
    debug_assert_eq!(n, total, "every node is reachable from the pseudo-root");

    // Predecessors in preorder numbers (CSR).
    let each_edge = |f: &mut dyn FnMut(u32, u32)| {
        for v in 0..total as u32 {
            let pv = pre[v as usize];
            let (targets, add) = succ(v);
            match first_edge(v) {
                Some(e) => {
                    for &pw in &edge_pre[e..e + targets.len()] {
                        f(pv, pw);
                    }
                }
                None => {
                    for &t in targets {
                        f(pv, pre[(t + add) as usize]);
                    }
                }
            }
        }
    };
    let (mut pred_start, preds) = csr::rows(n, |f| each_edge(&mut |pv, pw| f(pw, pv)));
    drop(edge_pre);
    let mut vertex = vec![0u32; n];
    for (v, &p) in pre.iter().enumerate() {
        vertex[p as usize] = v as u32;
    }
    drop(pre);

    // Semidominators, in decreasing preorder. A vertex `v > w` is
    // processed (linked to its parent in the forest). The forest lives in
    // `pred_start`: vertex `x`'s ancestor in slot `x + 1`, which the loop
    // last reads as the end of `x`'s list, and which is set to `x`'s
    // parent as `x` is processed (compression reads only processed
    // vertices' ancestors).
    let mut semi: Vec<u32> = (0..n as u32).collect();
    let mut label: Vec<u32> = (0..n as u32).collect();
    let mut path: Vec<u32> = Vec::new();
    for w in (1..n as u32).rev() {
        let (a, b) = (
            pred_start[w as usize] as usize,
            pred_start[w as usize + 1] as usize,
        );
        let mut s = semi[w as usize];
        for &v in &preds[a..b] {
            let u = if v <= w {
                v
            } else {
                let ancestor = &mut pred_start[1..];
                compress(ancestor, &mut label, &semi, &mut path, v, w);
                label[v as usize]
            };
            s = s.min(semi[u as usize]);
        }
        semi[w as usize] = s;
        pred_start[w as usize + 1] = parent[w as usize];
    }
    drop(preds);
    drop(pred_start);
    drop(label);

    // Immediate dominators: the nearest ancestor of the parent in the
    // dominator tree built so far that is at or above the semidominator.
    let mut dom = parent;
    for w in 1..n {
        let mut x = dom[w];
        while x > semi[w] {
            x = dom[x as usize];
        }
        dom[w] = x;
    }
    drop(semi);
    let mut idom = vec![NONE; total];
    for w in 1..n {
        idom[vertex[w] as usize] = vertex[dom[w] as usize];
    }
    DomTree {
        idom,
        preorder: vertex,
    }
}

/// Path compression from `v` up to the forest root of the processed
/// vertices (those above `w`), leaving in `label[v]` the vertex of least
/// semidominator on the path.
fn compress(
    ancestor: &mut [u32],
    label: &mut [u32],
    semi: &[u32],
    path: &mut Vec<u32>,
    v: u32,
    w: u32,
) {
    path.clear();
    let mut u = v;
    while ancestor[u as usize] > w {
        path.push(u);
        u = ancestor[u as usize];
    }
    // `u`'s ancestor is unprocessed: `u` is the top processed vertex.
    while let Some(x) = path.pop() {
        let a = ancestor[x as usize];
        if semi[label[a as usize] as usize] < semi[label[x as usize] as usize] {
            label[x as usize] = label[a as usize];
        }
        ancestor[x as usize] = ancestor[a as usize];
    }
}
