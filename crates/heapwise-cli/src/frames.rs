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

use heapwise_pprof::{Profile, Sample};

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
    /// Frames of each location, innermost first, by location id: ids up
    /// to twice the number of locations (writers number them 1..=N) index
    /// `dense` (an empty entry: no such location), the rest `sparse`.
    dense: Vec<Vec<Frame>>,
    sparse: HashMap<u64, Vec<Frame>>,
}

impl FrameTable {
    /// Resolves every location of `profile`.
    pub(crate) fn new(profile: &Profile) -> Self {
        let mut names = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut intern = |name: String| -> usize {
            *index.entry(name).or_insert_with_key(|name| {
                names.push(name.clone());
                names.len() - 1
            })
        };
        let mut dense = vec![Vec::new(); 2 * profile.location.len() + 1];
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
        FrameTable {
            names,
            dense,
            sparse,
        }
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
}
