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
//! ships with frame pointers; user code needs `-C force-frame-pointers=yes`.
//! On x86_64 Linux the profiler walks with CFI instead (`unwind/`, which
//! steps by frame pointers only where code has no CFI); this walk serves
//! the other platforms.
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

    pub(crate) fn get(&self) -> (usize, usize) {
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
#[cfg_attr(all(target_arch = "x86_64", target_os = "linux"), allow(dead_code))] // see profile/unwind
pub(crate) fn capture(bounds: &Bounds, out: &mut [MaybeUninit<usize>]) -> usize {
    let (lo, hi) = bounds.get();
    let here = frame_pointer();
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    if sp < lo || sp >= hi || here < sp {
        // Not on the thread's main stack (a signal stack, an unknown thread).
        return 0;
    }
    // The first frame is `capture`'s own: its return address leads into the
    // caller, which the profiler drops along with the allocator's frames.
    walk(here, sp, hi, 1, out, |addr| {
        // SAFETY: `walk` reads only 8-aligned words between the current stack
        // pointer and the top of this thread's stack, memory that is mapped
        // and ours to read.
        Some(unsafe { *(addr as *const usize) })
    })
}

/// The frame-pointer walk proper, over memory read through `read` (as
/// framehop's `read_stack`), so it is tested on synthetic and corrupted
/// stacks. Starting at frame pointer `fp`, it follows `[fp]` (the caller's
/// frame pointer) and records `[fp + 8]` (the return address) while each
/// frame pointer is 8-aligned, at or above `sp`, below `hi - 16`, and
/// strictly above the previous one; it stops at a zero return address, at
/// a read that fails, or when `out` is full. The first `skip` return
/// addresses are dropped. `read` is only asked for addresses that passed
/// those checks. Returns the number written to `out`.
#[inline(always)]
fn walk(
    mut fp: usize,
    sp: usize,
    hi: usize,
    mut skip: usize,
    out: &mut [MaybeUninit<usize>],
    mut read: impl FnMut(usize) -> Option<usize>,
) -> usize {
    let mut n = 0;
    while n < out.len() {
        if fp % 8 != 0 || fp < sp || fp.saturating_add(16) > hi {
            break;
        }
        let (Some(next), Some(ret)) = (read(fp), read(fp + 8)) else {
            break;
        };
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
    debug_assert!(n <= out.len());
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

    /// A synthetic stack: words at `BASE + 8 * i`.
    const BASE: usize = 0x7000_0000;

    fn addr(i: usize) -> usize {
        BASE + 8 * i
    }

    /// Walks `stack` from frame pointer `fp` with room for `depth` frames.
    fn walk_synthetic(stack: &[usize], fp: usize, depth: usize) -> Vec<usize> {
        let hi = addr(stack.len());
        let mut out = vec![MaybeUninit::uninit(); depth];
        let n = walk(fp, BASE, hi, 0, &mut out, |a| {
            assert!(
                a % 8 == 0 && a >= BASE && a + 8 <= hi,
                "read outside: {a:#x}"
            );
            stack.get((a - BASE) / 8).copied()
        });
        // SAFETY: `walk` initialised the first `n` entries.
        out[..n]
            .iter()
            .map(|w| unsafe { w.assume_init() })
            .collect()
    }

    /// A chain of frames at word indices `frames`, return addresses 0x1000 + i.
    fn chain(len: usize, frames: &[usize]) -> Vec<usize> {
        let mut stack = vec![0usize; len];
        for (k, &f) in frames.iter().enumerate() {
            stack[f] = frames.get(k + 1).map_or(0, |&next| addr(next));
            stack[f + 1] = 0x1000 + k;
        }
        stack
    }

    #[test]
    fn a_well_formed_chain_is_walked_to_its_end() {
        let stack = chain(32, &[2, 6, 10, 20]);
        // The last frame's caller pointer is 0: below the stack, it ends.
        assert_eq!(
            walk_synthetic(&stack, addr(2), 64),
            [0x1000, 0x1001, 0x1002, 0x1003]
        );
    }

    #[test]
    fn the_depth_limit_and_the_skip_count() {
        let stack = chain(32, &[2, 6, 10, 20]);
        assert_eq!(walk_synthetic(&stack, addr(2), 2), [0x1000, 0x1001]);
        let mut out = [MaybeUninit::uninit(); 8];
        let n = walk(addr(2), BASE, addr(32), 3, &mut out, |a| {
            stack.get((a - BASE) / 8).copied()
        });
        assert_eq!(n, 1, "three skipped, one left");
    }

    #[test]
    fn a_cycle_or_a_frame_pointer_moving_backwards_ends_the_walk() {
        let mut stack = chain(32, &[2, 6, 10]);
        stack[10] = addr(6); // 10 -> 6: backwards, a cycle 6 -> 10 -> 6
        assert_eq!(
            walk_synthetic(&stack, addr(2), 64),
            [0x1000, 0x1001, 0x1002]
        );
        let mut selfloop = chain(32, &[4]);
        selfloop[4] = addr(4);
        assert_eq!(walk_synthetic(&selfloop, addr(4), 64), [0x1000]);
    }

    #[test]
    fn misaligned_or_out_of_bounds_frame_pointers_are_never_read() {
        let mut stack = chain(32, &[2, 6]);
        stack[6] = addr(10) + 3; // misaligned
        assert_eq!(walk_synthetic(&stack, addr(2), 64), [0x1000, 0x1001]);
        stack[6] = addr(31); // its return address would be past the top
        assert_eq!(walk_synthetic(&stack, addr(2), 64), [0x1000, 0x1001]);
        stack[6] = usize::MAX - 7; // would overflow fp + 16
        assert_eq!(walk_synthetic(&stack, addr(2), 64), [0x1000, 0x1001]);
        // A start below the stack pointer, or misaligned: nothing.
        assert!(walk_synthetic(&stack, BASE - 8, 64).is_empty());
        assert!(walk_synthetic(&stack, addr(2) + 4, 64).is_empty());
    }

    #[test]
    fn a_zero_return_address_or_a_failed_read_ends_the_walk() {
        let mut stack = chain(32, &[2, 6, 10]);
        stack[7] = 0;
        assert_eq!(walk_synthetic(&stack, addr(2), 64), [0x1000]);
        let stack = chain(32, &[2, 6, 10]);
        let mut out = [MaybeUninit::uninit(); 8];
        let n = walk(addr(2), BASE, addr(32), 0, &mut out, |a| {
            (a < addr(6)).then(|| stack[(a - BASE) / 8])
        });
        assert_eq!(n, 1, "the read of the second frame failed");
    }
}
