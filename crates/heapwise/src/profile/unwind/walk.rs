//! The stack walk: from the registers at the sample point to the return
//! addresses of the calling frames, with CFI rules where the tables have
//! them and frame pointers where they do not.
//!
//! # One step
//!
//! With `pc`, `sp` and `fp` (`rip`, `rsp`, `rbp`) of a frame, the rule at
//! `pc` (`table.rs`) gives the CFA, `rsp` or `rbp` plus an offset; the
//! caller's `pc` is the word at CFA − 8, its `sp` is the CFA and its `fp`
//! is unchanged, read from where the rule says it was saved, or unknown.
//! Where the tables have no rule for `pc` (code without unwind information,
//! or with CFI the tables cannot express), the step reads the frame-pointer
//! record instead: the caller's `fp` at `[fp]`, its `pc` at `[fp + 8]`, its
//! `sp` is `fp + 16`. Return addresses are looked up at `pc - 1`, inside
//! the call instruction, so a call that ends a function finds that
//! function's rule, not the next one's; the first `pc` is the sample point
//! itself and is looked up as it is.
//!
//! # Bounded
//!
//! Every read is of one aligned word in `[sp₀, high)`, the part of the
//! thread's stack above the walk's starting stack pointer and below its
//! top, memory that is mapped and belongs to live frames. Each step must
//! move `sp` up, so a walk ends. It takes no lock, allocates nothing and
//! reads nothing but the stack and the tables, which it owns. A corrupt or
//! unusual stack makes it stop early or record a wrong frame, never fault.
//!
//! # How a walk ends
//!
//! [`End::Root`]: a rule marks the caller undefined (the outermost frames:
//! `_start`, the thread entry in `clone`), a return address is zero, or the
//! frame-pointer chain reaches its zero link (`_start` and `clone` clear
//! `rbp`, as the ABI suggests). [`End::Depth`]: `out` is full.
//! [`End::Cut`]: anything else; the stack is cut short there.
//!
//! A frame in code whose table is not built yet is stepped by its frame
//! record, a guess noted in [`Walked::guessed`]: the walk goes on to find
//! the other tables it wants, and is done again once they are built; a walk
//! that must stand with a guess keeps only the frames before it.

use std::cell::Cell;
use std::mem::MaybeUninit;

use crate::profile::depot::fx_step;
use crate::profile::unwind::memo::{Memo, Step, STEPS};
use crate::profile::unwind::modules::Tables;
use crate::profile::unwind::table::{Kind, Rule};

/// The registers of the frame a walk starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Regs {
    pub(crate) pc: usize,
    pub(crate) sp: usize,
    pub(crate) fp: usize,
}

/// Why a walk stopped: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Root,
    Depth,
    Cut,
}

/// What a walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Walked {
    /// Return addresses written to the start of `out`.
    pub(crate) len: usize,
    pub(crate) end: End,
    /// A `pc` lay in no object the tables know (a refresh may help).
    pub(crate) missed: bool,
    /// The hash of the return addresses written ([`stack_hash_step`] on
    /// each), computed as they are found: on a chain of its own beside the
    /// walk's (whose next step waits for a load), so it costs the bucket
    /// lookup after the walk nothing (full mode hashes every allocation's
    /// stack, ~40 frames in `serde_json`).
    pub(crate) hash: u64,
    /// `len` and `hash` before the first frame stepped by its frame pointer
    /// for want of its table (not built yet): what is sure. The walk goes
    /// on past it, to find every table it wants before the caller builds
    /// them and walks again; a walk that must stand with such a step keeps
    /// only what is sure (see [`Walked::sure`]).
    pub(crate) guessed: Option<(usize, u64)>,
}

impl Walked {
    /// This walk without its frames from the first one guessed on (see
    /// [`Walked::guessed`]), cut short there: in code built without frame
    /// pointers, `rbp` holds an outer frame's record, and a step by it
    /// skips frames (a test's leak was named as libtest's `run_test`).
    pub(crate) fn sure(self) -> Walked {
        match self.guessed {
            Some((len, hash)) => Walked {
                len,
                hash,
                end: End::Cut,
                ..self
            },
            None => self,
        }
    }

    /// A walk that found nothing.
    pub(crate) const fn empty(end: End) -> Walked {
        Walked {
            len: 0,
            end,
            missed: false,
            guessed: None,
            hash: STACK_HASH_SEED,
        }
    }
}

const STACK_HASH_SEED: u64 = 0x243F_6A88_85A3_08D3;

/// One return address into a stack's hash (FxHash's step).
#[inline(always)]
pub(crate) fn stack_hash_step(hash: u64, ra: usize) -> u64 {
    fx_step(hash, ra as u64)
}

/// The hash of a stack's return addresses that a walk computes
/// ([`Walked::hash`]), for stacks found otherwise.
#[cfg(any(test, not(all(target_arch = "x86_64", target_os = "linux"))))]
pub(crate) fn stack_hash(frames: &[usize]) -> u64 {
    frames
        .iter()
        .fold(STACK_HASH_SEED, |h, &ra| stack_hash_step(h, ra))
}

/// How to step through frames.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Using<'t> {
    /// Frame pointers only.
    Fp,
    /// CFI where `tables` have a rule, frame pointers elsewhere.
    Auto(&'t Tables),
    /// CFI only: a frame without a rule ends the walk.
    Cfi(&'t Tables),
}

/// Walks from `regs` up the stack, whose top (exclusive) is `high`, and
/// writes the return addresses of the calling frames, innermost first,
/// after skipping the first `skip` of them. See the module docs.
pub(crate) fn walk(
    regs: Regs,
    high: usize,
    using: Using<'_>,
    skip: usize,
    out: &mut [MaybeUninit<usize>],
) -> Walked {
    // SAFETY: the reference stays on this thread, within this call.
    let cache = unsafe { &*CACHE.with(std::ptr::from_ref) };
    // A word may be read at an offset up to `last_word` from the starting
    // stack pointer, a frame record up to `last_pair`: one subtraction and
    // one compare a read (an address below the stack pointer wraps to a
    // large offset).
    //
    // With the starting stack pointer aligned, an address is aligned when
    // its offset is; rotated right by 3, a misaligned offset has a high
    // bit set and fails the same compare: one branch a read.
    let Some(last_pair) = high.checked_sub(regs.sp).and_then(|n| n.checked_sub(16)) else {
        return Walked::empty(End::Cut);
    };
    if regs.sp % 8 != 0 {
        return Walked::empty(End::Cut);
    }
    let last_word = last_pair + 8;
    let read = |addr: usize| {
        if addr.wrapping_sub(regs.sp).rotate_right(3) > last_word >> 3 {
            return None;
        }
        // SAFETY: an aligned word between the walk's starting stack pointer
        // and the top of this thread's stack: mapped, and part of the live
        // frames of the calling functions, which stay put while they wait
        // for this call.
        Some(unsafe { (addr as *const usize).read() })
    };
    // A frame record (saved frame pointer, return address): one bounds
    // check for both words.
    let read_pair = |addr: usize| {
        if addr.wrapping_sub(regs.sp).rotate_right(3) > last_pair >> 3 {
            return None;
        }
        let p = addr as *const usize;
        // SAFETY: two aligned words between the walk's starting stack
        // pointer and the top of this thread's stack, as in `read`.
        Some(unsafe { (p.read(), p.add(1).read()) })
    };
    walk_with(regs, using, skip, out, Some(cache), read, read_pair)
}

/// [`walk`] over any memory: `read` returns the word at an address, or
/// `None` where the walk may not read; `read_pair` the two words at an
/// address and the next (a frame record), or `None` unless `read` would give
/// both.
#[inline(always)]
pub(crate) fn walk_with(
    regs: Regs,
    using: Using<'_>,
    skip: usize,
    out: &mut [MaybeUninit<usize>],
    cache: Option<&RuleCache>,
    read: impl Fn(usize) -> Option<usize>,
    read_pair: impl Fn(usize) -> Option<(usize, usize)>,
) -> Walked {
    let (tables, cfi_only) = match using {
        Using::Fp => (None, false),
        Using::Auto(t) => (Some(t), false),
        Using::Cfi(t) => (Some(t), true),
    };
    let Regs {
        mut pc,
        mut sp,
        mut fp,
    } = regs;
    let mut lookup = pc;
    let mut skip = skip;
    let mut w = Walked::empty(End::Cut);
    if out.is_empty() {
        w.end = End::Depth;
        return w;
    }
    // The code range of a chunk built with frame pointers (see
    // `FP_OBJECT`): a frame there steps by its frame pointer, as its rule
    // would, without looking the rule up. Kept per thread in the cache.
    // The cache is emptied here if it holds other tables' rules, once
    // a walk, not at each lookup.
    let (mut fp_lo, mut fp_hi) = match (tables, cache) {
        (Some(t), Some(c)) => {
            let range = c.fp_object(t);
            if cfi_only {
                (0, 0)
            } else {
                range
            }
        }
        _ => (0, 0),
    };
    if tables.is_none() {
        // Frame pointers only: every frame steps by its record.
        (fp_lo, fp_hi) = (0, usize::MAX);
    }
    // The last walk's record (`memo.rs`), and this walk's: `from` is its
    // first recorded state, `in_run` whether it is in a run of steps by
    // frame records, which are not recorded.
    let memo = match (tables, cache) {
        (Some(t), Some(c)) => Some((&c.memo, t)),
        _ => None,
    };
    let (last, mut cursor) = memo.map_or((&[][..], 0), |(m, t)| m.record(t, cfi_only));
    let next = memo.map(|(m, _)| m.next());
    let skip_at_start = skip;
    let (mut from, mut in_run) = (0, false);
    // Step this frame by its frame-pointer record (it has no rule).
    let mut by_record = false;
    let w = 'walk: loop {
        if by_record || lookup.wrapping_sub(fp_lo) < fp_hi.wrapping_sub(fp_lo) {
            // Frames of code built with frame pointers are stepped in this
            // loop of their own while the return addresses stay in that
            // code: the general step below keeps more state live than the
            // registers hold, and full mode walks every allocation's stack
            // (1.14x faster on the bench's `mixed`, 1.09x on `events`).
            in_run = true;
            loop {
                if fp == 0 {
                    // The chain's zero link ends the stack; in the first
                    // frame it only says this frame has no record.
                    if lookup != regs.pc {
                        w.end = End::Root;
                    }
                    break 'walk w;
                }
                if fp < sp {
                    break 'walk w;
                }
                let Some((saved, ra)) = read_pair(fp) else {
                    break 'walk w;
                };
                if push(ra, &mut skip, out, &mut w) {
                    break 'walk w;
                }
                (pc, sp, fp) = (ra, fp + 16, saved);
                lookup = pc - 1;
                if lookup.wrapping_sub(fp_lo) >= fp_hi.wrapping_sub(fp_lo) {
                    break;
                }
            }
            in_run = false;
            from = w.len + skip_at_start - skip;
        }
        // The state this walk is in (its steps so far).
        let at = w.len + skip_at_start - skip;
        if let Some(next) = next {
            // The last walk's states are in order of `sp`, as this walk's.
            while last.get(cursor).is_some_and(|s| s.get().sp < sp) {
                cursor += 1;
            }
            let same = last.get(cursor).is_some_and(|s| {
                let s = s.get();
                (s.pc, s.sp, s.fp) == (pc, sp, fp) && (cursor == 0) == (at == 0)
            });
            if same && skip == 0 {
                // Step by the record while the words it read still hold:
                // its rules, looked up again, would give its steps.
                let r = replay(last, cursor, next, at, out, w.len, w.hash, &read);
                (w.len, w.hash) = (r.len, r.hash);
                let state = last[r.at].get();
                (pc, sp, fp) = (state.pc, state.sp, state.fp);
                if r.full {
                    w.end = End::Depth;
                    break 'walk w;
                }
                if r.at > cursor {
                    lookup = pc - 1;
                }
                // Not this state again: on by rules from here.
                cursor = r.at + 1;
                continue;
            }
        }
        let rule = match (tables, cache) {
            (None, _) => Rule::NONE,
            // Most frames: one load from the per-thread cache.
            (Some(_), Some(c)) if c.key_at(lookup) == lookup => c.rule_at(lookup),
            (Some(t), _) => {
                let (rule, fp_object) = match cache {
                    Some(c) => c.fill(t, lookup, &mut w.missed),
                    None => rule_at(t, lookup, &mut w.missed),
                };
                if let (Some(range), false) = (fp_object, cfi_only) {
                    (fp_lo, fp_hi) = range;
                    if let Some(c) = cache {
                        c.fp.set(range);
                    }
                    Rule::NONE
                } else {
                    rule
                }
            }
        };
        // The common kinds (CFA from `rsp` or `rbp`) on one predictable
        // branch, the base chosen without one: a `match` on the kind made
        // a jump table, an indirect branch per frame.
        if rule.is_cfa() {
            let base = if rule.kind() == Kind::Rbp { fp } else { sp };
            let cfa = base.wrapping_add(rule.cfa_offset());
            if cfa <= sp {
                break 'walk w;
            }
            let Some(ra) = read(cfa.wrapping_sub(8)) else {
                break 'walk w;
            };
            // The caller's `fp` without a branch on how it was kept (that
            // branch was the walk's most mispredicted): a rule that saves
            // none reads the return address's word again.
            let word_at = cfa.wrapping_add_signed(rule.fp_slot());
            let Some(word) = read(word_at) else {
                break 'walk w;
            };
            let caller_fp = rule.caller_fp(fp, word);
            if let Some(slot) = next.and_then(|n| n.get(at)) {
                slot.set(Step {
                    pc,
                    sp,
                    fp,
                    word_at,
                    word,
                });
            }
            if push(ra, &mut skip, out, &mut w) {
                break 'walk w;
            }
            (pc, sp, fp) = (ra, cfa, caller_fp);
            lookup = pc - 1;
            by_record = false;
        } else if rule == Rule::PENDING && !cfi_only {
            // No table yet: stepped by the frame record to find the tables
            // further up that the walk wants, noted as a guess.
            if w.guessed.is_none() {
                w.guessed = Some((w.len, w.hash));
            }
            by_record = true;
        } else if rule.kind() == Kind::End {
            if rule == Rule::END {
                w.end = End::Root;
            }
            break 'walk w;
        } else if cfi_only {
            break 'walk w;
        } else {
            by_record = true;
        }
    };
    if let (Some((memo, tables)), Some(next)) = (memo, next) {
        // The last state: a walk that ended on a full `out` counted the
        // step it did not take.
        let end = w.len + skip_at_start - skip - usize::from(w.end == End::Depth);
        let kept = !w.missed && end < next.len();
        if kept {
            next[end].set(Step {
                pc,
                sp,
                fp,
                word_at: 0,
                word: 0,
            });
        }
        let from = if in_run { end } else { from };
        memo.keep(tables, cfi_only, from, kept.then_some(end));
    }
    w
}

/// Where [`replay`] left the walk.
struct Replayed {
    /// The record's state the walk is in.
    at: usize,
    /// The walk's frames and their hash.
    len: usize,
    hash: u64,
    /// `out` is full (the walk is in the state before the step that
    /// filled it).
    full: bool,
}

/// Steps by `last`, the last walk's record (`memo.rs`), from its state `k`,
/// which the walk is in, at its step `at`, while the words each step read
/// hold the same values, writing each return address to `out` after its
/// first `len` (hashing them on from `hash`) and each state to `next`.
/// The walk skips no more frames.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn replay(
    last: &[Cell<Step>],
    k: usize,
    next: &[Cell<Step>; STEPS],
    at: usize,
    out: &mut [MaybeUninit<usize>],
    len: usize,
    hash: u64,
    read: &impl Fn(usize) -> Option<usize>,
) -> Replayed {
    let (mut k, mut at, mut len, mut hash) = (k, at, len, hash);
    while let (Some(state), Some(then)) = (last.get(k), last.get(k + 1)) {
        let (state, then) = (state.get(), then.get());
        let (Some(ra), Some(word)) = (read(then.sp.wrapping_sub(8)), read(state.word_at)) else {
            break;
        };
        if (ra != then.pc) | (word != state.word) {
            break;
        }
        let Some(slot) = out.get_mut(len) else {
            break;
        };
        // The step was taken, so `ra` is not zero.
        debug_assert_ne!(ra, 0);
        slot.write(ra);
        len += 1;
        hash = stack_hash_step(hash, ra);
        if let Some(slot) = next.get(at) {
            slot.set(state);
        }
        if len == out.len() {
            return Replayed {
                at: k,
                len,
                hash,
                full: true,
            };
        }
        k += 1;
        at += 1;
    }
    Replayed {
        at: k,
        len,
        hash,
        full: false,
    }
}

/// The return address `ra` of the next frame: ends the walk at the root
/// if zero, else is skipped or written to `out`. Whether the walk ends.
#[inline(always)]
fn push(ra: usize, skip: &mut usize, out: &mut [MaybeUninit<usize>], w: &mut Walked) -> bool {
    if ra == 0 {
        w.end = End::Root;
        return true;
    }
    if *skip > 0 {
        *skip -= 1;
        return false;
    }
    out[w.len].write(ra);
    w.len += 1;
    w.hash = stack_hash_step(w.hash, ra);
    if w.len == out.len() {
        w.end = End::Depth;
        return true;
    }
    false
}

/// Per mille of a chunk's code (or an object's, built as one chunk), every
/// function of which keeps a frame pointer (`ModuleTable::judged`), whose
/// rule must be the frame-pointer
/// frame for [`Using::Auto`] to step through the object's frames by their
/// frame pointers, without looking rules up (3-4x faster a frame). Code
/// built with `-C force-frame-pointers=yes` measures ~970 (the rest: the
/// two prologue instructions of each function, and hand-written assembly);
/// without, under 50; libc ~165.
pub(crate) const FP_OBJECT: u32 = 900;

/// The rule at `pc`, and its chunk's code range if every function there
/// keeps a frame pointer; a `pc` in no known object, or in one whose table is not built
/// yet (which it then asks for), sets `missed`.
#[inline]
fn rule_at(tables: &Tables, pc: usize, missed: &mut bool) -> (Rule, Option<(usize, usize)>) {
    match tables.find(pc) {
        Some(m) if m.is_pending() => {
            // Stepped by its frame record only as a guess (`Walked::guessed`):
            // the walk is done again once the table is built.
            m.want();
            *missed = true;
            (Rule::PENDING, None)
        }
        // A chunk whose every function keeps a frame pointer: its range, to
        // step through by frame records (unless the walk is CFI only).
        Some(m) if m.fp_per_mille >= FP_OBJECT => (m.lookup(pc), Some((m.start, m.end))),
        Some(m) => (m.lookup(pc), None),
        None => {
            *missed = true;
            (Rule::NONE, None)
        }
    }
}

/// log2 of the slots of the per-thread rule cache.
const CACHE_BITS: u32 = 10;
const CACHE_SLOTS: usize = 1 << CACHE_BITS;

/// A thread's recently used rules, by address: the frames of one thread's
/// samples repeat (the same call paths into the allocator), so most
/// lookups are one load here instead of a search of the tables. Valid for
/// one [`Tables`] snapshot: it is emptied when another is current.
#[derive(Debug)]
pub(crate) struct RuleCache {
    tables: Cell<*const Tables>,
    slots: [Cell<(usize, Rule)>; CACHE_SLOTS],
    /// The code range of the last chunk built with frame pointers a walk
    /// met (see `FP_OBJECT`).
    fp: Cell<(usize, usize)>,
    /// The last walk's steps by rules.
    memo: Memo,
}

thread_local! {
    /// A `const` thread-local without a destructor: there during thread
    /// exit too. 21 KiB per thread.
    static CACHE: RuleCache = const {
        RuleCache {
            tables: Cell::new(std::ptr::null()),
            slots: [const { Cell::new((0, Rule::NONE)) }; CACHE_SLOTS],
            fp: Cell::new((0, 0)),
            memo: Memo::new(),
        }
    };
}

impl RuleCache {
    /// Empties the cache if it was filled from other tables.
    #[inline]
    fn follow(&self, tables: &Tables) {
        if !std::ptr::eq(self.tables.get(), tables) {
            for slot in &self.slots {
                slot.set((0, Rule::NONE));
            }
            self.fp.set((0, 0));
            self.memo.clear();
            self.tables.set(tables);
        }
    }

    /// The code range of the last object with frame pointers met in
    /// `tables`, or `(0, 0)`.
    #[inline]
    fn fp_object(&self, tables: &Tables) -> (usize, usize) {
        self.follow(tables);
        self.fp.get()
    }

    /// The slot of `pc`.
    #[inline(always)]
    fn slot(&self, pc: usize) -> &Cell<(usize, Rule)> {
        &self.slots[pc.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - CACHE_BITS)]
    }

    /// The address whose rule `pc`'s slot holds (0 if none). The cache
    /// must follow the walk's tables ([`fp_object`](Self::fp_object) makes
    /// it, at the start of each walk).
    #[inline(always)]
    fn key_at(&self, pc: usize) -> usize {
        self.slot(pc).get().0
    }

    /// The rule `pc`'s slot holds, where [`key_at`](Self::key_at) is `pc`.
    #[inline(always)]
    fn rule_at(&self, pc: usize) -> Rule {
        self.slot(pc).get().1
    }

    /// As [`rule_at`] (the function), keeping the rule in `pc`'s slot.
    #[inline]
    fn fill(
        &self,
        tables: &Tables,
        pc: usize,
        missed: &mut bool,
    ) -> (Rule, Option<(usize, usize)>) {
        debug_assert!(std::ptr::eq(self.tables.get(), tables));
        let mut miss = false;
        let (rule, fp_object) = rule_at(tables, pc, &mut miss);
        if miss {
            *missed = true;
        } else if fp_object.is_none() || rule != Rule::NONE {
            // Cached also in a chunk that keeps frame pointers in an object
            // that does not: the caller keeps only the last such range, and
            // a walk may cross several. (An object built with frame pointers
            // gives no rule, only its range: nothing to cache.)
            self.slot(pc).set((pc, rule));
        }
        (rule, fp_object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::unwind::table::{ModuleTable, SavedFp};

    /// A fake stack: words at addresses from `base`, 8 apart.
    struct Stack {
        base: usize,
        words: Vec<usize>,
    }

    impl Stack {
        fn read(&self, addr: usize) -> Option<usize> {
            if addr < self.base || addr % 8 != 0 {
                return None;
            }
            self.words.get((addr - self.base) / 8).copied()
        }
    }

    fn run(stack: &Stack, regs: Regs, using: Using<'_>, depth: usize) -> (Vec<usize>, Walked) {
        let mut out = vec![MaybeUninit::uninit(); depth];
        let cache = RuleCache {
            tables: Cell::new(std::ptr::null()),
            slots: [const { Cell::new((0, Rule::NONE)) }; CACHE_SLOTS],
            fp: Cell::new((0, 0)),
            memo: Memo::new(),
        };
        let pair = |a: usize| Some((stack.read(a)?, stack.read(a.checked_add(8)?)?));
        let w = walk_with(regs, using, 0, &mut out, None, |a| stack.read(a), pair);
        // The cache finds the same.
        let mut again = vec![MaybeUninit::uninit(); depth];
        for _ in 0..2 {
            let c = walk_with(
                regs,
                using,
                0,
                &mut again,
                Some(&cache),
                |a| stack.read(a),
                pair,
            );
            assert_eq!(c, w);
        }
        // SAFETY: the walk initialised the first `len` entries.
        let frames: Vec<usize> = out[..w.len]
            .iter()
            .map(|f| unsafe { f.assume_init() })
            .collect();
        // The hash made during the walk is the frames'.
        assert_eq!(w.hash, stack_hash(&frames));
        (frames, w)
    }

    fn leak(t: ModuleTable) -> &'static ModuleTable {
        Box::leak(Box::new(t))
    }

    /// Code at 0x1000..0x2000: `leaf` (0x1000..0x1100) without a frame
    /// pointer, 24 bytes of frame; `mid` (0x1100..0x1200) with one;
    /// `top` (0x1200..0x1300) without, 8 bytes; `_start` (0x1300..0x1400)
    /// the root; 0x1400.. has no CFI.
    fn tables() -> Tables {
        let rsp = |n| Rule::cfa(false, n, SavedFp::Same);
        let rows = vec![
            (0x1000, 0x1001, rsp(8)),
            (0x1001, 0x1100, rsp(32)),
            (0x1100, 0x1101, rsp(8)),
            (0x1101, 0x1104, rsp(16)),
            (0x1104, 0x1200, Rule::cfa(true, 16, SavedFp::At(-16))),
            (0x1200, 0x1300, rsp(16)),
            (0x1300, 0x1400, Rule::END),
        ];
        Tables::of(vec![leak(ModuleTable::from_rows(0x1000, 0x2000, rows))])
    }

    #[test]
    fn cfi_walks_frames_with_and_without_frame_pointers_to_the_root() {
        let t = tables();
        // leaf's frame at 0x8000: 24 bytes, then its return address into mid.
        // mid's frame: saved rbp at 0x8020, return address into top at 0x8028.
        // top's frame: 8 bytes, return address into _start at 0x8038.
        let stack = Stack {
            base: 0x8000,
            words: vec![0, 0, 0, 0x1150, 0xdead, 0x1250, 0, 0x1310, 0],
        };
        let regs = Regs {
            pc: 0x1050,
            sp: 0x8000,
            fp: 0x8020, // mid's frame pointer, untouched by leaf
        };
        let (frames, w) = run(&stack, regs, Using::Cfi(&t), 16);
        assert_eq!(frames, [0x1150, 0x1250, 0x1310]);
        assert_eq!((w.end, w.missed), (End::Root, false));
        // A frame pointer walk from the same registers skips leaf's caller:
        // leaf has no frame record.
        let (frames, w) = run(&stack, regs, Using::Fp, 16);
        assert_eq!(frames, [0x1250]);
        assert_eq!(w.end, End::Cut);
        // The depth limit.
        let (frames, w) = run(&stack, regs, Using::Auto(&t), 2);
        assert_eq!(frames, [0x1150, 0x1250]);
        assert_eq!(w.end, End::Depth);
    }

    /// A walk with `cache` (and its record of the last walk), and the
    /// same walk without: the two must agree.
    fn walk_twice(
        cache: &RuleCache,
        stack: &Stack,
        regs: Regs,
        using: Using<'_>,
        depth: usize,
    ) -> Vec<usize> {
        let pair = |a: usize| Some((stack.read(a)?, stack.read(a.checked_add(8)?)?));
        let mut out = vec![MaybeUninit::uninit(); depth];
        let w = walk_with(
            regs,
            using,
            1,
            &mut out,
            Some(cache),
            |a| stack.read(a),
            pair,
        );
        let mut plain = vec![MaybeUninit::uninit(); depth];
        let p = walk_with(regs, using, 1, &mut plain, None, |a| stack.read(a), pair);
        assert_eq!(w, p);
        // SAFETY: the walk initialised the first `len` entries.
        let frames: Vec<usize> = out[..w.len]
            .iter()
            .map(|f| unsafe { f.assume_init() })
            .collect();
        // SAFETY: as above.
        let plain: Vec<usize> = plain[..p.len]
            .iter()
            .map(|f| unsafe { f.assume_init() })
            .collect();
        assert_eq!(frames, plain);
        frames
    }

    #[test]
    fn a_walk_steps_by_the_last_walks_record_only_where_its_words_hold() {
        let t = tables();
        let cache = RuleCache {
            tables: Cell::new(std::ptr::null()),
            slots: [const { Cell::new((0, Rule::NONE)) }; CACHE_SLOTS],
            fp: Cell::new((0, 0)),
            memo: Memo::new(),
        };
        // As in the test above, from a frame of `leaf` (skipped: the walk
        // skips one frame here, as capture does), then `mid`, `top`, `_start`.
        let mut stack = Stack {
            base: 0x8000,
            words: vec![0, 0, 0, 0x1150, 0xdead, 0x1250, 0, 0x1310, 0],
        };
        let leaf = Regs {
            pc: 0x1050,
            sp: 0x8000,
            fp: 0x8020,
        };
        let using = Using::Cfi(&t);
        assert_eq!(
            walk_twice(&cache, &stack, leaf, using, 16),
            [0x1250, 0x1310]
        );
        let (record, from) = cache.memo.record(&t, true);
        assert_eq!((record.len(), from), (4, 0));
        // From another frame (of `top`'s shape) that returns into `mid` in
        // the same state: the rest comes from the record.
        let other = Regs {
            pc: 0x1210,
            sp: 0x8010,
            fp: 0x8020,
        };
        assert_eq!(
            walk_twice(&cache, &stack, other, using, 16),
            [0x1250, 0x1310]
        );
        // An outer return address changed since: not taken from the record.
        stack.words[7] = 0x1260;
        assert_eq!(
            walk_twice(&cache, &stack, leaf, using, 16),
            [0x1250, 0x1260]
        );
        stack.words[7] = 0x1310;
        assert_eq!(
            walk_twice(&cache, &stack, other, using, 16),
            [0x1250, 0x1310]
        );
        // A full `out` while stepping by the record, then a deeper walk.
        assert_eq!(walk_twice(&cache, &stack, leaf, using, 1), [0x1250]);
        assert_eq!(
            walk_twice(&cache, &stack, other, using, 16),
            [0x1250, 0x1310]
        );
        // Other tables: the record is not theirs.
        let t2 = tables();
        assert_eq!(cache.memo.record(&t2, true).0.len(), 0);
        assert_eq!(
            walk_twice(&cache, &stack, leaf, Using::Cfi(&t2), 16),
            [0x1250, 0x1310]
        );
    }

    #[test]
    fn auto_steps_by_frame_pointers_in_an_object_built_with_them() {
        // Object A (0x1000..0x2000) is all frame-pointer frames; object B
        // (0x3000..0x4000) has none: its function keeps 8 bytes of frame.
        let fp_rule = Rule::cfa(true, 16, SavedFp::At(-16));
        let a = ModuleTable::from_rows(0x1000, 0x2000, vec![(0x1000, 0x2000, fp_rule)]);
        let b = ModuleTable::from_rows(
            0x3000,
            0x4000,
            vec![(0x3000, 0x4000, Rule::cfa(false, 16, SavedFp::Same))],
        );
        assert_eq!((a.fp_per_mille, b.fp_per_mille), (1000, 0));
        let t = Tables::of(vec![leak(a), leak(b)]);
        // A's frame record at 0x8000 -> return into B at 0x3100; B's
        // frame (8 bytes) then its return address into A at 0x1500, whose
        // frame record (rbp untouched by B) at 0x8020 ends the chain.
        let stack = Stack {
            base: 0x8000,
            words: vec![0x8020, 0x3100, 0, 0x1500, 0, 0x1700],
        };
        let regs = Regs {
            pc: 0x1050,
            sp: 0x8000,
            fp: 0x8000,
        };
        let (frames, w) = run(&stack, regs, Using::Auto(&t), 16);
        assert_eq!(frames, [0x3100, 0x1500, 0x1700]);
        assert_eq!(w.end, End::Root);
        // CFI alone finds the same frames.
        let (cfi, _) = run(&stack, regs, Using::Cfi(&t), 16);
        assert_eq!(cfi, [0x3100, 0x1500, 0x1700]);
    }

    /// A frame whose object's table is pending is stepped by its frame
    /// pointer only as a guess: code built without them leaves anything in
    /// `rbp`, here a frame record further up, and that step skips the
    /// frames between (a test's leak was named as libtest's `run_test`).
    #[test]
    fn auto_only_guesses_past_a_frame_whose_table_is_pending() {
        let built = ModuleTable::from_rows(
            0x1000,
            0x2000,
            vec![(0x1000, 0x2000, Rule::cfa(false, 16, SavedFp::Same))],
        );
        let t = Tables::of(vec![
            leak(built),
            leak(ModuleTable::pending(0x3000, 0x4000)),
        ]);
        // The leaf in the pending object (0x3050), its caller's return
        // address at 0x8008; rbp holds an outer frame record at 0x8020.
        let stack = Stack {
            base: 0x8000,
            words: vec![0, 0x1100, 0, 0, 0, 0x1700, 0],
        };
        let regs = Regs {
            pc: 0x3050,
            sp: 0x8000,
            fp: 0x8020,
        };
        // The walk guesses by the frame record (into 0x1700, skipping
        // 0x1100) to go on; what stands is only what precedes the guess.
        let (frames, w) = run(&stack, regs, Using::Auto(&t), 16);
        assert_eq!(frames, [0x1700], "{w:?}");
        assert_eq!((w.guessed.map(|g| g.0), w.missed), (Some(0), true));
        let sure = w.sure();
        assert_eq!(
            (sure.len, sure.end, sure.hash),
            (0, End::Cut, Walked::empty(End::Cut).hash)
        );
    }

    #[test]
    fn auto_falls_back_to_frame_pointers_where_there_is_no_rule() {
        let t = tables();
        // A frame in 0x1400.. (no CFI) with a frame record at 0x8010 whose
        // saved rbp is 0: the chain's end.
        let stack = Stack {
            base: 0x8000,
            words: vec![0, 0, 0, 0x1250, 0, 0x1310],
        };
        let regs = Regs {
            pc: 0x1450,
            sp: 0x8000,
            fp: 0x8010,
        };
        let (frames, w) = run(&stack, regs, Using::Auto(&t), 16);
        // From the frame record into top (CFI again), then to _start.
        assert_eq!(frames, [0x1250, 0x1310]);
        assert_eq!(w.end, End::Root);
        // CFI only stops at the frame without a rule.
        let (frames, w) = run(&stack, regs, Using::Cfi(&t), 16);
        assert_eq!((frames.len(), w.end), (0, End::Cut));
        // A pc outside every object is a miss.
        let (_, w) = run(&stack, Regs { pc: 0x9999, ..regs }, Using::Auto(&t), 16);
        assert!(w.missed);
    }

    #[test]
    fn never_reads_outside_the_stack_and_always_moves_up() {
        let t = tables();
        // leaf's return address slot is past the stack's end.
        let stack = Stack {
            base: 0x8000,
            words: vec![0, 0],
        };
        let regs = Regs {
            pc: 0x1050,
            sp: 0x8000,
            fp: 0,
        };
        let (frames, w) = run(&stack, regs, Using::Auto(&t), 16);
        assert_eq!((frames.len(), w.end), (0, End::Cut));
        // A frame record pointing below the stack pointer.
        let stack = Stack {
            base: 0x7000,
            words: vec![0x7000; 0x200],
        };
        let regs = Regs {
            pc: 0x1450,
            sp: 0x7800,
            fp: 0x7100,
        };
        let (frames, w) = run(&stack, regs, Using::Fp, 16);
        assert_eq!((frames.len(), w.end), (0, End::Cut));
        // A frame record pointing to itself ends after one step: the next
        // step would not move up.
        let mut words = vec![0usize; 8];
        words[0] = 0x7000; // [fp] = fp
        words[1] = 0x1450;
        let stack = Stack {
            base: 0x7000,
            words,
        };
        let regs = Regs {
            pc: 0x1450,
            sp: 0x7000,
            fp: 0x7000,
        };
        let (frames, w) = run(&stack, regs, Using::Fp, 16);
        assert_eq!((frames, w.end), (vec![0x1450], End::Cut));
    }

    /// `walk` reads a frame record only if both its words lie below `high`,
    /// on real memory: a buffer longer than the stack it is told about.
    #[test]
    fn walk_reads_frame_records_up_to_the_stack_top_and_no_further() {
        let mut words = [0usize; 12];
        let base = words.as_ptr() as usize;
        let high = base + 64;
        // Records at 16 and 32; the second names one at 56, whose second
        // word would lie past `high` (words 7 and 8: readable here, so a
        // wrong bound would show as a third frame).
        words[2] = base + 32;
        words[3] = 0x1001;
        words[4] = base + 56;
        words[5] = 0x1002;
        words[7] = base + 80;
        words[8] = 0x1003;
        let regs = Regs {
            pc: 0x1000,
            sp: base,
            fp: base + 16,
        };
        let mut out = [MaybeUninit::uninit(); 8];
        let w = walk(regs, high, Using::Fp, 0, &mut out);
        // SAFETY: `walk` initialised the first `w.len`.
        let frames: Vec<usize> = out[..w.len]
            .iter()
            .map(|f| unsafe { f.assume_init() })
            .collect();
        assert_eq!((frames, w.end), (vec![0x1001, 0x1002], End::Cut));
        // Told the stack ends one word further, the record at 56 is read.
        let w = walk(regs, high + 8, Using::Fp, 0, &mut out);
        assert_eq!((w.len, w.end), (3, End::Cut));
        // Less than one record above the stack pointer: nothing is read.
        let w = walk(regs, base + 8, Using::Fp, 0, &mut out);
        assert_eq!((w.len, w.end), (0, End::Cut));
        std::hint::black_box(&mut words);
    }
}
