//! The analysis of a graph: leaks, dominators, retained sizes, suspects.

use crate::csr;
use crate::dominators::{dominators, Nodes, NONE};
use crate::leaks::{by_site, classify, LeakClass, SiteLeaks};
use crate::model::{BlockId, HeapGraph, RootId, SiteId, StackId};

/// What immediately dominates a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dominator {
    /// Several roots reach the block on paths that share no block: only
    /// the pseudo-root above all roots dominates it.
    Roots,
    /// One root.
    Root(RootId),
    /// The block is a direct leak (or, in a leaked cycle, shares no block
    /// with every path from the direct leaks).
    Leaked,
    /// A block: freeing it would make this one unreachable.
    Block(BlockId),
}

/// A block retaining at least a tenth of the heap, as Eclipse MAT's leak
/// suspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suspect {
    /// The block.
    pub block: BlockId,
    /// The bytes it retains (itself and every block it dominates).
    pub retained_bytes: u64,
    /// The blocks it retains, itself included.
    pub retained_blocks: u64,
}

/// Retained memory of one site, without double counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRetained {
    /// The site.
    pub site: SiteId,
    /// Its blocks.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The bytes its blocks retain: the retained size of each of its
    /// blocks that no other of its blocks dominates, summed.
    pub retained_bytes: u64,
    /// The blocks they retain.
    pub retained_blocks: u64,
}

/// A graph analysed: every block's leak class, immediate dominator and
/// retained size. Built by [`HeapGraph::analyze`].
#[derive(Debug)]
pub struct Analysis<'g> {
    graph: &'g HeapGraph,
    class: Vec<LeakClass>,
    /// Per dominator-graph node (see `dominators`): immediate dominator.
    idom: Vec<u32>,
    retained_bytes: Vec<u64>,
    retained_blocks: Vec<u32>,
}

impl HeapGraph {
    /// Classifies leaks, computes the dominator tree and every block's
    /// retained size. Iterative throughout; O(edges · log blocks).
    pub fn analyze(&self) -> Analysis<'_> {
        let class = classify(self);
        let direct: Vec<u32> = (0..self.blocks.len() as u32)
            .filter(|&b| class[b as usize] == LeakClass::Direct)
            .collect();
        let tree = dominators(self, &direct);
        drop(direct);
        let nodes = Nodes {
            roots: self.roots.len() as u32,
        };
        let total = tree.idom.len();
        let mut retained_bytes = vec![0u64; total];
        let mut retained_blocks = vec![0u32; total];
        for (b, block) in self.blocks.iter().enumerate() {
            retained_bytes[nodes.block(b as u32) as usize] = block.size;
            retained_blocks[nodes.block(b as u32) as usize] = 1;
        }
        for &w in tree.preorder.iter().skip(1).rev() {
            let d = tree.idom[w as usize] as usize;
            retained_bytes[d] += retained_bytes[w as usize];
            retained_blocks[d] += retained_blocks[w as usize];
        }
        Analysis {
            graph: self,
            class,
            idom: tree.idom,
            retained_bytes,
            retained_blocks,
        }
    }
}

impl<'g> Analysis<'g> {
    fn nodes(&self) -> Nodes {
        Nodes {
            roots: self.graph.roots.len() as u32,
        }
    }

    /// The graph analysed.
    pub fn graph(&self) -> &'g HeapGraph {
        self.graph
    }

    /// A block's leak class.
    pub fn leak_class(&self, b: BlockId) -> LeakClass {
        self.class[b.0 as usize]
    }

    /// Every block's leak class, by block id.
    pub fn leak_classes(&self) -> &[LeakClass] {
        &self.class
    }

    /// The direct leaks, by block id.
    pub fn direct_leaks(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.blocks_of(LeakClass::Direct)
    }

    /// The indirect leaks, by block id.
    pub fn indirect_leaks(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.blocks_of(LeakClass::Indirect)
    }

    fn blocks_of(&self, class: LeakClass) -> impl Iterator<Item = BlockId> + '_ {
        (0..self.class.len())
            .filter(move |&i| self.class[i] == class)
            .map(|i| BlockId(i as u32))
    }

    /// Leaks grouped by site, most leaked bytes first.
    pub fn leaks_by_site(&self) -> Vec<SiteLeaks> {
        by_site(self.graph, &self.class)
    }

    /// A block's immediate dominator.
    pub fn dominator(&self, b: BlockId) -> Dominator {
        let nodes = self.nodes();
        let d = self.idom[nodes.block(b.0) as usize];
        if d == Nodes::TOP {
            Dominator::Roots
        } else if d == nodes.leaked() {
            Dominator::Leaked
        } else if let Some(r) = nodes.as_root(d) {
            Dominator::Root(RootId(r))
        } else {
            Dominator::Block(BlockId(nodes.as_block(d).expect("a block node")))
        }
    }

    /// The bytes a block retains: its size plus the sizes of every block
    /// it dominates (what freeing it would free).
    pub fn retained_bytes(&self, b: BlockId) -> u64 {
        self.retained_bytes[self.nodes().block(b.0) as usize]
    }

    /// The blocks a block retains, itself included.
    pub fn retained_blocks(&self, b: BlockId) -> u64 {
        u64::from(self.retained_blocks[self.nodes().block(b.0) as usize])
    }

    /// The bytes a root retains (what only it keeps alive).
    pub fn root_retained_bytes(&self, r: RootId) -> u64 {
        self.retained_bytes[r.0 as usize + 1]
    }

    /// The blocks with the largest retained sizes, largest first (ties by
    /// block id), at most `limit`.
    pub fn top_dominators(&self, limit: usize) -> Vec<BlockId> {
        let mut ids: Vec<BlockId> = (0..self.graph.blocks.len() as u32).map(BlockId).collect();
        ids.sort_by(|&a, &b| {
            self.retained_bytes(b)
                .cmp(&self.retained_bytes(a))
                .then(a.cmp(&b))
        });
        ids.truncate(limit);
        ids
    }

    /// Eclipse MAT's leak suspects: every block retaining at least 10% of
    /// the heap's bytes, largest first.
    pub fn suspects(&self) -> Vec<Suspect> {
        let total = self.graph.total_bytes();
        let mut out: Vec<Suspect> = (0..self.graph.blocks.len() as u32)
            .map(BlockId)
            .filter(|&b| total > 0 && self.retained_bytes(b).saturating_mul(10) >= total)
            .map(|b| Suspect {
                block: b,
                retained_bytes: self.retained_bytes(b),
                retained_blocks: self.retained_blocks(b),
            })
            .collect();
        out.sort_by(|a, b| {
            b.retained_bytes
                .cmp(&a.retained_bytes)
                .then(a.block.cmp(&b.block))
        });
        out
    }

    /// Retained memory by site, largest retained first (ties by name).
    pub fn retained_by_site(&self) -> Vec<SiteRetained> {
        let graph = self.graph;
        let groups = self.group_retained(graph.sites.len(), |b| graph.block_site(b).0);
        let mut out: Vec<SiteRetained> = groups
            .into_iter()
            .enumerate()
            .filter(|(_, g)| g.0 > 0)
            .map(|(i, g)| SiteRetained {
                site: SiteId(i as u32),
                blocks: g.0,
                bytes: g.1,
                retained_bytes: g.2,
                retained_blocks: g.3,
            })
            .collect();
        out.sort_by(|a, b| {
            b.retained_bytes
                .cmp(&a.retained_bytes)
                .then_with(|| graph.site_name(a.site).cmp(graph.site_name(b.site)))
        });
        out
    }

    /// Per stack: (blocks, bytes, retained bytes, retained blocks).
    pub(crate) fn retained_by_stack(&self) -> Vec<(u64, u64, u64, u64)> {
        let graph = self.graph;
        self.group_retained(graph.stacks.len(), |b| graph.block(b).stack.0)
    }

    /// Per group: (blocks, bytes, retained bytes, retained blocks), a
    /// block's retained size counting for its group only if no dominator
    /// of it is in the same group (DevTools' class retained size): a walk
    /// of the dominator tree keeping, per group, how many blocks of it are
    /// on the current path.
    fn group_retained(
        &self,
        groups: usize,
        group: impl Fn(BlockId) -> u32,
    ) -> Vec<(u64, u64, u64, u64)> {
        let nodes = self.nodes();
        let total = self.idom.len();
        let mut out = vec![(0u64, 0u64, 0u64, 0u64); groups];
        // Children in the dominator tree (CSR), in node order (the pairs
        // come in reverse).
        let (start, children) = csr::rows(total, |f| {
            for (v, &d) in self.idom.iter().enumerate().rev() {
                if d != NONE {
                    f(d, v as u32);
                }
            }
        });
        let mut on_path = vec![0u32; groups];
        let mut stack: Vec<(u32, u32)> = vec![(Nodes::TOP, 0)];
        while let Some(entry) = stack.last_mut() {
            let (v, pos) = *entry;
            let kids = &children[start[v as usize] as usize..start[v as usize + 1] as usize];
            if let Some(&c) = kids.get(pos as usize) {
                entry.1 += 1;
                if let Some(b) = nodes.as_block(c) {
                    let g = group(BlockId(b)) as usize;
                    let o = &mut out[g];
                    o.0 += 1;
                    o.1 += self.graph.blocks.size(b as usize);
                    if on_path[g] == 0 {
                        o.2 += self.retained_bytes[c as usize];
                        o.3 += u64::from(self.retained_blocks[c as usize]);
                    }
                    on_path[g] += 1;
                }
                stack.push((c, 0));
            } else {
                stack.pop();
                if let Some(b) = nodes.as_block(v) {
                    on_path[group(BlockId(b)) as usize] -= 1;
                }
            }
        }
        out
    }

    /// The stacks, for the pprof writer.
    pub(crate) fn stack_ids(&self) -> impl Iterator<Item = StackId> {
        (0..self.graph.stacks.len() as u32).map(StackId)
    }
}
