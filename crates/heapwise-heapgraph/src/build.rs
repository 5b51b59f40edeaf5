//! Building a graph by scanning blocks and roots for pointers.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::index::AddressIndex;
use crate::model::{Block, Frame, HeapGraph, Root, StackId, MAX_ITEMS, MAX_OFFSET};

/// Builds a [`HeapGraph`] from blocks, roots and a way to read memory,
/// finding edges conservatively: every aligned 8-byte word of every root
/// and block whose value points into a block (interior pointers included)
/// is an edge.
///
/// ```
/// use heapwise_heapgraph::{Frame, GraphBuilder, Root, RootKind};
///
/// // Memory: a global at 0x1000 holds 0x2010, a pointer into the middle
/// // of the 64-byte block at 0x2000.
/// let memory = |addr: u64| Some(if addr == 0x1000 { 0x2010 } else { 0 });
/// let mut b = GraphBuilder::new();
/// let stack = b.stack(&[Frame::new("app::load", "src/load.rs", 12)]);
/// b.block(0x2000, 64, 1, stack);
/// b.root(Root::new(RootKind::Global, "app::CACHE", 0x1000, 8));
/// let graph = b.build(memory)?;
/// assert_eq!(graph.edge_count(), 1);
/// # Ok::<(), heapwise_heapgraph::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct GraphBuilder {
    blocks: Vec<Block>,
    roots: Vec<Root>,
    stacks: Vec<Vec<Frame>>,
    stack_ids: HashMap<Vec<Frame>, StackId>,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        GraphBuilder::default()
    }

    /// The id of an allocation stack (innermost frame first), the same id
    /// for the same frames.
    pub fn stack(&mut self, frames: &[Frame]) -> StackId {
        if let Some(&id) = self.stack_ids.get(frames) {
            return id;
        }
        let id = StackId(self.stacks.len() as u32);
        self.stacks.push(frames.to_vec());
        self.stack_ids.insert(frames.to_vec(), id);
        id
    }

    /// Adds a live block of `size` bytes at `addr`, with its allocation
    /// sequence number and stack.
    pub fn block(&mut self, addr: u64, size: u64, seq: u64, stack: StackId) -> &mut Self {
        self.blocks.push(Block {
            addr,
            size,
            seq,
            stack,
        });
        self
    }

    /// Reserves room for `additional` more blocks.
    pub fn reserve_blocks(&mut self, additional: usize) -> &mut Self {
        self.blocks.reserve(additional);
        self
    }

    /// Adds a root.
    pub fn root(&mut self, root: Root) -> &mut Self {
        self.roots.push(root);
        self
    }

    /// Scans every root and block and returns the graph. `read_word(addr)`
    /// returns the 8-byte little-endian word at `addr` (8-aligned), or
    /// `None` if it cannot be read (the word is skipped).
    ///
    /// Blocks are sorted by address (their [`BlockId`](crate::BlockId)s
    /// follow that order) and edges by holder, roots first, then offset:
    /// the same input gives the same graph. Errors: blocks that overlap,
    /// two blocks with one sequence number, a stack id that was not
    /// returned by [`GraphBuilder::stack`], more than
    /// [`MAX_ITEMS`] blocks or edges, a holder over 32 GiB.
    pub fn build(self, mut read_word: impl FnMut(u64) -> Option<u64>) -> Result<HeapGraph> {
        let GraphBuilder {
            mut blocks,
            roots,
            stacks,
            ..
        } = self;
        blocks.sort_unstable_by_key(|b| b.addr);
        for w in blocks.windows(2) {
            if w[0].addr.saturating_add(w[0].size.max(1)) > w[1].addr {
                return Err(Error::invalid(format!(
                    "blocks #{} and #{} overlap at {:#x}",
                    w[0].seq, w[1].seq, w[1].addr
                )));
            }
        }
        for b in &blocks {
            if b.size.div_ceil(8) > MAX_OFFSET / 8 {
                return Err(Error::too_large(format!(
                    "block #{} is {} bytes, more than the {MAX_OFFSET} a holder may be",
                    b.seq, b.size
                )));
            }
        }
        let mut graph = HeapGraph::without_edges(blocks.into(), roots, stacks, true)?;
        graph.check_unique_seq()?;
        let index = AddressIndex::new(&graph.blocks);
        let roots = graph.roots.len();
        let holders = roots + graph.blocks.len();
        let mut start = Vec::with_capacity(holders + 1);
        let mut to = Vec::new();
        let mut word = Vec::new();
        start.push(0u32);
        for h in 0..holders {
            let (addr, len) = if h < roots {
                (graph.roots[h].addr, graph.roots[h].len)
            } else {
                (graph.blocks.addr(h - roots), graph.blocks.size(h - roots))
            };
            let end = addr.saturating_add(len);
            let mut at = addr.saturating_add(addr.wrapping_neg() % 8);
            let mut k = 0u32;
            while at.checked_add(8).is_some_and(|e| e <= end) {
                if let Some(target) = read_word(at).and_then(|v| index.find(v)) {
                    to.push(target);
                    word.push(k);
                }
                at += 8;
                k = k.wrapping_add(1);
            }
            if to.len() > MAX_ITEMS {
                return Err(Error::too_large(format!("more than {MAX_ITEMS} edges")));
            }
            start.push(to.len() as u32);
        }
        to.shrink_to_fit();
        word.shrink_to_fit();
        graph.edge_start = start;
        graph.edge_to = to;
        graph.edge_word = word;
        Ok(graph)
    }
}
