//! The allocator's side of the heap profiler: taking a sample and seeing a
//! sampled block freed. Both run on the allocator's slow path, behind the
//! reentrancy guard, so what they allocate (the depot growing) goes straight
//! to the inner allocator, uncounted and never sampled itself.
//!
//! See `sampler.rs` for when a sample is taken, `stack.rs` for the stack
//! walk, `depot.rs` for the buckets and `live.rs` for the in-use side.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::local::Local;
use crate::stack::{self, DEFAULT_DEPTH, MAX_DEPTH};
use crate::{depot, live, scope};

static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_DEPTH);

pub(crate) fn set_max_depth(frames: usize) {
    DEPTH.store(frames.clamp(1, MAX_DEPTH), Relaxed);
}

pub(crate) fn max_depth() -> usize {
    DEPTH.load(Relaxed)
}

/// Records the fresh block `ptr` of `size` bytes as sampled at `rate`.
/// Slow path, guarded.
#[inline(never)]
pub(crate) fn sample(l: &Local, ptr: *mut u8, size: usize, rate: u64) {
    // Uninitialised: zeroing 2 KiB per sample would cost more than the walk.
    let mut frames = [MaybeUninit::<usize>::uninit(); MAX_DEPTH];
    let depth = max_depth().min(MAX_DEPTH);
    let n = stack::capture(&l.bounds, &mut frames[..depth]);
    // SAFETY: `capture` initialised `frames[..n]`; `MaybeUninit<usize>` has
    // the layout of `usize`.
    let frames = unsafe { std::slice::from_raw_parts(frames.as_ptr().cast::<usize>(), n) };
    let label = scope::profile_label(l.scope());
    let bucket = depot::lock().record(frames, label, size as u64, rate);
    if let Some(stale) = live::insert(ptr, bucket) {
        // The address was recorded live: its free went unseen. Count it now.
        stale.freed();
    }
}

/// `ptr` is about to be freed (or moved by realloc); if it was sampled, its
/// bucket counts the free. Slow path, guarded or not.
pub(crate) fn free(ptr: *mut u8) {
    if let Some(bucket) = live::remove(ptr) {
        bucket.freed();
    }
}
