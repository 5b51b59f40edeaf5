//! Hiding the allocation plumbing at the leaf of a profile's stacks
//! ([`Profile::hide_allocator_frames`]), for profiles other tools wrote:
//! heapwise's own profiles and its heaptrack import leave it out already.

use std::collections::HashMap;

use crate::plumbing::is_allocator_frame;
use crate::profile::{Location, Profile};

impl Profile {
    /// Removes the allocation plumbing ([`is_allocator_frame`]: allocator
    /// entry points and wrappers, the standard library's allocation paths,
    /// a heap profiler's own frames) from the leaf of every sample's stack,
    /// so that its leaf is the code that asked for the memory: in a
    /// jemalloc profile, `myapp::cache::insert` rather than
    /// `prof_backtrace_impl`. Frames are lines: a location whose innermost
    /// lines are plumbing and whose outer ones are not is replaced, in
    /// that sample, by a new location holding the outer lines. A stack
    /// that is all plumbing is kept whole. Returns how many samples
    /// changed.
    pub fn hide_allocator_frames(&mut self) -> usize {
        let plumbing: HashMap<u64, bool> = self
            .function
            .iter()
            .map(|f| (f.id, is_allocator_frame(self.string(f.name))))
            .collect();
        // Per location: how many of its lines, innermost first, are plumbing.
        let leading: HashMap<u64, usize> = self
            .location
            .iter()
            .map(|l| {
                let n = l
                    .line
                    .iter()
                    .take_while(|line| plumbing.get(&line.function_id) == Some(&true))
                    .count();
                (l.id, n)
            })
            .collect();
        let index: HashMap<u64, usize> = self
            .location
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id, i))
            .collect();
        let mut next_id = self.location.iter().map(|l| l.id).max().unwrap_or(0);
        // Locations made of another's outer lines, by the other's id.
        let mut outer: HashMap<u64, u64> = HashMap::new();
        let mut made: Vec<Location> = Vec::new();
        let mut changed = 0;
        for sample in &mut self.sample {
            let mut drop = 0;
            let mut split = None;
            for &id in &sample.location_id {
                let (Some(&n), Some(&i)) = (leading.get(&id), index.get(&id)) else {
                    break;
                };
                let lines = self.location[i].line.len();
                if n == 0 {
                    break;
                }
                if n < lines {
                    split = Some((id, i, n));
                    break;
                }
                drop += 1;
            }
            if drop == 0 && split.is_none() || drop == sample.location_id.len() {
                continue;
            }
            sample.location_id.drain(..drop);
            if let Some((id, i, n)) = split {
                let new = *outer.entry(id).or_insert_with(|| {
                    next_id += 1;
                    let old = &self.location[i];
                    made.push(Location {
                        id: next_id,
                        line: old.line[n..].to_vec(),
                        ..old.clone()
                    });
                    next_id
                });
                sample.location_id[0] = new;
            }
            changed += 1;
        }
        self.location.extend(made);
        changed
    }
}

#[cfg(test)]
mod tests {
    use crate::{Line, Location, ProfileBuilder};

    /// A jemalloc_pprof stack: the profiler's and the allocator's frames,
    /// the Rust allocation path inlined into the caller's location.
    #[test]
    fn a_jemalloc_stack_starts_at_the_code_that_allocated() {
        let mut b = ProfileBuilder::new();
        b.sample_type("inuse_space", "bytes");
        let location = |b: &mut ProfileBuilder, id: u64, names: &[&str]| {
            let line = names
                .iter()
                .map(|n| Line {
                    function_id: b.function(n, n, "", 0),
                    line: 1,
                    column: 0,
                })
                .collect();
            b.add_location(Location {
                id,
                address: 0x1000 * id,
                line,
                ..Location::default()
            })
        };
        let prof = location(&mut b, 1, &["prof_backtrace_impl"]);
        let je = location(
            &mut b,
            2,
            &[
                "prof_alloc_prep",
                "imalloc_body",
                "imalloc",
                "_rjem_je_malloc_default",
            ],
        );
        let caller = location(
            &mut b,
            3,
            &[
                "<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::alloc",
                "__rustc::__rust_alloc",
                "alloc::raw_vec::RawVecInner<A>::with_capacity_in",
                "myapp::retain_large",
            ],
        );
        let main = location(&mut b, 4, &["myapp::main"]);
        b.sample(&[prof, je, caller, main], &[100], &[]);
        b.sample(&[prof, je], &[7], &[]);
        b.sample(&[main], &[1], &[]);
        let mut p = b.build();
        assert_eq!(p.hide_allocator_frames(), 1);
        let names: Vec<Vec<&str>> = p.sample.iter().map(|s| p.stack_function_names(s)).collect();
        assert_eq!(
            names,
            [
                vec!["myapp::retain_large", "myapp::main"],
                vec![
                    "prof_backtrace_impl",
                    "prof_alloc_prep",
                    "imalloc_body",
                    "imalloc",
                    "_rjem_je_malloc_default"
                ],
                vec!["myapp::main"],
            ]
        );
        // The caller's location is kept as it was for any other sample.
        assert_eq!(p.location_by_id(caller).unwrap().line.len(), 4);
        assert_eq!(p.hide_allocator_frames(), 0);
    }
}
