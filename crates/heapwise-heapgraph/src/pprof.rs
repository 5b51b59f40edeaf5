//! The analysis as a pprof profile, by allocation stack.

use heapwise_pprof::{Profile, ProfileBuilder};

use crate::analysis::Analysis;
use crate::leaks::LeakClass;

/// The sample types of [`Analysis::to_pprof`], in order.
pub const SAMPLE_TYPES: [(&str, &str); 8] = [
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
    ("retained_objects", "count"),
    ("retained_space", "bytes"),
    ("direct_leak_objects", "count"),
    ("direct_leak_space", "bytes"),
    ("indirect_leak_objects", "count"),
    ("indirect_leak_space", "bytes"),
];

impl Analysis<'_> {
    /// A pprof profile with one sample per allocation stack that has
    /// blocks, its values the [`SAMPLE_TYPES`]: the stack's blocks and
    /// bytes, what they retain (a block dominated by another block of the
    /// same stack is not counted again), and its direct and indirect
    /// leaks. The default sample type is `retained_space`; frames are
    /// functions with file and line.
    pub fn to_pprof(&self) -> Profile {
        let graph = self.graph();
        let mut b = ProfileBuilder::new();
        for (ty, unit) in SAMPLE_TYPES {
            b.sample_type(ty, unit);
        }
        b.period("space", "bytes", 1)
            .default_sample_type("retained_space");
        let retained = self.retained_by_stack();
        let mut leaks = vec![[0i64; 4]; graph.stacks().len()];
        for (i, block) in graph.blocks().iter().enumerate() {
            let l = &mut leaks[block.stack.0 as usize];
            match self.leak_classes()[i] {
                LeakClass::Direct => {
                    l[0] += 1;
                    l[1] += block.size as i64;
                }
                LeakClass::Indirect => {
                    l[2] += 1;
                    l[3] += block.size as i64;
                }
                LeakClass::Reachable => {}
            }
        }
        for s in self.stack_ids() {
            let (blocks, bytes, rbytes, rblocks) = retained[s.0 as usize];
            if blocks == 0 {
                continue;
            }
            let frames: Vec<u64> = graph
                .stack(s)
                .iter()
                .map(|f| b.frame(&f.function, &f.file, i64::from(f.line)))
                .collect();
            let frames = if frames.is_empty() {
                vec![b.frame(crate::UNKNOWN_SITE, "", 0)]
            } else {
                frames
            };
            let l = leaks[s.0 as usize];
            b.sample(
                &frames,
                &[
                    blocks as i64,
                    bytes as i64,
                    rblocks as i64,
                    rbytes as i64,
                    l[0],
                    l[1],
                    l[2],
                    l[3],
                ],
                &[],
            );
        }
        b.build()
    }
}
