//! Stack capture for sampled allocations: a bounded frame-pointer walk.
//!
//! # Mechanism
//!
//! With frame pointers every function's prologue pushes the return address
//! and the caller's frame pointer, so the frames form a linked list on the
//! stack: `[fp]` is the caller's frame pointer and `[fp + 8]` (x86_64,
//! aarch64) the return address. Walking it costs about 1–1.5 ns a frame,
//! against ~150 ns for a DWARF unwind through libgcc (`docs/profiling.md`, "Costs"), takes
//! no lock and cannot deadlock, so it is safe inside the allocator.
//!
//! The walk only reads memory between the current stack pointer and the top
//! of the thread's stack (`sys::thread_stack_bounds`, looked up once per
//! thread), requires each frame pointer to be 8-aligned and strictly above
//! the previous one, and stops at the depth limit. Code compiled without
//! frame pointers reuses the register, so the walk then ends early or skips
//! frames, but it never reads outside the stack. The Rust standard library
//! ships with frame pointers; user code needs `-C force-frame-pointers=yes`
//! (see the crate docs).
//!
//! Addresses are stored raw (return addresses) and only symbolized at export
//! time (`symbolize.rs`).

use std::cell::Cell;
use std::mem::MaybeUninit;

/// The most frames a stack may hold (the depth limit is capped here).
pub(crate) const MAX_DEPTH: usize = 256;

/// Go's default depth is 128 since 1.23 (32 before); 64 keeps the walk under
/// ~100 ns while covering the deep generic call chains of async Rust.
pub(crate) const DEFAULT_DEPTH: usize = 64;

/// This thread's stack bounds, cached: `(0, 0)` until looked up, `(1, 1)`
/// if they cannot be known (then no walk is made).
#[derive(Debug)]
pub(crate) struct Bounds {
    low: Cell<usize>,
    high: Cell<usize>,
}

impl Bounds {
    pub(crate) const fn new() -> Bounds {
        Bounds {
            low: Cell::new(0),
            high: Cell::new(0),
        }
    }

    fn get(&self) -> (usize, usize) {
        if self.high.get() == 0 {
            let (lo, hi) = crate::sys::thread_stack_bounds().unwrap_or((1, 1));
            self.low.set(lo);
            self.high.set(hi);
        }
        (self.low.get(), self.high.get())
    }
}

/// Reads this function's frame pointer.
#[inline(always)]
fn frame_pointer() -> usize {
    let fp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        fp = 0;
    }
    fp
}

/// Fills the start of `out` with the return addresses of the calling frames, innermost
/// first, starting with the return address into `capture`'s caller's
/// caller (so `capture` and its immediate caller are not included). Returns
/// the number written (`out[..n]` is then initialised). Never allocates,
/// never faults (see the module docs).
#[inline(never)]
pub(crate) fn capture(bounds: &Bounds, out: &mut [MaybeUninit<usize>]) -> usize {
    let (lo, hi) = bounds.get();
    let here = frame_pointer();
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    if sp < lo || sp >= hi || here < sp {
        // Not on the thread's main stack (a signal stack, an unknown thread).
        return 0;
    }
    let mut fp = here;
    let mut n = 0;
    // The first frame is `capture`'s own: its return address leads into the
    // caller, which the profiler drops along with the allocator's frames.
    let mut skip = 1;
    while n < out.len() {
        if fp % 8 != 0 || fp < sp || fp.saturating_add(16) > hi {
            break;
        }
        // SAFETY: `fp..fp + 16` lies between the current stack pointer and the
        // top of this thread's stack, memory that is mapped and ours to read.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        if skip > 0 {
            skip -= 1;
        } else {
            out[n].write(ret);
            n += 1;
        }
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn leaf(bounds: &Bounds, out: &mut [usize]) -> usize {
        let mut buf = [MaybeUninit::uninit(); 64];
        let n = std::hint::black_box(capture(bounds, &mut buf[..out.len()]));
        for (o, b) in out.iter_mut().zip(&buf[..n]) {
            // SAFETY: `capture` initialised the first `n` entries.
            *o = unsafe { b.assume_init() };
        }
        n
    }

    #[inline(never)]
    fn middle(bounds: &Bounds, out: &mut [usize]) -> usize {
        std::hint::black_box(leaf(bounds, out))
    }

    #[test]
    fn walks_the_callers_and_respects_the_depth() {
        let bounds = Bounds::new();
        let mut out = [0usize; 64];
        let n = middle(&bounds, &mut out);
        // leaf's caller (middle), the test, the harness...
        assert!(n >= 3, "{n} frames");
        assert!(out[..n].iter().all(|&a| a > 4096));
        let mut short = [0usize; 2];
        assert_eq!(middle(&bounds, &mut short), 2);
        // The same return address into `middle`; the next one is a different
        // call site in this test.
        assert_eq!(short[0], out[0]);
    }

    #[test]
    fn works_on_spawned_threads() {
        let n = std::thread::spawn(|| {
            let bounds = Bounds::new();
            let mut out = [0usize; 64];
            middle(&bounds, &mut out)
        })
        .join()
        .unwrap();
        assert!(n >= 2, "{n} frames");
    }
}
