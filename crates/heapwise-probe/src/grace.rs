//! The grace period: when may a detached probe, or a replaced probe array,
//! be freed?
//!
//! Events read an event's probe array with no lock; attach, detach and
//! [`setup`](fn@crate::setup) publish a new array and must not free the old one
//! (nor drop a detached probe's closure) while an event may still be running
//! it. This module is a userspace RCU in the style of liburcu's "memb"
//! flavour, reduced to what probes need.
//!
//! # Readers (the firing path, only while a probe is attached)
//!
//! Each thread owns a *reader slot* in a fixed static array of
//! 1024 (`MAX_SLOTS`) cache-line-sized slots, claimed on the thread's first event
//! that finds a probe attached (one compare-and-swap, no allocation) and
//! remembered in a `const` thread-local. Around the probes of an event the
//! thread does:
//!
//! ```text
//! slot.epoch = GP                 plain store (Release)
//! compiler fence                  (a full fence if membarrier is unavailable)
//! array = event.head              load (Acquire)
//! ... run the probes ...
//! slot.epoch = 0                  plain store (Release)
//! ```
//!
//! No read-modify-write, nothing shared is written: each thread writes only
//! its own cache line.
//!
//! # Writers (attach, detach, setup: user code)
//!
//! After publishing a new array, a writer waits for a grace period:
//!
//! ```text
//! target = ++GP
//! membarrier(PRIVATE_EXPEDITED)   (a full fence if unavailable)
//! for each claimed slot: wait while 0 < slot.epoch < target
//! free the old arrays, drop the detached probes
//! ```
//!
//! `membarrier` makes every running thread of the process execute a full
//! memory barrier, so the reader's store-then-load needs only a compiler
//! fence: either the barrier hit the reader before its slot store, and its
//! array load then sees the new array (published before the barrier), or
//! after it, and the writer then sees the slot and waits. A thread that keeps
//! firing events never starves the writer: each new read section stores the
//! current `GP`, which is `>= target`.
//!
//! # Threads that leave, threads beyond the slots
//!
//! A slot is released when its thread exits, by a pthread key destructor
//! (the key is created by the first writer; setting it on the thread's first
//! event does not allocate: glibc keeps the first 32 keys in the thread
//! descriptor, musl all of them). If the key is unavailable the slot stays
//! claimed but idle (`epoch == 0`), which costs capacity, never correctness.
//! A thread that finds no free slot, or whose thread-locals are unavailable,
//! uses a shared pair of counters instead (SRCU style: two atomic
//! read-modify-writes and a fence per event, correct, slower).
//!
//! # Why membarrier by default
//!
//! A full fence on x86_64 is a locked no-op on the thread's own stack;
//! membarrier replaces it on the reader's side with a compiler fence and
//! costs the writer one system call per grace period. Events are hot and
//! attaches rare, so membarrier is the default (`bench-probe/` measures
//! both). A shared-counter SRCU would cost two locked read-modify-writes on
//! one shared line per event, contended between threads: it is only the
//! fallback for threads without a slot.
//!
//! # Memory ordering
//!
//! Reader: `slot.epoch = GP` (Release), compiler fence (membarrier) or
//! `fence(SeqCst)`, `head.load(Acquire)`; `slot.epoch = 0` (Release) at the
//! end. Writer: publish (`swap`, AcqRel), `GP += 1` (SeqCst), membarrier or
//! `fence(SeqCst)`, then Acquire loads of the slots (and of the slot high
//! water mark). In fence mode this is the store-buffering pattern with a
//! SeqCst fence on both sides: either the reader's fence comes first in the
//! total order, and the writer sees its epoch, or the writer's does, and the
//! reader loads the new array. A reader that sees an epoch `>= target`
//! acquired `GP` after the bump, which was released after the publish.
//! The shared counters follow the same pattern (count, fence, check `GP`
//! against bump `GP`, fence, read the count).
//!
//! # Checked with loom
//!
//! `tests/loom_grace.rs` compiles this module against loom's atomics
//! (`src/sync.rs`) and runs attaches and detaches against firing
//! threads in every interleaving up to a preemption bound, on slots, on the
//! shared counters, across a slot's release and reuse, and with two writers:
//! no firing thread may read an array or a closure after the detach that
//! frees it returned. It checks the fence mode; membarrier's barrier comes
//! from the kernel, outside the memory model loom checks.

use std::cell::Cell;
use std::sync::atomic::{compiler_fence, Ordering::*};

use crate::sync::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Mutex};

/// Reader slots; threads beyond this use the shared counters. Two in the
/// loom model, where a third reader takes the shared counters.
pub(crate) const MAX_SLOTS: usize = if cfg!(all(loom, test)) { 2 } else { 1024 };

/// One thread's reader state, alone on its cache line (it is written on
/// every event with probes attached; sharing the line would make threads
/// contend).
#[repr(C, align(64))]
struct Slot {
    /// 0: not in a read section; otherwise the `GP` value read on entry.
    epoch: AtomicU64,
    /// Claimed by a live thread.
    owned: AtomicBool,
}

#[cfg(not(all(loom, test)))]
#[allow(clippy::declare_interior_mutable_const)]
const FREE_SLOT: Slot = Slot {
    epoch: AtomicU64::new(0),
    owned: AtomicBool::new(false),
};

#[cfg(not(all(loom, test)))]
static SLOTS: [Slot; MAX_SLOTS] = [FREE_SLOT; MAX_SLOTS];
/// One past the highest slot ever claimed: writers scan `SLOTS[..HWM]`.
#[cfg(not(all(loom, test)))]
static HWM: AtomicUsize = AtomicUsize::new(0);
/// The grace-period counter; starts at 1 so that 0 means idle.
#[cfg(not(all(loom, test)))]
static GP: AtomicU64 = AtomicU64::new(1);
/// Shared reader counters for threads without a slot, by `GP` parity.
#[cfg(not(all(loom, test)))]
static OVERFLOW: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Serialises grace periods (never taken on the firing path, nor by a thread
/// inside a probe).
#[cfg(not(all(loom, test)))]
static GP_LOCK: Mutex<()> = Mutex::new(());
/// How readers and writers order the slot store before the array load.
#[cfg(not(all(loom, test)))]
static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);

// The same statics in the loom model (loom's atomics are not `const`; each
// execution of a model starts with fresh ones).
#[cfg(all(loom, test))]
loom::lazy_static! {
    static ref SLOTS: [Slot; MAX_SLOTS] = std::array::from_fn(|_| Slot {
        epoch: AtomicU64::new(0),
        owned: AtomicBool::new(false),
    });
    static ref HWM: AtomicUsize = AtomicUsize::new(0);
    static ref GP: AtomicU64 = AtomicU64::new(1);
    static ref OVERFLOW: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
    static ref GP_LOCK: Mutex<()> = Mutex::new(());
    static ref MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);
}

const MODE_UNSET: u8 = 0;
const MODE_FENCE: u8 = 1;
const MODE_MEMBARRIER: u8 = 2;

/// `SLOT` address: no slot claimed yet (null).
const NO_SLOT: usize = 0;
/// `SLOT` address: no slot free (or no thread-locals), use the shared
/// counters.
const SHARED: usize = 1;

#[cfg(not(all(loom, test)))]
thread_local! {
    /// This thread's slot in [`SLOTS`], or a pointer whose address is
    /// [`NO_SLOT`] or [`SHARED`] (slots are 64-byte aligned, never there).
    static SLOT: Cell<*const Slot> = const { Cell::new(std::ptr::null()) };
}

#[cfg(all(loom, test))]
loom::thread_local! {
    static SLOT: Cell<*const Slot> = Cell::new(std::ptr::null());
}

// `Reader` tags a shared counter's address with its low bit.
const _: () = assert!(std::mem::align_of::<AtomicU64>() >= 2);

/// A read section in progress, for [`read_unlock`]: this thread's slot
/// epoch, or a shared counter with the low address bit set.
pub(crate) struct Reader(*const AtomicU64);

/// Starts a read section. Never allocates, locks or panics.
#[inline(always)]
pub(crate) fn read_lock() -> Reader {
    let p = SLOT
        .try_with(Cell::get)
        .unwrap_or(std::ptr::without_provenance(SHARED));
    if p.addr() <= SHARED {
        return read_lock_slow(p);
    }
    enter_slot(p)
}

#[inline(always)]
fn enter_slot(p: *const Slot) -> Reader {
    // SAFETY: pointers other than the two markers are only ever set by
    // `claim_slot`, to an element of the static `SLOTS` this thread owns.
    let slot = unsafe { &*p };
    // Read sections do not nest (the firing path enters one only past the
    // nesting guard), and only the owner writes a non-zero epoch.
    debug_assert!(
        slot.owned.load(Relaxed),
        "heapwise-probe: reading through an unowned slot"
    );
    debug_assert_eq!(
        slot.epoch.load(Relaxed),
        0,
        "heapwise-probe: nested read section"
    );
    slot.epoch.store(GP.load(Acquire), Release);
    if MODE.load(Relaxed) == MODE_MEMBARRIER {
        // The writer's membarrier supplies the hardware barrier.
        compiler_fence(SeqCst);
    } else {
        fence(SeqCst);
    }
    Reader(&slot.epoch)
}

/// Ends a read section.
#[inline(always)]
pub(crate) fn read_unlock(r: Reader) {
    if r.0.addr() & 1 == 0 {
        // SAFETY: made by `enter_slot` from a `SLOTS` element.
        let epoch = unsafe { &*r.0 };
        debug_assert_ne!(
            epoch.load(Relaxed),
            0,
            "heapwise-probe: read section ended twice"
        );
        epoch.store(0, Release);
    } else {
        // SAFETY: made by `shared_lock` from an `OVERFLOW` element, with
        // the low bit set (the counters are 8-byte aligned).
        let before = unsafe { &*r.0.map_addr(|a| a & !1) }.fetch_sub(1, Release);
        debug_assert_ne!(before, 0, "heapwise-probe: shared reader count underflow");
    }
}

#[cold]
#[inline(never)]
fn read_lock_slow(p: *const Slot) -> Reader {
    let p = if p.addr() == NO_SLOT { claim_slot() } else { p };
    if p.addr() > SHARED {
        enter_slot(p)
    } else {
        shared_lock()
    }
}

#[cold]
#[inline(never)]
fn shared_lock() -> Reader {
    loop {
        let e = GP.load(SeqCst);
        let count = &OVERFLOW[(e & 1) as usize];
        count.fetch_add(1, SeqCst);
        // The same store-buffering argument as a slot's, with a fence on
        // both sides (the writer's follows its `GP` bump): either this fence
        // comes first and the writer sees the count, or the writer's does
        // and the check below sees its bump. The `SeqCst` accesses alone
        // would do in C++'s model, but loom checks fences only (it does not
        // model the total order of `SeqCst` accesses); on this fallback path
        // the fence costs next to the two shared read-modify-writes.
        fence(SeqCst);
        // Counted under the parity of the current period: a writer that
        // bumps GP after this check waits for us; if one bumped it before,
        // retry under the new parity.
        if GP.load(SeqCst) == e {
            return Reader((count as *const AtomicU64).map_addr(|a| a | 1));
        }
        count.fetch_sub(1, Release);
    }
}

/// Claims a free slot for this thread (first event with probes attached)
/// and returns it, or the [`SHARED`] marker if none is free.
fn claim_slot() -> *const Slot {
    for (i, slot) in SLOTS.iter().enumerate() {
        if !slot.owned.load(Relaxed)
            && slot
                .owned
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
        {
            // A released slot was left idle by its previous owner.
            debug_assert_eq!(
                slot.epoch.load(Relaxed),
                0,
                "heapwise-probe: claimed a busy slot"
            );
            HWM.fetch_max(i + 1, SeqCst);
            let p = slot as *const Slot;
            let _ = SLOT.try_with(|c| c.set(p));
            sys::release_at_exit(p.addr());
            return p;
        }
    }
    let shared = std::ptr::without_provenance(SHARED);
    let _ = SLOT.try_with(|c| c.set(shared));
    shared
}

/// Releases the slot at address `a` of the exiting thread.
fn release_slot(a: usize) {
    if let Some(slot) = SLOTS.iter().find(|s| (*s as *const Slot).addr() == a) {
        debug_assert!(
            slot.owned.load(Relaxed),
            "heapwise-probe: released a free slot"
        );
        let _ = SLOT.try_with(|c| {
            if c.get().addr() == a {
                c.set(std::ptr::null())
            }
        });
        slot.epoch.store(0, Release);
        slot.owned.store(false, Release);
    }
}

/// Chooses the barrier (membarrier or fences) and creates the slot-release
/// key. Called by every writer before it publishes anything (cheap after the
/// first call). Environment: `HEAPWISE_PROBE_MEMBARRIER=0` forces fences
/// (for benchmarks and for comparing the two).
pub(crate) fn init() {
    if MODE.load(Acquire) != MODE_UNSET {
        return;
    }
    let _g = GP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if MODE.load(Acquire) != MODE_UNSET {
        return;
    }
    let want = std::env::var_os("HEAPWISE_PROBE_MEMBARRIER").is_none_or(|v| v != "0");
    let mode = if want && sys::membarrier_register() {
        MODE_MEMBARRIER
    } else {
        MODE_FENCE
    };
    sys::create_key();
    MODE.store(mode, Release);
}

/// Whether readers rely on `membarrier` (after the first writer).
pub(crate) fn uses_membarrier() -> bool {
    MODE.load(Acquire) == MODE_MEMBARRIER
}

/// Waits until every read section that started before this call has ended.
/// Must not be called by a thread inside a read section (it would wait for
/// itself): callers inside a probe defer instead.
pub(crate) fn synchronize() {
    init();
    let _g = GP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let target = GP.fetch_add(1, SeqCst) + 1;
    // GP starts at 1 and only this (serialised) bump changes it.
    debug_assert!(target >= 2, "heapwise-probe: grace period counter wrapped");
    if uses_membarrier() {
        sys::membarrier();
    }
    fence(SeqCst);
    let hwm = HWM.load(SeqCst);
    debug_assert!(hwm <= MAX_SLOTS);
    for slot in &SLOTS[..hwm] {
        wait_while(|| {
            let e = slot.epoch.load(Acquire);
            e != 0 && e < target
        });
    }
    let old = &OVERFLOW[((target - 1) & 1) as usize];
    wait_while(|| old.load(SeqCst) != 0);
    fence(SeqCst);
}

/// Spins briefly, then yields, then sleeps: a probe may legitimately run for
/// a long time (a test pausing the firing thread inside a probe).
#[cfg(not(all(loom, test)))]
fn wait_while(mut busy: impl FnMut() -> bool) {
    use std::time::{Duration, Instant};
    let mut spins = 0u32;
    let mut since: Option<Instant> = None;
    while busy() {
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else if since.get_or_insert_with(Instant::now).elapsed() < Duration::from_millis(1) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// In the loom model every turn of a wait yields to the other threads (loom
/// explores the interleavings of a spinning thread only at its yields).
#[cfg(all(loom, test))]
fn wait_while(mut busy: impl FnMut() -> bool) {
    while busy() {
        loom::thread::yield_now();
    }
}

/// Releases this thread's slot, as the pthread key destructor does when a
/// thread exits (the loom model has no pthread keys).
#[cfg(all(loom, test))]
pub(crate) fn exit_thread() {
    if let Ok(p) = SLOT.try_with(Cell::get) {
        if p.addr() > SHARED {
            release_slot(p.addr());
        }
    }
}

/// Slots ever claimed (for tests).
#[cfg(all(test, not(loom)))]
fn claimed() -> usize {
    SLOTS[..HWM.load(SeqCst)]
        .iter()
        .filter(|s| s.owned.load(SeqCst))
        .count()
}

#[cfg(all(target_os = "linux", not(miri), not(all(loom, test))))]
mod sys {
    use std::sync::atomic::{AtomicUsize, Ordering::*};

    const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    /// Registers for private expedited membarrier; false if unsupported
    /// (old kernel, valgrind, seccomp).
    pub(super) fn membarrier_register() -> bool {
        // SAFETY: membarrier takes integer arguments only and touches no
        // memory of ours.
        let mask = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) };
        if mask < 0 || mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED == 0 {
            return false;
        }
        // SAFETY: as above.
        let r = unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                0,
                0,
            )
        };
        r == 0
    }

    /// A full memory barrier on every running thread of the process.
    pub(super) fn membarrier() {
        // SAFETY: as above.
        let r =
            unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
        if r != 0 {
            // Registered successfully, so this cannot fail; if it did, readers
            // (compiler fences only) would no longer be safe to reclaim after.
            eprintln!("heapwise-probe: membarrier failed after registration; aborting");
            std::process::abort();
        }
    }

    /// The pthread key whose destructor releases a thread's slot, + 1 (0:
    /// none).
    static KEY: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn create_key() {
        if KEY.load(Acquire) != 0 {
            return;
        }
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid out pointer; `destructor` has the C ABI
        // signature pthread expects.
        if unsafe { libc::pthread_key_create(&mut key, Some(destructor)) } != 0 {
            return;
        }
        // glibc allocates the storage of keys >= 32 on first set (calloc and
        // its lock): the firing path must do neither, so such a key is not
        // used and slots of exited threads stay claimed (idle).
        if cfg!(target_env = "gnu") && key >= 32 {
            return;
        }
        KEY.store(key as usize + 1, Release);
    }

    /// Arranges for the slot at address `s` to be released when this thread
    /// exits.
    pub(super) fn release_at_exit(s: usize) {
        let k = KEY.load(Acquire);
        if k != 0 {
            // SAFETY: the key was created by pthread_key_create and never
            // deleted; the value is an integer, never dereferenced.
            unsafe {
                libc::pthread_setspecific(
                    (k - 1) as libc::pthread_key_t,
                    std::ptr::without_provenance(s),
                )
            };
        }
    }

    extern "C" fn destructor(v: *mut libc::c_void) {
        super::release_slot(v.addr());
    }
}

#[cfg(not(all(target_os = "linux", not(miri), not(all(loom, test)))))]
mod sys {
    pub(super) fn membarrier_register() -> bool {
        false
    }
    pub(super) fn membarrier() {}
    pub(super) fn create_key() {}
    pub(super) fn release_at_exit(_s: usize) {}
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn synchronize_waits_for_a_reader_that_started_before() {
        init();
        let entered = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let t = {
            let (entered, release, done) = (entered.clone(), release.clone(), done.clone());
            std::thread::spawn(move || {
                let r = read_lock();
                entered.store(true, SeqCst);
                while !release.load(SeqCst) {
                    std::thread::yield_now();
                }
                done.store(true, SeqCst);
                read_unlock(r);
            })
        };
        while !entered.load(SeqCst) {
            std::thread::yield_now();
        }
        let w = {
            let release = release.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                release.store(true, SeqCst);
            })
        };
        synchronize();
        assert!(
            done.load(SeqCst),
            "synchronize returned inside a read section"
        );
        t.join().unwrap();
        w.join().unwrap();
    }

    #[test]
    fn a_new_reader_does_not_hold_up_a_writer() {
        init();
        let r = read_lock();
        // This thread is inside a section with an epoch older than the next
        // target: a writer on another thread must wait for it...
        let stop = Arc::new(AtomicBool::new(false));
        let w = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                synchronize();
                stop.store(true, SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(10));
        assert!(!stop.load(SeqCst));
        // ...until the section ends; re-entering afterwards (newer epoch)
        // does not block it.
        read_unlock(r);
        let r = read_lock();
        w.join().unwrap();
        read_unlock(r);
    }

    #[test]
    fn exited_threads_release_their_slots() {
        init();
        // Many short-lived threads, more than there are slots: without
        // release they would exhaust them (or, if the key is unavailable,
        // fall back to the shared counters: still correct).
        for _ in 0..(if cfg!(miri) { 4 } else { MAX_SLOTS + 100 }) {
            std::thread::spawn(|| read_unlock(read_lock()))
                .join()
                .unwrap();
        }
        if cfg!(all(target_os = "linux", not(miri))) {
            assert!(claimed() < MAX_SLOTS / 2, "claimed {}", claimed());
        }
        synchronize();
    }

    #[test]
    fn shared_counters_are_a_correct_fallback() {
        init();
        let r = shared_lock();
        let stop = Arc::new(AtomicBool::new(false));
        let w = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                synchronize();
                stop.store(true, SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(10));
        assert!(!stop.load(SeqCst));
        read_unlock(r);
        w.join().unwrap();
    }
}
