//! Finding the block an address points into.
//!
//! Blocks are sorted by start address. A lookup first rejects values
//! outside `[first start, last end)`, then picks a bucket of a table that
//! splits that range into power-of-two slices (about one bucket per 8
//! blocks, 0.5 bytes per block), and binary-searches the few starts the
//! bucket covers.

use crate::blocks::Blocks;

/// The block of `blocks` (sorted by address, not overlapping) that `addr`
/// points into: `start <= addr < start + size`, a zero-size block counting
/// as one byte (as valgrind does), so a pointer to it is still an edge.
pub(crate) fn find(blocks: &Blocks, addr: u64) -> Option<usize> {
    let i = blocks.last_at_or_below(addr)?;
    (addr - blocks.addr(i) < blocks.size(i).max(1)).then_some(i)
}

/// The lookup table of the builder.
#[derive(Debug)]
pub(crate) struct AddressIndex {
    starts: Vec<u64>,
    ends: Vec<u64>,
    min: u64,
    max: u64,
    shift: u32,
    /// `first[k]`: the first block whose start is at or beyond bucket k's
    /// start; `first.len()` = buckets + 1.
    first: Vec<u32>,
}

impl AddressIndex {
    /// The index of `blocks`, sorted by address.
    pub(crate) fn new(blocks: &Blocks) -> AddressIndex {
        let starts: Vec<u64> = (0..blocks.len()).map(|i| blocks.addr(i)).collect();
        let ends: Vec<u64> = (0..blocks.len())
            .map(|i| blocks.addr(i).saturating_add(blocks.size(i).max(1)))
            .collect();
        let (min, max) = match (starts.first(), ends.iter().max()) {
            (Some(&min), Some(&max)) => (min, max),
            _ => (1, 0),
        };
        let span = max.saturating_sub(min).max(1);
        let wanted = (blocks.len() / 8).max(1) as u64;
        let mut shift = 0;
        while (span >> shift) > wanted {
            shift += 1;
        }
        let buckets = (span >> shift) as usize + 1;
        let mut first = Vec::with_capacity(buckets + 1);
        let mut i = 0usize;
        for k in 0..=buckets as u64 {
            let bucket_start = min.saturating_add(k << shift);
            while i < starts.len() && starts[i] < bucket_start {
                i += 1;
            }
            first.push(i as u32);
        }
        AddressIndex {
            starts,
            ends,
            min,
            max,
            shift,
            first,
        }
    }

    /// The block `value` points into.
    #[inline]
    pub(crate) fn find(&self, value: u64) -> Option<u32> {
        if value < self.min || value >= self.max {
            return None;
        }
        let k = ((value - self.min) >> self.shift) as usize;
        // The block holding `value` starts in bucket k or before it; the
        // last block starting before bucket k may reach into it.
        let lo = (self.first[k] as usize).saturating_sub(1);
        let hi = self.first[k + 1] as usize;
        let slice = &self.starts[lo..hi];
        let i = lo + slice.partition_point(|&s| s <= value).checked_sub(1)?;
        (value < self.ends[i]).then_some(i as u32)
    }
}
