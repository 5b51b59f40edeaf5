//! The page filter in front of the profiler's live-block table: may freeing
//! this block need the slow path?
//!
//! # Mechanism
//!
//! Every free must learn whether its block was sampled, and almost none was
//! (one block per 512 KiB allocated, by default). So in front of the table
//! sits a **filter**: one byte per 4 KiB page of address space, modulo 4
//! GiB (1,048,576 bytes, zero pages until touched). A sampled block sets its
//! page's byte; the free fast path reads the byte (a 32-bit copy of the
//! address, shift, load, compare: the copy's zero-extension is the mask, one
//! instruction fewer than a 65,536-byte filter's `& 0xffff`) and
//! takes the slow path only when it is set (a second bit, set in every byte
//! while a probe is attached to the `free` or `realloc` event, sends every
//! free there: the events' gate costs the free path nothing; a third, set
//! in the byte of every page where full mode gave a block a trailer, sends
//! the frees there to read the carry bitmap, see `profile/trailer.rs`),
//! which for an unsampled block outside full mode happens when its page (or
//! a page 4 GiB away) holds a live sampled block: at the default rate about
//! 0.8% of frees with 1 GiB of small blocks live (2,048 sampled pages of
//! 262,144), less with fewer. Pages rather than 16-byte granules keep a
//! free's byte next to its neighbours' in cache (64 pages per cache line).
//! A bit per granule measured 8 more instructions per free (shift, mask,
//! shift, and; `bench/results/2026-11-22-a69ed41-dirty-callgrind.md`). The
//! fast path needs no fence: a block reaches another thread only through
//! synchronisation that also publishes the byte set before it was handed
//! out.
//!
//! The sampled bits are owned by the live table's shards
//! (`profile/live.rs`): a shard sets and clears the bits of its own blocks
//! under its lock, so a bit is cleared exactly when its page's last sampled
//! block goes. The other bits change by atomic OR and AND, which leave the
//! sampled bit alone.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};

/// Filter bytes: one per 4 KiB page, modulo 4 GiB.
pub(crate) const SLOTS: usize = 1 << 20;

static FILTER: [AtomicU8; SLOTS] = [const { AtomicU8::new(0) }; SLOTS];
/// Live sampled blocks per filter byte (changed under the owning shard's lock).
static COUNTS: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];

/// A filter byte's bit: a live sampled block is on the page.
const SAMPLED: u8 = 1;
/// A filter byte's bit, set in every byte: a probe is attached to the
/// `free` or `realloc` event ([`crate::events::FREE_GATE`]).
const FREE_EVENTS: u8 = 2;
/// A filter byte's bit, set once a block on the page (or a page 4 GiB away)
/// carries its bucket in a trailer (`profile/trailer.rs`): frees there must
/// read the carry bitmap, on the slow path. Never cleared (that would need
/// to know that no carried block is left on the page).
const CARRIED: u8 = 4;

/// The filter byte of `ptr`'s page.
#[inline(always)]
pub(crate) fn index(ptr: *mut u8) -> usize {
    // Bits 12..32 of the address: the `u32` cast is the mask.
    const _: () = assert!(SLOTS == 1 << (32 - 12));
    ((ptr as usize as u32) >> 12) as usize
}

/// Must freeing (or reallocating) `ptr` take the slow path: may it be a
/// sampled block, or is a probe attached to the free events? `false` is
/// certain. Allocator fast path.
#[inline(always)]
pub(crate) fn free_is_slow(ptr: *mut u8) -> bool {
    FILTER[index(ptr)].load(Relaxed) != 0
}

/// May `ptr` be a sampled block? `false` is certain. Slow path.
#[inline]
pub(crate) fn maybe_sampled(ptr: *mut u8) -> bool {
    FILTER[index(ptr)].load(Relaxed) & SAMPLED != 0
}

/// A sampled block on byte `i` became live. Called under the lock of the
/// live-table shard that owns byte `i`.
pub(crate) fn add_sampled(i: usize) {
    if COUNTS[i].fetch_add(1, Relaxed) == 0 {
        FILTER[i].fetch_or(SAMPLED, Relaxed);
    }
}

/// A sampled block on byte `i` was freed. Called under the lock of the
/// live-table shard that owns byte `i`.
pub(crate) fn remove_sampled(i: usize) {
    let before = COUNTS[i].fetch_sub(1, Relaxed);
    debug_assert!(before > 0, "filter byte {i}: more frees than samples");
    if before == 1 {
        FILTER[i].fetch_and(!SAMPLED, Relaxed);
    }
}

/// Sets the carried-blocks bit of `ptr`'s page: from now on every free and
/// realloc of a block there takes the slow path. Called before the carried
/// block `ptr` is handed out, so whoever frees it sees the bit (the bit is
/// never cleared, and a block reaches another thread only through
/// synchronisation). Slow path: a load, and an atomic OR on the first
/// carried block of a page only. (Setting it in every byte at once cost
/// 1,048,576 atomic ORs, ~6 ms, on every process that used full mode.)
#[inline]
pub(crate) fn mark_carried(ptr: *mut u8) {
    let byte = &FILTER[index(ptr)];
    if byte.load(Relaxed) & CARRIED == 0 {
        byte.fetch_or(CARRIED, Relaxed);
    }
}

/// The [`FREE_GATE`](crate::events::FREE_GATE) hook: sets or clears the
/// free-events bit in every filter byte, before `attach` (or the detach)
/// returns. Called by heapwise-probe under its registry lock.
pub(crate) fn set_free_events(open: bool) {
    for byte in &FILTER {
        if open {
            byte.fetch_or(FREE_EVENTS, Relaxed);
        } else {
            byte.fetch_and(!FREE_EVENTS, Relaxed);
        }
    }
}
