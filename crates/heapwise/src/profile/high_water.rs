//! The peak: what was live, by bucket, when the profiler's estimate of live
//! bytes was at its highest.
//!
//! # Mechanism
//!
//! Copying every bucket's count at each new high would cost a pass over all
//! buckets per allocation while memory grows. Instead the profiler keeps
//! its estimate of live bytes ([`LIVE`]) and the highest it reached
//! ([`HIGH`]); each new high bumps a generation ([`GENERATION`]). A bucket
//! about to change saves its live count first, once per generation
//! (`Bucket::keep_peak_count` in `depot.rs`). At any time a bucket's count at
//! the peak is then its saved count if it saved one in the current
//! generation (it changed since the peak), else its count now (it did not).
//! Each allocation and free costs a load of the generation, an atomic add
//! and a compare: no pass over the buckets, ever.
//!
//! Live bytes are the sampled blocks' estimates (each block weighs its size
//! divided by the probability it was sampled; at rate 1 its size), so the
//! peak found is the peak of what the profile shows. The figures are exact
//! for one thread; with several threads allocating at the moment of the
//! peak a site's figure may be off by the blocks in flight then.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Estimated bytes in sampled blocks alive now (below zero only for a
/// moment, when a free races ahead of its allocation's add on another
/// thread).
static LIVE: AtomicI64 = AtomicI64::new(0);
/// The highest [`LIVE`] reached.
static HIGH: AtomicI64 = AtomicI64::new(0);
/// Bumped at each new high; buckets save their count once per generation.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The current generation.
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Relaxed)
}

/// A sampled block weighing `weight` estimated bytes was allocated (after
/// its bucket counted it).
#[inline]
pub(crate) fn grew(weight: i64) {
    let live = LIVE.fetch_add(weight, Relaxed).wrapping_add(weight);
    if live > HIGH.load(Relaxed) && HIGH.fetch_max(live, Relaxed) < live {
        GENERATION.fetch_add(1, Relaxed);
    }
}

/// A sampled block weighing `weight` estimated bytes was freed.
#[inline]
pub(crate) fn shrank(weight: i64) {
    LIVE.fetch_sub(weight, Relaxed);
}

/// The highest estimate of live bytes so far.
pub(crate) fn high() -> u64 {
    HIGH.load(Relaxed).max(0) as u64
}

/// The estimated weight of one sampled block of `size` bytes at `rate`.
pub(crate) fn weight(size: u64, rate: u64) -> i64 {
    crate::local::sampler::scale(1, size, rate).1.max(0)
}
