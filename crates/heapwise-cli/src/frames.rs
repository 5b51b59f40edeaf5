//! Samples seen as stacks of function names, the way pprof sees them.
//!
//! A **frame** is one [`Line`](heapwise_pprof::Line) of one
//! [`Location`](heapwise_pprof::Location): a location whose code was
//! inlined holds several lines, innermost first, and each is a frame of its
//! own. A sample's stack is its locations leaf first, so its **leaf** frame
//! is the first line of its first location.
//!
//! Frames are named by function name (pprof's default `-functions`
//! granularity). A frame without a function name is named after the
//! mapped file it came from, `[libfoo.so]`, or `<unknown>` if there is
//! none, as pprof names such nodes.

use std::collections::HashMap;

use anyhow::{bail, Result};
use heapwise_pprof::{Profile, Sample};

/// The most frames (inlined lines counted) a profile's samples may expand
/// to: each report walks every sample's stack. The decoder bounds a
/// profile's memory, not this: one location may hold 100,000 inlined
/// lines, and a 1.3 KB file whose 100 samples all name it made `top` take
/// 8.7 s and `flame` more than 1.5 GB. A full profile of a C++ compiler
/// expands to about 1.3 M frames.
pub(crate) const MAX_FRAMES: u64 = 1 << 26;

/// One frame of a stack: the index of its function name in
/// [`FrameTable::names`], and whether it was inlined into its caller (it
/// is not the outermost line of its location).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) name: usize,
    pub(crate) inlined: bool,
}

/// Every location of a profile resolved to frames, with function names
/// interned so that reports can count by index.
#[derive(Debug)]
pub(crate) struct FrameTable {
    names: Vec<String>,
    /// Frames of each location, innermost first, by location id: in
    /// `dense`, indexed by id (an empty entry: no such location), when the
    /// ids are at most twice the number of locations (writers number them
    /// 1..=N); else in `sparse`.
    dense: Vec<Vec<Frame>>,
    sparse: HashMap<u64, Vec<Frame>>,
}

impl FrameTable {
    /// Resolves every location of `profile`; fails if its samples expand
    /// to more than [`MAX_FRAMES`] frames.
    pub(crate) fn new(profile: &Profile) -> Result<Self> {
        let mut names = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut intern = |name: String| -> usize {
            *index.entry(name).or_insert_with_key(|name| {
                names.push(name.clone());
                names.len() - 1
            })
        };
        let top = profile.location.iter().map(|l| l.id).max().unwrap_or(0);
        let dense_len = if top <= 2 * profile.location.len() as u64 {
            top as usize + 1
        } else {
            0
        };
        let mut dense = vec![Vec::new(); dense_len];
        let mut sparse = HashMap::new();
        for loc in &profile.location {
            let object = || {
                profile
                    .mapping_by_id(loc.mapping_id)
                    .map(|m| profile.string(m.filename))
                    .filter(|f| !f.is_empty())
                    .map_or_else(
                        || "<unknown>".to_owned(),
                        |f| format!("[{}]", f.rsplit('/').next().unwrap_or(f)),
                    )
            };
            let frames: Vec<Frame> = if loc.line.is_empty() {
                vec![Frame {
                    name: intern(object()),
                    inlined: false,
                }]
            } else {
                let outermost = loc.line.len() - 1;
                loc.line
                    .iter()
                    .enumerate()
                    .map(|(i, line)| {
                        let name = profile
                            .function_by_id(line.function_id)
                            .map(|f| profile.string(f.name))
                            .filter(|n| !n.is_empty())
                            .map_or_else(object, str::to_owned);
                        Frame {
                            name: intern(name),
                            inlined: i != outermost,
                        }
                    })
                    .collect()
            };
            match dense.get_mut(loc.id as usize) {
                Some(slot) => *slot = frames,
                None => {
                    sparse.insert(loc.id, frames);
                }
            }
        }
        let table = FrameTable {
            names,
            dense,
            sparse,
        };
        let mut frames = 0u64;
        for sample in &profile.sample {
            for &id in &sample.location_id {
                frames += table.location(id).len() as u64;
            }
            if frames > MAX_FRAMES {
                bail!(
                    "profile too large: its samples' stacks expand to more than {} frames (inlined lines counted)",
                    crate::units::grouped(MAX_FRAMES as i64)
                );
            }
        }
        Ok(table)
    }

    /// The frames of location `id`, innermost first; empty if there is none.
    fn location(&self, id: u64) -> &[Frame] {
        match self.dense.get(id as usize) {
            Some(frames) => frames,
            None => self.sparse.get(&id).map_or(&[], Vec::as_slice),
        }
    }

    /// All function names, indexed by [`Frame::name`].
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The name with index `i`.
    pub(crate) fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The frames of `sample`, leaf first.
    pub(crate) fn stack<'a>(&'a self, sample: &'a Sample) -> impl Iterator<Item = Frame> + 'a {
        sample
            .location_id
            .iter()
            .flat_map(|&id| self.location(id).iter().copied())
    }

    /// [`stack`](Self::stack) into `out` (cleared first), without an
    /// iterator's check per frame.
    pub(crate) fn stack_into(&self, sample: &Sample, out: &mut Vec<Frame>) {
        out.clear();
        out.reserve(sample.location_id.len());
        for &id in &sample.location_id {
            match self.location(id) {
                [one] => out.push(*one),
                frames => out.extend_from_slice(frames),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_pprof::{Line, Location, ProfileBuilder};

    fn names(t: &FrameTable, sample: &Sample) -> Vec<String> {
        let mut frames = Vec::new();
        t.stack_into(sample, &mut frames);
        let names: Vec<String> = t.stack(sample).map(|f| t.name(f.name).to_owned()).collect();
        let copied: Vec<String> = frames.iter().map(|f| t.name(f.name).to_owned()).collect();
        assert_eq!(names, copied);
        names
    }

    /// Ids numbered 1..=N and ids far apart give the same stacks; an id
    /// no location has gives no frame.
    #[test]
    fn stacks_by_dense_or_sparse_location_ids() {
        for ids in [[1, 2, 3], [7, 1_000_000, 3]] {
            let mut b = ProfileBuilder::new();
            let mut locs = Vec::new();
            for (id, name) in ids.iter().zip(["leaf", "mid", "main"]) {
                let function_id = b.function(name, name, "", 0);
                let line = vec![Line {
                    function_id,
                    line: 1,
                    column: 0,
                }];
                locs.push(b.add_location(Location {
                    id: *id,
                    address: 0x1000 * *id,
                    line,
                    ..Location::default()
                }));
            }
            assert_eq!(locs, ids);
            let mut ids_with_missing = ids.to_vec();
            ids_with_missing.insert(1, 42);
            b.sample(&ids_with_missing, &[1], &[]);
            let p = b.build();
            let t = FrameTable::new(&p).unwrap();
            assert_eq!(names(&t, &p.sample[0]), ["leaf", "mid", "main"], "{ids:?}");
        }
    }
}
