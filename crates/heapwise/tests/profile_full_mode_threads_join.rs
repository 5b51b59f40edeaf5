//! Full mode's shared counters (a bucket's allocations and frees, the live
//! bytes behind the peak, the carry bits) are updated with unlocked
//! instructions while one thread updates them, and with locked ones once
//! another joins in (`sys/solo.rs`). The hand-over must lose no update: each
//! round, in a forked child (one thread: it claims the counters afresh),
//! allocates and frees on its one thread, then keeps doing so while three
//! threads start, allocate, and free half of their blocks and some of the
//! first thread's; every figure must then be exact.
//!
//! Without libtest (`harness = false` in Cargo.toml): its threads would make
//! the process multi-threaded before the first allocation.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use heapwise::profile::{self, ProfileOptions};

/// Sizes no other allocation of the test has: a bucket's `bytes` label
/// finds the sites without symbols.
const MAIN_SIZE: usize = 72;
const THREAD_SIZE: usize = 88;
const THREADS: usize = 3;

#[inline(never)]
fn main_block(i: usize) -> Box<[u8; MAIN_SIZE]> {
    black_box(Box::new([i as u8; MAIN_SIZE]))
}

#[inline(never)]
fn thread_block(i: usize) -> Box<[u8; THREAD_SIZE]> {
    black_box(Box::new([i as u8; THREAD_SIZE]))
}

/// (allocations, live blocks) of the buckets of blocks of `size` bytes.
fn figures(p: &heapwise_pprof::Profile, size: usize) -> (i64, i64) {
    let mut out = (0, 0);
    for s in &p.sample {
        if common::profile::label_num(p, s, "bytes") == Some(size as i64) {
            out.0 += s.value[0];
            out.1 += s.value[2];
        }
    }
    out
}

/// Whether the kernel offers `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
/// (not under valgrind, which does not know the call).
fn membarrier_offered() -> bool {
    // SAFETY: MEMBARRIER_CMD_QUERY (0) only asks.
    let commands = unsafe { libc::syscall(libc::SYS_membarrier, 0, 0, 0) };
    commands > 0 && commands & (1 << 3) != 0
}

/// One round: the exit status is 0 if every figure was exact.
fn round(per_thread: usize) -> i32 {
    let mut mine: Vec<Box<[u8; MAIN_SIZE]>> = Vec::with_capacity(4096);
    // Alone: this thread claims the counters (from its second update on).
    for i in 0..1000 {
        mine.push(main_block(i));
    }
    if membarrier_offered() && !profile::__counters_unlocked_here() {
        eprintln!("the only thread updates with locked instructions");
        return 4;
    }
    let handed = Mutex::new(Vec::<Box<[u8; MAIN_SIZE]>>::new());
    let done = AtomicUsize::new(0);
    let mut allocated = 1000;
    let mut freed_here = 0;
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut v: Vec<_> = (0..per_thread).map(thread_block).collect();
                v.truncate(per_thread / 2);
                black_box(&v);
                std::mem::forget(v);
                // Frees of the first thread's blocks, here.
                drop(std::mem::take(&mut *handed.lock().unwrap()));
                done.fetch_add(1, SeqCst);
            });
        }
        // Meanwhile this thread allocates and frees without a pause, so a
        // starting thread finds it inside its updates.
        let mut i = 0;
        while done.load(SeqCst) < THREADS {
            mine.push(main_block(i));
            allocated += 1;
            if mine.len() > 2000 {
                let half = mine.split_off(1000);
                if let Ok(mut h) = handed.try_lock() {
                    h.extend(half);
                } else {
                    freed_here += half.len();
                    drop(half);
                }
            }
            i += 1;
        }
    });
    let handed = handed.into_inner().unwrap();
    let p = ProfileOptions::new().addresses_only().heap();
    let main = figures(&p, MAIN_SIZE);
    let live = (mine.len() + handed.len()) as i64;
    let thread = figures(&p, THREAD_SIZE);
    let want = (
        (THREADS * per_thread) as i64,
        (THREADS * per_thread / 2) as i64,
    );
    black_box((&mine, &handed, freed_here));
    if main != (allocated as i64, live) || thread != want {
        eprintln!(
            "first thread's blocks: {main:?}, want {:?}; the others': {thread:?}, want {want:?}",
            (allocated, live)
        );
        return 5;
    }
    0
}

fn main() {
    // Arguments meant for libtest (`--test-threads`, `--skip`) are ignored.
    profile::set_rate(1);
    // This thread claims the counters here, and each child again.
    black_box(vec![0u8; 40]);
    // Under valgrind (~100x slower) fewer and smaller rounds.
    let (rounds, per_thread) = if common::under_valgrind() {
        (2, 2_000)
    } else {
        (40, 20_000)
    };
    for r in 0..rounds {
        // SAFETY: this process has one thread; the child runs `round` and
        // leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let code = round(per_thread);
            // SAFETY: ends the child without the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "round {r}: child status {status:#x}"
        );
    }
    println!("test the_hand_over_from_one_thread_to_many_loses_no_update ({rounds} rounds) ... ok");
    // The line `.ci/run`'s summary counts.
    println!("test result: ok. 1 passed; 0 failed; 0 ignored");
}
