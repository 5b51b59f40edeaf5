//! Per-thread event buffers: chunks of 64-bit words taken from a shared
//! byte budget, written by their thread only, read after the probes are
//! detached.
//!
//! # The firing path
//!
//! A probe finds its thread's buffer through a `const` thread-local without
//! destructor holding `(recording number, buffer)`: one load and a compare
//! when the thread last recorded into this recording, which is every event
//! but its first. It then bumps the buffer's write pointer and stores the
//! record's words. No lock, no atomic read-modify-write, no allocation.
//!
//! A lock is taken **once per thread per recording**, at the thread's first
//! event (registration: the buffer is listed in the recording), and again
//! only when a thread alternates between two recordings running at once (the
//! thread-local remembers one). A chunk is taken from the budget with one
//! compare-and-swap on a shared counter **once per full chunk** (64 KiB, 8192
//! words), and allocated from [`System`] directly: the recorder's memory is
//! not heapwise's user memory, so it never shows in the figures it records,
//! and a probe running inside the allocator never re-enters it.
//!
//! Once a thread cannot get a chunk (the budget is spent), every later event
//! of that thread is dropped and counted, so what a thread recorded is always
//! a prefix of what it did (a trace never has a hole in the middle of a
//! thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use crate::local::without_accounting;

/// Bytes of a chunk (header included) when the budget allows.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;
/// A smaller tail of the budget than this is not worth a chunk.
const MIN_CHUNK_BYTES: usize = 256;
/// Words of a chunk's header.
const HEADER_WORDS: usize = 3;

/// The bytes a recording may still take for its buffers.
#[derive(Debug)]
pub(crate) struct Budget {
    total: usize,
    left: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(total: usize) -> Budget {
        Budget {
            total,
            left: AtomicUsize::new(total),
        }
    }

    /// Takes up to `want` bytes (at least `need`); 0 when the budget cannot
    /// give `need`. One compare-and-swap loop on a shared counter.
    pub(crate) fn take(&self, want: usize, need: usize) -> usize {
        debug_assert!(need <= want, "asks for {want} bytes but needs {need}");
        let mut left = self.left.load(Relaxed);
        loop {
            let grant = want.min(left);
            if grant < need {
                return 0;
            }
            match self
                .left
                .compare_exchange_weak(left, left - grant, Relaxed, Relaxed)
            {
                Ok(_) => return grant,
                Err(now) => left = now,
            }
        }
    }

    /// The bytes given out so far.
    pub(crate) fn used(&self) -> usize {
        let left = self.left.load(Relaxed);
        debug_assert!(left <= self.total, "{left} bytes left of {}", self.total);
        self.total - left
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }
}

/// A chunk: a header (next chunk, capacity in words, words used) and the
/// data words after it, one [`System`] allocation.
#[repr(C)]
struct Chunk {
    next: *mut Chunk,
    capacity: usize,
    used: usize,
}

const _: () = assert!(std::mem::size_of::<Chunk>() == HEADER_WORDS * 8);

impl Chunk {
    /// A chunk of `bytes` bytes (header included), or null. `bytes` is a
    /// whole number of words, so that [`Chunk::free`] gives back the layout
    /// it was allocated with (it computes the size from the capacity).
    fn allocate(bytes: usize) -> *mut Chunk {
        debug_assert!(
            bytes % 8 == 0 && (MIN_CHUNK_BYTES..=CHUNK_BYTES).contains(&bytes),
            "a chunk of {bytes} bytes"
        );
        let Ok(layout) = Layout::from_size_align(bytes, 8) else {
            return ptr::null_mut();
        };
        // SAFETY: `bytes` is at least MIN_CHUNK_BYTES, not zero.
        let p = unsafe { System.alloc(layout) }.cast::<Chunk>();
        if !p.is_null() {
            // SAFETY: `p` is a fresh allocation of at least the header's size,
            // aligned to 8.
            unsafe {
                p.write(Chunk {
                    next: ptr::null_mut(),
                    capacity: bytes / 8 - HEADER_WORDS,
                    used: 0,
                })
            };
        }
        p
    }

    /// # Safety
    ///
    /// `c` came from [`Chunk::allocate`] and is freed once.
    unsafe fn free(c: *mut Chunk) {
        // SAFETY: per the contract, `c` is live; its size is its header plus
        // its capacity, as allocated.
        unsafe {
            let bytes = ((*c).capacity + HEADER_WORDS) * 8;
            System.dealloc(c.cast(), Layout::from_size_align_unchecked(bytes, 8));
        }
    }

    /// # Safety
    ///
    /// `c` is a live chunk.
    unsafe fn data(c: *mut Chunk) -> *mut u64 {
        // SAFETY: the data words follow the header in the same allocation.
        unsafe { c.cast::<u64>().add(HEADER_WORDS) }
    }
}

/// One thread's buffer within one recording.
///
/// Written by its thread only, while the recording's probes are attached;
/// read by the thread that finishes the recording, after they are detached
/// (the detach guarantees no probe is running any more, and synchronises
/// with the probes that ran).
pub(crate) struct ThreadBuf {
    /// The thread's number (see [`thread_number`]), unique in the process.
    pub(crate) number: u64,
    /// The kernel's thread id (Linux), or the number elsewhere.
    pub(crate) tid: u64,
    /// The thread's name as the kernel knows it (at most 15 bytes on Linux),
    /// empty for none.
    name: [u8; 32],
    name_len: usize,
    head: Cell<*mut Chunk>,
    tail: Cell<*mut Chunk>,
    /// The next free word of `tail`, and its end.
    pos: Cell<*mut u64>,
    end: Cell<*mut u64>,
    /// No more chunks: every later event is dropped.
    full: Cell<bool>,
    /// Events recorded and dropped by this thread. Written by the thread
    /// only (a load and a store, no read-modify-write), read after detach.
    recorded: AtomicU64,
    dropped: AtomicU64,
}

// SAFETY: the cells are written by the owning thread only while probes run,
// and read by another thread only after the detach that ends them (see the
// type's docs); the chunks are plain memory owned by the buffer.
unsafe impl Send for ThreadBuf {}
// SAFETY: as above.
unsafe impl Sync for ThreadBuf {}

impl ThreadBuf {
    pub(crate) fn new(number: u64) -> ThreadBuf {
        let (tid, name, name_len) = crate::record::threads::identify();
        ThreadBuf {
            number,
            tid,
            name,
            name_len,
            head: Cell::new(ptr::null_mut()),
            tail: Cell::new(ptr::null_mut()),
            pos: Cell::new(ptr::null_mut()),
            end: Cell::new(ptr::null_mut()),
            full: Cell::new(false),
            recorded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// The thread's name, if it has one.
    pub(crate) fn name(&self) -> Option<&str> {
        std::str::from_utf8(&self.name[..self.name_len])
            .ok()
            .filter(|n| !n.is_empty())
    }

    /// The thread's name in a trace: the kernel's (a thread std did not
    /// name has the executable's), or `thread <n>` if that is empty.
    pub(crate) fn trace_name(&self) -> String {
        match self.name() {
            Some(n) => n.to_string(),
            None => format!("thread {}", self.number),
        }
    }

    /// Space for a record of `words` words: the caller writes exactly that
    /// many words at the returned pointer. `None` (the event is counted as
    /// dropped) when the budget is spent.
    #[inline(always)]
    pub(crate) fn reserve(&self, words: usize, budget: &Budget) -> Option<*mut u64> {
        self.debug_check_writer(words);
        let pos = self.pos.get();
        // Compared as addresses: `pos` and `end` are both null before the
        // first chunk, which makes this fail then too (`words` > 0).
        if (self.end.get() as usize).wrapping_sub(pos as usize) >= words * 8 {
            // SAFETY: there are at least `words` words between `pos` and the
            // end of the current chunk.
            self.pos.set(unsafe { pos.add(words) });
            self.recorded
                .store(self.recorded.load(Relaxed) + 1, Relaxed);
            Some(pos)
        } else {
            self.reserve_slow(words, budget)
        }
    }

    #[cold]
    #[inline(never)]
    fn reserve_slow(&self, words: usize, budget: &Budget) -> Option<*mut u64> {
        let p = self.new_chunk(words, budget)?;
        // SAFETY: the new chunk has room for `words` words at `p`.
        self.pos.set(unsafe { p.add(words) });
        self.recorded
            .store(self.recorded.load(Relaxed) + 1, Relaxed);
        Some(p)
    }

    /// Room for a record of at most `max` words, not taken yet: the caller
    /// writes up to `max` words at the returned pointer, then calls
    /// [`commit`](ThreadBuf::commit) with the number written. For records
    /// whose size is known only once written (user events with `Debug`
    /// arguments). `None` (counted as dropped) when the budget is spent.
    pub(crate) fn reserve_upto(&self, max: usize, budget: &Budget) -> Option<*mut u64> {
        self.debug_check_writer(max);
        let pos = self.pos.get();
        if (self.end.get() as usize).wrapping_sub(pos as usize) >= max * 8 {
            Some(pos)
        } else {
            self.new_chunk(max, budget)
        }
    }

    /// Takes the first `words` words of the room
    /// [`reserve_upto`](ThreadBuf::reserve_upto) gave, which the caller
    /// wrote.
    pub(crate) fn commit(&self, words: usize) {
        debug_assert!(
            (self.end.get() as usize).wrapping_sub(self.pos.get() as usize) >= words * 8,
            "commits {words} words, more than the room reserve_upto gave"
        );
        // SAFETY: `reserve_upto` guaranteed at least `words` words of room.
        self.pos.set(unsafe { self.pos.get().add(words) });
        self.recorded
            .store(self.recorded.load(Relaxed) + 1, Relaxed);
    }

    /// Starts a new chunk with room for `words` words, and returns its
    /// first word (where `pos` now points).
    fn new_chunk(&self, words: usize, budget: &Budget) -> Option<*mut u64> {
        let need = (words + HEADER_WORDS) * 8;
        // A record bigger than a chunk never fits: it alone is dropped (the
        // thread keeps recording). Once full, everything is.
        if need > CHUNK_BYTES || self.full.get() {
            self.count_dropped();
            return None;
        }
        let grant = budget.take(CHUNK_BYTES, need.max(MIN_CHUNK_BYTES));
        // Whole words: the chunk is freed with the size its capacity says.
        let chunk = if grant == 0 {
            ptr::null_mut()
        } else {
            Chunk::allocate(grant / 8 * 8)
        };
        if chunk.is_null() {
            // Full: no later record fits, not even in what is left of the
            // current chunk (a thread's recording stays a prefix).
            self.full.set(true);
            self.end.set(self.pos.get());
            self.count_dropped();
            return None;
        }
        self.retire_tail();
        let tail = self.tail.get();
        if tail.is_null() {
            self.head.set(chunk);
        } else {
            // SAFETY: `tail` is this buffer's live last chunk.
            unsafe { (*tail).next = chunk };
        }
        self.tail.set(chunk);
        // SAFETY: `chunk` is live, with `capacity >= words` (`need` is whole
        // words and at most `grant`).
        unsafe {
            debug_assert!((*chunk).capacity >= words);
            let data = Chunk::data(chunk);
            self.end.set(data.add((*chunk).capacity));
            self.pos.set(data);
            Some(data)
        }
    }

    /// Writes the current chunk's fill level into its header.
    fn retire_tail(&self) {
        let tail = self.tail.get();
        if !tail.is_null() {
            // SAFETY: `tail` is live and `pos` points into its data.
            unsafe {
                let used = self.pos.get().offset_from(Chunk::data(tail));
                debug_assert!(
                    used >= 0 && used as usize <= (*tail).capacity,
                    "{used} words used of {}",
                    (*tail).capacity
                );
                (*tail).used = used as usize;
            }
        }
    }

    /// Checks, in debug builds, what the firing path relies on: a record
    /// takes at least a word (`reserve` compares `pos` and `end`, both null
    /// before the first chunk), and only the buffer's own thread writes it.
    #[inline(always)]
    fn debug_check_writer(&self, words: usize) {
        debug_assert!(words > 0, "an empty record");
        debug_assert_eq!(
            thread_number(),
            self.number,
            "a thread writes another thread's buffer"
        );
    }

    fn count_dropped(&self) {
        self.dropped.store(self.dropped.load(Relaxed) + 1, Relaxed);
    }

    pub(crate) fn recorded(&self) -> u64 {
        self.recorded.load(Relaxed)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// The recorded words, chunk by chunk. Only once no probe writes any
    /// more (after the detach).
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[u64]> + '_ {
        self.retire_tail();
        let mut c = self.head.get();
        std::iter::from_fn(move || {
            if c.is_null() {
                return None;
            }
            // SAFETY: chunks stay allocated as long as the buffer; `used`
            // words of each were written (records are written whole: the
            // writer fills every word it reserved).
            let words = unsafe {
                let s = std::slice::from_raw_parts(Chunk::data(c), (*c).used);
                c = (*c).next;
                s
            };
            Some(words)
        })
    }
}

impl Drop for ThreadBuf {
    fn drop(&mut self) {
        let mut c = self.head.get();
        while !c.is_null() {
            // SAFETY: each chunk is live and freed once; `next` is read first.
            unsafe {
                let next = (*c).next;
                Chunk::free(c);
                c = next;
            }
        }
    }
}

thread_local! {
    /// `(recording number, buffer)` of the last recording this thread
    /// recorded into. No destructor, `const`: usable inside the allocator,
    /// during thread exit and after thread-local destructors ran.
    static CURRENT: Cell<(u64, *const ThreadBuf)> = const { Cell::new((0, ptr::null())) };
    /// This thread's number, 0 until assigned.
    static NUMBER: Cell<u64> = const { Cell::new(0) };
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

/// A number for the calling thread, unique in the process for its whole run
/// (kernel thread ids are reused; these are not).
pub(super) fn thread_number() -> u64 {
    NUMBER
        .try_with(|n| {
            if n.get() == 0 {
                n.set(NEXT_THREAD.fetch_add(1, Relaxed));
            }
            n.get()
        })
        .unwrap_or(0)
}

/// The buffers of one recording.
pub(crate) struct Buffers {
    /// This recording's number (never 0, never reused).
    id: u64,
    pub(crate) budget: Budget,
    /// Registered buffers, boxed so their addresses are stable. The vector
    /// grows and is dropped without accounting (it is the recorder's memory).
    #[allow(clippy::vec_box)] // the boxes keep the addresses the threads cache
    threads: Mutex<Vec<Box<ThreadBuf>>>,
    /// Events dropped before reaching a buffer (no thread-local left).
    pub(crate) lost: AtomicU64,
}

static NEXT_RECORDING: AtomicU64 = AtomicU64::new(1);

impl Buffers {
    pub(crate) fn new(budget: usize) -> Buffers {
        Buffers {
            id: NEXT_RECORDING.fetch_add(1, Relaxed),
            budget: Budget::new(budget),
            threads: Mutex::new(Vec::new()),
            lost: AtomicU64::new(0),
        }
    }

    /// The calling thread's buffer, registering it on its first event.
    #[inline(always)]
    pub(crate) fn this_thread(&self) -> Option<&ThreadBuf> {
        let cached = CURRENT.try_with(|c| {
            let (id, buf) = c.get();
            if id == self.id {
                buf
            } else {
                ptr::null()
            }
        });
        match cached {
            // SAFETY: the pointer was cached for this recording, whose
            // buffers live as long as `self` (they are freed only when the
            // recording is, after its probes are detached).
            Ok(buf) if !buf.is_null() => Some(unsafe { &*buf }),
            Ok(_) => self.register(),
            Err(_) => {
                self.lost.fetch_add(1, Relaxed);
                None
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&self) -> Option<&ThreadBuf> {
        let number = thread_number();
        let buf: *const ThreadBuf = without_accounting(|| {
            let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(b) = threads.iter().find(|b| b.number == number) {
                return &**b as *const ThreadBuf;
            }
            let b = Box::new(ThreadBuf::new(number));
            let p = &*b as *const ThreadBuf;
            threads.push(b);
            p
        });
        let _ = CURRENT.try_with(|c| c.set((self.id, buf)));
        // SAFETY: boxed in `threads`, which keeps it as long as `self`.
        Some(unsafe { &*buf })
    }

    /// The registered buffers, in registration order. Only after the
    /// probes writing them are detached.
    #[allow(clippy::vec_box)]
    pub(crate) fn threads(&self) -> std::sync::MutexGuard<'_, Vec<Box<ThreadBuf>>> {
        self.threads.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        let threads = std::mem::take(
            self.threads
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        without_accounting(move || drop(threads));
    }
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffers")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(buf: &ThreadBuf, budget: &Budget, words: usize, v: u64) -> bool {
        match buf.reserve(words, budget) {
            Some(p) => {
                for i in 0..words {
                    // SAFETY: `reserve` gave `words` words.
                    unsafe { p.add(i).write(v) };
                }
                true
            }
            None => false,
        }
    }

    #[test]
    fn records_span_chunks_and_stop_at_the_budget() {
        let budget = Budget::new(2 * CHUNK_BYTES + 1000);
        let buf = ThreadBuf::new(thread_number());
        let mut n = 0u64;
        while write(&buf, &budget, 5, n) {
            n += 1;
        }
        // Two full chunks and a 1000-byte one.
        let per = |bytes: usize| ((bytes / 8 - HEADER_WORDS) / 5) as u64;
        assert_eq!(n, 2 * per(CHUNK_BYTES) + per(1000));
        assert_eq!(buf.recorded(), n);
        assert_eq!(buf.dropped(), 1);
        // Full: later (even small) records are dropped too.
        assert!(!write(&buf, &budget, 1, 0));
        assert_eq!(buf.dropped(), 2);
        let words: Vec<u64> = buf.chunks().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(words.len() as u64, 5 * n);
        for (i, w) in words.chunks(5).enumerate() {
            assert!(w.iter().all(|&x| x == i as u64));
        }
    }

    #[test]
    fn a_record_bigger_than_a_chunk_is_dropped_alone() {
        let budget = Budget::new(4 * CHUNK_BYTES);
        let buf = ThreadBuf::new(thread_number());
        assert!(!write(&buf, &budget, CHUNK_BYTES / 8, 0));
        assert!(write(&buf, &budget, 2, 0));
        assert_eq!((buf.recorded(), buf.dropped()), (1, 1));
    }

    #[test]
    fn a_budget_of_odd_bytes_is_taken_in_whole_words() {
        // The chunk is freed with the size its capacity gives (1000 bytes):
        // it must have been allocated with that size, not 1003.
        let budget = Budget::new(1003);
        let buf = ThreadBuf::new(thread_number());
        let mut n = 0u64;
        while write(&buf, &budget, 5, n) {
            n += 1;
        }
        assert_eq!(n, ((1000 / 8 - HEADER_WORDS) / 5) as u64);
        assert_eq!(budget.used(), 1003);
        drop(buf);
    }

    #[test]
    fn a_tiny_budget_records_nothing() {
        let budget = Budget::new(100);
        let buf = ThreadBuf::new(thread_number());
        assert!(!write(&buf, &budget, 2, 0));
        assert_eq!(budget.used(), 0);
    }
}
