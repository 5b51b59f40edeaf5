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
//! leaves of 16 MiB a bitmap (32 MiB: with the ends below) mapped from the
//! kernel on first use (`sys/pages.rs`), which supplies their pages when
//! first written (only the heap's span is ever touched; the touched pages
//! are what the memory figure counts).
//!
//! The free fast path reads the page filter only (`local/filter.rs`): when
//! a block gets a trailer, its page's filter byte gains a bit that sends
//! every free and realloc of a block on that page to the slow path, where
//! the bitmap is read. The bit stays for the rest of the process (clearing
//! it would need to know that no carried block is left on the page); after
//! full mode, frees on the pages it used still take the slow path and read
//! the bitmap.
//!
//! # Enumerating live blocks (for snapshots)
//!
//! With `HEAPWISE_SNAPSHOT=1` the trailers are **wide** from the start
//! ([`widen`]): 24 bytes, the bucket, the size asked for and the
//! allocation's sequence number, and a second bitmap, of *ends*, has a bit
//! at each trailer's granule. Every live carried block is then enumerable
//! ([`for_each_block`]): the touched pages of both bitmaps, read in address
//! order (1 bit per 8 bytes of heap span: a 512 MiB heap is 8 MiB of each),
//! alternate start, end, start, end; a start bit is a block's address, the
//! next end bit its trailer. An allocation sets the end bit before the
//! start bit and a free clears the start bit first, so a scan of a copy
//! taken at any instant (a forked child's) sees a block whole or not at
//! all. Without wide trailers the sizes are unknown and nothing enumerates.

use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use crate::local::filter;
use crate::profile::depot::Bucket;
use crate::sys::{self, solo};

/// Bytes of a trailer (the bucket), and of a wide one (bucket, size, sequence
/// number).
const NARROW: usize = 8;
const WIDE_SIZE: usize = 24;
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
    /// Start bits: a carried block begins in the granule.
    words: [AtomicU64; LEAF_WORDS],
    /// End bits (wide trailers only): a carried block's trailer begins in
    /// the granule.
    ends: [AtomicU64; LEAF_WORDS],
    /// Pages of `words` or `ends` ever written.
    touched: [AtomicU64; LEAF_PAGES / 64],
}

static LEAVES_TABLE: [AtomicPtr<Leaf>; LEAVES] =
    [const { AtomicPtr::new(ptr::null_mut()) }; LEAVES];
/// A block has carried a trailer: a free's slow path reads the bitmap.
static OPENED: AtomicBool = AtomicBool::new(false);
/// Bytes of bitmap pages written (and of the leaves' touched masks).
static BITMAP_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Trailers are wide (see the module docs); fixed before the first carried
/// block.
static WIDE: AtomicBool = AtomicBool::new(false);
/// The next wide trailer's sequence number (from 1).
static SEQ: AtomicU64 = AtomicU64::new(1);

/// Makes every trailer from now on wide, so that live blocks can be
/// enumerated. `false` (and nothing changes) if a block already carries a
/// narrow one. Called by the load-time constructor.
pub(crate) fn widen() -> bool {
    if OPENED.load(Acquire) {
        return WIDE.load(Relaxed);
    }
    WIDE.store(true, Relaxed);
    true
}

/// Are trailers wide (is every carried block enumerable)?
#[inline]
pub(crate) fn wide() -> bool {
    WIDE.load(Relaxed)
}

/// Bytes of a trailer.
#[inline]
pub(crate) fn size() -> usize {
    if wide() {
        WIDE_SIZE
    } else {
        NARROW
    }
}

/// Where in a block of `size` bytes (plus `before` bytes of other trailers)
/// the bucket goes, and the size asked of the inner allocator. `None` on
/// overflow.
#[inline]
pub(crate) fn offset(size: usize, before: usize) -> Option<(usize, usize)> {
    let end = size.checked_add(before)?.checked_add(ALIGN - 1)? & !(ALIGN - 1);
    Some((end, end.checked_add(self::size())?))
}

/// May any block carry a trailer? (`false`: the bitmap need not be read.)
#[inline]
pub(crate) fn opened() -> bool {
    OPENED.load(Relaxed)
}

/// Called before the carried block `ptr` is handed out: sends the frees of
/// its page to the slow path, and that to the bitmap. Slow path.
fn open(ptr: *mut u8) {
    filter::mark_carried(ptr);
    if !OPENED.load(Acquire) {
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

/// The leaf behind `slot`, mapped (zeroed, from the kernel) if missing.
/// `None` if out of memory.
fn leaf(slot: &AtomicPtr<Leaf>) -> Option<&'static Leaf> {
    let p = slot.load(Acquire);
    if !p.is_null() {
        // SAFETY: leaves are never freed; published with Release after zeroing.
        return Some(unsafe { &*p });
    }
    // All-zero bytes are valid `AtomicU64`s.
    let fresh = sys::pages::map_zeroed(size_of::<Leaf>()).cast::<Leaf>();
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
            // SAFETY: `fresh` came from `map_zeroed` of this size and was
            // never shared.
            unsafe { sys::pages::unmap(fresh.cast(), size_of::<Leaf>()) };
            // SAFETY: as above, published by the winner.
            Some(unsafe { &*other })
        }
    }
}

/// Marks the fresh block `ptr` of `size` bytes (allocated with
/// [`offset`]'s size, aligned to [`ALIGN`]) as carrying `bucket` at byte
/// `at`. Returns `false`, leaving nothing marked, if the bitmap cannot
/// cover `ptr` (out of memory for a leaf): the caller must then not treat
/// the block as carried. Slow path.
///
/// # Safety
///
/// `ptr` is a live block of at least `at + size()` bytes, aligned to
/// [`ALIGN`].
pub(crate) unsafe fn attach(ptr: *mut u8, at: usize, size: usize, bucket: *const Bucket) -> bool {
    debug_assert!(
        at % ALIGN == 0 && at >= size,
        "the trailer follows the bytes"
    );
    let Some((slot, word, bit)) = locate(ptr as usize) else {
        return false;
    };
    let Some(leaf) = leaf(slot) else {
        return false;
    };
    // The end's leaf: another one if the block crosses a GiB boundary.
    let end = if wide() {
        let Some((slot, word, bit)) = locate(ptr as usize + at) else {
            return false;
        };
        let Some(leaf) = self::leaf(slot) else {
            return false;
        };
        Some((leaf, word, bit))
    } else {
        None
    };
    open(ptr);
    // SAFETY: the caller's contract; `at` is a multiple of ALIGN.
    unsafe { ptr.add(at).cast::<*const Bucket>().write(bucket) };
    // Held over a few stores and atomics: nothing here waits.
    let w = solo::writer();
    if let Some((end_leaf, end_word, end_bit)) = end {
        // SAFETY: wide trailers have 24 bytes from `at` (the caller's
        // contract), 8-aligned.
        unsafe {
            ptr.add(at + 8).cast::<u64>().write(size as u64);
            ptr.add(at + 16)
                .cast::<u64>()
                .write(SEQ.fetch_add(1, Relaxed));
        }
        touch(end_leaf, end_word);
        // Before the start bit: a scan sees the block whole or not at all.
        w.or(&end_leaf.ends[end_word], end_bit);
    }
    touch(leaf, word);
    w.or(&leaf.words[word], bit);
    true
}

/// Counts the page of `leaf` holding `word` as written, once.
fn touch(leaf: &Leaf, word: usize) {
    let page = word / PAGE_WORDS;
    let seen = 1u64 << (page % 64);
    if leaf.touched[page / 64].load(Relaxed) & seen == 0
        && leaf.touched[page / 64].fetch_or(seen, Relaxed) & seen == 0
    {
        let bytes = if wide() { 8192 } else { 4096 };
        BITMAP_BYTES.fetch_add(bytes, Relaxed);
        crate::local::process::own(bytes as isize);
    }
}

/// If `ptr` carries a trailer, forgets that (clears its bit) and returns
/// `true`: the block's layout is then the carried one, and its bucket at
/// [`offset`] must be read with [`take_bucket`] before it is freed. Slow path.
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
    solo::writer().and(w, !bit);
    true
}

/// After [`detach`] returned `true`: the bucket stored in the block (null:
/// none), and, for a wide trailer, its end bit cleared.
///
/// # Safety
///
/// `ptr` is a live carried block just detached and `at` its trailer's offset.
#[inline]
pub(crate) unsafe fn take_bucket(ptr: *mut u8, at: usize) -> Option<&'static Bucket> {
    if wide() {
        if let Some((slot, word, bit)) = locate(ptr as usize + at) {
            let leaf = slot.load(Acquire);
            // SAFETY: leaves are never freed; `attach` made this one.
            if let Some(leaf) = unsafe { leaf.as_ref() } {
                solo::writer().and(&leaf.ends[word], !bit);
            }
        }
    }
    // SAFETY: the caller's contract; buckets are leaked, `'static`.
    unsafe { ptr.add(at).cast::<*const Bucket>().read().as_ref() }
}

/// A live block found by [`for_each_block`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Carried {
    pub(crate) addr: usize,
    /// The bytes asked for (in owner mode, with the owner's trailer).
    pub(crate) size: usize,
    pub(crate) seq: u64,
    pub(crate) bucket: *const Bucket,
}

/// Calls `f` with every block carrying a wide trailer, in address order.
/// Meant for a copy of the process that nothing else changes (a forked
/// child): a block whose bits are being set or cleared meanwhile is seen
/// whole or skipped. Without wide trailers, calls nothing.
pub(crate) fn for_each_block(mut f: impl FnMut(Carried)) {
    if !wide() {
        return;
    }
    let mut open: Option<usize> = None;
    for (l, slot) in LEAVES_TABLE.iter().enumerate() {
        // SAFETY: leaves are never freed.
        let Some(leaf) = (unsafe { slot.load(Acquire).as_ref() }) else {
            continue;
        };
        for page in 0..LEAF_PAGES {
            if leaf.touched[page / 64].load(Relaxed) & (1 << (page % 64)) == 0 {
                continue;
            }
            for word in page * PAGE_WORDS..(page + 1) * PAGE_WORDS {
                let starts = leaf.words[word].load(Acquire);
                let ends = leaf.ends[word].load(Acquire);
                let mut bits = starts | ends;
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let addr = (l << LEAF_BITS) | ((word * 64 + b) << 3);
                    if starts & (1 << b) != 0 {
                        // A start with no end is a block being allocated.
                        open = Some(addr);
                    } else if let Some(start) = open.take() {
                        let t = addr as *const u64;
                        // SAFETY: `addr` is the trailer of the live block at
                        // `start` (its end bit, after its start bit), 24
                        // readable bytes written before the bits were set.
                        let (bucket, size, seq) = unsafe {
                            (
                                t.read() as *const Bucket,
                                t.add(1).read() as usize,
                                t.add(2).read(),
                            )
                        };
                        debug_assert!(start + size <= addr, "a trailer follows its bytes");
                        f(Carried {
                            addr: start,
                            size,
                            seq,
                            bucket,
                        });
                    }
                }
            }
        }
    }
}

/// The bitmap's own memory, `(start, end)` ranges: not part of the
/// program's data (a snapshot scans none of it).
pub(crate) fn leaf_ranges(mut f: impl FnMut(usize, usize)) {
    for slot in &LEAVES_TABLE {
        let p = slot.load(Acquire);
        if !p.is_null() {
            f(p as usize, p as usize + std::mem::size_of::<Leaf>());
        }
    }
}

/// Bytes of bitmap written so far (its pages stay).
pub(crate) fn bitmap_bytes() -> usize {
    BITMAP_BYTES.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};

    #[test]
    fn offsets_are_aligned_and_after_the_bytes() {
        assert!(!wide());
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
            assert!(attach(pa, 16, 16, bucket));
            assert!(attach(pb, 16, 9, ptr::null()));
        }
        assert!(opened());
        assert!(
            !detach(pa.wrapping_add(8)),
            "the next granule is not the block"
        );
        assert!(detach(pa));
        // SAFETY: `pa` is still a live 64-byte buffer.
        assert!(unsafe { take_bucket(pa, 16) }.is_some_and(|b| ptr::eq(b, bucket)));
        assert!(!detach(pa), "cleared");
        assert!(detach(pb));
        // SAFETY: as above.
        assert!(unsafe { take_bucket(pb, 16) }.is_none());
        assert!(bitmap_bytes() >= 8192);
    }

    /// A carried block sends the frees of its own page to the slow path, not
    /// every free in the process.
    #[test]
    fn a_carried_block_marks_its_page_only() {
        let layout = Layout::from_size_align(3 * 4096, 4096).unwrap();
        // SAFETY: non-zero size.
        let base = unsafe { System.alloc(layout) };
        assert!(!base.is_null());
        let far = base.wrapping_add(2 * 4096);
        assert!(!filter::free_is_slow(base) && !filter::free_is_slow(far));
        // SAFETY: a live, page-aligned block of 3 pages; offset 16 + 8 fits.
        assert!(unsafe { attach(base, 16, 16, ptr::null()) });
        assert!(filter::free_is_slow(base), "the carried block's page");
        assert!(
            !filter::free_is_slow(far),
            "a page without carried blocks keeps the fast path"
        );
        assert!(detach(base));
        // SAFETY: allocated above with `layout`.
        unsafe { System.dealloc(base, layout) };
    }
}
