//! The block table: 24 bytes a block.
//!
//! A [`Block`] is 32 bytes (three `u64`s and a stack id, padded). The table
//! keeps each in 24: the size as a `u32`, with sizes of 4 GiB and more
//! (`u32::MAX` in the record) in a side list by index. On a 10 M-block heap
//! those 8 bytes are an eighth of the analysis' budget of 64 bytes a block.

use crate::model::{Block, StackId};

/// A block as stored: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    addr: u64,
    seq: u64,
    /// The size, or [`BIG`] if it is in [`Blocks::big`].
    size: u32,
    stack: u32,
}

/// The record's size field for a size kept in the side list.
const BIG: u32 = u32::MAX;

/// The blocks of a graph, in order: what [`HeapGraph::blocks`] returns and
/// what [`HeapGraph::grouped`] takes. Each block is read by value.
///
/// [`HeapGraph::blocks`]: crate::HeapGraph::blocks
/// [`HeapGraph::grouped`]: crate::HeapGraph::grouped
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocks {
    records: Vec<Record>,
    /// `(index, size)` of every block of [`BIG`] bytes or more, by index.
    big: Vec<(usize, u64)>,
}

impl Blocks {
    /// An empty table.
    pub fn new() -> Self {
        Blocks::default()
    }

    /// An empty table with room for `n` blocks.
    pub fn with_capacity(n: usize) -> Self {
        Blocks {
            records: Vec::with_capacity(n),
            big: Vec::new(),
        }
    }

    /// Reserves room for `additional` more blocks.
    pub fn reserve(&mut self, additional: usize) {
        self.records.reserve(additional);
    }

    /// Appends a block.
    pub fn push(&mut self, b: Block) {
        let size = match u32::try_from(b.size) {
            Ok(s) if s != BIG => s,
            _ => {
                self.big.push((self.records.len(), b.size));
                BIG
            }
        };
        self.records.push(Record {
            addr: b.addr,
            seq: b.seq,
            size,
            stack: b.stack.0,
        });
    }

    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Block `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Block> {
        (i < self.len()).then(|| self.at(i))
    }

    /// Every block, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Block> + DoubleEndedIterator + '_ {
        (0..self.len()).map(|i| self.at(i))
    }

    /// The blocks as a vector.
    pub fn to_vec(&self) -> Vec<Block> {
        self.iter().collect()
    }

    /// Block `i`; panics if there is none.
    pub(crate) fn at(&self, i: usize) -> Block {
        let r = self.records[i];
        Block {
            addr: r.addr,
            size: self.size(i),
            seq: r.seq,
            stack: StackId(r.stack),
        }
    }

    pub(crate) fn addr(&self, i: usize) -> u64 {
        self.records[i].addr
    }

    pub(crate) fn seq(&self, i: usize) -> u64 {
        self.records[i].seq
    }

    pub(crate) fn stack(&self, i: usize) -> StackId {
        StackId(self.records[i].stack)
    }

    pub(crate) fn size(&self, i: usize) -> u64 {
        match self.records[i].size {
            BIG => {
                let k = self
                    .big
                    .binary_search_by_key(&i, |&(j, _)| j)
                    .expect("a big block is in the side list");
                self.big[k].1
            }
            s => u64::from(s),
        }
    }

    /// The index of the last block starting at or below `addr`.
    pub(crate) fn last_at_or_below(&self, addr: u64) -> Option<usize> {
        self.records
            .partition_point(|r| r.addr <= addr)
            .checked_sub(1)
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.records.shrink_to_fit();
        self.big.shrink_to_fit();
    }
}

impl From<Vec<Block>> for Blocks {
    fn from(v: Vec<Block>) -> Blocks {
        v.into_iter().collect()
    }
}

impl FromIterator<Block> for Blocks {
    fn from_iter<I: IntoIterator<Item = Block>>(iter: I) -> Blocks {
        let iter = iter.into_iter();
        let mut out = Blocks::with_capacity(iter.size_hint().0);
        for b in iter {
            out.push(b);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 24);
    }

    #[test]
    fn sizes_of_4_gib_and_more_round_trip() {
        let sizes = [
            0,
            1,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            1 << 35,
            48,
        ];
        let blocks: Blocks = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Block {
                addr: 0x1000 * (i as u64 + 1),
                size,
                seq: i as u64 + 7,
                stack: StackId(i as u32),
            })
            .collect();
        assert_eq!(blocks.len(), sizes.len());
        for (i, b) in blocks.iter().enumerate() {
            assert_eq!(b.size, sizes[i]);
            assert_eq!(b.seq, i as u64 + 7);
            assert_eq!(b.stack, StackId(i as u32));
        }
        assert_eq!(blocks.get(sizes.len()), None);
        assert_eq!(blocks.last_at_or_below(0x2fff), Some(1));
        assert_eq!(blocks.last_at_or_below(0xfff), None);
    }
}
