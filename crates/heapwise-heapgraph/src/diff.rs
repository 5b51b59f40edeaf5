//! Two snapshots of one process compared by site.

use std::collections::BTreeMap;

use crate::analysis::Analysis;

/// A site's figures in one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteFigures {
    /// Blocks.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The bytes they retain (without double counting).
    pub retained_bytes: u64,
}

/// One site in two snapshots. Blocks are matched by sequence number: a
/// block of `after` whose number `before` lacks is new, a block of
/// `before` whose number `after` lacks was freed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteDiff {
    /// The site's name.
    pub site: String,
    /// In the first snapshot.
    pub before: SiteFigures,
    /// In the second.
    pub after: SiteFigures,
    /// Blocks allocated between the two (in `after` only).
    pub new_blocks: u64,
    /// Their bytes.
    pub new_bytes: u64,
    /// Blocks freed between the two (in `before` only).
    pub freed_blocks: u64,
    /// Their bytes.
    pub freed_bytes: u64,
}

impl SiteDiff {
    /// `after.bytes - before.bytes`.
    pub fn bytes_delta(&self) -> i128 {
        i128::from(self.after.bytes) - i128::from(self.before.bytes)
    }
}

/// Compares two analysed snapshots by site (sites matched by name), the
/// sites that grew most first, then those that shrank least, ties by name.
pub fn diff(before: &Analysis<'_>, after: &Analysis<'_>) -> Vec<SiteDiff> {
    let mut out: BTreeMap<String, SiteDiff> = BTreeMap::new();
    for (analysis, is_after) in [(before, false), (after, true)] {
        let graph = analysis.graph();
        for s in analysis.retained_by_site() {
            let d = get(&mut out, graph.site_name(s.site));
            let f = if is_after {
                &mut d.after
            } else {
                &mut d.before
            };
            *f = SiteFigures {
                blocks: s.blocks,
                bytes: s.bytes,
                retained_bytes: s.retained_bytes,
            };
        }
    }
    let seqs = |a: &Analysis<'_>| {
        let mut v: Vec<u64> = a.graph().blocks().iter().map(|b| b.seq).collect();
        v.sort_unstable();
        v
    };
    let (seq_before, seq_after) = (seqs(before), seqs(after));
    for (from, other, is_new) in [(after, &seq_before, true), (before, &seq_after, false)] {
        let graph = from.graph();
        for (i, b) in graph.blocks().iter().enumerate() {
            if other.binary_search(&b.seq).is_err() {
                let d = get(
                    &mut out,
                    graph.site_name(graph.block_site(crate::BlockId(i as u32))),
                );
                if is_new {
                    d.new_blocks += 1;
                    d.new_bytes += b.size;
                } else {
                    d.freed_blocks += 1;
                    d.freed_bytes += b.size;
                }
            }
        }
    }
    let mut out: Vec<SiteDiff> = out.into_values().collect();
    out.sort_by(|a, b| {
        b.bytes_delta()
            .cmp(&a.bytes_delta())
            .then_with(|| a.site.cmp(&b.site))
    });
    out
}

fn get<'a>(out: &'a mut BTreeMap<String, SiteDiff>, name: &str) -> &'a mut SiteDiff {
    out.entry(name.to_owned()).or_insert_with(|| SiteDiff {
        site: name.to_owned(),
        before: SiteFigures::default(),
        after: SiteFigures::default(),
        new_blocks: 0,
        new_bytes: 0,
        freed_blocks: 0,
        freed_bytes: 0,
    })
}
