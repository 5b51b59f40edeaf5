//! Every other thread's registers and stack pointer, caught just before the
//! fork: each is sent a signal whose handler copies its interrupted
//! registers (from the `ucontext`) into a static slot and returns; the
//! thread runs on. A pointer held only in a register is then a root, and
//! the thread's stack is scanned from its stack pointer.
//!
//! The handler takes no lock and allocates nothing: it finds its slot by
//! thread id in a static table and claims it before writing, and the
//! taker reuses a slot only once its writer has finished, so an answer
//! that comes late (its thread was preempted inside the handler) never
//! lands in a slot given to another thread since. The signal is
//! `SIGRTMAX - 3`; if the program has its own handler on it, heapwise does
//! not replace it and takes no registers (other threads' stacks are then
//! scanned whole, as unknown memory). A thread that blocks the signal, or
//! does not answer in time, is treated the same way. In time means: while
//! answers keep coming, the round waits, until 500 ms pass without a new
//! one (a thread that blocks the signal never answers), and at most 2 s
//! plus 4 ms for each thread asked. A thread answers only once the
//! scheduler runs it: a fixed 200 ms plus 1 ms a thread left 88 of 600
//! idle threads unasked on 2 cores busy with other work. The threads are
//! asked in rounds of [`MAX_THREADS`], the size of the static table, so any
//! number of threads answers.
//!
//! The fork follows the last answer by microseconds, but a thread that
//! answered early runs on while the others answer (up to a second with
//! 500 busy threads on 2 cores): a block it allocates meanwhile, held in a
//! register or in a frame below the stack pointer it answered with, looks
//! unreachable. The leak checks therefore report only what two snapshots
//! in a row find leaked (`leak_check.rs`). Making the threads wait in the
//! handler until the fork was tried and dropped: a thread interrupted
//! inside `malloc` holds an arena lock that `fork` takes, so it cannot
//! wait, and the allocating threads that matter are mostly there.

use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::time::{Duration, Instant};

/// Threads asked in one round (the handler's static table).
const MAX_THREADS: usize = 512;
/// A round ends once this long passed without a new answer...
const QUIET_MS: u64 = 500;
/// ...or at the latest after this, plus [`CAP_MS_PER_THREAD`] per thread
/// asked.
const CAP_MS: u64 = 2000;
const CAP_MS_PER_THREAD: u64 = 4;
/// Words of registers kept per thread.
pub(crate) const REGS: usize = 32;

/// A slot's `state`: 0 (free), a thread id (asked), the id with
/// [`WRITING`] (its handler is writing) or with [`ANSWERED`] (written).
/// Thread ids are below 2^22 on Linux.
const WRITING: i32 = 1 << 29;
const ANSWERED: i32 = 1 << 30;

/// One thread's answer.
struct Slot {
    /// See [`WRITING`]. Only the handler that moved it from a thread id to
    /// `WRITING` writes the rest, and the taker reads or reuses a slot only
    /// when it is not `WRITING`.
    state: AtomicI32,
    sp: AtomicUsize,
    /// The thread pointer (its TCB; static TLS lies just below it).
    tp: AtomicUsize,
    regs: [AtomicUsize; REGS],
}

static SLOTS: [Slot; MAX_THREADS] = [const {
    Slot {
        state: AtomicI32::new(0),
        sp: AtomicUsize::new(0),
        tp: AtomicUsize::new(0),
        regs: [const { AtomicUsize::new(0) }; REGS],
    }
}; MAX_THREADS];
/// The handler is installed (it stays: a late signal must not kill).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A thread's registers at the snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Caught {
    pub(crate) tid: i32,
    pub(crate) sp: usize,
    pub(crate) tp: usize,
    pub(crate) regs: [usize; REGS],
}

/// What [`catch`] found: the threads that answered, and how many did not.
#[derive(Debug, Default)]
pub(crate) struct Threads {
    pub(crate) caught: Vec<Caught>,
    pub(crate) missed: usize,
    /// Why no thread was asked, if none was.
    pub(crate) note: Option<String>,
}

fn signal() -> libc::c_int {
    libc::SIGRTMAX() - 3
}

/// The ids of the process's threads (from `/proc/self/task`).
pub(crate) fn thread_ids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut ids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// This thread's id.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Asks every thread of `ids` (from [`thread_ids`]) but this one for its
/// registers, in rounds of [`MAX_THREADS`]; returns those that answered in
/// time.
pub(crate) fn catch(ids: &[i32]) -> Threads {
    let me = gettid();
    let others: Vec<i32> = ids.iter().copied().filter(|&t| t != me).collect();
    if others.is_empty() {
        return Threads::default();
    }
    if let Err(note) = install() {
        return Threads {
            missed: others.len(),
            note: Some(note),
            ..Threads::default()
        };
    }
    sweep();
    let mut out = Threads::default();
    let mut rest = &others[..];
    while !rest.is_empty() {
        match catch_round(&rest[..rest.len().min(MAX_THREADS)], &mut out) {
            // Every slot is still being written by a late answer.
            0 => {
                out.missed += rest.len();
                break;
            }
            asked => rest = &rest[asked..],
        }
    }
    out
}

/// Frees the slots that late answers (after their round) wrote, so that
/// their registers are not a stale root of this snapshot's globals.
fn sweep() {
    for slot in &SLOTS {
        let old = slot.state.load(Acquire);
        if old & ANSWERED != 0 {
            clear(slot);
            let _ = slot.state.compare_exchange(old, 0, AcqRel, Relaxed);
        }
    }
}

/// Zeroes a slot's copies of a thread's registers.
fn clear(slot: &Slot) {
    slot.sp.store(0, Relaxed);
    slot.tp.store(0, Relaxed);
    slot.regs.iter().for_each(|r| r.store(0, Relaxed));
}

/// Asks the threads `round` (at most [`MAX_THREADS`]) and adds their
/// answers, or their count as missed, to `out`; returns how many of
/// `round` it asked (fewer when slots are still held by late answers of an
/// earlier round). Every slot it used is free again after, unless a late
/// answer is writing it.
fn catch_round(round: &[i32], out: &mut Threads) -> usize {
    let mut used: Vec<(usize, i32)> = Vec::with_capacity(round.len());
    let mut asked = round.iter().copied().peekable();
    for (i, slot) in SLOTS.iter().enumerate() {
        let Some(&tid) = asked.peek() else { break };
        debug_assert!(tid > 0 && tid < WRITING);
        let old = slot.state.load(Acquire);
        // A free slot (the sweep freed those late answers had written).
        if old == 0
            && slot
                .state
                .compare_exchange(old, tid, AcqRel, Relaxed)
                .is_ok()
        {
            used.push((i, tid));
            asked.next();
        }
    }
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    for &(_, tid) in &used {
        // SAFETY: tgkill with this process's id: at worst ESRCH (the thread
        // has exited), which leaves its slot unanswered.
        unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signal()) };
    }
    let answered = |&(i, tid): &(usize, i32)| SLOTS[i].state.load(Acquire) == tid | ANSWERED;
    let start = Instant::now();
    let cap = start + Duration::from_millis(CAP_MS + CAP_MS_PER_THREAD * used.len() as u64);
    let (mut last, mut since) = (0, start);
    loop {
        let now = Instant::now();
        let n = used.iter().filter(|u| answered(u)).count();
        if n > last {
            (last, since) = (n, now);
        }
        if n == used.len() || now >= cap || now - since >= Duration::from_millis(QUIET_MS) {
            break;
        }
        std::thread::yield_now();
    }
    for &(i, tid) in &used {
        let slot = &SLOTS[i];
        if slot.state.load(Acquire) == tid | ANSWERED {
            out.caught.push(Caught {
                tid,
                sp: slot.sp.load(Relaxed),
                tp: slot.tp.load(Relaxed),
                regs: std::array::from_fn(|r| slot.regs[r].load(Relaxed)),
            });
            // The copies live on in `out`; left here they would be a
            // second, stale root (in heapwise's globals) for the next
            // snapshot.
            clear(slot);
            slot.state.store(0, Release);
        } else {
            out.missed += 1;
            // Unanswered: freed, unless its handler is writing right now
            // (it then marks it answered, and a later round reuses it).
            let _ = slot.state.compare_exchange(tid, 0, AcqRel, Relaxed);
        }
    }
    used.len()
}

/// Installs the handler unless the program has one of its own there.
fn install() -> Result<(), String> {
    if INSTALLED.load(Acquire) {
        return Ok(());
    }
    // SAFETY: all-zero is a valid `sigaction` (no handler, empty mask).
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the current action into `old`.
    if unsafe { libc::sigaction(signal(), std::ptr::null(), &mut old) } != 0 {
        return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
    }
    if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
        return Err(format!(
            "the program handles signal {} (SIGRTMAX-3) itself: other threads' registers were not taken",
            signal()
        ));
    }
    // SAFETY: as above.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: a valid action whose handler is async-signal-safe.
    if unsafe { libc::sigaction(signal(), &action, std::ptr::null_mut()) } != 0 {
        return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
    }
    INSTALLED.store(true, Release);
    Ok(())
}

/// The handler: copies the interrupted registers into this thread's slot,
/// claimed first (see [`Slot::state`]). Async-signal-safe: atomics and one
/// `gettid`.
extern "C" fn on_signal(_: libc::c_int, _: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let tid = gettid();
    let Some(slot) = SLOTS.iter().find(|s| {
        s.state.load(Relaxed) == tid
            && s.state
                .compare_exchange(tid, tid | WRITING, Acquire, Relaxed)
                .is_ok()
    }) else {
        return;
    };
    // SAFETY: the kernel passes a valid `ucontext_t` to an SA_SIGINFO handler.
    let uc = unsafe { &*context.cast::<libc::ucontext_t>() };
    let (sp, regs) = registers(uc);
    for (to, from) in slot.regs.iter().zip(regs.iter()) {
        to.store(*from, Relaxed);
    }
    slot.sp.store(sp, Relaxed);
    slot.tp.store(thread_pointer(), Relaxed);
    slot.state.store(tid | ANSWERED, Release);
}

#[cfg(target_arch = "x86_64")]
fn registers(uc: &libc::ucontext_t) -> (usize, [usize; REGS]) {
    let g = &uc.uc_mcontext.gregs;
    let mut regs = [0usize; REGS];
    for (to, from) in regs.iter_mut().zip(g.iter()) {
        *to = *from as usize;
    }
    (g[libc::REG_RSP as usize] as usize, regs)
}

#[cfg(target_arch = "aarch64")]
fn registers(uc: &libc::ucontext_t) -> (usize, [usize; REGS]) {
    let m = &uc.uc_mcontext;
    let mut regs = [0usize; REGS];
    for (to, from) in regs.iter_mut().zip(m.regs.iter()) {
        *to = *from as usize;
    }
    (m.sp as usize, regs)
}

/// The calling thread's callee-saved registers (the others are spilled to
/// its stack by the compiler around any call) and its stack pointer.
#[inline(never)]
pub(crate) fn own_registers() -> (usize, [usize; REGS]) {
    let mut regs = [0usize; REGS];
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: stores six registers into `regs`, which has room; reads rsp.
    unsafe {
        std::arch::asm!(
            "mov [{r}], rbx",
            "mov [{r} + 8], rbp",
            "mov [{r} + 16], r12",
            "mov [{r} + 24], r13",
            "mov [{r} + 32], r14",
            "mov [{r} + 40], r15",
            "mov {sp}, rsp",
            r = in(reg) regs.as_mut_ptr(),
            sp = out(reg) sp,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: stores x19..x30 into `regs`, which has room; reads sp.
    unsafe {
        std::arch::asm!(
            "stp x19, x20, [{r}]",
            "stp x21, x22, [{r}, #16]",
            "stp x23, x24, [{r}, #32]",
            "stp x25, x26, [{r}, #48]",
            "stp x27, x28, [{r}, #64]",
            "stp x29, x30, [{r}, #80]",
            "mov {sp}, sp",
            r = in(reg) regs.as_mut_ptr(),
            sp = out(reg) sp,
            options(nostack, preserves_flags),
        );
    }
    (sp, regs)
}

/// The calling thread's thread pointer: its TCB, below which the C library
/// puts the static thread-local storage (x86_64: `fs:0` holds it; aarch64:
/// `tpidr_el0`, above which it lies).
pub(crate) fn thread_pointer() -> usize {
    let tp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads the TCB's self-pointer, which glibc and musl keep at fs:0.
    unsafe {
        std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads the thread pointer register.
    unsafe {
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nostack, nomem, preserves_flags));
    }
    tp
}

/// The name of thread `tid` (`/proc/self/task/TID/comm`), if readable.
pub(crate) fn name(tid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
    Some(s.trim_end().to_string())
}
