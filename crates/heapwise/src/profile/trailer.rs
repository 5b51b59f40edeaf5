//! Full mode's per-block bookkeeping: a block allocated while every
//! allocation is sampled carries its bucket in an 8-byte trailer, and one
//! bit per 8 bytes of address space says which blocks carry one.
//!
//! # Why
//!
//! At rate 1 every block is sampled, and the live-block table (`live.rs`,
//! address → bucket) held every live block of the program. On the bench's
//! `events` workload (serde_json parsing ~50 MB into 3.1 M kept values) its
//! slots reached 128 MiB, nearly every insert and remove was a cache miss,
//! and the table resized as the heap grew: rate 1 ran 4-5x the plain program
//! in-process (a little slower than heaptrack's whole run) and the profiler
//! held 43 bytes per live block. Its cost grew with the live blocks.
//!
//! A trailer needs no lookup: the free reads the bucket next to the bytes
//! the program used, and the carry bit from a bitmap in which 64 bytes cover
//! 4 KiB of heap, so neighbouring blocks share its cache lines. On the same
//! run rate 1 now costs ~1.6x the plain program in-process (heaptrack
//! 3.3-3.6x), and the profiler holds ~10 bytes per live block
//! (the 8-byte trailer, the bitmap's pages; the trailer also moves some
//! blocks into the next size class of the inner allocator, which the RSS
//! shows: +5% on `events`). What is left per allocation is the stack walk
//! and the bucket cache (see `profiler.rs`); per free, the trailer's load,
//! a cache miss when the program did not touch the block's end.
//!
//! The other option, per-thread logs of (address, bucket) resolved off the
//! hot path, was not built: it keeps the address-keyed table, so its memory
//! (16+ bytes per live block at half load) and its misses stay, only moved
//! to a thread that, on a machine of 2 cores, competes with the program.
//!
//! # Mechanism
//!
//! A block carries a trailer when the allocation that made it was sampled
//! in full mode (the thread's current draw is at rate 1): the inner
//! allocator is asked for `round_up(size [+ owner trailer], 8) + 8` bytes at
//! an alignment of at least 8, and the bucket pointer is stored, aligned, in
//! the last 8. Whether a block carries one is fixed for its life: a
//! `realloc` keeps the status (a carried block realloc'd after full mode
//! ended stores a null bucket unless it is sampled again; a block from
//! before full mode goes through the live-block table as any sampled block).
//! The free must know the status before it can even name the block's layout
//! to the inner allocator, so the status sits in the **carry bitmap**: one
//! bit per 8-byte granule, set by the allocation and cleared by the free
//! (atomic OR / AND, no lock). A carried block is 8-aligned and at least 9
//! bytes long, so no other live block starts in its granule: the bit names
//! it alone. The bitmap is two-level: a static array of leaf pointers, one
//! per GiB of address space (48-bit addresses: 2 MiB of zero pages), and
//! leaves of 16 MiB allocated from [`System`] on first use, whose pages the
//! kernel supplies when first written (only the heap's span is ever
//! touched; the touched pages are what the memory figure counts).
//!
//! The free fast path reads the page filter only (`local/filter.rs`): when
//! the first block gets a trailer, every filter byte gains a bit that sends
//! every free and realloc to the slow path, where the bitmap is read. The
//! bit stays for the rest of the process (clearing it would need to know
//! that no carried block is left); after full mode, every free still takes
//! the slow path and reads the bitmap, only in processes that used it.
//!
//! # Enumerating live blocks (for snapshots)
//!
//! The per-bucket counts already give what is live by stack at any moment.
//! Every live carried block is also enumerable: scan the touched pages of
//! the bitmap (1 bit per 8 bytes of heap span: a 512 MiB heap is 8 MiB of
//! bitmap, read sequentially) for set bits, which are the blocks' addresses.
//! Its bucket sits after the block's bytes, whose size the bitmap does not
//! know; a snapshot would add a second bitmap with a bit at the trailer's
//! (aligned) granule, so the block's extent is the span from a start bit to
//! the next end bit, or keep per-thread chunks of (address, size) appended on
//! allocation. A scan races with frees on other threads: it must re-check a
//! block's bit after reading its trailer, or count from the buckets what
//! the scan cannot pin. The sampled blocks from outside full mode are in
//! `live.rs`, which a snapshot walks shard by shard.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use crate::local::filter;
use crate::profile::depot::Bucket;

/// Bytes of the trailer.
pub(crate) const SIZE: usize = 8;
/// Carried blocks are at least this aligned, so one bit per granule names one.
pub(crate) const ALIGN: usize = 8;

/// Address bits the bitmap covers (x86_64 and aarch64 user space: 47/48);
/// a block above them is not carried.
const ADDRESS_BITS: u32 = 48;
/// Address bits per leaf: 1 GiB.
const LEAF_BITS: u32 = 30;
const LEAVES: usize = 1 << (ADDRESS_BITS - LEAF_BITS);
/// Granules (bits) per leaf, and 64-bit words per leaf.
const LEAF_GRANULES: usize = 1 << (LEAF_BITS - 3);
const LEAF_WORDS: usize = LEAF_GRANULES / 64;
/// Words per 4 KiB page of a leaf, and pages per leaf.
const PAGE_WORDS: usize = 4096 / 8;
const LEAF_PAGES: usize = LEAF_WORDS / PAGE_WORDS;

/// One GiB of address space: its bits, and which of their pages were written.
#[repr(C)]
struct Leaf {
    words: [AtomicU64; LEAF_WORDS],
    touched: [AtomicU64; LEAF_PAGES / 64],
}

static LEAVES_TABLE: [AtomicPtr<Leaf>; LEAVES] =
    [const { AtomicPtr::new(ptr::null_mut()) }; LEAVES];
/// A block has carried a trailer: every free goes to the slow path.
static OPENED: AtomicBool = AtomicBool::new(false);
/// Bytes of bitmap pages written (and of the leaves' touched masks).
static BITMAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Where in a block of `size` bytes (plus `before` bytes of other trailers)
/// the bucket goes, and the size asked of the inner allocator. `None` on
/// overflow.
#[inline]
pub(crate) fn offset(size: usize, before: usize) -> Option<(usize, usize)> {
    let end = size.checked_add(before)?.checked_add(ALIGN - 1)? & !(ALIGN - 1);
    Some((end, end.checked_add(SIZE)?))
}

/// May any block carry a trailer? (`false`: the bitmap need not be read.)
#[inline]
pub(crate) fn opened() -> bool {
    OPENED.load(Relaxed)
}

/// Called before the first carried block is handed out: sends every free
/// to the slow path, where the bitmap is read. Slow path.
fn open() {
    if !OPENED.load(Acquire) {
        filter::send_frees_slow();
        OPENED.store(true, Release);
    }
}

/// The leaf for `addr` (null if none yet) and the granule's word and bit.
#[inline]
fn locate(addr: usize) -> Option<(&'static AtomicPtr<Leaf>, usize, u64)> {
    if addr as u64 >> ADDRESS_BITS != 0 {
        return None;
    }
    let granule = (addr >> 3) & (LEAF_GRANULES - 1);
    Some((
        &LEAVES_TABLE[addr >> LEAF_BITS],
        granule / 64,
        1 << (granule % 64),
    ))
}

/// The leaf behind `slot`, allocated (zeroed, from [`System`]) if missing.
/// `None` if out of memory.
fn leaf(slot: &AtomicPtr<Leaf>) -> Option<&'static Leaf> {
    let p = slot.load(Acquire);
    if !p.is_null() {
        // SAFETY: leaves are never freed; published with Release after zeroing.
        return Some(unsafe { &*p });
    }
    let layout = Layout::new::<Leaf>();
    // SAFETY: non-zero size. All-zero bytes are valid `AtomicU64`s.
    let fresh = unsafe { System.alloc_zeroed(layout) }.cast::<Leaf>();
    if fresh.is_null() {
        return None;
    }
    match slot.compare_exchange(ptr::null_mut(), fresh, AcqRel, Acquire) {
        Ok(_) => {
            // The touched masks' page.
            BITMAP_BYTES.fetch_add(4096, Relaxed);
            crate::local::process::own(4096);
            // SAFETY: just published, never freed.
            Some(unsafe { &*fresh })
        }
        Err(other) => {
            // SAFETY: `fresh` came from `System.alloc_zeroed(layout)` and was
            // never shared.
            unsafe { System.dealloc(fresh.cast(), layout) };
            // SAFETY: as above, published by the winner.
            Some(unsafe { &*other })
        }
    }
}

/// Marks the fresh block `ptr` (allocated with [`offset`]'s size, aligned to
/// [`ALIGN`]) as carrying `bucket` at byte `at`. Returns `false`, leaving
/// nothing marked, if the bitmap cannot cover `ptr` (out of memory for a
/// leaf): the caller must then not treat the block as carried. Slow path.
///
/// # Safety
///
/// `ptr` is a live block of at least `at + SIZE` bytes, aligned to [`ALIGN`].
pub(crate) unsafe fn attach(ptr: *mut u8, at: usize, bucket: *const Bucket) -> bool {
    let Some((slot, word, bit)) = locate(ptr as usize) else {
        return false;
    };
    let Some(leaf) = leaf(slot) else {
        return false;
    };
    open();
    // SAFETY: the caller's contract; `at` is a multiple of ALIGN.
    unsafe { ptr.add(at).cast::<*const Bucket>().write(bucket) };
    let page = word / PAGE_WORDS;
    let seen = 1u64 << (page % 64);
    if leaf.touched[page / 64].load(Relaxed) & seen == 0
        && leaf.touched[page / 64].fetch_or(seen, Relaxed) & seen == 0
    {
        BITMAP_BYTES.fetch_add(4096, Relaxed);
        crate::local::process::own(4096);
    }
    leaf.words[word].fetch_or(bit, Relaxed);
    true
}

/// If `ptr` carries a trailer, forgets that (clears its bit) and returns
/// `true`: the block's layout is then the carried one, and its bucket at
/// [`offset`] must be read with [`bucket_at`] before it is freed. Slow path.
#[inline]
pub(crate) fn detach(ptr: *mut u8) -> bool {
    let Some((slot, word, bit)) = locate(ptr as usize) else {
        return false;
    };
    let leaf = slot.load(Acquire);
    if leaf.is_null() {
        return false;
    }
    // SAFETY: leaves are never freed.
    let w = unsafe { &(*leaf).words[word] };
    // Only this block's allocation and free change its bit, and both happen
    // before (allocation) or in (free) this call.
    if w.load(Relaxed) & bit == 0 {
        return false;
    }
    w.fetch_and(!bit, Relaxed);
    true
}

/// The bucket stored in a carried block (null: none).
///
/// # Safety
///
/// `ptr` is a live carried block and `at` its trailer's offset.
#[inline]
pub(crate) unsafe fn bucket_at(ptr: *mut u8, at: usize) -> Option<&'static Bucket> {
    // SAFETY: the caller's contract; buckets are leaked, `'static`.
    unsafe { ptr.add(at).cast::<*const Bucket>().read().as_ref() }
}

/// Bytes of bitmap written so far (its pages stay).
pub(crate) fn bitmap_bytes() -> usize {
    BITMAP_BYTES.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_aligned_and_after_the_bytes() {
        assert_eq!(offset(1, 0), Some((8, 16)));
        assert_eq!(offset(8, 0), Some((8, 16)));
        assert_eq!(offset(13, 8), Some((24, 32)));
        assert_eq!(offset(usize::MAX - 4, 0), None);
    }

    #[test]
    fn bits_name_one_block_each() {
        let mut a = vec![0u64; 8];
        let mut b = vec![0u64; 8];
        let (pa, pb) = (a.as_mut_ptr().cast::<u8>(), b.as_mut_ptr().cast::<u8>());
        let bucket: &'static Bucket = Box::leak(Box::new(Bucket::new(0, 0, 16, 1)));
        assert!(!detach(pa));
        // SAFETY: 64-byte, 8-aligned blocks; offset 16 + 8 <= 64.
        unsafe {
            assert!(attach(pa, 16, bucket));
            assert!(attach(pb, 16, ptr::null()));
        }
        assert!(opened());
        assert!(
            !detach(pa.wrapping_add(8)),
            "the next granule is not the block"
        );
        assert!(detach(pa));
        // SAFETY: `pa` is still a live 64-byte buffer.
        assert!(unsafe { bucket_at(pa, 16) }.is_some_and(|b| ptr::eq(b, bucket)));
        assert!(!detach(pa), "cleared");
        assert!(detach(pb));
        // SAFETY: as above.
        assert!(unsafe { bucket_at(pb, 16) }.is_none());
        assert!(bitmap_bytes() >= 8192);
    }
}
