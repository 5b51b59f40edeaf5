//! Heap snapshots as graphs: which blocks are leaked, what keeps the rest
//! alive, and how much each one holds.
//!
//! A snapshot is every live heap block (address, size, allocation sequence
//! number, allocation stack) and the *roots*, the memory outside the heap a
//! program reaches its data from: globals, thread stacks, saved registers,
//! thread-local storage, memory the tracker does not see. This crate turns
//! one into a [`HeapGraph`] and analyses it:
//!
//! - **edges**, conservatively, as LeakSanitizer and valgrind find them:
//!   every aligned 8-byte word of a root or block whose value points into a
//!   block (interior pointers included, one past the end not) is a pointer;
//! - **leaks** with LeakSanitizer's meaning ([`LeakClass`]): unreachable
//!   blocks, *direct* if no other leaked block points to them, *indirect*
//!   if one does; in a leaked cycle the earliest allocated block is direct;
//! - the **dominator tree** from a pseudo-root above all roots (and a
//!   `(leaked)` node above the direct leaks), so every block's **retained
//!   size** (what freeing it would free), by block and, without double
//!   counting, by allocation site; Eclipse MAT's **leak suspects** (a block
//!   retaining at least 10% of the heap);
//! - **why alive**: the shortest chain of pointers from a root to a block
//!   or to any block of a site;
//! - the **diff** of two snapshots of one process by site, blocks matched
//!   by sequence number;
//! - **outputs**: Chrome DevTools' `.heapsnapshot` (Summary by site,
//!   Comparison by sequence number, Containment, Retainers, Dominators,
//!   allocation stacks; memlab reads it and computes the same retained
//!   sizes), read back with bounded memory; a pprof profile of retained
//!   size and leaks by allocation stack; a LeakSanitizer-style report.
//!
//! A block's *site* is the innermost frame of its allocation stack outside
//! the allocator ([`is_allocator_frame`]: `alloc::`, `__rust_`, `heapwise::`,
//! `malloc`…, the list every heapwise output uses), so a `Vec::push` that grows is charged to its caller.
//!
//! Every algorithm is iterative (explicit stacks, no recursion), so a
//! 10-million-block linked list is fine, and deterministic: the same
//! snapshot gives the same graph, ids and output. Memory, per block: the
//! graph holds 24 bytes ([`Blocks`]) plus 4 per holder and 8 per edge; the
//! analysis keeps 17 (leak class, dominator, retained size) and, while it
//! runs, needs 21 plus 4 per edge (13 plus 8 per edge while the
//! predecessor lists are built), and 25 while retained sizes are grouped
//! by site. On 10 M blocks with one pointer each, a snapshot and
//! its analysis take 62 bytes a block at the peak: `bench/snapshot`
//! measures it, `bench/heapgraph` the time and memory on a synthetic heap.
//!
//! # Building a graph
//!
//! [`GraphBuilder`] takes stacks, blocks and roots and a closure reading a
//! word of memory; [`HeapGraph::from_parts`] takes known edges instead.
//!
//! ```
//! use std::collections::HashMap;
//! use heapwise_heapgraph::{Frame, GraphBuilder, LeakClass, Root, RootKind, Target};
//!
//! // static CACHE: Vec<Box<Node>> = {ptr: 0x5000, cap: 2, len: 2};
//! // the buffer at 0x5000 holds two boxes; a chain 0x8000 -> 0x8100
//! // is leaked.
//! let words: HashMap<u64, u64> = [
//!     (0x1000, 0x5000),
//!     (0x5000, 0x6000),
//!     (0x5008, 0x6100),
//!     (0x8000 + 8, 0x8100),
//! ]
//! .into();
//! let mut b = GraphBuilder::new();
//! let at = |b: &mut GraphBuilder, site: &str| {
//!     b.stack(&[
//!         Frame::new("alloc::raw_vec::finish_grow", "raw_vec.rs", 1),
//!         Frame::new(site, "src/app.rs", 7),
//!     ])
//! };
//! let (fill, node, list) = (at(&mut b, "app::fill"), at(&mut b, "app::Node::new"), at(&mut b, "app::list"));
//! b.block(0x5000, 16, 1, fill);
//! b.block(0x6000, 64, 2, node);
//! b.block(0x6100, 64, 3, node);
//! b.block(0x8000, 32, 4, list);
//! b.block(0x8100, 32, 5, list);
//! b.root(Root::new(RootKind::Global, "app::CACHE", 0x1000, 24));
//! let graph = b.build(|addr| Some(words.get(&addr).copied().unwrap_or(0)))?;
//!
//! let analysis = graph.analyze();
//! let buffer = graph.block_by_seq(1).unwrap();
//! assert_eq!(analysis.retained_bytes(buffer), 16 + 64 + 64);
//! let head = graph.block_by_seq(4).unwrap();
//! assert_eq!(analysis.leak_class(head), LeakClass::Direct);
//!
//! let site = graph.site_by_name("app::Node::new").unwrap();
//! let path = graph.why_alive(Target::Site(site)).unwrap();
//! assert_eq!(
//!     path.display(&graph).to_string(),
//!     "globals: app::CACHE +0x0\n\
//!      -> #1 app::fill (16 bytes) +0x0\n\
//!      -> #2 app::Node::new (64 bytes)\n"
//! );
//! assert_eq!(
//!     analysis.leak_report(),
//!     "Direct leak of 32 byte(s) in 1 object(s) allocated from:\n    #0 app::list src/app.rs:7\n\n\
//!      Indirect leak of 32 byte(s) in 1 object(s) allocated from:\n    #0 app::list src/app.rs:7\n\n\
//!      SUMMARY: heapwise: 64 byte(s) leaked in 2 allocation(s).\n"
//! );
//! # Ok::<(), heapwise_heapgraph::Error>(())
//! ```
//!
//! # Retained size by site
//!
//! [`Analysis::retained_by_site`] adds up, per site, the retained sizes of
//! its blocks that no other block of the same site dominates (DevTools'
//! class retained size), so a tree of one site counts once:
//!
//! ```
//! # use heapwise_heapgraph::{Block, Edge, Frame, HeapGraph, Holder, Root, RootKind, BlockId, RootId, StackId};
//! let stacks = vec![vec![Frame::new("app::Tree::insert", "src/tree.rs", 9)]];
//! let blocks: Vec<Block> = (0..3)
//!     .map(|i| Block { addr: 0, size: 48, seq: i, stack: StackId(0) })
//!     .collect();
//! let roots = vec![Root::new(RootKind::ThreadStack, "thread main", 0, 0)];
//! let edge = |from, to| Edge { from, offset: 0, to: BlockId(to) };
//! let edges = [
//!     edge(Holder::Root(RootId(0)), 0),
//!     edge(Holder::Block(BlockId(0)), 1),
//!     edge(Holder::Block(BlockId(1)), 2),
//! ];
//! let graph = HeapGraph::from_parts(blocks, roots, stacks, &edges)?;
//! let analysis = graph.analyze();
//! let site = &analysis.retained_by_site()[0];
//! assert_eq!((site.blocks, site.bytes, site.retained_bytes), (3, 144, 144));
//! # Ok::<(), heapwise_heapgraph::Error>(())
//! ```
//!
//! # Outputs
//!
//! - [`Analysis::save_heapsnapshot`] / [`Analysis::write_heapsnapshot`]:
//!   the layout is in [`heapsnapshot`]; open the file in Chrome's DevTools
//!   (Memory, Load) or memlab. [`HeapGraph::load_heapsnapshot`] reads it
//!   back (without addresses), bounded by [`heapsnapshot::ReadOptions`].
//! - [`Analysis::to_pprof`]: sample types [`pprof::SAMPLE_TYPES`]
//!   (`inuse_*`, `retained_*`, `direct_leak_*`, `indirect_leak_*`) by
//!   allocation stack; `go tool pprof -sample_index=direct_leak_space`.
//! - [`Analysis::leak_report`], [`Analysis::suspects`],
//!   [`Analysis::top_dominators`], [`diff()`].
#![forbid(unsafe_code)]

mod analysis;
mod blocks;
mod build;
mod csr;
mod diff;
mod dominators;
mod error;
mod grouped;
mod index;
mod leaks;
mod model;
mod report;
mod site;
mod why;

pub use analysis::{Analysis, Dominator, SiteRetained, Suspect};
pub use blocks::Blocks;
pub use build::GraphBuilder;
pub use diff::{diff, SiteDiff, SiteFigures};
pub use error::{Error, ErrorKind, Result};
pub use grouped::GroupedEdges;
pub use leaks::{LeakClass, SiteLeaks};
pub use model::{
    Block, BlockId, Edge, Frame, HeapGraph, Holder, Root, RootId, RootKind, SiteId, StackId,
    MAX_ITEMS, MAX_OFFSET,
};
pub use site::{is_allocator_frame, site_frame, UNKNOWN_SITE};
pub use why::{RetainerPath, Step, Target};
pub mod heapsnapshot;
pub mod pprof;
