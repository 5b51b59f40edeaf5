//! The per-thread block behind the allocator's fast path.
//!
//! # Mechanism
//!
//! Every thread owns one [`Local`]: a `const`-initialised thread-local with no
//! destructor, so reaching it is a single `fs`-relative address on Linux, needs
//! no lazy-init check, and keeps working before `main`, while other thread-local
//! destructors run, and after they have all run.
//!
//! It holds the thread's current scope, a batch of not-yet-charged activity
//! (allocs, frees, bytes, the batch's live high-water mark: see below) and one
//! **countdown**: the bytes of allocator traffic left before the thread must
//! take the slow path. Every allocator call subtracts its size and branches
//! once on the result; the slow path (`*_slow` in `alloc.rs`) charges the batch to the scope
//! chain and the process counters when it has used up its budget, checks
//! limits, takes a profiler sample when one is due, and sets a new countdown.
//!
//! The countdown is the minimum of the batch's budget ([`FLUSH_BYTES`], or
//! less: the smallest remaining budget of any limit on the scope chain) and
//! the bytes left before the next profiler sample (`sampler.rs`). A slow path
//! taken only for a sample leaves the batch pending. Each call costs at least one byte of
//! countdown, so the call that crosses a limit on this thread always reaches the
//! slow path, and a hard limit can refuse it there. Special states (not yet
//! initialised, inside heapwise's own bookkeeping, thread exiting) force the
//! countdown negative so every call takes the slow path; the fast path never
//! tests them. Allocation events work the same way from outside: each
//! allocation subtracts `size | ALLOC_GATE.mask()` (see
//! [`ALLOC_GATE`](crate::events::ALLOC_GATE)), and attaching a probe to
//! `alloc` sets the mask to `1 << 62`, so every thread takes the slow path
//! (which fires it) from its next allocation on: one load of a shared,
//! read-mostly word and one `or`. Frees and reallocs are sent to the slow
//! path by the page filter they already read (`filter.rs`).
//!
//! # The batch, with as few stores as possible
//!
//! Each update of the batch on the fast path is a read-modify-write of
//! memory, and those, not the instructions around them, were most of the
//! fast path's cost (a build without the batch's additions took a
//! `malloc`/`free` pair from x1.24 to x1.04 of glibc:
//! `bench/results/2026-12-07-e705150-batch-stores.md`). So the batch keeps
//! only what cannot be derived:
//!
//! - the countdown's subtractions are the batch's **traffic** (bytes
//!   allocated plus freed): `traffic_base - countdown`, with `traffic_base`
//!   moved by whoever sets a new countdown. A slow path first gives its
//!   cost back (`give_back`) and then records its call in full (`record_*`);
//! - an allocation adds its count and its bytes; the **bytes freed** are
//!   the traffic that was not allocated;
//! - a free adds its count, and first compares the live figure with the
//!   batch's **peak**: live bytes rise only with allocations, so their
//!   high-water mark is reached just before some free or now. The compare
//!   is two loads and an add (live is `2 * bytes + countdown` in the frame
//!   of `traffic_base`), and stores only at a new peak.
//!
//! An allocation is then two additions to memory beside the countdown, a
//! free one (it was three each).
//!
//! # Accuracy
//!
//! A thread's batch is charged when the countdown runs out, when it enters or
//! leaves a scope, when it reads `usage()`/`stats()`, and when it exits. So
//! figures read on the allocating thread are exact, and another thread's view
//! lags by at most [`FLUSH_BYTES`] of traffic per thread still running.

use std::cell::Cell;

use crate::local::hooks::{self, ScopeRef};
use crate::local::process;
use crate::local::sampler;
use crate::local::usage::Delta;

/// Bytes of allocator traffic (allocated plus freed) a thread may batch before
/// it charges its scope chain.
///
/// 64 KiB as in DataFusion and Comet: with 64-byte blocks that is one flush per
/// 512 alloc/free pairs, which keeps flush cost near 0.1 ns per call (see
/// `bench/results/`), and bounds another thread's lag to 64 KiB per thread.
pub(crate) const FLUSH_BYTES: isize = 64 * 1024;

const READY: u8 = 1;
const GUARDED: u8 = 2;
const EXITING: u8 = 4;

/// One thread's allocator state. See the module docs.
///
/// `repr(C, align(64))`: the fields a fast path touches (the countdown, the
/// peak mark and the batch, and `scope` in owner mode) fill the first cache
/// line. Their order keeps no two fields that one path updates next to each
/// other (an allocation: `countdown`, `allocs`, `bytes`; a free:
/// `countdown`, `frees`): two unconditional additions to neighbours were
/// vectorised into a 16-byte load, add and store, one instruction more than
/// two adds to memory (`bench/results/2026-12-07-0c85b49-headroom.md`).
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Local {
    countdown: Cell<isize>,
    /// The batch's peak so far, as `peak + traffic_base`: the frame in which
    /// a free compares the live figure, `2 * bytes + countdown` (see
    /// [`Local::note_peak`]).
    peak_mark: Cell<i64>,
    allocs: Cell<u64>,
    reallocs: Cell<u64>,
    frees: Cell<u64>,
    bytes: Cell<u64>,
    /// The batch's traffic (bytes allocated plus freed) is
    /// `traffic_base - countdown`: each fast-path call's `take` is its
    /// record of bytes moved (see [`Local::traffic`]).
    traffic_base: Cell<u64>,
    /// The current scope (null: none), opaque here: see `hooks.rs`.
    scope: Cell<ScopeRef>,
    state: Cell<u8>,
    /// This thread's shard of the process counters.
    shard: Cell<u8>,
    /// Bytes this thread may allocate, counted from the start of the pending
    /// batch, before the next profiler sample (`sampler.rs`).
    sample_left: Cell<i64>,
    /// The rate `sample_left` was drawn at, the sampler epoch it belongs to,
    /// and the generator state for the next draw.
    sample_rate: Cell<u64>,
    sample_epoch: Cell<u32>,
    rng: Cell<u64>,
    /// Sampling suspended ([`without_sampling`]).
    unsampled: Cell<bool>,
}

thread_local! {
    static FLUSHER: Flusher = const { Flusher };
}

/// Runs `f` with this thread's block. Never fails and never panics: the
/// thread-local has a `const` initialiser and no destructor.
#[inline(always)]
pub(crate) fn with_local<R>(f: impl FnOnce(&Local) -> R) -> R {
    // SAFETY: used within `f`, on this thread.
    f(unsafe { local() })
}

/// This thread's block, for the allocator's fast paths, where a closure
/// passed to `LocalKey::with` can defeat inlining.
///
/// # Safety
///
/// The reference must not outlive the current allocator call or leave the
/// thread. (The block itself has no destructor and lives as long as the
/// thread, so it is valid for the whole call, even during thread exit.)
#[inline(always)]
pub(crate) unsafe fn local<'a>() -> &'a Local {
    // SAFETY: the caller keeps the reference on this thread and within the
    // call; the block is this thread's (`storage.rs`).
    unsafe { &*super::storage::block() }
}

impl Local {
    /// The block a thread starts with: all zeros (`storage.rs`).
    pub(crate) const fn new() -> Local {
        Local {
            countdown: Cell::new(0),
            peak_mark: Cell::new(0),
            allocs: Cell::new(0),
            reallocs: Cell::new(0),
            frees: Cell::new(0),
            bytes: Cell::new(0),
            traffic_base: Cell::new(0),
            scope: Cell::new(std::ptr::null()),
            state: Cell::new(0),
            shard: Cell::new(0),
            // Drawn on the first slow path (`sync_sampler`: the epoch is
            // never 0), before which it is never read. Every field starts
            // at zero, as the initial-exec block does (`storage.rs`).
            sample_left: Cell::new(0),
            sample_rate: Cell::new(0),
            sample_epoch: Cell::new(0),
            rng: Cell::new(0),
            unsampled: Cell::new(false),
        }
    }

    /// Takes `size` bytes off the countdown, for a free or realloc (whose
    /// events are gated through the page filter instead; see `filter.rs`).
    #[inline(always)]
    pub(crate) fn take_budget(&self, size: usize) -> bool {
        self.take(size as isize)
    }

    /// Takes `cost` off the countdown, which is also the record of the
    /// bytes the call moves (see [`traffic`](Self::traffic)). `false` means:
    /// take the slow path, which first gives the cost back
    /// ([`give_back`](Self::give_back)). Storing the negative value
    /// unconditionally saves a branch.
    #[inline(always)]
    pub(crate) fn take(&self, cost: isize) -> bool {
        let cd = self.countdown.get().wrapping_sub(cost);
        self.countdown.set(cd);
        cd >= 0
    }

    /// Gives back what [`take`](Self::take) took, as if the call had not
    /// been made, and parks the countdown at -1: the first thing every slow
    /// path does (which then records its call in full, if it counts it,
    /// and sets a new countdown when it ends: the guard's drop, or
    /// [`refresh`](Self::refresh) on an early return).
    ///
    /// The cost comes off the traffic (`traffic_base`), not back onto the
    /// countdown: a signal handler that ran between the `take` and this
    /// call may have set a fresh countdown, to which the cost must not be
    /// added (with the events mask in it, the countdown would be near
    /// 2^62, and every later call would take the fast path).
    #[inline]
    pub(crate) fn give_back(&self, cost: isize) {
        self.shift_base((cost as u64).wrapping_neg());
        self.set_countdown(-1);
    }

    /// A fast-path call whose `take(cost)` let it through failed (the inner
    /// allocator returned null): gives the cost back and sets a new
    /// countdown. Out of line: with the give-back inlined, the compiler
    /// kept the countdown from before the `take` in a register across the
    /// inner call, two instructions more on every allocation.
    #[cold]
    #[inline(never)]
    pub(crate) fn failed(&self, cost: usize) {
        self.give_back(cost as isize);
        self.refresh();
    }

    /// The fast path's record of an allocation of `size` bytes, after its
    /// `take(size)`: the count and the bytes allocated (its traffic is the
    /// take itself).
    #[inline(always)]
    pub(crate) fn took_alloc(&self, size: u64) {
        self.allocs.set(self.allocs.get().wrapping_add(1));
        self.bytes.set(self.bytes.get().wrapping_add(size));
    }

    /// The fast path's record of a free, after [`note_peak`](Self::note_peak)
    /// and its `take(size)`: the count (the bytes freed are the traffic
    /// that is not allocated bytes).
    #[inline(always)]
    pub(crate) fn took_free(&self) {
        self.frees.set(self.frees.get().wrapping_add(1));
    }

    /// The fast path's record of a realloc to `new` bytes, after
    /// `note_peak` and its `take(old + new)`.
    #[inline(always)]
    pub(crate) fn took_realloc(&self, new: u64) {
        self.reallocs.set(self.reallocs.get().wrapping_add(1));
        self.frees.set(self.frees.get().wrapping_add(1));
        self.took_alloc(new);
    }

    /// Notes the live figure before a free as a candidate for the batch's
    /// peak: the live bytes rise only with allocations and fall only with
    /// frees, so their highest value is reached just before some free, or
    /// now ([`peek`](Self::peek) takes the larger). In the frame of
    /// `traffic_base`, live is `2 * bytes + countdown` (live is `bytes -
    /// freed`, freed is `traffic - bytes`, traffic is `traffic_base -
    /// countdown`): two loads, an add and a compare with the peak mark,
    /// and a store only at a new peak, where keeping a headroom below the
    /// peak took an addition in memory on each side and a branch on the
    /// allocation (`bench/results/2026-12-07-e705150-batch-stores.md`).
    #[inline(always)]
    pub(crate) fn note_peak(&self) {
        let live = self
            .bytes
            .get()
            .wrapping_mul(2)
            .wrapping_add(self.countdown.get() as u64) as i64;
        if live > self.peak_mark.get() {
            self.new_peak(live);
        }
    }

    /// A free found the live figure above the batch's peak. Cold, so the
    /// common side falls through.
    ///
    /// A signal handler whose calls on this thread land between a caller's
    /// `take` and its record (or its slow path's `give_back`) sees that call's
    /// traffic without its record: the batch's figures are then off by that
    /// call until it completes (a batch charged in between carries the
    /// difference, the next one the correction: the charged sums stay
    /// exact), and the peak can read off by as much;
    /// [`peek`](Self::peek) keeps it within `0..=bytes`.
    #[cold]
    #[inline(always)]
    fn new_peak(&self, live: i64) {
        self.peak_mark.set(live);
    }

    /// Moves `traffic_base`, and the peak mark in its frame, by `by`.
    #[inline]
    fn shift_base(&self, by: u64) {
        self.traffic_base
            .set(self.traffic_base.get().wrapping_add(by));
        self.peak_mark
            .set(self.peak_mark.get().wrapping_add(by as i64));
    }

    /// Sets the countdown, keeping the batch's traffic (slow paths and
    /// user code: the fast path only takes).
    #[inline]
    fn set_countdown(&self, cd: isize) {
        self.shift_base(cd.wrapping_sub(self.countdown.get()) as u64);
        self.countdown.set(cd);
    }

    /// Records one allocation of `size` bytes in full (slow paths, after
    /// their `give_back`).
    #[inline]
    pub(crate) fn record_alloc(&self, size: u64) {
        self.allocs.set(self.allocs.get().wrapping_add(1));
        self.bytes.set(self.bytes.get().wrapping_add(size));
        self.shift_base(size);
    }

    /// Records one free of `size` bytes in full (slow paths).
    #[inline]
    pub(crate) fn record_free(&self, size: u64) {
        self.note_peak();
        self.frees.set(self.frees.get().wrapping_add(1));
        self.shift_base(size);
    }

    /// Records one realloc from `old` to `new` bytes in full (slow paths).
    #[inline]
    pub(crate) fn record_realloc(&self, old: u64, new: u64) {
        self.reallocs.set(self.reallocs.get().wrapping_add(1));
        self.record_free(old);
        self.record_alloc(new);
    }

    /// Bytes allocated plus freed in the pending batch. Exact modulo 2^62:
    /// read by a signal handler's slow path between another call's `take`
    /// of a cost with the events mask (`1 << 62`) and its `give_back`, the
    /// difference holds the mask, removed here by sign-extending from bit
    /// 61 (a batch moves far fewer than 2^61 bytes).
    fn traffic(&self) -> i64 {
        Self::mod62(
            self.traffic_base
                .get()
                .wrapping_sub(self.countdown.get() as u64),
        )
    }

    /// `v` sign-extended from bit 61.
    fn mod62(v: u64) -> i64 {
        ((v << 2) as i64) >> 2
    }

    #[inline]
    pub(crate) fn scope(&self) -> ScopeRef {
        self.scope.get()
    }

    /// The pending batch, left in place.
    pub(crate) fn peek(&self) -> Delta {
        let (allocs, frees, reallocs) = (self.allocs.get(), self.frees.get(), self.reallocs.get());
        let bytes = self.bytes.get();
        let freed_bytes = (self.traffic() as u64).wrapping_sub(bytes);
        let live = bytes.wrapping_sub(freed_bytes) as i64;
        // The mark and the base move together: no mask between them.
        let peak = self
            .peak_mark
            .get()
            .wrapping_sub(self.traffic_base.get() as i64);
        Delta {
            allocs,
            frees,
            reallocs,
            // A realloc is one call that both allocates and frees.
            calls: allocs.wrapping_add(frees).wrapping_sub(reallocs),
            bytes,
            freed_bytes,
            // Within 0..=bytes: exactly so unless a signal handler's calls
            // interleaved with this thread's own on the fast path (see
            // `new_peak`).
            peak: peak.max(live).max(0).min(bytes.min(i64::MAX as u64) as i64),
        }
    }

    /// Charges the pending batch to the current scope chain and the process.
    #[inline(never)]
    pub(crate) fn flush_pending(&self) {
        let d = self.peek();
        if d.is_empty() {
            return;
        }
        // A realloc is recorded as one alloc, one free and one realloc.
        debug_assert!(d.reallocs <= d.allocs && d.reallocs <= d.frees, "{d:?}");
        self.sample_left
            .set(self.sample_left.get().saturating_sub(d.bytes as i64));
        self.allocs.set(0);
        self.frees.set(0);
        self.reallocs.set(0);
        self.bytes.set(0);
        // No traffic and a peak of zero.
        self.traffic_base.set(self.countdown.get() as u64);
        self.peak_mark.set(self.countdown.get() as i64);
        process::GLOBAL.add(self.shard(), &d);
        let scope = self.scope.get();
        if !scope.is_null() {
            (hooks::chain().charge)(scope, &d);
        }
    }

    /// The countdown's budget in the current scope: see `hooks.rs`.
    #[inline]
    fn budget(&self) -> isize {
        let scope = self.scope.get();
        if scope.is_null() {
            FLUSH_BYTES
        } else {
            Self::scope_budget(scope)
        }
    }

    /// The budget in a scope (a walk up its chain), out of line so that
    /// [`flush_if_due`](Self::flush_if_due) and `refresh` inline to a compare
    /// outside scopes.
    #[inline(never)]
    fn scope_budget(scope: ScopeRef) -> isize {
        (hooks::chain().budget)(scope)
    }

    /// Sets the countdown for the current scope and state: the nearest of the
    /// flush budget, the closest limit, and the next profiler sample.
    pub(crate) fn refresh(&self) {
        let cd = if self.state.get() == READY {
            let to_sample = self.sample_distance().max(0);
            let to_flush = self.budget().saturating_sub(self.traffic() as isize).max(0);
            to_flush.min(to_sample as isize)
        } else {
            -1
        };
        debug_assert!(cd >= -1);
        self.set_countdown(cd);
    }

    /// Ends a slow path: charges the batch if it has used up its budget (the
    /// flush size, or the distance to a limit), or if the thread is exiting.
    /// A slow path taken only to sample an allocation or to look a freed
    /// block up in the profiler's table leaves the batch pending, as the fast
    /// path would: in full mode (every allocation sampled) this saves
    /// charging the scope chain on every call. Inline: a compare or two on
    /// every slow path in full mode (the call and its frame cost as much).
    #[inline]
    pub(crate) fn flush_if_due(&self) {
        if self.state.get() & EXITING != 0 || self.traffic() as isize >= self.budget() {
            self.flush_pending();
        }
    }

    /// Picks up a changed sampling rate or seed (slow path, guarded).
    pub(crate) fn sync_sampler(&self) {
        let epoch = sampler::epoch();
        if self.sample_epoch.get() == epoch {
            return;
        }
        self.sample_epoch.set(epoch);
        self.rng
            .set(sampler::seed_thread(self as *const Local as usize));
        self.draw_sample();
    }

    /// Picks up a new rate or seed now (user code: `set_rate`, `set_seed`).
    pub(crate) fn resync_sampler(&self) {
        if self.is_ready() && !self.is_guarded() {
            self.sync_sampler();
            self.refresh();
        }
    }

    /// Bytes this thread may still allocate before the next sample.
    fn sample_distance(&self) -> i64 {
        self.sample_left
            .get()
            .saturating_sub(self.bytes.get() as i64)
    }

    /// Would an allocation of `size` bytes now be sampled? (slow path)
    pub(crate) fn sample_due(&self, size: usize) -> bool {
        size as i64 > self.sample_distance()
    }

    /// Draws the distance to the next sample, from the bytes allocated so far
    /// in this batch.
    pub(crate) fn draw_sample(&self) {
        if self.unsampled.get() {
            self.sample_left.set(sampler::NEVER);
            return;
        }
        let rate = sampler::rate();
        let mut rng = self.rng.get();
        let d = sampler::next_distance(&mut rng, rate);
        self.rng.set(rng);
        self.sample_rate.set(rate);
        self.sample_left
            .set((self.bytes.get() as i64).saturating_add(d));
    }

    /// The rate of the current draw: the one a sample taken now was made at.
    pub(crate) fn sample_rate(&self) -> u64 {
        self.sample_rate.get()
    }

    /// Flushes, then makes `to` the current scope; returns the previous one.
    /// The references are owned by the thread's stack of entered scopes
    /// (`scope/stack.rs`), which keeps both alive across the call. Called
    /// from user code only (enter/exit), never inside the allocator.
    ///
    /// `to_limited` says whether a limit is set on `to`'s chain. Without one,
    /// and with nothing pending, the switch is a few stores: no flush, no
    /// walk for the budget (entering and leaving scopes at every poll of a
    /// future, or every span of a `tracing` layer, takes this path).
    #[inline]
    pub(crate) fn switch(&self, to: ScopeRef, to_limited: bool) -> ScopeRef {
        if self.state.get() != READY || to_limited || self.allocs.get() | self.frees.get() != 0 {
            return self.switch_slow(to);
        }
        debug_assert!(self.peek().is_empty(), "{:?}", self.peek());
        // `refresh` with an empty batch and a budget of `FLUSH_BYTES`.
        let to_sample = self.sample_left.get().max(0);
        self.set_countdown(FLUSH_BYTES.min(to_sample as isize));
        self.scope.replace(to)
    }

    /// [`switch`](Self::switch) with something to charge, a limit to
    /// respect, or a special state.
    #[cold]
    #[inline(never)]
    fn switch_slow(&self, to: ScopeRef) -> ScopeRef {
        if self.is_guarded() {
            // Only heapwise's own bookkeeping runs guarded, and it never enters scopes.
            return self.scope.replace(to);
        }
        self.flush_pending();
        let prev = self.scope.replace(to);
        self.refresh();
        prev
    }

    /// Charges this thread's batch now (user code: `usage()`, `stats()`).
    pub(crate) fn flush(&self) {
        if !self.is_guarded() {
            self.flush_pending();
            self.refresh();
        }
    }

    /// This thread's shard of the process counters.
    pub(crate) fn shard(&self) -> usize {
        self.shard.get() as usize
    }

    #[inline]
    pub(crate) fn is_guarded(&self) -> bool {
        self.state.get() & GUARDED != 0
    }

    #[inline]
    pub(crate) fn is_ready(&self) -> bool {
        self.state.get() & READY != 0
    }

    /// First allocator call on this thread: register the exit flush.
    /// Must run guarded: registering a thread-local destructor may allocate.
    pub(crate) fn init(&self) {
        self.shard.set(process::next_shard());
        let registered = FLUSHER.try_with(|_| ()).is_ok();
        let mut state = self.state.get() | READY;
        if !registered {
            // Already tearing down thread-locals: charge every call at once.
            state |= EXITING;
        }
        self.state.set(state);
    }

    /// Enters heapwise's own bookkeeping: until the guard drops, this thread's
    /// allocator calls go straight to the inner allocator, uncounted.
    /// Inside the guard the countdown is -1, so every call takes the slow
    /// path, which gives its cost back first and parks the countdown at -1
    /// again (`give_back`): with the allocation-events gate open a cost is
    /// at least `1 << 62`, and costs left on the countdown would wrap it to
    /// a large positive value that lets the next calls through the fast
    /// path.
    pub(crate) fn guard(&self) -> Reentrancy<'_> {
        debug_assert!(!self.is_guarded(), "one reentrancy guard at a time");
        self.state.set(self.state.get() | GUARDED);
        self.set_countdown(-1);
        Reentrancy { local: self }
    }
}

/// The reentrancy guard: see [`Local::guard`]. Dropping it sets a fresh countdown.
#[derive(Debug)]
pub(crate) struct Reentrancy<'a> {
    local: &'a Local,
}

impl Drop for Reentrancy<'_> {
    fn drop(&mut self) {
        let l = self.local;
        debug_assert!(l.is_guarded());
        l.state.set(l.state.get() & !GUARDED);
        l.refresh();
    }
}

/// Runs `f` with this thread's allocations passing straight to the inner
/// allocator, uncounted: for heapwise's own memory. The memory must also be
/// freed inside `without_accounting`.
pub(crate) fn without_accounting<R>(f: impl FnOnce() -> R) -> R {
    with_local(|l| {
        if l.is_guarded() {
            return f();
        }
        l.flush_pending();
        let _g = l.guard();
        f()
    })
}

/// Runs `f` as heapwise's own work (behind the guard: uncounted, unsampled,
/// its memory counted as heapwise's own), then hands its result to `out`,
/// which runs as the caller's code but unsampled (what it allocates, such
/// as a copy of the result for the caller, is counted as usual, and is
/// never in a profile); the result itself is dropped behind the guard,
/// where it was made.
pub(crate) fn own_work<T, R>(f: impl FnOnce() -> T, out: impl FnOnce(&T) -> R) -> R {
    let made = without_accounting(f);
    let r = without_sampling(|| out(&made));
    without_accounting(move || drop(made));
    r
}

/// Runs `f` with this thread's allocations counted as usual but never
/// sampled by the profiler: for the profiler's own work on the user's behalf
/// (building a profile), which would otherwise profile itself.
pub(crate) fn without_sampling<R>(f: impl FnOnce() -> R) -> R {
    struct Resume<'a>(&'a Local);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            self.0.unsampled.set(false);
            self.0.draw_sample();
            self.0.refresh();
        }
    }
    with_local(|l| {
        if l.unsampled.get() || l.is_guarded() || sampler::every_block() {
            return f();
        }
        l.unsampled.set(true);
        l.draw_sample();
        l.refresh();
        let _resume = Resume(l);
        f()
    })
}

/// Registered on a thread's first allocator call; its destructor charges the
/// thread's last batch and switches the thread to charge-every-call, so
/// allocations made by later thread-local destructors are still counted.
#[derive(Debug)]
struct Flusher;

impl Drop for Flusher {
    fn drop(&mut self) {
        with_local(|l| {
            if !l.is_guarded() {
                l.flush_pending();
            }
            l.state.set(l.state.get() | EXITING);
            l.set_countdown(-1);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zeroed block is `Local::new()` (what `storage.rs` relies on):
    /// compared through `Debug`, which shows every field.
    #[test]
    fn a_zeroed_block_is_a_new_one() {
        // SAFETY: `Local` holds integers, a raw pointer and booleans in
        // `Cell`s, for which all zero bytes are valid (0, null, false).
        let zeroed: Local = unsafe { std::mem::zeroed() };
        assert_eq!(format!("{zeroed:?}"), format!("{:?}", Local::new()));
    }

    /// The batch's figures, with its traffic kept by the countdown and its
    /// peak noted at frees, are those of the calls made: allocations, frees
    /// and reallocs by the fast path (`note_peak`, `take`, `took_*`) and by
    /// slow paths (`take`, `give_back`, `record_*`, a new countdown), some
    /// with a signal handler's new countdown between their `take` and
    /// `give_back`, on pseudo-random calls. The peak is the highest live
    /// figure (allocated minus freed) any prefix of the batch reached, from
    /// zero.
    #[test]
    fn the_batch_is_the_calls_made() {
        let l = Local::new();
        let (mut live, mut high) = (0i64, 0i64);
        let (mut allocs, mut frees, mut reallocs, mut bytes, mut freed) = (0, 0, 0, 0u64, 0u64);
        let mut sizes = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let fast = x % 7 != 0;
            let slow = |cost: isize, record: &dyn Fn()| {
                if x % 17 == 0 {
                    // A signal handler's slow path ran here.
                    l.set_countdown(((x >> 24) % 1000) as isize);
                }
                l.give_back(cost);
                assert_eq!(l.countdown.get(), -1);
                record();
                l.set_countdown(((x >> 20) % 100_000) as isize - 1);
            };
            if x % 3 != 0 || sizes.is_empty() {
                let size = x % 4096;
                // With the events mask, as the allocation gate adds it.
                let cost = size as isize | if x % 13 == 0 { 1 << 62 } else { 0 };
                if l.take(cost) && fast {
                    l.took_alloc(size);
                } else {
                    slow(cost, &|| l.record_alloc(size));
                }
                sizes.push(size);
                live += size as i64;
                allocs += 1;
                bytes += size;
            } else {
                let size = sizes.swap_remove((x % sizes.len() as u64) as usize);
                frees += 1;
                freed += size;
                if fast {
                    l.note_peak();
                }
                if x % 5 == 0 {
                    let new = (x >> 8) % 4096;
                    let cost = (new + size) as isize;
                    if l.take(cost) && fast {
                        l.took_realloc(new);
                    } else {
                        slow(cost, &|| l.record_realloc(size, new));
                    }
                    sizes.push(new);
                    live += new as i64 - size as i64;
                    reallocs += 1;
                    allocs += 1;
                    bytes += new;
                } else {
                    if l.take(size as isize) && fast {
                        l.took_free();
                    } else {
                        slow(size as isize, &|| l.record_free(size));
                    }
                    live -= size as i64;
                }
            }
            high = high.max(live);
            let d = l.peek();
            assert_eq!(
                (
                    d.allocs,
                    d.frees,
                    d.reallocs,
                    d.bytes,
                    d.freed_bytes,
                    d.peak
                ),
                (allocs, frees, reallocs, bytes, freed, high),
                "call {i}"
            );
            assert_eq!(l.traffic(), (bytes + freed) as i64);
        }
    }
}
