//! Why a block is alive: the shortest path from a root.

use std::fmt;

use heapwise_pprof::printable;

use crate::model::{BlockId, HeapGraph, Holder, RootId, SiteId};

/// What to explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One block.
    Block(BlockId),
    /// Any block of a site (the nearest to a root).
    Site(SiteId),
}

/// One step of a [`RetainerPath`]: `holder` holds, at byte `offset`, a
/// pointer into the next step's block (or the path's target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// A root (the first step) or a block.
    pub holder: Holder,
    /// The pointer's byte offset in the holder.
    pub offset: u64,
}

/// A shortest chain of pointers from a root to a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainerPath {
    /// The holders, the root first.
    pub steps: Vec<Step>,
    /// The block reached.
    pub target: BlockId,
}

impl HeapGraph {
    /// The shortest path from any root to `target` (breadth-first over
    /// pointers, roots in order, each holder's pointers in offset order, so
    /// the answer is deterministic); `None` if it is unreachable (leaked)
    /// or the site has no reachable block.
    pub fn why_alive(&self, target: Target) -> Option<RetainerPath> {
        const UNSEEN: u32 = u32::MAX;
        let is_target = |b: u32| match target {
            Target::Block(t) => t.0 == b,
            Target::Site(s) => self.block_site(BlockId(b)) == s,
        };
        // Per block: the holder index and word that first reached it.
        let mut from = vec![(UNSEEN, 0u32); self.blocks.len()];
        let mut queue: Vec<u32> = Vec::new();
        let mut found = None;
        'roots: for r in 0..self.roots.len() {
            for (word, t) in self.holder_edges(r) {
                if from[t as usize].0 == UNSEEN {
                    from[t as usize] = (r as u32, word);
                    queue.push(t);
                    if is_target(t) {
                        found = Some(t);
                        break 'roots;
                    }
                }
            }
        }
        let mut head = 0;
        while found.is_none() && head < queue.len() {
            let b = queue[head];
            head += 1;
            let h = self.roots.len() + b as usize;
            for (word, t) in self.holder_edges(h) {
                if from[t as usize].0 == UNSEEN {
                    from[t as usize] = (h as u32, word);
                    queue.push(t);
                    if is_target(t) {
                        found = Some(t);
                        break;
                    }
                }
            }
        }
        let target = found?;
        let mut steps = Vec::new();
        let mut at = target;
        loop {
            let (h, word) = from[at as usize];
            let offset = self.offset_of(h as usize, word);
            if (h as usize) < self.roots.len() {
                steps.push(Step {
                    holder: Holder::Root(RootId(h)),
                    offset,
                });
                break;
            }
            at = h - self.roots.len() as u32;
            steps.push(Step {
                holder: Holder::Block(BlockId(at)),
                offset,
            });
        }
        steps.reverse();
        Some(RetainerPath {
            steps,
            target: BlockId(target),
        })
    }
}

impl RetainerPath {
    /// The path as text, one holder a line, the root first:
    ///
    /// ```text
    /// globals: app::CACHE +0x10
    /// -> #12 app::load (64 bytes) +0x8
    /// -> #13 app::Node::new (48 bytes)
    /// ```
    pub fn display<'a>(&'a self, graph: &'a HeapGraph) -> impl fmt::Display + 'a {
        DisplayPath { path: self, graph }
    }
}

struct DisplayPath<'a> {
    path: &'a RetainerPath,
    graph: &'a HeapGraph,
}

fn block_line(graph: &HeapGraph, b: BlockId) -> String {
    let block = graph.block(b);
    format!(
        "#{} {} ({} bytes)",
        block.seq,
        printable(graph.site_name(graph.block_site(b))),
        block.size
    )
}

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.path.steps {
            match step.holder {
                Holder::Root(r) => {
                    let root = self.graph.root(r);
                    write!(
                        f,
                        "{}: {}",
                        root.kind.label(),
                        printable(root.display_name())
                    )?
                }
                Holder::Block(b) => write!(f, "-> {}", block_line(self.graph, b))?,
            }
            writeln!(f, " +{:#x}", step.offset)?;
        }
        writeln!(f, "-> {}", block_line(self.graph, self.path.target))
    }
}
