//! A graph whose edges arrive grouped by holder, as a scan produces them:
//! no edge list is held, each edge goes straight into the graph's
//! compressed rows (8 bytes per edge instead of the 24 of an [`Edge`] and
//! the copy).

use crate::blocks::Blocks;
use crate::error::{Error, Result};
use crate::model::{Edge, Frame, HeapGraph, Root, MAX_ITEMS};

/// Builds a [`HeapGraph`] from edges given in holder order; see
/// [`HeapGraph::grouped`].
#[derive(Debug)]
pub struct GroupedEdges {
    graph: HeapGraph,
    /// The holder of the last edge given.
    current: usize,
}

impl HeapGraph {
    /// Starts a graph of `blocks`, `roots` and `stacks` whose edges are then
    /// given one by one with [`GroupedEdges::edge`], grouped by holder in
    /// holder order: every root's (by id), then every block's (by id).
    /// The same checks as [`HeapGraph::from_parts`].
    pub fn grouped(
        blocks: impl Into<Blocks>,
        roots: Vec<Root>,
        stacks: Vec<Vec<Frame>>,
    ) -> Result<GroupedEdges> {
        let graph = HeapGraph::without_edges(blocks.into(), roots, stacks, false)?;
        graph.check_unique_seq()?;
        Ok(GroupedEdges { graph, current: 0 })
    }
}

impl GroupedEdges {
    /// Adds an edge; an error names an edge out of holder order, from or to
    /// something that does not exist, or at an offset that is not an
    /// aligned word's.
    pub fn edge(&mut self, e: Edge) -> Result<()> {
        let g = &mut self.graph;
        let n = g.edge_to.len();
        let h = g.check_edge(n, &e)?;
        if h < self.current {
            return Err(Error::invalid(format!(
                "edge {n} comes from {:?}, before the holder of the edge it follows",
                e.from
            )));
        }
        if n >= MAX_ITEMS {
            return Err(Error::too_large(format!(
                "more than the {MAX_ITEMS} edges a graph holds"
            )));
        }
        for k in self.current + 1..=h {
            g.edge_start[k] = n as u32;
        }
        self.current = h;
        g.edge_to.push(e.to.0);
        g.edge_word.push(((e.offset - g.holder_pad(h)) / 8) as u32);
        Ok(())
    }

    /// The graph.
    pub fn finish(mut self) -> HeapGraph {
        let g = &mut self.graph;
        let n = g.edge_to.len() as u32;
        let holders = g.edge_start.len() - 1;
        for k in self.current + 1..=holders {
            g.edge_start[k] = n;
        }
        g.edge_to.shrink_to_fit();
        g.edge_word.shrink_to_fit();
        self.graph
    }
}

#[cfg(test)]
mod tests {
    use crate::{Block, BlockId, Edge, HeapGraph, Holder, Root, RootId, RootKind, StackId};

    #[test]
    fn grouped_edges_make_the_graph_from_parts_makes() {
        let blocks: Vec<Block> = (0..4)
            .map(|i| Block {
                addr: 0x1000 + i * 0x100,
                size: 64,
                seq: i,
                stack: StackId(0),
            })
            .collect();
        let roots = vec![
            Root::new(RootKind::Global, "g", 0x10, 16),
            Root::new(RootKind::Global, "h", 0x40, 8),
        ];
        let edges = [
            Edge {
                from: Holder::Root(RootId(0)),
                offset: 8,
                to: BlockId(0),
            },
            Edge {
                from: Holder::Block(BlockId(0)),
                offset: 0,
                to: BlockId(1),
            },
            Edge {
                from: Holder::Block(BlockId(0)),
                offset: 16,
                to: BlockId(2),
            },
            Edge {
                from: Holder::Block(BlockId(2)),
                offset: 8,
                to: BlockId(0),
            },
        ];
        let whole =
            HeapGraph::from_parts(blocks.clone(), roots.clone(), vec![vec![]], &edges).unwrap();
        let mut g = HeapGraph::grouped(blocks, roots, vec![vec![]]).unwrap();
        for e in edges {
            g.edge(e).unwrap();
        }
        let g = g.finish();
        assert_eq!(
            g.edges().collect::<Vec<_>>(),
            whole.edges().collect::<Vec<_>>()
        );
        assert_eq!(g.analyze().leak_classes(), whole.analyze().leak_classes());
    }

    #[test]
    fn an_edge_out_of_holder_order_is_an_error() {
        let blocks: Vec<Block> = (0..2)
            .map(|i| Block {
                addr: 0x1000 + i * 0x100,
                size: 64,
                seq: i,
                stack: StackId(0),
            })
            .collect();
        let mut g = HeapGraph::grouped(blocks, vec![], vec![vec![]]).unwrap();
        g.edge(Edge {
            from: Holder::Block(BlockId(1)),
            offset: 0,
            to: BlockId(0),
        })
        .unwrap();
        let e = g
            .edge(Edge {
                from: Holder::Block(BlockId(0)),
                offset: 0,
                to: BlockId(1),
            })
            .unwrap_err();
        assert!(e.to_string().contains("before the holder"), "{e}");
    }
}
