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
//! (allocs, frees, bytes, the batch's live high-water mark) and one
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
//! # Accuracy
//!
//! A thread's batch is charged when the countdown runs out, when it enters or
//! leaves a scope, when it reads `usage()`/`stats()`, and when it exits. So
//! figures read on the allocating thread are exact, and another thread's view
//! lags by at most [`FLUSH_BYTES`] of traffic per thread still running.

use std::cell::Cell;
use std::ffi::c_void;

use crate::local::hooks::{self, ScopeRef};
use crate::local::process;
use crate::local::sampler;
use crate::local::usage::Delta;
use crate::sys::thread_exit::ThreadExit;

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
/// The thread is panicking inside a scope: see `panic_window.rs`.
const PANICKING: u8 = 8;

/// One thread's allocator state. See the module docs.
///
/// `repr(C, align(64))`: the fields a fast path touches (the countdown and
/// the batch, through `scope`) fill exactly the first cache line. Their
/// order keeps no two fields that one path updates next to each other (an
/// allocation: `allocs`, `bytes`; a free: `frees`, `freed_bytes`): two
/// unconditional additions to neighbours were vectorised into a 16-byte
/// load, add and store, one instruction more than two adds to memory
/// (`bench/results/2026-12-07-0c85b49-headroom.md`).
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Local {
    countdown: Cell<isize>,
    /// The highest live figure (bytes allocated minus freed in the batch)
    /// noted before a free (see [`Local::note_peak`]).
    peak: Cell<i64>,
    reallocs: Cell<u64>,
    allocs: Cell<u64>,
    frees: Cell<u64>,
    bytes: Cell<u64>,
    freed_bytes: Cell<u64>,
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
    /// The blocks the thread's panic window allocated (`panic_window.rs`):
    /// a set of heapwise's own, or null.
    panic_blocks: Cell<*mut c_void>,
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
            allocs: Cell::new(0),
            frees: Cell::new(0),
            reallocs: Cell::new(0),
            bytes: Cell::new(0),
            freed_bytes: Cell::new(0),
            peak: Cell::new(0),
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
            panic_blocks: Cell::new(std::ptr::null_mut()),
        }
    }

    /// Takes `size` bytes off the countdown, for a free or realloc (whose
    /// events are gated through the page filter instead; see `filter.rs`).
    #[inline(always)]
    pub(crate) fn take_budget(&self, size: usize) -> bool {
        self.take(size as isize)
    }

    /// Takes `cost` off the countdown. `false` means: take the slow path
    /// (which sets a fresh countdown, so the negative value stored here is
    /// never used; storing it unconditionally saves a branch).
    #[inline(always)]
    pub(crate) fn take(&self, cost: isize) -> bool {
        let cd = self.countdown.get().wrapping_sub(cost);
        self.countdown.set(cd);
        cd >= 0
    }

    /// Records one allocation of `size` bytes: two additions to memory.
    #[inline(always)]
    pub(crate) fn record_alloc(&self, size: u64) {
        self.allocs.set(self.allocs.get().wrapping_add(1));
        self.bytes.set(self.bytes.get().wrapping_add(size));
    }

    /// Records one free of `size` bytes: the peak noted, then two additions
    /// to memory.
    #[inline(always)]
    pub(crate) fn record_free(&self, size: u64) {
        self.note_peak();
        self.frees.set(self.frees.get().wrapping_add(1));
        self.freed_bytes
            .set(self.freed_bytes.get().wrapping_add(size));
    }

    /// Notes the live figure before a free as a candidate for the batch's
    /// peak: live bytes rise only with allocations and fall only with
    /// frees, so their highest value is reached just before some free, or
    /// now ([`peek`](Self::peek) takes the larger). Two loads, a
    /// subtraction and a compare with the peak, and a store only at a new
    /// peak, where keeping a headroom below the peak took an addition in
    /// memory on each side and a branch on every allocation
    /// (`bench/results/2026-12-07-e705150-batch-stores.md`).
    ///
    /// The compiler fence keeps the loads apart from the free's additions
    /// after it: sharing the load of `freed_bytes`, the compiler made its
    /// addition a load, an add and a store, between which a signal
    /// handler's frees on this thread were lost (as an addition in memory,
    /// one instruction, nothing can land between;
    /// `tests/signal_handlers_that_allocate.rs`).
    #[inline(always)]
    fn note_peak(&self) {
        let live = self.bytes.get().wrapping_sub(self.freed_bytes.get()) as i64;
        if live > self.peak.get() {
            self.new_peak(live);
        }
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::Acquire);
    }

    /// A free found the live figure above the batch's peak. Cold, so the
    /// common side falls through.
    ///
    /// A signal handler whose own calls on this thread land between the
    /// caller's compare and this store can have its higher peak replaced by
    /// this lower one, so the batch's peak can read low by what the handler
    /// allocated there (and, in an unoptimised build, where each `Cell`
    /// update is a load and a store, any update of the batch can be lost
    /// so): [`peek`](Self::peek) keeps the peak within `0..=bytes`.
    #[cold]
    #[inline(always)]
    fn new_peak(&self, live: i64) {
        self.peak.set(live);
    }

    /// Records one realloc from `old` to `new` bytes.
    #[inline(always)]
    pub(crate) fn record_realloc(&self, old: u64, new: u64) {
        self.reallocs.set(self.reallocs.get().wrapping_add(1));
        self.record_free(old);
        // Keeps the free's additions apart from the allocation's: without
        // it the compiler made `frees += 1` and `allocs += 1` (adjacent
        // fields) one vector load, add and store, and a signal handler's
        // allocation and free landing between the load and the store lost
        // their counts but kept their bytes (`bytes` 48 over the count in
        // about one run in 20 of `tests/signal_handlers_that_allocate.rs`).
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::AcqRel);
        self.record_alloc(new);
    }

    #[inline]
    pub(crate) fn scope(&self) -> ScopeRef {
        self.scope.get()
    }

    /// The pending batch, left in place.
    pub(crate) fn peek(&self) -> Delta {
        let (allocs, frees, reallocs) = (self.allocs.get(), self.frees.get(), self.reallocs.get());
        let (bytes, freed_bytes) = (self.bytes.get(), self.freed_bytes.get());
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
            peak: self
                .peak
                .get()
                .max(bytes.wrapping_sub(freed_bytes) as i64)
                .max(0)
                .min(bytes.min(i64::MAX as u64) as i64),
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
        self.freed_bytes.set(0);
        self.peak.set(0);
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
            let to_flush = self.budget().saturating_sub(self.traffic()).max(0);
            to_flush.min(to_sample as isize)
        } else {
            -1
        };
        debug_assert!(cd >= -1);
        self.countdown.set(cd);
    }

    /// Bytes allocated plus freed in the pending batch.
    fn traffic(&self) -> isize {
        self.bytes.get().wrapping_add(self.freed_bytes.get()) as isize
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
        if self.state.get() & EXITING != 0 || self.traffic() >= self.budget() {
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
        self.countdown.set(FLUSH_BYTES.min(to_sample as isize));
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
        let _guard = self.flush_from_user_code();
        self.scope.replace(to)
    }

    /// Charges this thread's batch now (user code: `usage()`, `stats()`).
    pub(crate) fn flush(&self) {
        if !self.is_guarded() {
            drop(self.flush_from_user_code());
        }
    }

    /// Charges the batch from user code, not a slow path: behind the
    /// reentrancy guard, which it returns (its end sets a fresh countdown).
    /// Unguarded, a signal handler that allocated between the batch's reads
    /// and its zeroing was half lost, its count zeroed and its bytes
    /// charged (`tests/signal_handlers_that_allocate.rs`, about one run in
    /// 20); guarded, its calls go to the inner allocator uncounted, as they
    /// do during any slow path.
    pub(crate) fn flush_from_user_code(&self) -> Reentrancy<'_> {
        let guard = self.guard();
        self.flush_pending();
        guard
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
        let mut state = self.state.get() | READY;
        if !EXIT_FLUSH.register_this_thread() {
            // No key for the exit flush: charge every call at once.
            state |= EXITING;
        }
        self.state.set(state);
    }

    /// Enters heapwise's own bookkeeping: until the guard drops, this thread's
    /// allocator calls go straight to the inner allocator, uncounted.
    /// Inside the guard every call takes the slow path and subtracts its
    /// cost from the countdown; with the allocation-events gate open a cost
    /// is at least `1 << 62`, so a few guarded calls would wrap the countdown
    /// to a large positive value and let the next ones through the fast path
    /// (counted as the program's, unsampled, no event). Every guarded slow
    /// path calls this to put it back to -1: one cost can take it at most
    /// to `isize::MIN`.
    #[inline(always)]
    pub(crate) fn rearm_guard(&self) {
        self.countdown.set(-1);
    }

    /// Whether the thread is in a panic window (`panic_window.rs`).
    #[inline]
    pub(crate) fn in_panic_window(&self) -> bool {
        self.state.get() & PANICKING != 0
    }

    /// Opens the thread's panic window when it is found panicking inside a
    /// scope, closes it when the panic is over; whether it is open. Every
    /// unguarded slow path calls this behind the guard: outside panics and
    /// scopes, a load or two.
    #[inline]
    pub(crate) fn panic_window(&self) -> bool {
        let open = self.in_panic_window();
        if !open && self.scope.get().is_null() {
            return false;
        }
        let panicking = std::thread::panicking();
        if open == panicking {
            return open;
        }
        self.panic_window_slow(panicking)
    }

    /// Opens (`open`) or closes the panic window. The pending batch is the
    /// scope's, charged before.
    #[cold]
    #[inline(never)]
    fn panic_window_slow(&self, open: bool) -> bool {
        debug_assert!(self.is_guarded());
        self.flush_pending();
        if open {
            self.state.set(self.state.get() | PANICKING);
        } else {
            self.state.set(self.state.get() & !PANICKING);
            self.forget_panic_blocks();
        }
        open
    }

    /// Opens the panic window (the pending batch is charged), from the
    /// panic hook, behind the guard.
    pub(crate) fn open_panic_window(&self) {
        debug_assert!(self.is_guarded());
        self.panic_window_slow(true);
    }

    /// Calls of the panic window on its own blocks: charged to the process
    /// only. Their allocated bytes bring the next sample nearer, as any
    /// allocation's do.
    pub(crate) fn charge_panic(&self, d: &Delta) {
        self.sample_left
            .set(self.sample_left.get().saturating_sub(d.bytes as i64));
        process::GLOBAL.add(self.shard(), d);
    }

    pub(crate) fn panic_blocks(&self) -> *mut c_void {
        self.panic_blocks.get()
    }

    pub(crate) fn set_panic_blocks(&self, p: *mut c_void) {
        self.panic_blocks.set(p);
    }

    pub(crate) fn guard(&self) -> Reentrancy<'_> {
        debug_assert!(!self.is_guarded(), "one reentrancy guard at a time");
        self.state.set(self.state.get() | GUARDED);
        self.countdown.set(-1);
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
        let _g = l.flush_from_user_code();
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

/// This thread's exit flush ([`flush_at_exit`]), registered on its first
/// allocator call behind the reentrancy guard. A `pthread` key, which runs
/// after the thread-local destructors and needs no allocation
/// (`sys/thread_exit.rs`).
static EXIT_FLUSH: ThreadExit = ThreadExit::new(flush_at_exit);

/// The exit flush: charges the thread's last batch and switches it to
/// charge-every-call, so allocations made by later destructors (other keys',
/// glibc's) are still counted.
extern "C" fn flush_at_exit(_: *mut c_void) {
    with_local(|l| {
        if !l.is_guarded() {
            let _guard = l.flush_from_user_code();
            // A thread that ends while panicking leaves its window's set.
            l.forget_panic_blocks();
        }
        l.state.set((l.state.get() | EXITING) & !PANICKING);
        l.countdown.set(-1);
    });
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

    /// The batch's peak, noted before frees, is the highest
    /// live figure (allocated minus freed) any prefix of the batch reached,
    /// from zero: checked against that definition on pseudo-random calls.
    #[test]
    fn the_batch_peak_is_the_live_high_water_mark() {
        let l = Local::new();
        let (mut live, mut high) = (0i64, 0i64);
        let mut sizes = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 3 != 0 || sizes.is_empty() {
                let size = x % 4096;
                l.record_alloc(size);
                sizes.push(size);
                live += size as i64;
            } else {
                let size = sizes.swap_remove((x % sizes.len() as u64) as usize);
                if x % 5 == 0 {
                    let new = (x >> 8) % 4096;
                    l.record_realloc(size, new);
                    sizes.push(new);
                    live += new as i64 - size as i64;
                } else {
                    l.record_free(size);
                    live -= size as i64;
                }
            }
            high = high.max(live);
            assert_eq!(l.peek().peak, high);
        }
    }
}
