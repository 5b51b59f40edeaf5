//! Which of a snapshot's tables holds a code address, in a few loads.
//!
//! # Why
//!
//! A snapshot lists one table per chunk of a few dozen functions
//! (`chunks.rs`): 1,500 for `cc1plus`. A binary search over their start
//! addresses is a chain of a dozen dependent loads for every frame the
//! per-thread rule cache misses, and full mode walks every allocation's
//! stack.
//!
//! # Mechanism
//!
//! Consecutive tables that cover contiguous code (the chunks of one
//! object) form a **span**. A lookup finds the span by a binary search over
//! the few spans (one per loaded object), then reads the span's **block
//! index**: for each block of `1 << shift` bytes of its code, the last table
//! that starts at or before the block's start. From there it steps forward
//! past the tables that start before the address: with 16 KiB blocks and
//! chunks of ~13 KiB of code, one or two steps. A span's block index holds
//! at most [`MAX_BLOCKS`] entries (4 bytes each): larger spans get larger
//! blocks.

/// Smallest block: 16 KiB of code per index entry.
const MIN_SHIFT: u32 = 14;

/// Most index entries per span (a 1 GiB span still has 64 KiB blocks).
const MAX_BLOCKS: usize = 1 << 14;

/// A run of tables over contiguous code.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    /// One past its last table's index.
    last: u32,
    /// Where its block index starts in [`Directory::blocks`].
    blocks: u32,
    shift: u32,
}

/// Finds the table holding an address: see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    /// Each table's start, in order.
    starts: Box<[usize]>,
    spans: Box<[Span]>,
    /// Each span's block index: a table index per block.
    blocks: Box<[u32]>,
}

impl Directory {
    /// The directory of tables covering `ranges` (`[start, end)` each,
    /// sorted by start, not overlapping).
    pub(crate) fn new(ranges: &[(usize, usize)]) -> Directory {
        debug_assert!(
            ranges.windows(2).all(|w| w[0].1 <= w[1].0),
            "sorted, disjoint"
        );
        let n = ranges.len().min(u32::MAX as usize - 1);
        let ranges = &ranges[..n];
        let mut spans: Vec<Span> = Vec::new();
        let mut blocks: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < n {
            let first = i;
            while i + 1 < n && ranges[i].1 == ranges[i + 1].0 {
                i += 1;
            }
            i += 1;
            let (start, end) = (ranges[first].0, ranges[i - 1].1);
            let size = end - start;
            let mut shift = MIN_SHIFT;
            while (size >> shift) >= MAX_BLOCKS {
                shift += 1;
            }
            let at = blocks.len() as u32;
            // Block `b` starts at `start + (b << shift)`: the last table
            // starting at or before it.
            let mut t = first;
            for b in 0..=(size >> shift) {
                let block_start = start + (b << shift);
                while t + 1 < i && ranges[t + 1].0 <= block_start {
                    t += 1;
                }
                blocks.push(t as u32);
            }
            spans.push(Span {
                start,
                end,
                last: i as u32,
                blocks: at,
                shift,
            });
        }
        Directory {
            starts: ranges.iter().map(|r| r.0).collect(),
            spans: spans.into_boxed_slice(),
            blocks: blocks.into_boxed_slice(),
        }
    }

    /// The index of the last table that starts at or before `pc`, if `pc`
    /// lies in a span (the caller checks the table's end: a table may end
    /// before the next one starts only at a span's end, so within a span
    /// this is the table holding `pc`).
    #[inline]
    pub(crate) fn find(&self, pc: usize) -> Option<usize> {
        let s = self
            .spans
            .partition_point(|s| s.start <= pc)
            .checked_sub(1)?;
        let span = self.spans.get(s)?;
        if pc >= span.end {
            return None;
        }
        let b = (pc - span.start) >> span.shift;
        let mut i = *self.blocks.get(span.blocks as usize + b)? as usize;
        let last = span.last as usize;
        while i + 1 < last && self.starts.get(i + 1).is_some_and(|&next| next <= pc) {
            i += 1;
        }
        Some(i)
    }

    /// Heap bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.starts.len() * 8
            + self.spans.len() * std::mem::size_of::<Span>()
            + self.blocks.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last range starting at or before `pc`, if it holds `pc`: a
    /// plain binary search.
    fn linear(ranges: &[(usize, usize)], pc: usize) -> Option<usize> {
        let i = ranges.partition_point(|r| r.0 <= pc).checked_sub(1)?;
        (pc < ranges[i].1).then_some(i)
    }

    #[test]
    fn agrees_with_a_linear_search_everywhere() {
        // Three objects: chunks of uneven sizes, contiguous within each;
        // gaps between objects; one object adjacent to the next; one huge.
        let mut ranges = Vec::new();
        let mut at = 0x10_0000;
        let mut seed = 12345u64;
        let mut next = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for (chunks, gap) in [(50, 0x1000), (1, 0), (300, 0x10_0000), (20, 0)] {
            for _ in 0..chunks {
                let len = 16 + next(40_000);
                ranges.push((at, at + len));
                at += len;
            }
            at += gap;
        }
        let huge = (at + 0x1000, at + 0x1000 + (3 << 30));
        ranges.push(huge);
        let d = Directory::new(&ranges);
        let (lo, hi) = (ranges[0].0 - 100, ranges[ranges.len() - 2].1 + 100);
        for pc in (lo..hi).step_by(13) {
            let want = linear(&ranges, pc);
            let got = d.find(pc).filter(|&i| pc < ranges[i].1);
            assert_eq!(got, want, "{pc:#x}");
        }
        for pc in [huge.0 - 1, huge.0, huge.0 + (1 << 30), huge.1 - 1, huge.1] {
            let got = d.find(pc).filter(|&i| pc < ranges[i].1);
            assert_eq!(got, linear(&ranges, pc), "{pc:#x}");
        }
        assert!(d.bytes() < ranges.len() * 8 + 200 * 1024, "{}", d.bytes());
    }

    #[test]
    fn empty_finds_nothing() {
        let d = Directory::new(&[]);
        assert_eq!(d.find(0x1000), None);
        assert_eq!(Directory::default().find(0), None);
    }
}
