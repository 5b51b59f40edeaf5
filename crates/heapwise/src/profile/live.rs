//! The sampled blocks still alive: which bucket each belongs to, so its free
//! can be subtracted from the in-use figures. Blocks allocated in full mode
//! carry their bucket instead (`trailer.rs`) and are not here.
//!
//! # Mechanism
//!
//! Every free must learn whether its block was sampled, and almost none was;
//! the page filter in front of this table (`local/filter.rs`) answers
//! `false` for nearly all of them on the free fast path.
//!
//! Behind the filter, 64 shards (chosen by the same bits, so one shard owns
//! each filter byte and the byte is cleared exactly when its last block goes)
//! each hold an open-addressing table from block address to bucket, guarded
//! by a [`Lock`] (taken around `fork`, see `sys/fork.rs`). Entries are removed *before* the inner allocator frees the
//! block, so the address cannot be reused and sampled again meanwhile.
//!
//! The tables allocate straight from [`System`], never through the global
//! allocator: a free inside heapwise's own bookkeeping may need the table,
//! and must not find its shard locked by an allocation of its own.

use crate::local::filter;
use crate::profile::depot::Bucket;
use crate::sys::fork::{AtFork, Rank};
use crate::sys::lock::{Lock, LockGuard};
use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

const SHARDS: usize = 64;

static TABLES: [Lock<Table>; SHARDS] = [const { Lock::new(Table::new()) }; SHARDS];

static FORK: AtFork = AtFork::new(
    Rank::Live,
    || TABLES.iter().for_each(Lock::hold_for_fork),
    || {
        for t in TABLES.iter().rev() {
            // SAFETY: called once after `fork`, by the thread that held them.
            unsafe { t.release_after_fork() }
        }
    },
);

/// Bytes of table memory, for the profiler's own-memory figure.
static TABLE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Remembers that `ptr` (a sampled block) belongs to `bucket`. If the
/// address was still recorded (a free heapwise did not see), the old entry's
/// bucket is returned so the caller can count it freed.
pub(crate) fn insert(ptr: *mut u8, bucket: &'static Bucket) -> Option<&'static Bucket> {
    let i = filter::index(ptr);
    let mut table = lock(i);
    let old = table.insert(ptr as usize, bucket);
    if old.is_none() {
        // Under the shard's lock, which owns filter byte `i`.
        filter::add_sampled(i);
    }
    old
}

/// Forgets `ptr`, returning its bucket if it was a sampled block.
pub(crate) fn remove(ptr: *mut u8) -> Option<&'static Bucket> {
    let i = filter::index(ptr);
    let mut table = lock(i);
    let bucket = table.remove(ptr as usize)?;
    // Under the shard's lock, which owns filter byte `i`.
    filter::remove_sampled(i);
    Some(bucket)
}

/// [`remove`] for a free made behind the reentrancy guard, which may run in
/// a signal handler that interrupted this thread inside the shard's lock:
/// then the entry stays (`None`), and is dropped when the address is next
/// freed or sampled (`insert` returns it), its bytes counted in use until
/// then. Waits for the lock only while another thread holds it.
pub(crate) fn remove_reentrant(ptr: *mut u8) -> Option<&'static Bucket> {
    FORK.ensure();
    let i = filter::index(ptr);
    let shard = &TABLES[i % SHARDS];
    let mut table = loop {
        if let Some(table) = shard.try_lock() {
            break table;
        }
        if shard.is_held_here() {
            return None;
        }
        std::hint::spin_loop();
    };
    let bucket = table.remove(ptr as usize)?;
    filter::remove_sampled(i);
    Some(bucket)
}

/// Sampled blocks alive now, and the bytes the tables take.
pub(crate) fn census() -> (usize, usize) {
    FORK.ensure();
    let blocks = TABLES.iter().map(|t| t.lock().len).sum();
    (blocks, TABLE_BYTES.load(Relaxed))
}

fn lock(i: usize) -> LockGuard<'static, Table> {
    FORK.ensure();
    TABLES[i % SHARDS].lock()
}

#[derive(Clone, Copy)]
struct Slot {
    /// Block address; 0 = empty.
    key: usize,
    bucket: *const Bucket,
}

const EMPTY: Slot = Slot {
    key: 0,
    bucket: ptr::null(),
};

/// Open addressing with linear probing and backward-shift deletion, at most
/// half full.
struct Table {
    slots: *mut Slot,
    cap: usize,
    len: usize,
}

// SAFETY: the slot array is owned by the table and only reached through the
// shard's mutex; buckets are `'static` and `Sync`.
unsafe impl Send for Table {}

impl Table {
    const fn new() -> Table {
        Table {
            slots: ptr::null_mut(),
            cap: 0,
            len: 0,
        }
    }

    fn home(&self, key: usize) -> usize {
        ((key >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) & (self.cap - 1)
    }

    fn slot(&self, i: usize) -> Slot {
        debug_assert!(i < self.cap);
        // SAFETY: `i < cap` (every caller masks with `cap - 1`) and the array
        // has `cap` initialised slots.
        unsafe { *self.slots.add(i) }
    }

    fn set(&mut self, i: usize, slot: Slot) {
        debug_assert!(i < self.cap);
        // SAFETY: as in `slot`; `&mut self` means the shard lock is held.
        unsafe { *self.slots.add(i) = slot }
    }

    fn insert(&mut self, key: usize, bucket: &'static Bucket) -> Option<&'static Bucket> {
        if (self.len + 1) * 2 > self.cap && !self.grow() {
            // Out of memory for the table: the block goes unrecorded and its
            // free will not be seen (an over-count of in-use figures).
            return None;
        }
        let mut i = self.home(key);
        loop {
            let s = self.slot(i);
            if s.key == 0 {
                self.set(i, Slot { key, bucket });
                self.len += 1;
                return None;
            }
            if s.key == key {
                self.set(i, Slot { key, bucket });
                // SAFETY: buckets are leaked, `'static`.
                return Some(unsafe { &*s.bucket });
            }
            i = (i + 1) & (self.cap - 1);
        }
    }

    fn remove(&mut self, key: usize) -> Option<&'static Bucket> {
        if self.len == 0 {
            return None;
        }
        let mask = self.cap - 1;
        let mut i = self.home(key);
        let found = loop {
            let s = self.slot(i);
            if s.key == 0 {
                return None;
            }
            if s.key == key {
                break s.bucket;
            }
            i = (i + 1) & mask;
        };
        // Backward-shift: pull later entries of the run into the hole.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = self.slot(j);
            if s.key == 0 {
                break;
            }
            let home = self.home(s.key);
            // Move `s` into the hole unless its home lies cyclically in (hole, j].
            let between = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !between {
                self.set(hole, s);
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.set(hole, EMPTY);
        self.len -= 1;
        self.shrink_if_sparse();
        // SAFETY: buckets are leaked, `'static`.
        Some(unsafe { &*found })
    }

    fn grow(&mut self) -> bool {
        self.resize(if self.cap == 0 { 64 } else { self.cap * 2 })
    }

    /// Halves the table when it is at most 1/8 full (it grows at 1/2), so
    /// after a peak of live sampled blocks (full mode) its memory goes back.
    fn shrink_if_sparse(&mut self) {
        if self.cap > 64 && self.len * 8 <= self.cap {
            // On failure the table simply stays as large as it is.
            self.resize(self.cap / 2);
        }
    }

    /// Moves the entries into a fresh array of `cap` slots.
    fn resize(&mut self, cap: usize) -> bool {
        let Ok(layout) = Layout::array::<Slot>(cap) else {
            return false;
        };
        // SAFETY: `layout` has a non-zero size.
        let slots = unsafe { System.alloc_zeroed(layout) }.cast::<Slot>();
        if slots.is_null() {
            return false;
        }
        let old = Table {
            slots: self.slots,
            cap: self.cap,
            len: self.len,
        };
        self.slots = slots;
        self.cap = cap;
        self.len = 0;
        TABLE_BYTES.fetch_add(layout.size(), Relaxed);
        crate::local::process::own(layout.size() as isize);
        for i in 0..old.cap {
            let s = old.slot(i);
            if s.key != 0 {
                // SAFETY: buckets are leaked, `'static`.
                self.insert(s.key, unsafe { &*s.bucket });
            }
        }
        if old.cap != 0 {
            let bytes = old.cap * std::mem::size_of::<Slot>();
            // SAFETY: an earlier `resize` allocated `old.cap` slots with
            // exactly this size and alignment.
            unsafe {
                let old_layout =
                    Layout::from_size_align_unchecked(bytes, std::mem::align_of::<Slot>());
                System.dealloc(old.slots.cast(), old_layout);
            }
            TABLE_BYTES.fetch_sub(bytes, Relaxed);
            crate::local::process::own(-(bytes as isize));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_interrupting_its_own_threads_lock_does_not_wait() {
        let block = Box::into_raw(Box::new([0u64; 4])).cast::<u8>();
        let bucket: &'static Bucket = Box::leak(Box::new(Bucket::new(0, 0, 32, 1)));
        assert!(insert(block, bucket).is_none());
        {
            // As a signal handler would find it: this thread inside the lock.
            let _held = lock(filter::index(block));
            assert!(remove_reentrant(block).is_none(), "left for later");
        }
        assert!(remove_reentrant(block).is_some_and(|b| ptr::eq(b, bucket)));
        assert!(remove(block).is_none());
        // SAFETY: from `Box::into_raw` above, freed once.
        drop(unsafe { Box::from_raw(block.cast::<[u64; 4]>()) });
    }

    fn bucket(size: u64) -> &'static Bucket {
        Box::leak(Box::new(Bucket::new(0, 0, size, 1)))
    }

    #[test]
    fn table_insert_remove_grow() {
        let mut t = Table::new();
        let b = bucket(8);
        let keys: Vec<usize> = (1..5000usize).map(|k| k * 48 + 0x10_0000).collect();
        for &k in &keys {
            assert!(t.insert(k, b).is_none());
        }
        assert_eq!(t.len, keys.len());
        for &k in keys.iter().step_by(3) {
            assert!(t.remove(k).is_some(), "{k:#x}");
        }
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(t.remove(k).is_some(), n % 3 != 0, "{k:#x}");
        }
        assert_eq!(t.len, 0);
        assert_eq!(t.cap, 64, "shrunk back after the peak");
        assert!(t.remove(12345).is_none());
    }

    #[test]
    fn filter_tracks_the_last_block_of_a_bit() {
        let b = bucket(16);
        // Two addresses sharing one filter byte (4 GiB apart).
        let p = 0x7f00_0000_0010usize as *mut u8;
        let q = (p as usize + (1 << 32)) as *mut u8;
        assert!(!filter::maybe_sampled(p));
        insert(p, b);
        insert(q, b);
        assert!(filter::maybe_sampled(p) && filter::maybe_sampled(q));
        assert!(remove(p).is_some());
        assert!(filter::maybe_sampled(q), "q still lives");
        assert!(remove(p).is_none());
        assert!(remove(q).is_some());
        assert!(!filter::maybe_sampled(q));
    }
}
