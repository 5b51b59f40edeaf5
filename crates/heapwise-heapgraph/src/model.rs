//! The heap graph: blocks, roots, stacks, sites and edges.

use std::collections::HashMap;

use crate::blocks::Blocks;
use crate::error::{Error, Result};
use crate::site::{site_frame, UNKNOWN_SITE};

/// A block's index in its [`HeapGraph`] (its position in
/// [`HeapGraph::blocks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u32);

/// A root's index in its [`HeapGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RootId(pub u32);

/// An allocation stack's index in its [`HeapGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackId(pub u32);

/// An allocation site's index in its [`HeapGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteId(pub u32);

/// One frame of an allocation stack.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The function's (demangled) name.
    pub function: String,
    /// Its source file, empty if unknown.
    pub file: String,
    /// Its line, 0 if unknown.
    pub line: u32,
}

impl Frame {
    /// A frame of `function` at `file:line`.
    pub fn new(function: impl Into<String>, file: impl Into<String>, line: u32) -> Self {
        Frame {
            function: function.into(),
            file: file.into(),
            line,
        }
    }
}

/// A live heap block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Its address (0 in a graph read from a `.heapsnapshot`).
    pub addr: u64,
    /// Its requested size in bytes: pointers into `[addr, addr + size)`
    /// point into it.
    pub size: u64,
    /// Its allocation sequence number, unique in a process: what matches a
    /// block across two snapshots.
    pub seq: u64,
    /// Its allocation stack.
    pub stack: StackId,
}

/// What kind of memory a root is.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RootKind {
    /// A module's writable data (`.data`, `.bss`); the name is the module
    /// or the global's symbol.
    Global,
    /// A thread's stack, from its stack pointer to its base; the name is
    /// the thread's and, where known, the frame's.
    ThreadStack,
    /// A thread's saved registers.
    Registers,
    /// A thread's thread-local storage.
    Tls,
    /// Memory the tracker does not see (mmap regions, another allocator's
    /// heap), scanned so that what it points to is not reported leaked.
    UnknownMemory,
}

impl RootKind {
    /// Every kind, in the order the `(GC roots)` layer lists them.
    pub const ALL: [RootKind; 5] = [
        RootKind::Global,
        RootKind::ThreadStack,
        RootKind::Registers,
        RootKind::Tls,
        RootKind::UnknownMemory,
    ];

    /// The kind's label: `globals`, `thread stacks`, `registers`, `tls`,
    /// `unknown memory`.
    pub fn label(self) -> &'static str {
        match self {
            RootKind::Global => "globals",
            RootKind::ThreadStack => "thread stacks",
            RootKind::Registers => "registers",
            RootKind::Tls => "tls",
            RootKind::UnknownMemory => "unknown memory",
        }
    }

    /// The kind with this [`label`](RootKind::label).
    pub fn from_label(label: &str) -> Option<RootKind> {
        RootKind::ALL.into_iter().find(|k| k.label() == label)
    }
}

/// A root: memory outside the heap that is scanned for pointers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// What kind of memory it is.
    pub kind: RootKind,
    /// A name where known (a global's symbol, `thread main` or
    /// `thread main, frame app::run`), else empty.
    pub name: String,
    /// Its start address (0 in a graph read from a `.heapsnapshot`).
    pub addr: u64,
    /// Its length in bytes.
    pub len: u64,
}

impl Root {
    /// A root of `kind` named `name` covering `[addr, addr + len)`.
    pub fn new(kind: RootKind, name: impl Into<String>, addr: u64, len: u64) -> Self {
        Root {
            kind,
            name: name.into(),
            addr,
            len,
        }
    }

    /// `name` if it has one, else the kind's label.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            self.kind.label()
        } else {
            &self.name
        }
    }
}

/// Where a pointer is stored: in a root or in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holder {
    /// A root.
    Root(RootId),
    /// A heap block.
    Block(BlockId),
}

/// A pointer: `from` holds, at byte `offset`, a pointer into `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// What holds the pointer.
    pub from: Holder,
    /// The pointer's byte offset in `from` (an aligned word's: a multiple
    /// of 8 when `from` starts 8-aligned).
    pub offset: u64,
    /// The block pointed into.
    pub to: BlockId,
}

/// The largest number of blocks, roots or edges (ids are `u32`, and two
/// values are reserved).
pub const MAX_ITEMS: usize = u32::MAX as usize - 2;

/// The largest pointer offset in a holder (past its first aligned word):
/// offsets are kept as 32-bit word indexes, so holders up to 32 GiB.
pub const MAX_OFFSET: u64 = (u32::MAX as u64) * 8;

/// A heap snapshot as a graph: blocks with their allocation stacks, roots,
/// and the pointers between them. Immutable once built; see
/// [`GraphBuilder`](crate::GraphBuilder) to build one by scanning memory
/// and [`HeapGraph::from_parts`] to build one from known edges.
#[derive(Debug, Clone)]
pub struct HeapGraph {
    pub(crate) blocks: Blocks,
    pub(crate) roots: Vec<Root>,
    pub(crate) stacks: Vec<Box<[Frame]>>,
    pub(crate) stack_site: Vec<SiteId>,
    pub(crate) sites: Vec<String>,
    /// CSR over holders: roots `0..R`, then blocks `R..R + N`.
    pub(crate) edge_start: Vec<u32>,
    pub(crate) edge_to: Vec<u32>,
    /// Pointer offsets in 8-byte words from the holder's first aligned
    /// word ([`HeapGraph::holder_pad`]).
    pub(crate) edge_word: Vec<u32>,
    pub(crate) addressed: bool,
}

impl HeapGraph {
    /// A graph from its parts. Edges may come in any order; they are kept
    /// grouped by holder (roots first, then blocks, each in id order),
    /// in the order given within a holder. Errors name the first
    /// reference to a stack, root or block that does not exist, an offset
    /// that is not a multiple of 8 or is beyond [`MAX_OFFSET`], or a
    /// repeated sequence number.
    pub fn from_parts(
        blocks: impl Into<Blocks>,
        roots: Vec<Root>,
        stacks: Vec<Vec<Frame>>,
        edges: &[Edge],
    ) -> Result<HeapGraph> {
        let mut graph = HeapGraph::without_edges(blocks.into(), roots, stacks, false)?;
        graph.check_unique_seq()?;
        let holders = graph.roots.len() + graph.blocks.len();
        if edges.len() > MAX_ITEMS {
            return Err(Error::too_large(format!(
                "{} edges, more than the {MAX_ITEMS} a graph holds",
                edges.len()
            )));
        }
        let mut count = vec![0u32; holders + 1];
        for (i, e) in edges.iter().enumerate() {
            let h = graph.check_edge(i, e)?;
            count[h + 1] += 1;
        }
        for h in 0..holders {
            count[h + 1] += count[h];
        }
        let mut fill = count.clone();
        let mut to = vec![0u32; edges.len()];
        let mut word = vec![0u32; edges.len()];
        for e in edges {
            let h = graph.holder_index(e.from).expect("checked above");
            let at = fill[h] as usize;
            fill[h] += 1;
            to[at] = e.to.0;
            word[at] = ((e.offset - graph.holder_pad(h)) / 8) as u32;
        }
        graph.edge_start = count;
        graph.edge_to = to;
        graph.edge_word = word;
        Ok(graph)
    }

    /// Marks a graph made by [`HeapGraph::from_parts`] as holding real
    /// addresses, so that [`HeapGraph::block_at`] answers: its blocks must
    /// be in address order and must not overlap (the error names the first
    /// pair that breaks this).
    pub fn with_addresses(mut self) -> Result<HeapGraph> {
        let b = &self.blocks;
        for i in 1..b.len() {
            if b.addr(i - 1).saturating_add(b.size(i - 1).max(1)) > b.addr(i) {
                return Err(Error::invalid(format!(
                    "blocks #{} and #{} overlap or are out of address order at {:#x}",
                    b.seq(i - 1),
                    b.seq(i),
                    b.addr(i)
                )));
            }
        }
        self.addressed = true;
        Ok(self)
    }

    /// Checks edge `i` against the graph's holders and blocks: its holder's
    /// index, or an error naming the edge.
    pub(crate) fn check_edge(&self, i: usize, e: &Edge) -> Result<usize> {
        let h = self.holder_index(e.from).ok_or_else(|| {
            Error::invalid(format!(
                "edge {i} comes from {:?}, which does not exist",
                e.from
            ))
        })?;
        if e.to.0 as usize >= self.blocks.len() {
            return Err(Error::invalid(format!(
                "edge {i} points to block {}, which does not exist",
                e.to.0
            )));
        }
        let pad = self.holder_pad(h);
        if e.offset < pad || (e.offset - pad) % 8 != 0 || e.offset - pad > MAX_OFFSET {
            return Err(Error::invalid(format!(
                "edge {i} has offset {}, not an aligned word's offset up to {MAX_OFFSET}",
                e.offset
            )));
        }
        Ok(h)
    }

    /// The parts without edges: checks stack ids, interns sites.
    pub(crate) fn without_edges(
        mut blocks: Blocks,
        roots: Vec<Root>,
        stacks: Vec<Vec<Frame>>,
        addressed: bool,
    ) -> Result<HeapGraph> {
        if blocks.len() > MAX_ITEMS || roots.len() > MAX_ITEMS - blocks.len() {
            return Err(Error::too_large(format!(
                "{} blocks and {} roots, more than the {MAX_ITEMS} a graph holds",
                blocks.len(),
                roots.len()
            )));
        }
        if stacks.len() > MAX_ITEMS {
            return Err(Error::too_large(format!("{} stacks", stacks.len())));
        }
        for i in 0..blocks.len() {
            if blocks.stack(i).0 as usize >= stacks.len() {
                return Err(Error::invalid(format!(
                    "block #{} has stack {}, which does not exist ({} stacks)",
                    blocks.seq(i),
                    blocks.stack(i).0,
                    stacks.len()
                )));
            }
        }
        blocks.shrink_to_fit();
        for r in &roots {
            if r.len > MAX_OFFSET {
                return Err(Error::too_large(format!(
                    "root {} is {} bytes, more than the {MAX_OFFSET} a holder may be",
                    r.display_name(),
                    r.len
                )));
            }
        }
        let mut sites = Vec::new();
        let mut site_ids: HashMap<String, SiteId> = HashMap::new();
        let stack_site = stacks
            .iter()
            .map(|frames| {
                let name = site_frame(frames).map_or(UNKNOWN_SITE, |f| f.function.as_str());
                if let Some(&id) = site_ids.get(name) {
                    return id;
                }
                let id = SiteId(sites.len() as u32);
                sites.push(name.to_owned());
                site_ids.insert(name.to_owned(), id);
                id
            })
            .collect();
        let holders = roots.len() + blocks.len();
        Ok(HeapGraph {
            blocks,
            roots,
            stacks: stacks.into_iter().map(Vec::into_boxed_slice).collect(),
            stack_site,
            sites,
            edge_start: vec![0; holders + 1],
            edge_to: Vec::new(),
            edge_word: Vec::new(),
            addressed,
        })
    }

    pub(crate) fn check_unique_seq(&self) -> Result<()> {
        let mut seqs: Vec<u64> = (0..self.blocks.len()).map(|i| self.blocks.seq(i)).collect();
        seqs.sort_unstable();
        if let Some(w) = seqs.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid(format!(
                "two blocks have sequence number {}",
                w[0]
            )));
        }
        Ok(())
    }

    /// The bytes from holder index `h`'s start to its first 8-aligned word.
    pub(crate) fn holder_pad(&self, h: usize) -> u64 {
        let addr = if h < self.roots.len() {
            self.roots[h].addr
        } else {
            self.blocks.addr(h - self.roots.len())
        };
        addr.wrapping_neg() % 8
    }

    /// The byte offset of word `word` of holder index `h`.
    pub(crate) fn offset_of(&self, h: usize, word: u32) -> u64 {
        self.holder_pad(h) + u64::from(word) * 8
    }

    pub(crate) fn holder_index(&self, h: Holder) -> Option<usize> {
        match h {
            Holder::Root(r) if (r.0 as usize) < self.roots.len() => Some(r.0 as usize),
            Holder::Block(b) if (b.0 as usize) < self.blocks.len() => {
                Some(self.roots.len() + b.0 as usize)
            }
            _ => None,
        }
    }

    /// The blocks, in address order for a graph built by scanning.
    pub fn blocks(&self) -> &Blocks {
        &self.blocks
    }

    /// The number of blocks.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// One block; panics if `id` is not this graph's.
    pub fn block(&self, id: BlockId) -> Block {
        self.blocks.at(id.0 as usize)
    }

    /// The roots.
    pub fn roots(&self) -> &[Root] {
        &self.roots
    }

    /// One root.
    pub fn root(&self, id: RootId) -> &Root {
        &self.roots[id.0 as usize]
    }

    /// The allocation stacks, innermost frame first.
    pub fn stacks(&self) -> &[Box<[Frame]>] {
        &self.stacks
    }

    /// One stack, innermost frame first.
    pub fn stack(&self, id: StackId) -> &[Frame] {
        &self.stacks[id.0 as usize]
    }

    /// The site names, indexed by [`SiteId`].
    pub fn sites(&self) -> &[String] {
        &self.sites
    }

    /// A site's name: its function.
    pub fn site_name(&self, id: SiteId) -> &str {
        &self.sites[id.0 as usize]
    }

    /// The site of a stack.
    pub fn stack_site(&self, id: StackId) -> SiteId {
        self.stack_site[id.0 as usize]
    }

    /// The site of a block.
    pub fn block_site(&self, id: BlockId) -> SiteId {
        self.stack_site(self.blocks.stack(id.0 as usize))
    }

    /// The site named `name`, if a block's stack has it.
    pub fn site_by_name(&self, name: &str) -> Option<SiteId> {
        self.sites
            .iter()
            .position(|s| s == name)
            .map(|i| SiteId(i as u32))
    }

    /// The block with sequence number `seq` (a linear search).
    pub fn block_by_seq(&self, seq: u64) -> Option<BlockId> {
        (0..self.blocks.len())
            .find(|&i| self.blocks.seq(i) == seq)
            .map(|i| BlockId(i as u32))
    }

    /// The block `addr` points into, if the graph has addresses (it was
    /// built by [`GraphBuilder`](crate::GraphBuilder)).
    pub fn block_at(&self, addr: u64) -> Option<BlockId> {
        if !self.addressed {
            return None;
        }
        crate::index::find(&self.blocks, addr).map(|i| BlockId(i as u32))
    }

    /// The number of edges.
    pub fn edge_count(&self) -> usize {
        self.edge_to.len()
    }

    /// The sum of the blocks' sizes.
    pub fn total_bytes(&self) -> u64 {
        (0..self.blocks.len()).map(|i| self.blocks.size(i)).sum()
    }

    /// The pointers `holder` holds, in offset order for a scanned graph:
    /// `(byte offset, block pointed into)`.
    pub fn edges_from(&self, holder: Holder) -> impl Iterator<Item = (u64, BlockId)> + '_ {
        let h = self.holder_index(holder).expect("a holder of this graph");
        self.holder_edges(h)
            .map(move |(word, to)| (self.offset_of(h, word), BlockId(to)))
    }

    /// Every edge, grouped by holder (roots first).
    pub fn edges(&self) -> impl Iterator<Item = Edge> + '_ {
        let roots = self.roots.len();
        (0..roots + self.blocks.len()).flat_map(move |h| {
            let from = if h < roots {
                Holder::Root(RootId(h as u32))
            } else {
                Holder::Block(BlockId((h - roots) as u32))
            };
            self.holder_edges(h).map(move |(word, to)| Edge {
                from,
                offset: self.offset_of(h, word),
                to: BlockId(to),
            })
        })
    }

    /// Raw edges of holder index `h` (roots, then blocks): (word, block).
    pub(crate) fn holder_edges(&self, h: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (a, b) = (self.edge_start[h] as usize, self.edge_start[h + 1] as usize);
        self.edge_word[a..b]
            .iter()
            .copied()
            .zip(self.edge_to[a..b].iter().copied())
    }

    /// Targets of holder index `h`.
    pub(crate) fn holder_targets(&self, h: usize) -> &[u32] {
        &self.edge_to[self.edge_start[h] as usize..self.edge_start[h + 1] as usize]
    }

    /// The targets of a block's pointers.
    pub(crate) fn block_targets(&self, b: u32) -> &[u32] {
        self.holder_targets(self.roots.len() + b as usize)
    }
}
