//! What a scope (or the process) has done with the heap: [`Usage`], and the
//! internal batch ([`Delta`]) and shared counters ([`Counters`]) behind it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Heap activity charged to a scope, its children included.
///
/// Every figure counts requests as the program made them: sizes are the
/// requested `Layout::size()`, not what the inner allocator rounded up to, and
/// heapwise's own bookkeeping (such as the owner trailer) is not included.
///
/// gotcha counts "objects" as element counts (`make([]int, 100)` is 100
/// objects). Rust's allocator sees only a `Layout`, never an element type, so
/// heapwise counts *blocks*: `vec![0u64; 100]` is 800 bytes in 1 alloc.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Usage {
    /// Bytes allocated (alloc, alloc_zeroed, and the new block of a realloc); only grows, like gotcha's bytes.
    pub bytes: u64,
    /// Blocks allocated (alloc, alloc_zeroed, and the new block of a realloc).
    pub allocs: u64,
    /// Blocks freed (dealloc, and the old block of a realloc).
    pub frees: u64,
    /// Bytes freed (dealloc, and the old block of a realloc).
    pub freed_bytes: u64,
    /// Successful realloc calls.
    pub reallocs: u64,
    /// Allocator entries made in the scope: alloc, alloc_zeroed, realloc and dealloc each count one.
    pub calls: u64,
    /// Bytes allocated and not yet freed, never below zero (see "Who is charged for a free" in the crate docs).
    pub live_bytes: u64,
    /// High-water mark of `live_bytes`.
    pub peak_bytes: u64,
}

impl std::ops::Sub for Usage {
    type Output = Usage;

    /// The activity between two readings of the same scope (`later - earlier`).
    /// `live_bytes` and `peak_bytes` are taken from `self`, the later reading.
    fn sub(self, earlier: Usage) -> Usage {
        Usage {
            bytes: self.bytes.saturating_sub(earlier.bytes),
            allocs: self.allocs.saturating_sub(earlier.allocs),
            frees: self.frees.saturating_sub(earlier.frees),
            freed_bytes: self.freed_bytes.saturating_sub(earlier.freed_bytes),
            reallocs: self.reallocs.saturating_sub(earlier.reallocs),
            calls: self.calls.saturating_sub(earlier.calls),
            live_bytes: self.live_bytes,
            peak_bytes: self.peak_bytes,
        }
    }
}

/// A batch of activity not yet charged to any scope.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delta {
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    pub(crate) reallocs: u64,
    pub(crate) calls: u64,
    pub(crate) bytes: u64,
    pub(crate) freed_bytes: u64,
    /// Highest value of `bytes - freed_bytes` reached during the batch (>= 0).
    pub(crate) peak: i64,
}

impl Delta {
    pub(crate) fn is_empty(&self) -> bool {
        self.calls == 0 && self.frees == 0
    }

    pub(crate) fn live(&self) -> i64 {
        (self.bytes as i64).wrapping_sub(self.freed_bytes as i64)
    }

    /// The free of one block, without the call that freed it (owner mode: a
    /// block freed outside its scope is charged to its owner; the call to the
    /// scope that made it, see [`Delta::call`]).
    pub(crate) fn free(size: u64) -> Delta {
        Delta {
            frees: 1,
            freed_bytes: size,
            ..Delta::default()
        }
    }

    /// The allocation of one block, without the call that made it.
    pub(crate) fn alloc(size: u64) -> Delta {
        Delta {
            allocs: 1,
            bytes: size,
            peak: size as i64,
            ..Delta::default()
        }
    }

    /// The delta with one allocator call added.
    pub(crate) fn with_call(self) -> Delta {
        Delta {
            calls: self.calls + 1,
            ..self
        }
    }

    /// One allocator call, on its own.
    pub(crate) fn call() -> Delta {
        Delta {
            calls: 1,
            ..Delta::default()
        }
    }
}

/// The process-wide counters. The counts live in per-thread shards, so a
/// flushing thread makes its six count updates on a line no other thread
/// writes; only the process-wide live figure (and, when it rises, the peak)
/// is shared: one atomic add per flush instead of seven.
///
/// Why not fully sharded: the peak needs process-wide live at each batch, and
/// summing all shards per flush would read every other thread's hot line.
/// On the 2-core bench machine neither layout measurably differs from one
/// shared set of counters (2026-11-22, `bench/`, 2 threads in 2 scopes: the
/// difference stayed inside run-to-run noise over 40 rounds); the layout is
/// chosen for many-core machines, where every shared write per flush counts.
#[derive(Debug)]
pub(crate) struct Global {
    shards: [Counters; Global::SHARDS],
    shared: Shared,
}

#[derive(Debug)]
#[repr(align(64))]
struct Shared {
    live: AtomicI64,
    peak: AtomicI64,
}

impl Global {
    pub(crate) const SHARDS: usize = 32;

    pub(crate) const fn new() -> Global {
        Global {
            shards: [const { Counters::new() }; Global::SHARDS],
            shared: Shared {
                live: AtomicI64::new(0),
                peak: AtomicI64::new(0),
            },
        }
    }

    /// Adds a batch: counts to the calling thread's shard, live and peak to
    /// the shared line. Allocator-safe.
    pub(crate) fn add(&self, shard: usize, d: &Delta) {
        self.shards[shard % Global::SHARDS].add_counts(d);
        let before = self.shared.live.fetch_add(d.live(), Relaxed);
        let high = before.wrapping_add(d.peak);
        if high > self.shared.peak.load(Relaxed) {
            self.shared.peak.fetch_max(high, Relaxed);
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        let mut sum = [0u64; 6];
        for shard in &self.shards {
            shard.accumulate(&mut sum);
        }
        let live = self.shared.live.load(Relaxed).max(0);
        let [bytes, allocs, frees, freed_bytes, reallocs, calls] = sum;
        Usage {
            bytes,
            allocs,
            frees,
            freed_bytes,
            reallocs,
            calls,
            live_bytes: live as u64,
            peak_bytes: self.shared.peak.load(Relaxed).max(live) as u64,
        }
    }
}

/// Shared counters of one scope.
///
/// Written once per flushed batch (see `block.rs`), never per allocation, so
/// threads allocating in different scopes share no written cache line.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Counters {
    bytes: AtomicU64,
    allocs: AtomicU64,
    frees: AtomicU64,
    freed_bytes: AtomicU64,
    reallocs: AtomicU64,
    calls: AtomicU64,
    /// Signed: in the default mode a scope may free blocks allocated elsewhere.
    live: AtomicI64,
    peak: AtomicI64,
}

impl Counters {
    pub(crate) const fn new() -> Counters {
        Counters {
            bytes: AtomicU64::new(0),
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            freed_bytes: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            live: AtomicI64::new(0),
            peak: AtomicI64::new(0),
        }
    }

    /// Adds a batch and tracks the peak. Allocator-safe: atomics only.
    pub(crate) fn add(&self, d: &Delta) {
        self.add_counts(d);
        let before = self.live.fetch_add(d.live(), Relaxed);
        // The batch's high-water mark sits `d.peak` above the live figure it
        // started from. Exact for one thread; with several threads flushing into
        // one scope, batches interleave and the peak is approximate.
        let high = before.wrapping_add(d.peak);
        if high > self.peak.load(Relaxed) {
            self.peak.fetch_max(high, Relaxed);
        }
    }

    /// Adds a batch's six counts (not live, not the peak).
    fn add_counts(&self, d: &Delta) {
        if d.allocs != 0 {
            self.allocs.fetch_add(d.allocs, Relaxed);
            self.bytes.fetch_add(d.bytes, Relaxed);
        }
        if d.frees != 0 {
            self.frees.fetch_add(d.frees, Relaxed);
            self.freed_bytes.fetch_add(d.freed_bytes, Relaxed);
        }
        if d.reallocs != 0 {
            self.reallocs.fetch_add(d.reallocs, Relaxed);
        }
        self.calls.fetch_add(d.calls, Relaxed);
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }
    pub(crate) fn allocs(&self) -> u64 {
        self.allocs.load(Relaxed)
    }
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }
    pub(crate) fn live(&self) -> i64 {
        self.live.load(Relaxed)
    }

    /// Adds the six counts of `self` into `u`.
    fn accumulate(&self, u: &mut [u64; 6]) {
        let fields = [
            &self.bytes,
            &self.allocs,
            &self.frees,
            &self.freed_bytes,
            &self.reallocs,
            &self.calls,
        ];
        for (slot, f) in u.iter_mut().zip(fields) {
            *slot = slot.wrapping_add(f.load(Relaxed));
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        Usage {
            bytes: self.bytes.load(Relaxed),
            allocs: self.allocs.load(Relaxed),
            frees: self.frees.load(Relaxed),
            freed_bytes: self.freed_bytes.load(Relaxed),
            reallocs: self.reallocs.load(Relaxed),
            calls: self.calls.load(Relaxed),
            live_bytes: self.live.load(Relaxed).max(0) as u64,
            peak_bytes: self.peak.load(Relaxed).max(0) as u64,
        }
    }
}
