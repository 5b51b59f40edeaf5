//! Shared counters updated without locked instructions while one thread
//! updates them.
//!
//! Full mode counts every allocation and free in counters any thread may
//! update: a bucket's allocations and frees (`profile/depot.rs`), the
//! live-byte estimate behind the peak (`profile/high_water.rs`), the carry
//! bits (`profile/trailer.rs`). As atomic read-modify-writes that is six
//! locked instructions per allocation and free (`lock add`, `lock xadd`,
//! `lock or`, `lock and`), each ~20 cycles and a full barrier that drains
//! the store buffer. Most programs profiled that way allocate on one
//! thread, and there one unlocked instruction is exact. A loop allocating
//! and freeing one small block at rate 1 takes 0.70x the time it took with
//! locked updates; real programs gain less, their cache misses dominate
//! (0.98x on the bench's `serde_json` `events`, 0.99x on `sqlite3` and
//! `cc1plus` under `heapwise run --full`: `bench/results/`).
//!
//! # Mechanism
//!
//! `STATE` names the one thread that updates the counters (its thread
//! pointer, `fs:0`: unique among live threads, one instruction to read), or
//! says nobody has yet (`UNSET`), or that every thread uses locked
//! instructions for good (`SHARED`). Updates are made through a
//! [`Writer`], taken for a few updates at a time:
//!
//! - On the named thread, the writer marks the thread busy (`BUSY`,
//!   updated by that thread only), reads the state again, and if it still
//!   names the thread, updates with single unlocked instructions (`add`,
//!   `xadd`, `or`, `and`, `cmpxchg`). A signal handler runs between two
//!   instructions, never inside one, so a handler's updates on the same
//!   thread are not lost either; `BUSY` counts, so nested writers work.
//! - The first thread to take a writer claims the state.
//! - Any other thread sets the state to `SHARED`, has the kernel run a
//!   full barrier on every thread of the process (`membarrier(2)`,
//!   `MEMBARRIER_CMD_PRIVATE_EXPEDITED`), and waits until the named thread is
//!   not busy. That thread either read `SHARED` (its read came after the
//!   barrier) or had made itself busy before the barrier (its mark came
//!   before its read, and the barrier made the mark visible): the waiter
//!   then waits its last few instructions out, and sees their updates
//!   (x86 keeps stores in order). This is the asymmetric form of Dekker's
//!   handshake, as in liburcu and folly's `asymmetricHeavyBarrier`: the
//!   frequent side pays compiler fences, the rare side one system call, once
//!   per process.
//! - Where `membarrier` is missing (kernels before 4.14, sandboxes that
//!   refuse it) the state becomes `SHARED` at the first claim.
//! - A forked child has one thread: the fork handlers (`fork.rs`) reset
//!   the state to `UNSET` in the child, whatever it was in the parent.
//!
//! A thread that named the state and exits leaves its thread pointer there;
//! a thread created later may be given the same pointer and then updates
//! unlocked too, which is right: the first one is gone.
//!
//! The waiting thread gives up after about a million yields (seconds): a
//! writer never ended (a `longjmp` out of a signal handler that interrupted
//! the allocator) must not hang the process.
//!
//! A writer must be short and must not wait for anything (take a lock, walk a
//! stack) while it is held: a thread making the state `SHARED` waits for
//! it to end. Readers load the counters as before: each unlocked update is
//! one store of an aligned word.
//!
//! Only on x86_64 Linux; elsewhere every writer uses locked instructions.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A few updates of shared counters: see the module docs.
#[derive(Debug)]
pub(crate) struct Writer {
    /// Whether this thread updates unlocked (`BUSY` counted it).
    solo: bool,
}

impl Writer {
    /// `*a += v`.
    #[inline(always)]
    pub(crate) fn add(&self, a: &AtomicU64, v: u64) {
        if self.solo {
            imp::add(a.as_ptr(), v);
        } else {
            a.fetch_add(v, Ordering::Relaxed);
        }
    }

    /// `*a += v` (wrapping).
    #[inline(always)]
    pub(crate) fn add_i64(&self, a: &AtomicI64, v: i64) {
        if self.solo {
            imp::add(a.as_ptr().cast(), v as u64);
        } else {
            a.fetch_add(v, Ordering::Relaxed);
        }
    }

    /// `*a += v`; the value before.
    #[inline(always)]
    pub(crate) fn fetch_add_i64(&self, a: &AtomicI64, v: i64) -> i64 {
        if self.solo {
            imp::fetch_add(a.as_ptr().cast(), v as u64) as i64
        } else {
            a.fetch_add(v, Ordering::Relaxed)
        }
    }

    /// `*a = max(*a, v)`; the value before.
    #[inline(always)]
    pub(crate) fn fetch_max_i64(&self, a: &AtomicI64, v: i64) -> i64 {
        if self.solo {
            let mut current = a.load(Ordering::Relaxed);
            while current < v {
                match imp::compare_exchange(a.as_ptr().cast(), current as u64, v as u64) {
                    Ok(_) => break,
                    Err(now) => current = now as i64,
                }
            }
            current
        } else {
            a.fetch_max(v, Ordering::Relaxed)
        }
    }

    /// `*a |= bits`, ordered after this thread's earlier stores
    /// (`Release`).
    #[inline(always)]
    pub(crate) fn or(&self, a: &AtomicU64, bits: u64) {
        if self.solo {
            // x86 stores are released in order.
            imp::or(a.as_ptr(), bits);
        } else {
            a.fetch_or(bits, Ordering::Release);
        }
    }

    /// `*a &= bits`.
    #[inline(always)]
    pub(crate) fn and(&self, a: &AtomicU64, bits: u64) {
        if self.solo {
            imp::and(a.as_ptr(), bits);
        } else {
            a.fetch_and(bits, Ordering::Relaxed);
        }
    }
}

/// A writer for this thread: see the module docs. Keep it for a few
/// updates, with no lock taken and nothing waited for meanwhile.
#[inline(always)]
pub(crate) fn writer() -> Writer {
    Writer { solo: imp::enter() }
}

impl Drop for Writer {
    #[inline(always)]
    fn drop(&mut self) {
        if self.solo {
            imp::leave();
        }
    }
}

/// Whether the calling thread is the one that updates unlocked now (for
/// tests).
pub(crate) fn unlocked_here() -> bool {
    imp::named_here()
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use std::arch::asm;
    use std::sync::atomic::{compiler_fence, AtomicU32, AtomicUsize, Ordering::*};

    use crate::sys::fork::{AtFork, Rank};

    /// Nobody has updated a counter yet.
    const UNSET: usize = 0;
    /// Every thread uses locked instructions.
    const SHARED: usize = 1;
    /// A thread is claiming the state (registering with the kernel);
    /// meanwhile every thread uses locked instructions.
    const CLAIMING: usize = 3;

    /// [`UNSET`], [`SHARED`], `CLAIMING`, or the thread pointer of the one
    /// thread that updates unlocked (a multiple of 8).
    static STATE: AtomicUsize = AtomicUsize::new(UNSET);
    /// How many writers the named thread holds: written by that thread only,
    /// one unlocked instruction at a time.
    static BUSY: AtomicU32 = AtomicU32::new(0);

    /// `membarrier(2)` commands (linux/membarrier.h).
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    /// The calling thread's pointer (its control block), `fs:0`.
    #[inline(always)]
    fn thread_pointer() -> usize {
        let tp: usize;
        // SAFETY: on x86_64 Linux `fs` points at the thread's control block,
        // whose first word is the block's own address (the TLS ABI), from
        // before the first allocation to the thread's end.
        unsafe {
            asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
                options(nostack, readonly, preserves_flags, pure));
        }
        tp
    }

    pub(super) fn named_here() -> bool {
        STATE.load(Relaxed) == thread_pointer()
    }

    /// Whether this thread may update unlocked now; if so it is marked busy
    /// until [`leave`].
    #[inline(always)]
    pub(super) fn enter() -> bool {
        let state = STATE.load(Relaxed);
        if state == thread_pointer() {
            busy(1);
            // The mark before the second read: the compiler keeps the order,
            // `membarrier` the processor (see the module docs).
            compiler_fence(SeqCst);
            if STATE.load(Relaxed) == state {
                return true;
            }
            busy(u32::MAX);
            return false;
        }
        if state == SHARED {
            return false;
        }
        enter_slow(state)
    }

    /// The end of a writer that updated unlocked.
    #[inline(always)]
    pub(super) fn leave() {
        // The updates before the mark's end: `busy` is an `asm!` block that
        // may touch memory, which the compiler does not move stores across.
        busy(u32::MAX);
    }

    /// Adds `d` (wrapping) to [`BUSY`] in one unlocked instruction.
    #[inline(always)]
    fn busy(d: u32) {
        // SAFETY: `BUSY` is a static `u32`; only the named thread writes it.
        unsafe {
            asm!("add dword ptr [{p}], {d:e}", p = in(reg) BUSY.as_ptr(), d = in(reg) d,
                options(nostack));
        }
    }

    /// Claims the state for this thread, or makes it [`SHARED`]. Whether
    /// this thread may update unlocked.
    #[cold]
    #[inline(never)]
    fn enter_slow(state: usize) -> bool {
        match state {
            UNSET => {
                if STATE
                    .compare_exchange(UNSET, CLAIMING, AcqRel, Relaxed)
                    .is_err()
                {
                    return false;
                }
                FORK.ensure();
                // SAFETY: a system call with integer arguments.
                let registered = unsafe {
                    libc::syscall(
                        libc::SYS_membarrier,
                        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                        0,
                        0,
                    )
                } == 0;
                let next = if registered { thread_pointer() } else { SHARED };
                STATE.store(next, Release);
                // Unlocked from the next writer on.
                false
            }
            CLAIMING => false,
            _ => {
                share();
                false
            }
        }
    }

    /// Another thread named the state: from now on every thread updates
    /// with locked instructions. Waits for the named thread's last unlocked
    /// updates.
    #[cold]
    #[inline(never)]
    fn share() {
        if STATE.swap(SHARED, AcqRel) == SHARED {
            return;
        }
        // SAFETY: a system call with integer arguments; the process
        // registered for it before naming a thread.
        let rc =
            unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
        if rc != 0 {
            // Refused after all (a sandbox installed since): a processor
            // makes its stores visible within microseconds, and a thread
            // descheduled makes them visible as it stops, so a millisecond
            // later the named thread's busy mark shows if it is inside.
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 1_000_000,
            };
            // SAFETY: a valid timespec; no remainder wanted.
            unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
        }
        let mut spins = 0u32;
        while BUSY.load(Acquire) != 0 {
            spins = spins.wrapping_add(1);
            if spins < 100 {
                std::hint::spin_loop();
                continue;
            }
            // SAFETY: no arguments; the named thread is descheduled
            // inside its few instructions.
            unsafe { libc::sched_yield() };
            if spins >= GIVE_UP_YIELDS {
                // Never ending: the thread left a writer without ending it
                // (a `longjmp` out of a signal handler that interrupted the
                // allocator). Its updates are over; stop waiting.
                break;
            }
        }
    }

    /// Yields a thread waits at most for the named thread's writer (each a
    /// system call, a few microseconds at least: seconds in all).
    const GIVE_UP_YIELDS: u32 = 1_000_000;

    /// The child of a `fork` has one thread: it may claim the state again.
    static FORK: AtFork = AtFork::new(Rank::Solo, hold, release);
    /// The process id before the fork (0: none), to tell the child.
    static FORKING: AtomicUsize = AtomicUsize::new(0);

    fn hold() {
        // SAFETY: no arguments.
        FORKING.store(unsafe { libc::getpid() } as usize, Relaxed);
    }

    fn release() {
        // SAFETY: no arguments.
        if FORKING.load(Relaxed) != unsafe { libc::getpid() } as usize {
            BUSY.store(0, Relaxed);
            STATE.store(UNSET, Relaxed);
        }
    }

    #[inline(always)]
    pub(super) fn add(p: *mut u64, v: u64) {
        // SAFETY: `p` is an atomic's aligned word; this thread is the only
        // one updating it (the module docs), and readers load whole words.
        unsafe { asm!("add qword ptr [{p}], {v}", p = in(reg) p, v = in(reg) v, options(nostack)) }
    }

    #[inline(always)]
    pub(super) fn fetch_add(p: *mut u64, v: u64) -> u64 {
        let mut v = v;
        // SAFETY: as in `add`.
        unsafe {
            asm!("xadd qword ptr [{p}], {v}", p = in(reg) p, v = inout(reg) v, options(nostack))
        }
        v
    }

    #[inline(always)]
    pub(super) fn compare_exchange(p: *mut u64, old: u64, new: u64) -> Result<u64, u64> {
        let found: u64;
        // SAFETY: as in `add`.
        unsafe {
            asm!("cmpxchg qword ptr [{p}], {new}", p = in(reg) p, new = in(reg) new,
                inout("rax") old => found, options(nostack));
        }
        if found == old {
            Ok(found)
        } else {
            Err(found)
        }
    }

    #[inline(always)]
    pub(super) fn or(p: *mut u64, bits: u64) {
        // SAFETY: as in `add`.
        unsafe {
            asm!("or qword ptr [{p}], {b}", p = in(reg) p, b = in(reg) bits, options(nostack))
        }
    }

    #[inline(always)]
    pub(super) fn and(p: *mut u64, bits: u64) {
        // SAFETY: as in `add`.
        unsafe {
            asm!("and qword ptr [{p}], {b}", p = in(reg) p, b = in(reg) bits, options(nostack))
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    //! Never unlocked: [`enter`] says no, and the rest is never called.
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    #[inline(always)]
    pub(super) fn enter() -> bool {
        false
    }

    pub(super) fn named_here() -> bool {
        false
    }

    pub(super) fn leave() {}

    fn atomic<'a>(p: *mut u64) -> &'a AtomicU64 {
        // SAFETY: every caller passes an `AtomicU64`'s own word.
        unsafe { AtomicU64::from_ptr(p) }
    }

    pub(super) fn add(p: *mut u64, v: u64) {
        atomic(p).fetch_add(v, Relaxed);
    }

    pub(super) fn fetch_add(p: *mut u64, v: u64) -> u64 {
        atomic(p).fetch_add(v, Relaxed)
    }

    pub(super) fn compare_exchange(p: *mut u64, old: u64, new: u64) -> Result<u64, u64> {
        atomic(p).compare_exchange(old, new, Relaxed, Relaxed)
    }

    pub(super) fn or(p: *mut u64, bits: u64) {
        atomic(p).fetch_or(bits, Relaxed);
    }

    pub(super) fn and(p: *mut u64, bits: u64) {
        atomic(p).fetch_and(bits, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same updates through a locked and an unlocked writer (the
    /// unlocked one made by hand and forgotten, so the process's state is
    /// not touched) give the same values.
    #[test]
    fn unlocked_updates_are_the_locked_ones() {
        let mut results = Vec::new();
        for solo in [false, true] {
            let w = Writer { solo };
            let (a, b) = (AtomicU64::new(5), AtomicU64::new(0b1010));
            let (c, d) = (AtomicI64::new(-3), AtomicI64::new(10));
            w.add(&a, u64::MAX); // wraps: 4
            w.add_i64(&c, 7);
            let before = w.fetch_add_i64(&c, -10);
            let max = (
                w.fetch_max_i64(&d, 4),
                w.fetch_max_i64(&d, 12),
                d.load(Ordering::Relaxed),
            );
            w.or(&b, 0b0101);
            w.and(&b, !0b0010);
            std::mem::forget(w);
            results.push((a.into_inner(), b.into_inner(), before, c.into_inner(), max));
        }
        assert_eq!(results[0], (4, 0b1101, 4, -6, (10, 10, 12)));
        assert_eq!(results[0], results[1]);
    }

    /// A writer on a thread the state does not name updates locked, and
    /// ends nothing it did not start.
    #[test]
    fn writers_on_other_threads_are_locked() {
        let a = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        writer().add(&a, 1);
                    }
                });
            }
        });
        assert_eq!(a.into_inner(), 4000);
    }
}
