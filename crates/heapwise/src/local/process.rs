//! Process-wide figures (Go's `runtime.MemStats`, for the heap heapwise sees).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering::Relaxed};

use crate::local::usage::Global;
use crate::local::with_local;

pub(crate) static GLOBAL: Global = Global::new();
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static OWNER_MODE: AtomicBool = AtomicBool::new(false);
/// heapwise's own heap memory (see [`Stats::heapwise_bytes`]): live now, and
/// its high-water mark.
static OWN_LIVE: AtomicI64 = AtomicI64::new(0);
static OWN_PEAK: AtomicI64 = AtomicI64::new(0);

/// Counts `bytes` (negative: freed) of heapwise's own memory: what its
/// bookkeeping allocates behind the reentrancy guard or straight from
/// `System`. Allocator-safe.
#[inline]
pub(crate) fn own(bytes: isize) {
    let live = OWN_LIVE.fetch_add(bytes as i64, Relaxed) + bytes as i64;
    if bytes > 0 && live > OWN_PEAK.load(Relaxed) {
        OWN_PEAK.fetch_max(live, Relaxed);
    }
}

/// Counts `bytes` (negative: freed) of the preload library's own Rust
/// allocations, which go to the next allocator without passing through
/// [`crate::Alloc`], as heapwise's own memory. Not for programs.
#[doc(hidden)]
#[inline]
pub fn __preload_own(bytes: isize) {
    own(bytes);
}

/// Heap activity of the whole process since start, as seen by [`crate::Alloc`].
///
/// Every thread's batch is charged here when it flushes, so the figures lag the
/// truth by at most 64 KiB of traffic per running thread (the calling thread's
/// own batch is charged first). `peak_bytes` is exact for a single thread and a
/// close approximation with several.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes allocated since start.
    pub allocated_bytes: u64,
    /// Bytes freed since start.
    pub freed_bytes: u64,
    /// Bytes allocated and not yet freed.
    pub live_bytes: u64,
    /// High-water mark of `live_bytes`.
    pub peak_bytes: u64,
    /// Blocks allocated since start (alloc, alloc_zeroed, and realloc's new block).
    pub allocs: u64,
    /// Blocks freed since start (dealloc, and realloc's old block).
    pub frees: u64,
    /// Successful reallocs since start.
    pub reallocs: u64,
    /// Allocator entries since start.
    pub calls: u64,
    /// Heap bytes heapwise holds for itself now: the profiler's stacks,
    /// buckets and live-block tables, scopes, and the scratch memory of a
    /// profile being built, encoded, served or symbolized. None of it is in
    /// the figures above, in any scope, or in any profile.
    pub heapwise_bytes: u64,
    /// High-water mark of `heapwise_bytes`.
    pub heapwise_peak_bytes: u64,
}

/// The process-wide figures.
///
/// All zero when [`crate::Alloc`] is not the global allocator (see [`installed`]).
pub fn stats() -> Stats {
    if !installed() {
        return Stats::default();
    }
    with_local(|l| l.flush());
    let u = GLOBAL.usage();
    Stats {
        allocated_bytes: u.bytes,
        freed_bytes: u.freed_bytes,
        live_bytes: u.live_bytes,
        peak_bytes: u.peak_bytes,
        allocs: u.allocs,
        frees: u.frees,
        reallocs: u.reallocs,
        calls: u.calls,
        heapwise_bytes: OWN_LIVE.load(Relaxed).max(0) as u64,
        heapwise_peak_bytes: OWN_PEAK.load(Relaxed).max(0) as u64,
    }
}

/// Is [`crate::Alloc`] the global allocator of this program?
///
/// `true` once the wrapper has served an allocation, which the Rust runtime
/// does before `main`. When it is `false`, scopes count nothing and limits
/// never trip: check it in tests and at start-up.
pub fn installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// The inner allocator is the C library's `malloc` (`std::alloc::System`,
/// or the preload's): its heap then holds nothing heapwise does not track
/// but heapwise's own memory and the C code's blocks.
static MALLOC_INNER: AtomicBool = AtomicBool::new(false);

/// Is the inner allocator the C library's `malloc`?
pub(crate) fn malloc_inner() -> bool {
    MALLOC_INNER.load(Relaxed)
}

/// Called by the allocator's first slow path; `inner` is the inner
/// allocator's type name.
pub(crate) fn mark_installed(owner: bool, inner: &str) {
    if !INSTALLED.load(Relaxed) {
        MALLOC_INNER.store(
            inner.ends_with("::System") || inner.starts_with("heapwise_preload::"),
            Relaxed,
        );
        INSTALLED.store(true, Relaxed);
    }
    if owner && !OWNER_MODE.load(Relaxed) {
        OWNER_MODE.store(true, Relaxed);
    }
}

#[inline]
pub(crate) fn owner_mode() -> bool {
    OWNER_MODE.load(Relaxed)
}

/// The process-counter shard for a new thread.
pub(crate) fn next_shard() -> u8 {
    (NEXT_SHARD.fetch_add(1, Relaxed) % Global::SHARDS) as u8
}
