//! The allocator wrapper, [`Alloc`].
//!
//! # Fast path and slow path
//!
//! Each `GlobalAlloc` method reads the thread's block (`local/block.rs`), subtracts
//! the call's size from its countdown and branches once. On the common side it
//! adds the call to the thread's batch and calls the inner allocator. When the
//! countdown would go negative it takes the one `#[cold] #[inline(never)]`
//! `*_slow` function of that method, which does everything rare: first-call
//! set-up, hard-limit refusals, charging the batch to the scope chain, limit
//! checks, notification, and a new countdown.
//!
//! An allocation is counted after the inner allocator returned a block (a
//! failed call, null, counts nothing and leaves the countdown a little
//! lower, which only brings the next slow path closer); a free is counted
//! before it, so `dealloc` ends in a tail call.
//!
//! Nothing here allocates, locks, panics or unwinds. The only code that may
//! allocate (registering the thread-exit flush) runs behind the reentrancy
//! guard, under which calls go straight to the inner allocator, uncounted.
//!
//! # Owner tracking
//!
//! With [`Alloc::owner_tracking`] every block carries an 8-byte trailer naming
//! the scope that allocated it (written unaligned after the requested bytes, so
//! alignment and size classes are not inflated). A free in the owning scope is
//! batched as usual; a free anywhere else takes the slow path and is charged to
//! the owner directly.
//!
//! # Full mode
//!
//! While every allocation is sampled (profiler rate 1), a block also carries
//! its profile bucket in an 8-byte trailer after the owner's, aligned, and a
//! bitmap says which blocks do: see `profile/trailer.rs`. A block keeps the
//! layout it was allocated with (carried or not) through every `realloc`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

#[cfg(feature = "alloc-events")]
use crate::events;
use crate::local::filter::{free_is_slow, maybe_sampled};
use crate::local::process;
use crate::local::usage::Delta;
use crate::local::{local, Local, Reentrancy};
use crate::profile::{profiler, trailer};
use crate::scope::{self, ScopeInner};
use crate::stats;

/// The scope the thread is in (the per-thread block holds it opaquely).
#[inline(always)]
fn current(l: &Local) -> *const ScopeInner {
    l.scope().cast()
}

/// Size of the owner trailer.
const TRAILER: usize = std::mem::size_of::<*const ScopeInner>();
/// Trailer value of blocks heapwise allocated for itself (never counted).
const INTERNAL: *const ScopeInner = ptr::dangling();

/// The heapwise global allocator: wraps an inner allocator `A` (the system
/// allocator by default) and counts every call for the scopes and the process.
///
/// ```
/// #[global_allocator]
/// static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
/// # fn main() { assert!(heapwise::installed()); }
/// ```
///
/// Any `GlobalAlloc` can be wrapped, e.g. `heapwise::Alloc::new(mimalloc::MiMalloc)`.
#[derive(Debug, Default)]
pub struct Alloc<A = System> {
    inner: A,
    owner: bool,
    /// Set by [`Alloc::without_events`]: this allocator fires no
    /// allocation events (a constant: the gate's test folds away).
    silent: bool,
}

impl Alloc<System> {
    /// Wraps the system allocator.
    pub const fn system() -> Alloc<System> {
        Alloc {
            inner: System,
            owner: false,
            silent: false,
        }
    }
}

impl<A> Alloc<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Alloc<A> {
        Alloc {
            inner,
            owner: false,
            silent: false,
        }
    }

    /// Charges every free to the scope that allocated the block, wherever and
    /// whenever it is freed, by storing the owner in an 8-byte trailer after
    /// each block. Exact per-scope `live_bytes` at the cost of 8 bytes per
    /// block and a slow-path call for each free outside the owning scope; see
    /// "Who is charged for a free" in the crate docs.
    pub const fn owner_tracking(mut self) -> Alloc<A> {
        self.owner = true;
        self
    }

    /// Fires none of the allocation events (`heapwise::events::{alloc,
    /// free, realloc}`) for this allocator's calls, whatever is attached,
    /// and so drops the `alloc` event gate's load and `or` from every
    /// allocation's fast path. For a process that never attaches a probe
    /// to them (`heapwise run`'s preload is built so); the default
    /// `alloc-events` feature off removes them for every allocator at
    /// build time.
    pub const fn without_events(mut self) -> Alloc<A> {
        self.silent = true;
        self
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

impl<A: GlobalAlloc> Alloc<A> {
    /// Enters the slow path proper: reentrancy guard, and first-call set-up.
    fn enter_slow<'l>(&self, l: &'l Local) -> Reentrancy<'l> {
        let guard = l.guard();
        if !l.is_ready() {
            stats::settings::keep_linked();
            stats::settings::early();
            process::mark_installed(self.owner, std::any::type_name::<A>());
            l.init();
        }
        l.sync_sampler();
        guard
    }

    /// Removes the sampled block `ptr` from the live-block table, behind
    /// the reentrancy guard: the table's shard is locked meanwhile, and a
    /// signal handler that allocates on this thread must then go straight
    /// to the inner allocator, not to the same lock (a deadlock, seen under
    /// `heapwise run` with SIGPROF handlers that malloc). A free already
    /// behind the guard may be such a handler's, interrupting this thread
    /// inside that very lock: it never waits for its own thread.
    fn forget_sampled(&self, ptr: *mut u8, l: &Local) {
        if l.is_guarded() {
            profiler::free_reentrant(ptr);
        } else {
            let _held = l.guard();
            profiler::free(ptr);
        }
    }

    /// What an allocation takes off the thread's countdown: its size, with
    /// the `alloc` event gate's mask (`1 << 62`) ORed in while a probe is
    /// attached, so every allocation then takes the slow path, which fires
    /// the event.
    #[inline(always)]
    fn alloc_cost(&self, size: usize) -> isize {
        #[cfg(feature = "alloc-events")]
        if !self.silent {
            return size as isize | events::ALLOC_GATE.mask();
        }
        size as isize
    }

    /// Whether this allocator's calls fire the allocation events (slow
    /// paths only).
    #[cfg(feature = "alloc-events")]
    #[inline(always)]
    fn fires_events(&self) -> bool {
        !self.silent
    }

    /// The layout handed to the inner allocator.
    #[inline(always)]
    fn block(&self, layout: Layout) -> Option<Layout> {
        if !self.owner {
            return Some(layout);
        }
        let size = layout.size().checked_add(TRAILER)?;
        Layout::from_size_align(size, layout.align()).ok()
    }

    /// The layout handed to the inner allocator for a block that was
    /// allocated with `layout` (so the sum cannot overflow).
    #[inline(always)]
    fn block_unchecked(&self, layout: Layout) -> Layout {
        if !self.owner {
            return layout;
        }
        // SAFETY: the block was allocated with this size (checked then) and
        // alignment.
        unsafe { Layout::from_size_align_unchecked(layout.size() + TRAILER, layout.align()) }
    }

    /// The layout handed to the inner allocator for a block of `size` bytes
    /// aligned to `align` that carries its bucket, and the bucket's offset.
    #[inline]
    fn carried(&self, size: usize, align: usize) -> Option<(Layout, usize)> {
        let before = if self.owner { TRAILER } else { 0 };
        let (at, total) = trailer::offset(size, before)?;
        let block = Layout::from_size_align(total, align.max(trailer::ALIGN)).ok()?;
        Some((block, at))
    }

    /// Marks the fresh block `p` (allocated with the carried layout
    /// `carried`) as carrying `bucket` at `at`. If the carry bitmap cannot
    /// cover it (no memory for its leaf), moves it into a plain block of
    /// layout `plain` instead, tracked like any sampled block; null if that
    /// allocation fails too (`p` is freed). Slow path, guarded.
    ///
    /// # Safety
    ///
    /// `p` is a live block of layout `carried`, `at` its bucket's offset,
    /// `plain.size() <= at`, and `plain` a valid layout for the inner allocator.
    unsafe fn carry(
        &self,
        p: *mut u8,
        bucket: Option<&'static crate::profile::depot::Bucket>,
        at: usize,
        carried: Layout,
        plain: Layout,
    ) -> *mut u8 {
        let raw = bucket.map_or(ptr::null(), ptr::from_ref);
        let size = plain.size() - if self.owner { TRAILER } else { 0 };
        // SAFETY: the caller's contract: `p` has `at + trailer::size()`
        // bytes, and the carried layout's alignment is at least
        // `trailer::ALIGN`.
        if unsafe { trailer::attach(p, at, size, raw) } {
            return p;
        }
        // SAFETY: `plain` has a non-zero size (it holds the caller's bytes).
        let q = unsafe { self.inner.alloc(plain) };
        if !q.is_null() {
            // SAFETY: both blocks are live, distinct, and at least
            // `plain.size()` long.
            unsafe { ptr::copy_nonoverlapping(p, q, plain.size()) };
            if let Some(bucket) = bucket {
                profiler::track(q, bucket);
            }
        } else if let Some(bucket) = bucket {
            // The sample's block is gone.
            bucket.freed(false);
        }
        // SAFETY: `p` was allocated with `carried`.
        unsafe { self.inner.dealloc(p, carried) };
        q
    }

    /// # Safety
    ///
    /// `layout` has a non-zero size (the `GlobalAlloc::alloc` contract).
    #[inline(always)]
    unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        if zeroed {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.alloc_zeroed(layout) }
        } else {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.alloc(layout) }
        }
    }

    /// # Safety
    ///
    /// `p` is a block of `size + TRAILER` bytes allocated in owner mode.
    #[inline(always)]
    unsafe fn owner_of(p: *mut u8, size: usize) -> *const ScopeInner {
        // SAFETY: the trailer lies inside the block (caller's contract).
        unsafe { ptr::read_unaligned(p.add(size).cast::<*const ScopeInner>()) }
    }

    /// # Safety
    ///
    /// `p` is a non-null block of `size + TRAILER` bytes allocated in owner mode.
    #[inline(always)]
    unsafe fn set_owner(p: *mut u8, size: usize, owner: *const ScopeInner) {
        // SAFETY: the trailer lies inside the block (caller's contract).
        unsafe { ptr::write_unaligned(p.add(size).cast::<*const ScopeInner>(), owner) }
    }

    /// # Safety
    ///
    /// The `GlobalAlloc::alloc` contract.
    #[inline(always)]
    unsafe fn alloc_impl(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let size = layout.size();
        if self.owner {
            let Some(block) = self.block(layout) else {
                return ptr::null_mut();
            };
            // SAFETY: used within this call, on this thread.
            let l = unsafe { local() };
            if !l.take(self.alloc_cost(size)) {
                // SAFETY: forwarded from the caller.
                return unsafe { self.alloc_slow(layout, zeroed, l) };
            }
            // SAFETY: `block` is `layout` plus the trailer: non-zero size.
            let p = unsafe { self.raw_alloc(block, zeroed) };
            if !p.is_null() {
                // SAFETY: `p` is a fresh block of `size + TRAILER` bytes.
                unsafe { Self::set_owner(p, size, current(l)) };
                l.record_alloc(size as u64);
            }
            return p;
        }
        // SAFETY: used within this call, on this thread.
        let l = unsafe { local() };
        if !l.take(self.alloc_cost(size)) {
            // SAFETY: forwarded from the caller.
            return unsafe { self.alloc_slow(layout, zeroed, l) };
        }
        // SAFETY: forwarded from the caller.
        let p = unsafe { self.raw_alloc(layout, zeroed) };
        if !p.is_null() {
            l.record_alloc(size as u64);
        }
        p
    }

    /// Rare allocations: see the module docs. (The `*_slow` functions take
    /// the thread block last: the fast path's arguments then stay in the
    /// registers they arrived in.)
    ///
    /// # Safety
    ///
    /// The `GlobalAlloc::alloc` contract.
    #[cold]
    #[inline(never)]
    unsafe fn alloc_slow(&self, layout: Layout, zeroed: bool, l: &Local) -> *mut u8 {
        let Some(block) = self.block(layout) else {
            return ptr::null_mut();
        };
        let size = layout.size();
        if l.is_guarded() {
            l.rearm_guard();
            // heapwise's own memory: straight through, counted apart.
            // SAFETY: forwarded from the caller.
            let p = unsafe { self.raw_alloc(block, zeroed) };
            if !p.is_null() {
                process::own(size as isize);
                if self.owner {
                    // SAFETY: `p` is a fresh owner-mode block.
                    unsafe { Self::set_owner(p, size, INTERNAL) };
                }
            }
            return p;
        }
        let _guard = self.enter_slow(l);
        // A panicking thread's allocations are the process's (see
        // `local/panic_window.rs`), and never refused.
        let apart = l.panic_window();
        let op = Delta {
            allocs: 1,
            calls: 1,
            bytes: size as u64,
            peak: size as i64,
            ..Delta::default()
        };
        if !apart && scope::refuses_hard(l, &op) {
            return ptr::null_mut();
        }
        // Full mode: the block carries its bucket.
        let carried = if l.sample_rate() == 1 && l.sample_due(size) {
            self.carried(size, layout.align())
        } else {
            None
        };
        // SAFETY: forwarded from the caller (a carried layout is larger).
        let mut p = unsafe { self.raw_alloc(carried.map_or(block, |c| c.0), zeroed) };
        if p.is_null() {
            return p;
        }
        let sampled = l.sample_due(size);
        if let Some((carried, at)) = carried {
            let bucket = profiler::sample_due_carried(l, p, size);
            // SAFETY: `p` is a fresh block of layout `carried`, which ends
            // with its bucket's 8 bytes at `at`, after `block`'s bytes.
            p = unsafe { self.carry(p, Some(bucket), at, carried, block) };
            if p.is_null() {
                return p;
            }
        }
        if apart {
            // Owner mode names no scope in the block (its free is the
            // process's too); without, the window notes its address.
            if self.owner || l.panic_allocated(p) {
                l.charge_panic(&Delta::alloc(size as u64).with_call());
            } else {
                l.record_alloc(size as u64);
            }
        } else {
            l.record_alloc(size as u64);
        }
        if self.owner {
            let owner = if apart { ptr::null() } else { current(l) };
            // SAFETY: `p` is a fresh owner-mode block.
            unsafe { Self::set_owner(p, size, owner) };
        }
        if sampled && carried.is_none() {
            profiler::sample_due_block(l, p, size);
        }
        l.flush_if_due();
        #[cfg(feature = "alloc-events")]
        if self.fires_events() {
            events::alloc(p as usize, size, layout.align(), scope::id_of(current(l)));
        }
        p
    }

    /// # Safety
    ///
    /// The `GlobalAlloc::dealloc` contract.
    #[inline(always)]
    unsafe fn dealloc_impl(&self, ptr: *mut u8, layout: Layout) {
        let size = layout.size();
        // SAFETY: used within this call, on this thread.
        let l = unsafe { local() };
        if self.owner {
            // SAFETY: owner-mode blocks carry a trailer after `size` bytes.
            let owner = unsafe { Self::owner_of(ptr, size) };
            if !(l.take_budget(size) & (owner == current(l)) & !free_is_slow(ptr)) {
                // SAFETY: forwarded from the caller.
                return unsafe { self.dealloc_slow(ptr, layout, l) };
            }
            l.record_free(size as u64);
            // SAFETY: the block was allocated with this layout plus the trailer
            // (so the sum cannot overflow).
            return unsafe {
                let block = Layout::from_size_align_unchecked(size + TRAILER, layout.align());
                self.inner.dealloc(ptr, block)
            };
        }
        if !(l.take_budget(size) & !free_is_slow(ptr)) {
            // SAFETY: forwarded from the caller.
            return unsafe { self.dealloc_slow(ptr, layout, l) };
        }
        l.record_free(size as u64);
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    /// # Safety
    ///
    /// The `GlobalAlloc::dealloc` contract.
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_slow(&self, ptr: *mut u8, layout: Layout, l: &Local) {
        let size = layout.size();
        // Before the block is freed, so its address cannot be reused and
        // sampled again meanwhile.
        let mut block = self.block_unchecked(layout);
        if trailer::opened() && trailer::detach(ptr) {
            if let Some((carried, at)) = self.carried(size, layout.align()) {
                block = carried;
                // SAFETY: `ptr` carries its bucket at `at` (its bit was set).
                if let Some(bucket) = unsafe { trailer::take_bucket(ptr, at) } {
                    profiler::freed(ptr, bucket);
                }
            }
        } else if maybe_sampled(ptr) {
            self.forget_sampled(ptr, l);
        }
        if !self.owner {
            if l.is_guarded() {
                l.rearm_guard();
                process::own(-(size as isize));
            } else {
                let _guard = self.enter_slow(l);
                if l.panic_window() && l.panic_freed(ptr) {
                    l.charge_panic(&Delta::free(size as u64).with_call());
                } else {
                    l.record_free(size as u64);
                    l.flush_if_due();
                }
                #[cfg(feature = "alloc-events")]
                if self.fires_events() {
                    events::free(ptr as usize, size, layout.align(), scope::id_of(current(l)));
                }
            }
            // SAFETY: forwarded from the caller; `block` is the layout the
            // block was allocated with.
            return unsafe { self.inner.dealloc(ptr, block) };
        }
        // SAFETY: owner-mode blocks carry a trailer after `size` bytes.
        let owner = unsafe { Self::owner_of(ptr, size) };
        if l.is_guarded() {
            l.rearm_guard();
        }
        if owner == INTERNAL {
            process::own(-(size as isize));
            // SAFETY: forwarded from the caller.
            return unsafe { self.inner.dealloc(ptr, block) };
        }
        if l.is_guarded() {
            // A block of the program freed by heapwise's bookkeeping (a scope
            // whose last block just went): charge its owner the free; the call,
            // heapwise's own, is not counted.
            scope::charge(owner, &Delta::free(size as u64), l.shard());
            // SAFETY: forwarded from the caller.
            return unsafe { self.inner.dealloc(ptr, block) };
        }
        let _guard = self.enter_slow(l);
        #[cfg(feature = "alloc-events")]
        if self.fires_events() {
            events::free(ptr as usize, size, layout.align(), scope::id_of(current(l)));
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.dealloc(ptr, block) };
        // A panicking thread's calls are the process's.
        let cur = if l.panic_window() {
            ptr::null()
        } else {
            current(l)
        };
        if owner == current(l) {
            l.record_free(size as u64);
            l.flush_if_due();
        } else {
            // The free is the owner's; the call belongs to the scope that made it.
            l.flush_pending();
            scope::charge(owner, &Delta::free(size as u64), l.shard());
            scope::charge(cur, &Delta::call(), l.shard());
        }
    }

    /// # Safety
    ///
    /// The `GlobalAlloc::realloc` contract.
    #[inline(always)]
    unsafe fn realloc_impl(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        // SAFETY: used within this call, on this thread.
        let l = unsafe { local() };
        if self.owner {
            // SAFETY: owner-mode blocks carry a trailer after `old` bytes.
            let owner = unsafe { Self::owner_of(ptr, old) };
            if !(l.take_budget(new_size) & (owner == current(l)) & !free_is_slow(ptr)) {
                // SAFETY: forwarded from the caller.
                return unsafe { self.realloc_slow(ptr, layout, new_size, l) };
            }
            let Some(new_block) = new_size.checked_add(TRAILER) else {
                return ptr::null_mut();
            };
            // SAFETY: the block was allocated with this layout plus the trailer.
            let block = unsafe { Layout::from_size_align_unchecked(old + TRAILER, layout.align()) };
            // SAFETY: forwarded from the caller, sizes shifted by the trailer.
            let p = unsafe { self.inner.realloc(ptr, block, new_block) };
            if !p.is_null() {
                // SAFETY: `p` is a block of `new_size + TRAILER` bytes.
                unsafe { Self::set_owner(p, new_size, owner) };
                l.record_realloc(old as u64, new_size as u64);
            }
            return p;
        }
        if !(l.take_budget(new_size) & !free_is_slow(ptr)) {
            // SAFETY: forwarded from the caller.
            return unsafe { self.realloc_slow(ptr, layout, new_size, l) };
        }
        // SAFETY: forwarded from the caller.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            l.record_realloc(old as u64, new_size as u64);
        }
        p
    }

    /// # Safety
    ///
    /// The `GlobalAlloc::realloc` contract.
    #[cold]
    #[inline(never)]
    unsafe fn realloc_slow(
        &self,
        ptr: *mut u8,
        layout: Layout,
        new_size: usize,
        l: &Local,
    ) -> *mut u8 {
        let old = layout.size();
        let align = layout.align();
        let Some(new_plain) = new_size.checked_add(if self.owner { TRAILER } else { 0 }) else {
            return ptr::null_mut();
        };
        let owner = if self.owner {
            // SAFETY: owner-mode blocks carry a trailer after `old` bytes.
            unsafe { Self::owner_of(ptr, old) }
        } else {
            ptr::null()
        };
        // The old block goes (moved or resized): as in `dealloc_slow`. If the
        // realloc then fails, the block stays but is no longer sampled. A
        // carried block stays carried: its trailer moves to the new end.
        let mut block = self.block_unchecked(layout);
        let mut new_block = new_plain;
        let mut carried = None;
        if trailer::opened() && trailer::detach(ptr) {
            if let Some((old_carried, old_at)) = self.carried(old, align) {
                // SAFETY: `ptr` carries its bucket at `old_at` (its bit was set).
                let bucket = unsafe { trailer::take_bucket(ptr, old_at) };
                let Some((new_carried, new_at)) = self.carried(new_size, align) else {
                    // Too large: the block stays as it was.
                    // SAFETY: `ptr` is still the carried block it was.
                    unsafe {
                        trailer::attach(ptr, old_at, old, bucket.map_or(ptr::null(), ptr::from_ref))
                    };
                    return ptr::null_mut();
                };
                if let Some(bucket) = bucket {
                    profiler::freed(ptr, bucket);
                }
                block = old_carried;
                new_block = new_carried.size();
                carried = Some((new_carried, new_at, old_at));
            }
        } else if maybe_sampled(ptr) {
            self.forget_sampled(ptr, l);
        }
        // The new block's plain layout, should it not be marked carried.
        // SAFETY: `new_plain` did not overflow; `align` is a valid alignment.
        let plain = unsafe { Layout::from_size_align_unchecked(new_plain, align) };
        if l.is_guarded() {
            l.rearm_guard();
            // SAFETY: forwarded from the caller, `block` the block's layout.
            let mut p = unsafe { self.inner.realloc(ptr, block, new_block) };
            if let Some((new_carried, new_at, old_at)) = carried {
                // SAFETY: on failure `ptr` is still the carried block; on
                // success `p` has layout `new_carried`.
                p = unsafe {
                    self.recarry(ptr, p, None, (old_at, old), (new_carried, new_at), plain)
                };
            }
            if !p.is_null() {
                // The old block was heapwise's unless owner mode says otherwise.
                let was_own = !self.owner || owner == INTERNAL;
                process::own(new_size as isize - if was_own { old as isize } else { 0 });
                if self.owner {
                    if !was_own {
                        scope::charge(owner, &Delta::free(old as u64), l.shard());
                    }
                    // SAFETY: `p` is a block of `new_size + TRAILER` bytes.
                    unsafe { Self::set_owner(p, new_size, INTERNAL) };
                }
            }
            return p;
        }
        let _guard = self.enter_slow(l);
        // A panicking thread's calls are the process's (see
        // `local/panic_window.rs`): the new block is allocated in no scope.
        let apart = l.panic_window();
        let cur = if apart { ptr::null() } else { current(l) };
        // In owner mode a block from elsewhere is freed to its owner and the new
        // block allocated in the current scope (in a panic window, always:
        // the batch is the scope's).
        let split = self.owner && (owner != cur || apart);
        // Without owner tracking, whether the window allocated the old block.
        let old_apart = apart && !self.owner && l.panic_freed(ptr);
        let mut op = Delta {
            allocs: 1,
            reallocs: 1,
            calls: 1,
            bytes: new_size as u64,
            peak: new_size as i64,
            ..Delta::default()
        };
        if !split {
            op.frees = 1;
            op.freed_bytes = old as u64;
            op.peak = (new_size as i64 - old as i64).max(0);
        }
        if !apart && scope::refuses_hard(l, &op) {
            if let Some((_, _, old_at)) = carried {
                // SAFETY: `ptr` is still the carried block, now unsampled.
                unsafe { trailer::attach(ptr, old_at, old, ptr::null()) };
            }
            return ptr::null_mut();
        }
        // SAFETY: forwarded from the caller, `block` the block's layout.
        let mut p = unsafe { self.inner.realloc(ptr, block, new_block) };
        // The new block is an allocation of `new_size` bytes for the profiler.
        let sampled = l.sample_due(new_size);
        if let Some((new_carried, new_at, old_at)) = carried {
            let bucket = if sampled && !p.is_null() {
                Some(profiler::sample_due_carried(l, p, new_size))
            } else {
                None
            };
            // SAFETY: as in the guarded branch.
            p = unsafe {
                self.recarry(ptr, p, bucket, (old_at, old), (new_carried, new_at), plain)
            };
        }
        if p.is_null() {
            if old_apart {
                // The old block stays, still the window's.
                l.panic_allocated(ptr);
            }
            return p;
        }
        if self.owner {
            // SAFETY: `p` is a block of `new_size + TRAILER` bytes.
            unsafe { Self::set_owner(p, new_size, cur) };
        }
        let sampled = sampled && carried.is_none();
        if apart && !self.owner {
            // The old block's free and the new block's allocation, each to
            // the process or to the batch (the scope's) by whose block it
            // is; the call once, with the batch's part if it has one.
            let new_apart = l.panic_allocated(p);
            match (old_apart, new_apart) {
                (true, true) => l.charge_panic(&Delta {
                    reallocs: 1,
                    frees: 1,
                    freed_bytes: old as u64,
                    peak: (new_size as i64 - old as i64).max(0),
                    ..Delta::alloc(new_size as u64).with_call()
                }),
                (false, true) => {
                    l.record_free(old as u64);
                    l.charge_panic(&Delta::alloc(new_size as u64));
                }
                (true, false) => {
                    l.charge_panic(&Delta::free(old as u64));
                    l.record_alloc(new_size as u64);
                }
                (false, false) => l.record_realloc(old as u64, new_size as u64),
            }
            if sampled {
                profiler::sample_due_block(l, p, new_size);
            }
            l.flush_if_due();
        } else if split {
            if sampled {
                profiler::sample_due_block(l, p, new_size);
            }
            l.flush_pending();
            scope::charge(cur, &op, l.shard());
            if owner != INTERNAL {
                // The call was charged to the current scope with the new block.
                scope::charge(owner, &Delta::free(old as u64), l.shard());
            }
        } else {
            l.record_realloc(old as u64, new_size as u64);
            if sampled {
                profiler::sample_due_block(l, p, new_size);
            }
            l.flush_if_due();
        }
        #[cfg(feature = "alloc-events")]
        if self.fires_events() {
            events::realloc(
                ptr as usize,
                old,
                p as usize,
                new_size,
                align,
                scope::id_of(cur),
            );
        }
        p
    }

    /// After the inner realloc of a carried block `ptr` returned `p`: marks
    /// `p` as carrying `bucket` at `new_at` (see [`Self::carry`]), or, if the
    /// realloc failed (`p` null), marks `ptr`, which stays, as carrying no
    /// bucket. A block that cannot be marked (no memory for the bitmap) and
    /// cannot be moved into a plain block either leaves the process out of
    /// memory twice over: it aborts, as Rust's allocation-failure handler
    /// does, since the old block is gone and the new one cannot be described.
    ///
    /// # Safety
    ///
    /// `ptr` was a carried block of `old` bytes with its bucket at `old_at`; `p` is null or
    /// a block of layout `new_carried` with its bucket at `new_at` (the
    /// tuple); `plain` is the new block's layout without the bucket.
    unsafe fn recarry(
        &self,
        ptr: *mut u8,
        p: *mut u8,
        bucket: Option<&'static crate::profile::depot::Bucket>,
        (old_at, old): (usize, usize),
        (new_carried, new_at): (Layout, usize),
        plain: Layout,
    ) -> *mut u8 {
        if p.is_null() {
            // SAFETY: the caller's contract: `ptr` is still the carried block.
            unsafe { trailer::attach(ptr, old_at, old, ptr::null()) };
            return p;
        }
        // SAFETY: the caller's contract.
        let q = unsafe { self.carry(p, bucket, new_at, new_carried, plain) };
        if q.is_null() {
            std::process::abort();
        }
        q
    }
}

// SAFETY: every method forwards to `A` with the caller's contract (in owner
// mode with the size grown by the trailer, consistently for a block's whole
// life), and only adds bookkeeping that never unwinds and never touches the
// caller's memory outside the trailer heapwise allocated.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Alloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        unsafe { self.alloc_impl(layout, false) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        unsafe { self.alloc_impl(layout, true) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.dealloc_impl(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        unsafe { self.realloc_impl(ptr, layout, new_size) }
    }
}
