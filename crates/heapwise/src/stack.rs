//! Stack capture for sampled allocations: a bounded frame-pointer walk.
//!
//! # Mechanism
//!
//! With frame pointers every function's prologue pushes the return address
//! and the caller's frame pointer, so the frames form a linked list on the
//! stack: `[fp]` is the caller's frame pointer and `[fp + 8]` (x86_64,
//! aarch64) the return address. Walking it costs about 1–1.5 ns a frame,
//! against ~150 ns for a DWARF unwind through libgcc (`heapprof.md` §0), takes
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
//! The walk itself ([`walk`]) reads memory only through a closure, as
//! framehop's `read_stack` does: [`capture`] passes one that reads the live
//! stack with bounds-checked raw loads, and the unit tests pass synthetic
//! stacks, corrupted ones included (cycles, frames moving backwards,
//! misaligned or out-of-bounds frame pointers).
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
    // The first frame is `capture`'s own: its return address leads into the
    // caller, which the profiler drops along with the allocator's frames.
    walk(here, sp, hi, 1, out, |a| {
        // Checked by `walk` before each read (checking again here cost 13%
        // of a sampled allocation's instructions).
        debug_assert!(a % 8 == 0 && a >= sp && a.saturating_add(8) <= hi);
        // SAFETY: `walk` reads only aligned words `a..a + 8` inside the
        // bounds it was given (see its docs), here between the current stack
        // pointer and the top of this thread's stack: memory that is mapped
        // and ours to read.
        Some(unsafe { *(a as *const usize) })
    })
}

/// Walks a frame-pointer chain from the frame record at `fp` within the
/// stack `[low, high)`: writes the return addresses into `out` (after
/// skipping the first `skip`) and returns how many it wrote. Reads memory
/// only through `read`, and only 8-aligned words of frame records that lie
/// whole in `[low, high)`; `read` returns `None` to stop the walk.
///
/// The chain must climb: the walk stops at a misaligned frame pointer, one
/// outside the bounds, one not strictly above the previous (a cycle, a
/// frame moving backwards, the end of the chain), a zero return address, a
/// failed read, or when `out` is full. So it ends after at most
/// `(high - low) / 8` frames whatever the memory holds. Pure: no
/// allocation, no panic, no lock (it runs inside the allocator).
#[inline(always)]
fn walk(
    mut fp: usize,
    low: usize,
    high: usize,
    mut skip: usize,
    out: &mut [MaybeUninit<usize>],
    mut read: impl FnMut(usize) -> Option<usize>,
) -> usize {
    let mut n = 0;
    while n < out.len() {
        if fp % 8 != 0 || fp < low || fp.saturating_add(16) > high {
            break;
        }
        let Some(next) = read(fp) else { break };
        let Some(ret) = read(fp + 8) else { break };
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

    /// A synthetic stack: 8-byte words from address `BASE`, read through
    /// the closure the walk gets; every read must be an aligned word of a
    /// whole frame record inside `[low, high)`.
    struct Synthetic {
        words: Vec<u64>,
        reads: Vec<usize>,
    }

    const BASE: usize = 0x7ff0_0000_0000;

    /// The address of word `i`.
    fn at(i: usize) -> usize {
        BASE + 8 * i
    }

    impl Synthetic {
        fn new(len: usize) -> Synthetic {
            Synthetic {
                words: vec![0; len],
                reads: Vec::new(),
            }
        }

        /// A frame record at word `i`: the caller's frame pointer, then the
        /// return address.
        fn frame(&mut self, i: usize, next: usize, ret: u64) -> &mut Self {
            self.words[i] = next as u64;
            self.words[i + 1] = ret;
            self
        }

        fn high(&self) -> usize {
            at(self.words.len())
        }

        /// Walks from `fp` over the whole stack, at most `depth` frames,
        /// skipping none.
        fn walk(&mut self, fp: usize, depth: usize) -> Vec<u64> {
            self.walk_in(fp, BASE, self.high(), 0, depth)
        }

        fn walk_in(
            &mut self,
            fp: usize,
            low: usize,
            high: usize,
            skip: usize,
            depth: usize,
        ) -> Vec<u64> {
            let mut out = vec![MaybeUninit::uninit(); depth];
            let words = &self.words;
            let reads = &mut self.reads;
            let n = walk(fp, low, high, skip, &mut out, |a| {
                assert_eq!(a % 8, 0, "misaligned read at {a:#x}");
                assert!(
                    a >= low && a + 8 <= high,
                    "read at {a:#x} outside the stack"
                );
                reads.push(a);
                words.get((a - BASE) / 8).map(|&w| w as usize)
            });
            out[..n]
                .iter()
                // SAFETY: `walk` initialised the first `n` entries.
                .map(|r| unsafe { r.assume_init() } as u64)
                .collect()
        }
    }

    #[test]
    fn a_normal_chain_is_walked_to_its_end() {
        let mut s = Synthetic::new(16);
        s.frame(0, at(4), 0x1000)
            .frame(4, at(6), 0x2000)
            .frame(6, at(12), 0x3000)
            .frame(12, 0, 0x4000);
        assert_eq!(s.walk(at(0), 64), [0x1000, 0x2000, 0x3000, 0x4000]);
        // Two words per frame, nothing else.
        assert_eq!(s.reads.len(), 8);
    }

    #[test]
    fn skipped_frames_are_not_written() {
        let mut s = Synthetic::new(8);
        s.frame(0, at(2), 0x1000)
            .frame(2, at(4), 0x2000)
            .frame(4, 0, 0x3000);
        assert_eq!(s.walk_in(at(0), BASE, s.high(), 2, 64), [0x3000]);
    }

    #[test]
    fn a_cycle_ends_the_walk() {
        let mut s = Synthetic::new(8);
        // 0 -> 2 -> 4 -> 2 -> ...: the frame at 4 points back down.
        s.frame(0, at(2), 0x1000)
            .frame(2, at(4), 0x2000)
            .frame(4, at(2), 0x3000);
        assert_eq!(s.walk(at(0), 64), [0x1000, 0x2000, 0x3000]);
        // A frame pointing at itself.
        let mut s = Synthetic::new(4);
        s.frame(0, at(0), 0x1000);
        assert_eq!(s.walk(at(0), 64), [0x1000]);
    }

    #[test]
    fn a_frame_pointer_moving_backwards_ends_the_walk() {
        let mut s = Synthetic::new(16);
        s.frame(4, at(8), 0x1000)
            .frame(8, at(2), 0x2000) // below the frame at 4
            .frame(2, at(12), 0x9999)
            .frame(12, 0, 0x9999);
        assert_eq!(s.walk(at(4), 64), [0x1000, 0x2000]);
        assert!(s.reads.iter().all(|&a| a >= at(4)));
    }

    #[test]
    fn a_misaligned_frame_pointer_ends_the_walk() {
        let mut s = Synthetic::new(8);
        s.frame(0, at(2) + 4, 0x1000).frame(2, at(4), 0x9999);
        assert_eq!(s.walk(at(0), 64), [0x1000]);
        // Misaligned from the start: nothing is read.
        assert_eq!(s.walk(at(0) + 1, 64), []);
        assert_eq!(s.reads.len(), 2);
    }

    #[test]
    fn a_frame_pointer_out_of_the_stack_ends_the_walk() {
        let mut s = Synthetic::new(8);
        // Above the top of the stack.
        s.frame(0, at(64), 0x1000);
        assert_eq!(s.walk(at(0), 64), [0x1000]);
        // A record straddling the top: its return address would be outside.
        s.frame(0, at(7), 0x1000);
        assert_eq!(s.walk(at(0), 64), [0x1000]);
        // Below the low bound (the stack pointer) from the start.
        s.frame(2, at(4), 0x2000);
        assert_eq!(s.walk_in(at(0), at(2), s.high(), 0, 64), []);
        // Near the top of the address space: no overflow, no read.
        let mut s = Synthetic::new(4);
        s.frame(0, usize::MAX - 7, 0x1000);
        assert_eq!(s.walk(at(0), 64), [0x1000]);
        assert_eq!(s.reads, [at(0), at(1)]);
    }

    #[test]
    fn a_zero_return_address_ends_the_walk() {
        let mut s = Synthetic::new(8);
        s.frame(0, at(2), 0x1000)
            .frame(2, at(4), 0)
            .frame(4, 0, 0x3000);
        assert_eq!(s.walk(at(0), 64), [0x1000]);
    }

    #[test]
    fn the_walk_stops_at_the_depth() {
        let mut s = Synthetic::new(2 * 100);
        for i in 0..100 {
            s.frame(2 * i, at(2 * i + 2), 0x1000 + i as u64);
        }
        let frames = s.walk(at(0), 64);
        assert_eq!(frames.len(), 64);
        assert_eq!(frames[63], 0x1000 + 63);
        assert_eq!(s.reads.len(), 2 * 64);
        assert_eq!(s.walk(at(0), 0), []);
    }

    #[test]
    fn a_failed_read_ends_the_walk() {
        let mut s = Synthetic::new(8);
        s.frame(0, at(2), 0x1000).frame(2, at(4), 0x2000);
        // The closure cannot read past word 3 (a hole in the stack).
        s.words.truncate(4);
        assert_eq!(s.walk_in(at(0), BASE, at(8), 0, 64), [0x1000, 0x2000]);
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
