//! The profiler's record of what was sampled: a stack depot and the buckets.
//!
//! # Mechanism
//!
//! A sampled allocation's stack (raw return addresses) is interned in the
//! **depot**: stored once in one growing array of frames and named by a
//! 32-bit id, so a hot site sampled a million times costs its frames once.
//!
//! Samples are counted in **buckets** keyed by (stack, block size, scope
//! name, rate), as Go keys its memory-profile buckets by (stack, size): one
//! size per bucket lets export unbias each bucket exactly (Go's
//! `scaleHeapSample`; summing first and unbiasing later is badly wrong, see
//! `docs/profiling.md`, "Go's sampling"), and the rate in the key keeps that exact even if the
//! rate changes while the program runs. A bucket counts allocations and
//! frees with atomics (updated unlocked while one thread updates them:
//! `sys/solo.rs`); it is leaked (never freed, like Go's
//! `persistentalloc`) so the live-block table can point at it and a free can
//! update it without the depot's lock.
//!
//! Everything here runs behind the reentrancy guard: its own allocations go
//! straight to the inner allocator, uncounted and never sampled.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::profile::high_water;
use crate::sys::fork::{AtFork, Rank};
use crate::sys::lock::{Lock, LockGuard};
use crate::sys::solo;

/// Counts of one (stack, size, scope name, rate) bucket.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) stack: u32,
    /// Index into the depot's labels; 0 = no named scope.
    pub(crate) label: u32,
    pub(crate) size: u64,
    pub(crate) rate: u64,
    /// Estimated bytes one sample stands for (see `high_water.rs`).
    weight: i64,
    allocs: AtomicU64,
    frees: AtomicU64,
    /// Blocks freed before their thread allocated anything else (rate 1).
    temporary: AtomicU64,
    /// Live count saved in generation `peak_generation` (see `high_water.rs`).
    at_peak: AtomicU64,
    peak_generation: AtomicU64,
}

impl Bucket {
    pub(crate) fn new(stack: u32, label: u32, size: u64, rate: u64) -> Bucket {
        Bucket {
            stack,
            label,
            size,
            rate,
            weight: high_water::weight(size, rate),
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            temporary: AtomicU64::new(0),
            at_peak: AtomicU64::new(0),
            peak_generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn allocated(&self) {
        let w = solo::writer();
        self.keep_peak_count();
        w.add(&self.allocs, 1);
        high_water::grew(&w, self.weight);
    }

    /// One of this bucket's blocks was freed; `temporary`: before its
    /// thread allocated anything else.
    pub(crate) fn freed(&self, temporary: bool) {
        let w = solo::writer();
        high_water::shrinking(&w, self.weight);
        self.keep_peak_count();
        w.add(&self.frees, 1);
        if temporary {
            w.add(&self.temporary, 1);
        }
    }

    /// Before a change: saves the live count, once per peak generation, so
    /// the count at the last peak can still be read afterwards.
    #[inline]
    fn keep_peak_count(&self) {
        let generation = high_water::generation();
        if self.peak_generation.load(Relaxed) != generation {
            let (allocs, frees) = self.counts();
            self.at_peak.store(allocs - frees, Relaxed);
            self.peak_generation.store(generation, Relaxed);
        }
    }

    /// (sampled allocations, sampled frees).
    pub(crate) fn counts(&self) -> (u64, u64) {
        // Frees first: a free is always recorded after its allocation, so
        // the pair never shows more frees than allocations.
        let frees = self.frees.load(Relaxed);
        (self.allocs.load(Relaxed).max(frees), frees)
    }

    /// Sampled blocks alive at the peak of `generation` (the current one;
    /// `None` when the peak is now).
    fn at_peak(&self, generation: Option<u64>) -> u64 {
        if Some(self.peak_generation.load(Relaxed)) == generation {
            self.at_peak.load(Relaxed)
        } else {
            let (allocs, frees) = self.counts();
            allocs - frees
        }
    }
}

/// A fast, deterministic hasher for the depot's keys (no `RandomState`:
/// its thread-local keys are not for the allocator path).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

/// FxHash's step: `n` into `hash` (also made by the stack walk, one return
/// address at a time).
#[inline(always)]
pub(crate) fn fx_step(hash: u64, n: u64) -> u64 {
    (hash.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = fx_step(self.0, n);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type Fx = BuildHasherDefault<FxHasher>;

#[derive(Debug, Clone, Copy)]
struct StackEntry {
    start: u32,
    len: u32,
    /// Next stack with the same hash, or `u32::MAX`.
    next: u32,
}

const NONE: u32 = u32::MAX;

/// Interned stacks: each distinct stack stored once in one growing array of
/// frames and named by its index. Used by the depot, and by the event
/// profiles of `probe/profile.rs`.
#[derive(Debug)]
pub(crate) struct StackTable {
    frames: Vec<usize>,
    stacks: Vec<StackEntry>,
    heads: HashMap<u64, u32, Fx>,
}

impl StackTable {
    pub(crate) const fn new() -> StackTable {
        StackTable {
            frames: Vec::new(),
            stacks: Vec::new(),
            heads: HashMap::with_hasher(BuildHasherDefault::new()),
        }
    }

    /// The id of `frames`, or `None` if it is not interned.
    fn find(&self, hash: u64, frames: &[usize]) -> Option<u32> {
        let mut id = self.heads.get(&hash).copied().unwrap_or(NONE);
        while id != NONE {
            let e = self.stacks[id as usize];
            if &self.frames[e.start as usize..(e.start + e.len) as usize] == frames {
                return Some(id);
            }
            id = e.next;
        }
        None
    }

    fn hash(frames: &[usize]) -> u64 {
        let mut h = FxHasher::default();
        for &f in frames {
            h.write_usize(f);
        }
        h.write_usize(frames.len());
        h.finish()
    }

    /// The id of `frames`, interned if new.
    pub(crate) fn intern(&mut self, frames: &[usize]) -> u32 {
        self.intern_bounded(frames, usize::MAX).unwrap_or(NONE)
    }

    /// The id of `frames`, interned if new and fewer than `max` stacks are
    /// held; `None` if it is new and the table is full.
    pub(crate) fn intern_bounded(&mut self, frames: &[usize], max: usize) -> Option<u32> {
        let hash = Self::hash(frames);
        if let Some(id) = self.find(hash, frames) {
            return Some(id);
        }
        if self.stacks.len() >= max.min(NONE as usize) {
            return None;
        }
        let id = self.stacks.len() as u32;
        let next = self.heads.insert(hash, id).unwrap_or(NONE);
        self.stacks.push(StackEntry {
            start: self.frames.len() as u32,
            len: frames.len() as u32,
            next,
        });
        self.frames.extend_from_slice(frames);
        Some(id)
    }

    /// The number of distinct stacks.
    pub(crate) fn len(&self) -> usize {
        self.stacks.len()
    }

    /// Copies of the frames and the (start, len) of each stack by id.
    pub(crate) fn snapshot(&self) -> (Vec<usize>, Vec<(u32, u32)>) {
        (
            self.frames.clone(),
            self.stacks.iter().map(|e| (e.start, e.len)).collect(),
        )
    }

    /// Bytes held (capacity, not length).
    pub(crate) fn bytes(&self) -> usize {
        use std::mem::size_of;
        self.frames.capacity() * size_of::<usize>()
            + self.stacks.capacity() * size_of::<StackEntry>()
            + map_bytes(&self.heads)
    }
}

/// A hash map's memory: a slot is key + value + one control byte, and the
/// table is at most 7/8 full.
fn map_bytes<K, V, S>(m: &HashMap<K, V, S>) -> usize {
    use std::mem::size_of;
    m.capacity() * 8 / 7 * (size_of::<K>() + size_of::<V>() + 1)
}

/// The depot and bucket table. See the module docs.
#[derive(Debug)]
pub(crate) struct Depot {
    stacks: StackTable,
    labels: Vec<Box<str>>,
    label_ids: HashMap<Box<str>, u32, Fx>,
    buckets: Vec<&'static Bucket>,
    bucket_ids: HashMap<(u32, u32, u64, u64), &'static Bucket, Fx>,
}

static DEPOT: Lock<Depot> = Lock::new(Depot::new());

static FORK: AtFork = AtFork::new(
    Rank::Depot,
    || DEPOT.hold_for_fork(),
    // SAFETY: called once after `fork`, by the thread that held it.
    || unsafe { DEPOT.release_after_fork() },
);

/// The depot, locked. Callers run behind the reentrancy guard.
pub(crate) fn lock() -> LockGuard<'static, Depot> {
    FORK.ensure();
    DEPOT.lock()
}

/// What an export needs, copied out under the lock.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) frames: Vec<usize>,
    /// (start, len) into `frames`, by stack id.
    pub(crate) stacks: Vec<(u32, u32)>,
    pub(crate) labels: Vec<Box<str>>,
    /// One entry per bucket: (stack, label, size, rate, allocs, frees).
    pub(crate) buckets: Vec<BucketCounts>,
    /// The peak's estimate of live bytes (see `high_water.rs`).
    pub(crate) peak_bytes: u64,
}

/// A bucket's figures at snapshot time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BucketCounts {
    pub(crate) stack: u32,
    pub(crate) label: u32,
    pub(crate) size: u64,
    pub(crate) rate: u64,
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    /// Sampled blocks alive at the peak.
    pub(crate) at_peak: u64,
    /// Blocks freed before their thread allocated anything else.
    pub(crate) temporary: u64,
}

/// The profiler's own memory, by part.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Footprint {
    pub(crate) stacks: usize,
    pub(crate) stack_bytes: usize,
    pub(crate) buckets: usize,
    pub(crate) bucket_bytes: usize,
    pub(crate) samples: u64,
    /// Sampled blocks alive: allocations less frees over every bucket.
    pub(crate) live_samples: u64,
}

impl Depot {
    const fn new() -> Depot {
        Depot {
            stacks: StackTable::new(),
            labels: Vec::new(),
            label_ids: HashMap::with_hasher(BuildHasherDefault::new()),
            buckets: Vec::new(),
            bucket_ids: HashMap::with_hasher(BuildHasherDefault::new()),
        }
    }

    fn intern_label(&mut self, label: Option<&str>) -> u32 {
        let Some(label) = label else { return 0 };
        if self.labels.is_empty() {
            self.labels.push("".into());
        }
        if let Some(&id) = self.label_ids.get(label) {
            return id;
        }
        let id = self.labels.len() as u32;
        self.labels.push(label.into());
        self.label_ids.insert(label.into(), id);
        id
    }

    /// Counts one sampled allocation and returns its bucket.
    pub(crate) fn record(
        &mut self,
        frames: &[usize],
        label: Option<&str>,
        size: u64,
        rate: u64,
    ) -> &'static Bucket {
        let stack = self.stacks.intern(frames);
        let label = self.intern_label(label);
        let key = (stack, label, size, rate);
        let bucket = match self.bucket_ids.get(&key) {
            Some(b) => *b,
            None => {
                let b: &'static Bucket = Box::leak(Box::new(Bucket::new(stack, label, size, rate)));
                self.bucket_ids.insert(key, b);
                self.buckets.push(b);
                b
            }
        };
        bucket.allocated();
        bucket
    }

    /// Every bucket's address and stack id (for a heap snapshot, which
    /// names blocks by the bucket in their trailers).
    pub(crate) fn bucket_stacks(&self) -> Vec<(usize, u32)> {
        self.buckets
            .iter()
            .map(|b| (ptr::from_ref::<Bucket>(b).addr(), b.stack))
            .collect()
    }

    /// Copies of the stacks' frames and their (start, len) by stack id.
    pub(crate) fn snapshot_stacks(&self) -> (Vec<usize>, Vec<(u32, u32)>) {
        self.stacks.snapshot()
    }

    /// Copies what an export needs.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let (frames, stacks) = self.stacks.snapshot();
        let (peak_bytes, peak_is_now) = high_water::high();
        let generation = (!peak_is_now).then(high_water::generation);
        Snapshot {
            frames,
            stacks,
            labels: self.labels.clone(),
            buckets: self
                .buckets
                .iter()
                .map(|b| {
                    let (allocs, frees) = b.counts();
                    BucketCounts {
                        stack: b.stack,
                        label: b.label,
                        size: b.size,
                        rate: b.rate,
                        allocs,
                        frees,
                        at_peak: b.at_peak(generation),
                        temporary: b.temporary.load(Relaxed),
                    }
                })
                .collect(),
            peak_bytes,
        }
    }

    /// The depot's memory (capacity, not length: what it holds).
    pub(crate) fn footprint(&self) -> Footprint {
        use std::mem::size_of;
        Footprint {
            stacks: self.stacks.len(),
            stack_bytes: self.stacks.bytes(),
            buckets: self.buckets.len(),
            bucket_bytes: self.buckets.len() * size_of::<Bucket>()
                + self.buckets.capacity() * size_of::<usize>()
                + map_bytes(&self.bucket_ids)
                + self.labels.iter().map(|l| l.len() * 2 + 24).sum::<usize>(),
            // Samples are counted in the buckets (a cached bucket is counted
            // without the depot's lock).
            samples: self.buckets.iter().map(|b| b.counts().0).sum(),
            live_samples: self
                .buckets
                .iter()
                .map(|b| {
                    let (allocs, frees) = b.counts();
                    allocs - frees
                })
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_interned_and_buckets_keyed_by_size_label_and_rate() {
        let mut d = Depot::new();
        let a = d.record(&[1, 2, 3], None, 64, 512);
        let b = d.record(&[1, 2, 3], None, 64, 512);
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.counts(), (2, 0));
        let c = d.record(&[1, 2, 3], None, 128, 512);
        let e = d.record(&[1, 2, 3], Some("request"), 64, 512);
        let f = d.record(&[1, 2, 3], None, 64, 1);
        let g = d.record(&[1, 2], None, 64, 512);
        for other in [c, e, f, g] {
            assert!(!std::ptr::eq(a, other));
        }
        assert_eq!(d.stacks.len(), 2, "one entry per distinct stack");
        assert_eq!(c.stack, a.stack);
        a.freed(false);
        let s = d.snapshot();
        assert_eq!(s.buckets.len(), 5);
        assert_eq!((s.buckets[0].allocs, s.buckets[0].frees), (2, 1));
        assert_eq!(&*s.labels[e.label as usize], "request");
        let (start, len) = s.stacks[g.stack as usize];
        assert_eq!(&s.frames[start as usize..(start + len) as usize], &[1, 2]);
        assert!(d.footprint().stack_bytes > 0);
    }
}
