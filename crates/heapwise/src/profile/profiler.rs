//! The allocator's side of the heap profiler: taking a sample and seeing a
//! sampled block freed. Both run on the allocator's slow path, behind the
//! reentrancy guard, so what they allocate (the depot growing) goes straight
//! to the inner allocator, uncounted and never sampled itself.
//!
//! See `sampler.rs` for when a sample is taken, `unwind/` for the stack
//! walk, `depot.rs` for the buckets, and `live.rs` and `trailer.rs` for the
//! in-use side (sampled blocks in a table; in full mode, in the block).

use std::cell::Cell;
use std::hash::Hasher;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::local::Local;
use crate::profile::depot::{Bucket, FxHasher};
use crate::profile::stack::{Bounds, DEFAULT_DEPTH, MAX_DEPTH};
use crate::profile::unwind::{self, Coverage};
use crate::profile::{depot, live};
use crate::scope;

static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_DEPTH);

pub(crate) fn set_max_depth(frames: usize) {
    DEPTH.store(frames.clamp(1, MAX_DEPTH), Relaxed);
}

pub(crate) fn max_depth() -> usize {
    DEPTH.load(Relaxed)
}

thread_local! {
    /// This thread's stack bounds, for the walk: a `const` thread-local
    /// with no destructor, so it is there even during thread exit.
    static BOUNDS: Bounds = const { Bounds::new() };
}

/// This thread's stack bounds.
///
/// # Safety
///
/// The reference stays on this thread and within the current call.
#[inline(always)]
pub(crate) unsafe fn thread_bounds<'a>() -> &'a Bounds {
    // SAFETY: the thread-local has no destructor and lives as long as the
    // thread; the caller keeps the reference on it.
    unsafe { &*BOUNDS.with(std::ptr::from_ref) }
}

/// Takes the sample that was due for the fresh block `ptr` of `size` bytes
/// (at the rate the distance was drawn at) and draws the next distance.
/// Slow path, guarded.
pub(crate) fn sample_due_block(l: &Local, ptr: *mut u8, size: usize) {
    let rate = l.sample_rate();
    l.draw_sample();
    sample(l, ptr, size, rate);
}

/// Takes the sample that was due for the fresh block `ptr` of `size` bytes,
/// which carries its bucket (`trailer.rs`): returns the bucket for the
/// trailer instead of recording the block in the live-block table. Slow
/// path, guarded.
pub(crate) fn sample_due_carried(l: &Local, ptr: *mut u8, size: usize) -> &'static Bucket {
    let rate = l.sample_rate();
    l.draw_sample();
    sampled_bucket(l, ptr, size, rate)
}

/// Records the fresh block `ptr` of `size` bytes as sampled at `rate`.
fn sample(l: &Local, ptr: *mut u8, size: usize, rate: u64) {
    let bucket = sampled_bucket(l, ptr, size, rate);
    if let Some(stale) = live::insert(ptr, bucket) {
        // The address was recorded live: its free went unseen. Count it now.
        stale.freed(false);
    }
}

/// Walks the stack of a sample of the fresh block `ptr` of `size` bytes at
/// `rate`; counts it in its bucket, which it returns.
#[inline(never)]
fn sampled_bucket(l: &Local, ptr: *mut u8, size: usize, rate: u64) -> &'static Bucket {
    // Uninitialised: zeroing 2 KiB per sample would cost more than the walk.
    let mut frames = [MaybeUninit::<usize>::uninit(); MAX_DEPTH];
    let depth = max_depth().min(MAX_DEPTH);
    // SAFETY: used within this call, on this thread.
    let walked = unwind::capture(unsafe { thread_bounds() }, &mut frames[..depth]);
    COVERAGE.note(&walked);
    // SAFETY: `capture` initialised `frames[..len]`; `MaybeUninit<usize>`
    // has the layout of `usize`.
    let frames = unsafe { std::slice::from_raw_parts(frames.as_ptr().cast::<usize>(), walked.len) };
    let label = scope::profile_label(l.scope().cast());
    let bucket = cached_bucket(frames, walked.hash, label, size as u64, rate);
    if rate == 1 {
        let _ = LAST_SAMPLED.try_with(|last| last.set(hidden(ptr)));
    }
    crate::events::sample(ptr as usize, size, rate, scope::id_of(l.scope().cast()));
    bucket
}

/// Whether the sampled stacks reached their roots (the heap profile's).
pub(crate) static COVERAGE: Coverage = Coverage::new();

thread_local! {
    /// The block this thread allocated last in full mode (rate 1), while it
    /// is still the last: its free before any other allocation makes it a
    /// temporary allocation (heaptrack's definition; a realloc frees its old
    /// block and allocates the new one).
    /// Kept as [`hidden`]: the thread-local block is a root of heap
    /// snapshots, and the plain address kept the thread's last block
    /// reachable, never a leak (`tests/snapshot_graphs.rs`).
    static LAST_SAMPLED: Cell<usize> = const { Cell::new(0) };
}

/// A block's address as heapwise keeps it where a heap snapshot's
/// conservative scan reads (a thread-local): inverted, so it points
/// nowhere (above the user half of the address space) and is never 0.
#[inline]
fn hidden(ptr: *mut u8) -> usize {
    !(ptr as usize)
}

/// Slots of the per-thread bucket cache (8 KiB per thread). Full mode
/// samples every block, and a site allocating many sizes is one bucket per
/// size: serde_json's strings made ~360 live keys, and 64 slots missed
/// often enough to spend ~10% of a rate-1 run in the depot's lock and maps
/// (512 slots: 11% faster there; 2048: another 2.5%).
const CACHE_SLOTS: usize = 512;

thread_local! {
    /// Recently used buckets of this thread, by the 64-bit hash of their key
    /// (stack, size, scope name, rate): a hot site's samples skip the depot's
    /// lock and hash maps. Two keys sharing a hash would share a bucket; with
    /// a 64-bit hash over a few thousand live keys the chance is ~1e-12.
    static CACHE: [Cell<(u64, *const Bucket)>; CACHE_SLOTS] =
        const { [const { Cell::new((0, std::ptr::null())) }; CACHE_SLOTS] };
}

/// The bucket for a sample (its stack, and the stack's hash from the walk),
/// from this thread's cache or the depot; counts the allocation in it.
fn cached_bucket(
    frames: &[usize],
    frames_hash: u64,
    label: Option<&str>,
    size: u64,
    rate: u64,
) -> &'static Bucket {
    let mut h = FxHasher::default();
    h.write_u64(frames_hash);
    h.write_usize(frames.len());
    h.write_u64(size);
    h.write_u64(rate);
    if let Some(label) = label {
        h.write(label.as_bytes());
    }
    let key = h.finish() | 1;
    let slot = (key >> (64 - CACHE_SLOTS.trailing_zeros())) as usize;
    let cached = CACHE
        .try_with(|c| c[slot].get())
        .unwrap_or((0, std::ptr::null()));
    if cached.0 == key && !cached.1.is_null() {
        // SAFETY: cached pointers are buckets, leaked and `'static`.
        let bucket = unsafe { &*cached.1 };
        bucket.allocated();
        return bucket;
    }
    let bucket = depot::lock().record(frames, label, size, rate);
    let _ = CACHE.try_with(|c| c[slot].set((key, bucket as *const Bucket)));
    bucket
}

/// Records the block `ptr`, sampled into `bucket` already, in the live-block
/// table: a block that was to carry its bucket but could not (see
/// `Alloc::uncarried`). Slow path, guarded.
pub(crate) fn track(ptr: *mut u8, bucket: &'static Bucket) {
    if let Some(stale) = live::insert(ptr, bucket) {
        stale.freed(false);
    }
}

/// `ptr` is about to be freed (or moved by realloc); if it was sampled, its
/// bucket counts the free. Slow path, guarded or not.
pub(crate) fn free(ptr: *mut u8) {
    if let Some(bucket) = live::remove(ptr) {
        freed(ptr, bucket);
    }
}

/// [`free`] behind the reentrancy guard, maybe in a signal handler that
/// interrupted this thread inside the live table's lock (see
/// `live::remove_reentrant`).
pub(crate) fn free_reentrant(ptr: *mut u8) {
    if let Some(bucket) = live::remove_reentrant(ptr) {
        freed(ptr, bucket);
    }
}

/// The sampled block `ptr` of `bucket` is about to be freed (or moved by
/// realloc): counts the free, and the block as temporary if it was this
/// thread's last allocation in full mode. Slow path, guarded or not.
pub(crate) fn freed(ptr: *mut u8, bucket: &Bucket) {
    let temporary =
        bucket.rate == 1 && LAST_SAMPLED.try_with(|last| last.replace(0)) == Ok(hidden(ptr));
    bucket.freed(temporary);
}
