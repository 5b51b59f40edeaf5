//! The peak: what was live, by bucket, when the profiler's estimate of live
//! bytes was at its highest.
//!
//! # Mechanism
//!
//! Copying every bucket's count at each new high would cost a pass over all
//! buckets per allocation while memory grows. Instead the profiler keeps
//! its estimate of live bytes ([`LIVE`]) and the highest it reached
//! ([`HIGH`]), and numbers the peaks ([`GENERATION`]). A bucket about to
//! change saves its live count first, once per generation
//! (`Bucket::keep_peak_count` in `depot.rs`). At any time a bucket's count at
//! the peak is then its saved count if it saved one in the current
//! generation (it changed since the peak), else its count now (it did not).
//!
//! A peak is a moment after which live bytes go down, so it is found by the
//! free that follows it: a free whose [`LIVE`] before it is above [`HIGH`]
//! records a new high and starts a new generation, before its bucket saves.
//! An allocation only adds to [`LIVE`]: while memory grows nothing else is
//! shared or written, so full mode's building phases pay one add per block
//! (unlocked while one thread updates the counters: `sys/solo.rs`). When
//! nothing was freed since the last high ([`LIVE`] at or above [`HIGH`]),
//! the peak is now, and every bucket's count now is its count at the peak.
//!
//! Live bytes are the sampled blocks' estimates (each block weighs its size
//! divided by the probability it was sampled; at rate 1 its size), so the
//! peak found is the peak of what the profile shows. The figures are exact
//! for one thread; with several threads allocating at the moment of the
//! peak a site's figure may be off by the blocks in flight then.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::sys::solo::Writer;

/// Estimated bytes in sampled blocks alive now (below zero only for a
/// moment, when a free races ahead of its allocation's add on another
/// thread).
static LIVE: AtomicI64 = AtomicI64::new(0);
/// The highest [`LIVE`] reached.
static HIGH: AtomicI64 = AtomicI64::new(0);
/// Bumped at each new high, found by the free after it; buckets save their
/// count once per generation.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The current generation.
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Relaxed)
}

/// A sampled block weighing `weight` estimated bytes was allocated.
#[inline]
pub(crate) fn grew(w: &Writer, weight: i64) {
    w.add_i64(&LIVE, weight);
}

/// A sampled block weighing `weight` estimated bytes is being freed: if
/// live bytes were at a new high until now, that was a peak, and a new
/// generation starts. Call it before the block's bucket saves its count.
#[inline]
pub(crate) fn shrinking(w: &Writer, weight: i64) {
    let before = w.fetch_add_i64(&LIVE, weight.wrapping_neg());
    if before > HIGH.load(Relaxed) && w.fetch_max_i64(&HIGH, before) < before {
        w.add(&GENERATION, 1);
    }
}

/// The peak's estimate of live bytes so far, and whether the peak is now
/// (nothing freed since live bytes were last at their highest).
pub(crate) fn high() -> (u64, bool) {
    let high = HIGH.load(Relaxed);
    let live = LIVE.load(Relaxed);
    (high.max(live).max(0) as u64, live >= high)
}

/// The estimated weight of one sampled block of `size` bytes at `rate`.
pub(crate) fn weight(size: u64, rate: u64) -> i64 {
    crate::local::sampler::scale(1, size, rate).1.max(0)
}
