//! An object's code in chunks of [`CHUNK_FDES`] functions, each with its
//! own table, built the first time a walk meets the chunk (`modules.rs`).
//!
//! # Why
//!
//! Evaluating an object's whole `.eh_frame` cost about 120 instructions
//! a byte with `gimli`'s evaluator (`cfi.rs` now takes ~2,400 a function):
//! 390 million for `cc1plus`'s 2.6 MB, most of what `heapwise run` added
//! to a short compile, for the few hundred functions its samples pass
//! through. A chunk is built from its own FDEs only.
//!
//! # Mechanism
//!
//! `.eh_frame_hdr` holds a search table: one `(initial location, FDE
//! address)` pair per function, sorted. Every Linux toolchain writes it
//! as pairs of 32-bit offsets from the header (`datarel sdata4`), with the
//! `.eh_frame` pointer `pcrel sdata4` and the count `udata4`; that layout is
//! read here in place, so a chunk's boundaries are one read each and its
//! FDEs are found without a scan. Chunk `k` covers the code from function
//! `k * CHUNK_FDES` to the next chunk's first function (the first chunk
//! from the start of the code, the last to its end). An object whose header
//! is laid out otherwise, or has no search table, is one chunk, built
//! whole (`ModuleTable::build`).

use gimli::{BaseAddresses, EhFrame, EhFrameOffset, NativeEndian};

use crate::profile::unwind::cfi::Cies;
use crate::profile::unwind::table::{function_rows_at, ModuleTable, Rule};
use crate::sys::code::LoadedObject;

/// Functions (FDEs) per chunk: with `cc1plus`'s 49,000, 1,531 chunks, each
/// built in about 0.2 million instructions. Smaller chunks build less that
/// no walk needs (building what `cc1plus`'s samples met took 93 M
/// instructions with 256, 46 M with 64, 30 M with 32, 21 M with 16) but
/// cost one pending table each (~100 bytes) and a longer list to refresh
/// (16 saved 0.2% of the run over 32): 32 is past most of the gain
/// (`bench/results/2026-12-06-07b3703-lazy-unwind.md`).
pub(crate) const CHUNK_FDES: usize = 32;

/// An object's `.eh_frame_hdr` search table, read in place.
struct Search<'a> {
    /// Runtime address of `.eh_frame_hdr`, which the entries are relative to.
    hdr: usize,
    /// Runtime address of `.eh_frame`.
    eh_frame: usize,
    /// The entries: 8 bytes each.
    entries: &'a [u8],
}

impl<'a> Search<'a> {
    /// The search table of `object`, if laid out as every Linux toolchain
    /// writes it (see the module docs).
    fn of(object: &LoadedObject<'a>) -> Option<Search<'a>> {
        let (hdr, bytes) = object.eh_frame_hdr;
        // version 1; .eh_frame pointer pcrel|sdata4; count udata4; table
        // entries datarel|sdata4.
        let [1, 0x1b, 0x03, 0x3b, ..] = bytes else {
            return None;
        };
        let eh_frame = (hdr + 4).checked_add_signed(read_i32(bytes, 4)? as isize)?;
        let count = u32::from_ne_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
        let entries = bytes.get(12..12 + count.checked_mul(8)?)?;
        Some(Search {
            hdr,
            eh_frame,
            entries,
        })
    }

    fn len(&self) -> usize {
        self.entries.len() / 8
    }

    /// The runtime address of function `i`'s first instruction.
    fn start(&self, i: usize) -> Option<usize> {
        self.hdr
            .checked_add_signed(read_i32(self.entries, i.checked_mul(8)?)? as isize)
    }

    /// The runtime address of function `i`'s FDE.
    fn fde(&self, i: usize) -> Option<usize> {
        self.hdr
            .checked_add_signed(read_i32(self.entries, i.checked_mul(8)? + 4)? as isize)
    }
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The chunks of `object`'s code: `(start, end)` of each, in order,
/// covering `object.code` without overlap.
pub(crate) fn of(object: &LoadedObject<'_>) -> Vec<(usize, usize)> {
    let (start, end) = object.code;
    let mut bounds = vec![start];
    if let Some(search) = Search::of(object) {
        for i in (CHUNK_FDES..search.len()).step_by(CHUNK_FDES) {
            match search.start(i) {
                Some(at) if at > *bounds.last().unwrap_or(&start) && at < end => bounds.push(at),
                _ => {}
            }
        }
    }
    bounds.push(end);
    bounds.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The table of `object`'s chunk `[start, end)` (one of [`of`]).
/// Allocates: behind the guard.
pub(crate) fn build(object: &LoadedObject<'_>, start: usize, end: usize) -> ModuleTable {
    let Some(search) = Search::of(object) else {
        return ModuleTable::build(object);
    };
    let mut rows = Vec::new();
    // A parse error ends the chunk's rows where it happened, as in
    // `ModuleTable::build`.
    let mut every_fp = true;
    let _ = chunk_rows(object, &search, start, end, &mut rows, &mut every_fp);
    ModuleTable::from_rows(start, end, rows).judged(every_fp)
}

/// The rows of the functions that start in `[start, end)`.
fn chunk_rows(
    object: &LoadedObject<'_>,
    search: &Search<'_>,
    start: usize,
    end: usize,
    rows: &mut Vec<(usize, usize, Rule)>,
    every_fp: &mut bool,
) -> gimli::Result<()> {
    let Some(bytes) = object.bytes_from(search.eh_frame) else {
        return Ok(());
    };
    let eh_frame = EhFrame::new(bytes, NativeEndian);
    let bases = BaseAddresses::default()
        .set_eh_frame_hdr(search.hdr as u64)
        .set_eh_frame(search.eh_frame as u64);
    // The first function that starts at or after `start`.
    let (mut lo, mut hi) = (0, search.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if search.start(mid).unwrap_or(usize::MAX) < start {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut cies = Cies::default();
    for i in lo..search.len() {
        match search.start(i) {
            Some(at) if at < end => {}
            _ => break,
        }
        let Some(offset) = search.fde(i).and_then(|a| a.checked_sub(search.eh_frame)) else {
            break;
        };
        function_rows_at(
            &eh_frame,
            &bases,
            &mut cies,
            EhFrameOffset(offset),
            rows,
            every_fp,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For every object loaded here (this test binary, libc, the loader…):
    /// the chunks cover the code in order, and a table built chunk by chunk
    /// gives the rules of the table built whole.
    #[test]
    fn chunk_by_chunk_is_the_whole_table() {
        let mut checked = 0;
        while crate::sys::code::try_for_each_object(&mut |o| {
            let chunks = of(o);
            assert_eq!(chunks.first().map(|c| c.0), Some(o.code.0));
            assert_eq!(chunks.last().map(|c| c.1), Some(o.code.1));
            assert!(chunks
                .windows(2)
                .all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1));
            if Search::of(o).is_none() || o.code.1 - o.code.0 > 64 << 20 {
                return;
            }
            let whole = ModuleTable::build(o);
            for &(start, end) in &chunks {
                let part = build(o, start, end);
                for pc in (start..end).step_by(7) {
                    assert_eq!(part.lookup(pc), whole.lookup(pc), "{pc:#x}");
                }
            }
            checked += usize::from(chunks.len() > 1);
        })
        .is_none()
        {
            checked = 0;
            std::thread::yield_now();
        }
        // This test binary has more than one chunk's functions.
        assert!(checked >= 1, "{checked} objects in several chunks");
    }
}
