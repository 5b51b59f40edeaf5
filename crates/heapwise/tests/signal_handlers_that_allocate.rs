//! A signal handler that allocates, interrupting this thread's allocator
//! calls anywhere in heapwise's code: between a call's countdown and its
//! record, in a slow path, in a flush. Its calls land in the batch the
//! interrupted call is building (or go uncounted, as heapwise's own, when
//! it interrupts heapwise's guarded bookkeeping), so a scope's figures must
//! stay consistent: every block counted allocated is counted freed, with
//! the same bytes, and the handler's count is no more than it ran.
//!
//! The inner allocator blocks the signal around glibc's `malloc` and
//! `free` (which a handler must not re-enter), so the handler interrupts
//! heapwise's code, not glibc's.
//!
//! Optimised builds only: the batch's figures hold under such handlers
//! because each of its updates is one instruction (an addition to memory);
//! in an unoptimised build each is a load and a store, and a handler's
//! calls between them are lost (documented at `Local::new_peak`).
#![cfg(not(debug_assertions))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::ptr;

use heapwise::Scope;

/// glibc with `SIGPROF` blocked during each call.
struct Masked;

fn masked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: plain libc calls on sets this function owns.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPROF);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        let r = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        r
    }
}

// SAFETY: forwards to the system allocator.
unsafe impl GlobalAlloc for Masked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        masked(|| unsafe { System.alloc(layout) })
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract.
        masked(|| unsafe { System.dealloc(p, layout) })
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        // SAFETY: the caller's contract.
        masked(|| unsafe { System.realloc(p, layout, new) })
    }
}

#[global_allocator]
static ALLOC: heapwise::Alloc<Masked> = heapwise::Alloc::new(Masked);

thread_local! {
    /// Handler runs on this thread (a `const` block without destructor:
    /// safe to reach from a handler).
    static HANDLED: Cell<u64> = const { Cell::new(0) };
}

const HANDLER_BYTES: usize = 48;

extern "C" fn on_tick(_: libc::c_int) {
    let layout = Layout::from_size_align(HANDLER_BYTES, 8).unwrap();
    // SAFETY: a non-zero layout; the block is freed with it at once.
    unsafe {
        let p = std::alloc::alloc(layout);
        if !p.is_null() {
            black_box(p).write(1);
            std::alloc::dealloc(p, layout);
        }
    }
    HANDLED.with(|h| h.set(h.get() + 1));
}

fn set_timer(usec: libc::suseconds_t) {
    let every = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: usec,
        },
        it_value: libc::timeval {
            tv_sec: 0,
            tv_usec: usec,
        },
    };
    // SAFETY: a valid itimerval; a null old value.
    let rc = unsafe { libc::setitimer(libc::ITIMER_PROF, &every, ptr::null_mut()) };
    assert_eq!(rc, 0);
}

#[test]
fn a_scope_stays_consistent_under_a_handler_that_allocates() {
    // Samples often, so slow paths (and their flushes) are frequent too.
    heapwise::profile::set_rate(4096);
    // SAFETY: installs a handler that only allocates, frees and counts.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_tick as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        assert_eq!(libc::sigaction(libc::SIGPROF, &sa, ptr::null_mut()), 0);
    }
    // No smaller size for memcheck: it runs the unoptimised test binaries,
    // where this test is not built.
    let n: u64 = 300_000;
    let scope = Scope::new();
    let (main_bytes, handled) = scope.run(|_| {
        let before = HANDLED.with(Cell::get);
        set_timer(50);
        let mut bytes = 0u64;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = (16 + (x % 512) as usize, 16 + ((x >> 16) % 4096) as usize);
            let layout = Layout::from_size_align(a, 8).unwrap();
            // SAFETY: non-zero layouts; each block is freed with the layout
            // it has.
            unsafe {
                let p = std::alloc::alloc(layout);
                assert!(!p.is_null());
                let q = std::alloc::realloc(black_box(p), layout, b);
                assert!(!q.is_null());
                std::alloc::dealloc(q, Layout::from_size_align(b, 8).unwrap());
            }
            bytes += (a + b) as u64;
        }
        set_timer(0);
        (bytes, HANDLED.with(Cell::get) - before)
    });
    let u = scope.usage();
    // Each iteration: an alloc, a realloc (a free and an alloc) and a free.
    let counted = u.allocs - 2 * n;
    assert!(
        counted <= handled,
        "{u:?}: {counted} handler blocks counted, {handled} runs"
    );
    assert_eq!(u.reallocs, n, "{u:?}");
    assert_eq!(u.frees, u.allocs, "{u:?}");
    assert_eq!(
        u.bytes,
        main_bytes + counted * HANDLER_BYTES as u64,
        "{u:?}"
    );
    assert_eq!(u.freed_bytes, u.bytes, "{u:?}");
    assert_eq!(u.live_bytes, 0, "{u:?}");
    assert_eq!(u.calls, u.allocs + u.frees - u.reallocs, "{u:?}");
    assert!(
        u.peak_bytes >= 16 + 16 && u.peak_bytes <= 512 + 4096 + HANDLER_BYTES as u64 * 2,
        "{u:?}"
    );
    eprintln!("{n} iterations, {handled} handler runs on this thread, {counted} counted: {u:?}");
}
