//! One object's compact unwind table: what its `.eh_frame` says about
//! every address of its code, reduced to the few rules a stack walk needs.
//!
//! # What is kept
//!
//! DWARF CFI describes, per address range, how to find the caller's
//! registers. A stack walk needs three of them on x86_64: the return
//! address, the stack pointer (the caller's is the CFA, the canonical frame
//! address) and `rbp`, which code with frame pointers uses as one and other
//! code may save and use freely. What compilers emit reduces to:
//!
//! - CFA = `rsp` + N (code without a frame pointer, prologues, epilogues)
//!   or `rbp` + N (code with one);
//! - return address saved at CFA − 8 (the `call` pushed it);
//! - `rbp` unchanged, or saved at CFA + M.
//!
//! Each run of addresses with one such rule is a row of 8 bytes: its start
//! (a 32-bit offset from the object's code start) and a [`Rule`]. Rows are
//! sorted, and consecutive equal rules merged; an index of 4 bytes per 256
//! bytes of code says which rows start in each 256-byte block, so a lookup
//! searches a handful of rows instead of the whole table. Addresses no FDE covers, and FDEs this cannot express (a CFA
//! computed by a DWARF expression, as in PLT stubs and signal trampolines;
//! other registers as the CFA base; offsets out of range) get
//! [`Rule::NONE`], where the walk falls back to the frame pointer. A return
//! address marked undefined (the outermost frames: `_start`, the thread
//! entry in `clone`) is [`Rule::END`]: the stack's root.
//!
//! The table is built from the object's memory while the dynamic loader
//! keeps it loaded (`sys/code.rs`), each FDE's CFI program evaluated by
//! `cfi.rs`, and owns everything it holds: a walk never reads the object's
//! sections, so an object unloaded later cannot make it fault.

use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};

use gimli::{
    BaseAddresses, EhFrame, EhFrameHdr, EhFrameOffset, EndianSlice, NativeEndian, Pointer,
};

use crate::profile::unwind::cfi::{fde_rows_at, Cies};
use crate::sys::code::LoadedObject;

/// How to find the caller's registers at one address, packed in 32 bits:
///
/// | bits | field |
/// |---|---|
/// | 0–1 | kind: none, CFA = `rsp` + N, CFA = `rbp` + N, end of stack |
/// | 2–3 | caller's `rbp`: unchanged, saved at CFA + M, unknown |
/// | 4–11 | M / 8, signed (−1, the return address's word, where `rbp` is not saved) |
/// | 12–31 | N, bytes |
///
/// The return address is always at CFA − 8.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Rule(u32);

/// A rule's kind (bits 0–1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// No unwind information here.
    None,
    /// CFA = `rsp` + N.
    Rsp,
    /// CFA = `rbp` + N.
    Rbp,
    /// The outermost frame: no caller.
    End,
}

/// What happens to `rbp` (bits 2–3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SavedFp {
    /// The caller's `rbp` is the current one.
    Same,
    /// Saved at CFA + M.
    At(isize),
    /// Not recoverable.
    Unknown,
}

/// The largest CFA offset a rule holds (20 bits).
const MAX_CFA_OFFSET: i64 = (1 << 20) - 1;

impl Rule {
    /// No unwind information.
    pub(crate) const NONE: Rule = Rule(0);
    /// The outermost frame.
    pub(crate) const END: Rule = Rule(3);
    /// The frame's table is not built yet: the walk steps it by its frame
    /// record as a guess (`Walked::guessed`); a CFI-only walk stops here,
    /// cut short ([`Kind::End`], marked apart from [`Rule::END`]). Never
    /// cached.
    pub(crate) const PENDING: Rule = Rule(3 | 4);

    /// CFA = `rsp` or `rbp` (`rbp_base`) + `cfa_offset`; the caller's `rbp`
    /// as `fp`. [`Rule::NONE`] if the offsets do not fit.
    pub(crate) fn cfa(rbp_base: bool, cfa_offset: i64, fp: SavedFp) -> Rule {
        if !(0..=MAX_CFA_OFFSET).contains(&cfa_offset) {
            return Rule::NONE;
        }
        // Where `rbp` is not saved, M is -1: the word at CFA - 8 (the
        // return address), which a walk reads anyway ([`Rule::fp_slot`]).
        let (fp_kind, m) = match fp {
            SavedFp::Same => (0, -1),
            SavedFp::At(m) if m % 8 == 0 && (-128..=127).contains(&(m / 8)) => (1, m / 8),
            SavedFp::At(_) => return Rule::NONE,
            SavedFp::Unknown => (2, -1),
        };
        let kind = if rbp_base { 2 } else { 1 };
        Rule(kind | fp_kind << 2 | (m as i8 as u8 as u32) << 4 | (cfa_offset as u32) << 12)
    }

    #[inline(always)]
    pub(crate) fn kind(self) -> Kind {
        match self.0 & 3 {
            0 => Kind::None,
            1 => Kind::Rsp,
            2 => Kind::Rbp,
            _ => Kind::End,
        }
    }

    /// Whether this is the frame-pointer frame: CFA = `rbp` + 16, the
    /// caller's `rbp` at CFA − 16 (`push rbp; mov rbp, rsp` done).
    pub(crate) fn is_fp_frame(self) -> bool {
        self == Rule::cfa(true, 16, SavedFp::At(-16))
    }

    /// Whether the kind is [`Kind::Rsp`] or [`Kind::Rbp`] (one compare).
    #[inline(always)]
    pub(crate) fn is_cfa(self) -> bool {
        (self.0 & 3).wrapping_sub(1) < 2
    }

    /// N, for [`Kind::Rsp`] and [`Kind::Rbp`].
    #[inline(always)]
    pub(crate) fn cfa_offset(self) -> usize {
        (self.0 >> 12) as usize
    }

    /// Where, from the CFA, the caller's `rbp` is read: CFA + M for
    /// [`SavedFp::At`], else the return address's word (CFA − 8), so a
    /// walk reads a word whatever the rule, without a branch.
    #[inline(always)]
    pub(crate) fn fp_slot(self) -> isize {
        isize::from((self.0 >> 4) as u8 as i8) * 8
    }

    /// The caller's `rbp`, given the current one and the word read at
    /// [`fp_slot`](Self::fp_slot), without a branch (see [`SavedFp`]).
    #[inline(always)]
    pub(crate) fn caller_fp(self, fp: usize, word: usize) -> usize {
        let kind = (self.0 >> 2) & 3;
        #[cfg(target_arch = "x86_64")]
        {
            // Two conditional moves. Written as a select (or as masks,
            // which LLVM folds into one), the x86 backend makes a select
            // fed by a load a branch, and the kinds vary from frame to
            // frame: in cc1plus's walks it mispredicted one time in four.
            let mut caller = 0; // SavedFp::Unknown
                                // SAFETY: register moves and compares only.
            unsafe {
                std::arch::asm!(
                    "test {kind:e}, {kind:e}",
                    "cmovz {caller}, {fp}",
                    "cmp {kind:e}, 1",
                    "cmovz {caller}, {word}",
                    kind = in(reg) kind,
                    caller = inout(reg) caller,
                    fp = in(reg) fp,
                    word = in(reg) word,
                    options(pure, nomem, nostack),
                );
            }
            caller
        }
        #[cfg(not(target_arch = "x86_64"))]
        match kind {
            0 => fp,
            1 => word,
            _ => 0,
        }
    }

    /// What happens to `rbp` (the walk reads it through
    /// [`fp_slot`](Self::fp_slot) and [`caller_fp`](Self::caller_fp)).
    #[cfg(test)]
    pub(crate) fn fp(self) -> SavedFp {
        match (self.0 >> 2) & 3 {
            0 => SavedFp::Same,
            1 => SavedFp::At(isize::from((self.0 >> 4) as u8 as i8) * 8),
            _ => SavedFp::Unknown,
        }
    }
}

/// One object's rows: see the module docs.
#[derive(Debug)]
pub(crate) struct ModuleTable {
    /// The object's code range `[start, end)`; row offsets are from `start`.
    pub(crate) start: usize,
    pub(crate) end: usize,
    offsets: Box<[u32]>,
    rules: Box<[Rule]>,
    /// Per block of `1 << BLOCK_SHIFT` bytes of code, the rows that start
    /// before it: a lookup searches only its block's rows.
    blocks: Box<[u32]>,
    /// Per mille of the code with unwind information whose rule is the
    /// frame-pointer frame (CFA = `rbp` + 16, the caller's `rbp` at CFA − 16):
    /// near 1000 for code built with frame pointers, near 0 without.
    pub(crate) fp_per_mille: u32,
    /// Not built: no walk has met the object yet ([`ModuleTable::pending`]).
    pending: bool,
    /// A walk met this pending table's object: build it at the next refresh.
    wanted: AtomicBool,
    /// A pending table's built table, once built (null before): walks reach
    /// it through [`resolved`](Self::resolved), so a build needs no new
    /// [`Tables`](super::modules::Tables) snapshot.
    built: AtomicPtr<ModuleTable>,
}

/// log2 of the bytes of code per index entry: 256 bytes of code cost 4
/// bytes of index (1.6%) and hold a few rows.
const BLOCK_SHIFT: u32 = 8;

impl ModuleTable {
    /// The rule at `pc`, which lies in `[start, end)`.
    #[inline]
    pub(crate) fn lookup(&self, pc: usize) -> Rule {
        let off = (pc - self.start) as u32;
        let block = (off >> BLOCK_SHIFT) as usize;
        let (Some(&lo), Some(&hi)) = (self.blocks.get(block), self.blocks.get(block + 1)) else {
            return Rule::NONE;
        };
        let (lo, hi) = (lo as usize, hi as usize);
        // Rows before `lo` start at or before `off`; rows from `hi` on
        // start after it.
        let i = match self.offsets.get(lo..hi) {
            Some(rows) => lo + rows.partition_point(|&o| o <= off),
            None => return Rule::NONE,
        };
        match i.checked_sub(1) {
            Some(i) => self.rules.get(i).copied().unwrap_or(Rule::NONE),
            None => Rule::NONE,
        }
    }

    /// The table of an object no walk has met yet (`modules.rs`): no rows,
    /// so every lookup is [`Rule::NONE`], until a walk asks for it
    /// ([`want`](Self::want)) and the next refresh builds it.
    pub(crate) fn pending(start: usize, end: usize) -> ModuleTable {
        ModuleTable {
            pending: true,
            ..ModuleTable::from_rows(start, end, Vec::new())
        }
    }

    /// Whether the table is still to be built.
    #[inline(always)]
    pub(crate) fn is_pending(&self) -> bool {
        self.pending
    }

    /// Asks for a pending table to be built (a walk met its object):
    /// allocation-free, lock-free.
    #[inline]
    pub(crate) fn want(&self) {
        self.wanted.store(true, Relaxed);
    }

    /// Whether a walk asked for this pending table and it is not built.
    pub(crate) fn is_wanted(&self) -> bool {
        self.pending && self.wanted.load(Relaxed) && self.built.load(Relaxed).is_null()
    }

    /// This table, or for a pending table that was built since, the built
    /// one. Allocation-free, lock-free.
    #[inline(always)]
    pub(crate) fn resolved(&'static self) -> &'static ModuleTable {
        if !self.pending {
            return self;
        }
        // SAFETY: null, or a leaked table published with release after it
        // was written (`set_built`).
        unsafe { self.built.load(Acquire).as_ref() }.unwrap_or(self)
    }

    /// Records `table` as this pending table's build: from now on walks
    /// that reach this table use `table`. Called once, under the lock of
    /// the tables' builder (`modules.rs`).
    pub(crate) fn set_built(&self, table: &'static ModuleTable) {
        debug_assert!(self.pending && !table.pending);
        debug_assert!((table.start, table.end) == (self.start, self.end));
        debug_assert!(self.built.load(Relaxed).is_null(), "built twice");
        self.built.store(ptr::from_ref(table).cast_mut(), Release);
    }

    /// Rows held.
    pub(crate) fn rows(&self) -> usize {
        self.rules.len()
    }

    /// Heap bytes held.
    pub(crate) fn bytes(&self) -> usize {
        (self.offsets.len() + self.rules.len() + self.blocks.len()) * 4
    }

    /// Builds the table of `object` from its `.eh_frame`; an object without
    /// one, or whose unwind information does not parse, gets an empty table
    /// (every address [`Rule::NONE`]). Allocates: run it behind the guard.
    pub(crate) fn build(object: &LoadedObject<'_>) -> ModuleTable {
        let (start, end) = object.code;
        let mut rows = Vec::new();
        // A parse error ends the object's table where it happened: what was
        // read before it is kept.
        let mut every_fp = true;
        let _ = eh_frame_rows(object, &mut rows, &mut every_fp);
        ModuleTable::from_rows(start, end, rows).judged(every_fp)
    }

    /// This table, its [`fp_per_mille`](Self::fp_per_mille) kept under
    /// `walk::FP_OBJECT` unless `every_fp`: every function of its code keeps
    /// a frame pointer. A walk steps through a table judged so by frame
    /// records, without rules, and in a function that keeps none `rbp`
    /// holds an outer frame's record, so the frames between were skipped:
    /// Rust's standard library is built with frame pointers, a program
    /// built without them mixes both, and a small one (std most of its
    /// code) lost all of its own frames above the allocation's.
    pub(crate) fn judged(self, every_fp: bool) -> ModuleTable {
        let most = crate::profile::unwind::walk::FP_OBJECT - 1;
        ModuleTable {
            fp_per_mille: if every_fp {
                self.fp_per_mille
            } else {
                self.fp_per_mille.min(most)
            },
            ..self
        }
    }

    /// The table of code `[start, end)` from rows `(start, end, rule)`
    /// (absolute addresses, any order). Where rows overlap, the one that
    /// starts first keeps its range (the same start: the one given first);
    /// parts outside the code are dropped.
    pub(crate) fn from_rows(
        start: usize,
        end: usize,
        rows: Vec<(usize, usize, Rule)>,
    ) -> ModuleTable {
        let mut rows: Vec<(usize, usize, Rule)> = rows
            .into_iter()
            .map(|(lo, hi, rule)| (lo.max(start), hi.min(end), rule))
            .filter(|&(lo, hi, _)| lo < hi)
            .collect();
        if end - start > u32::MAX as usize {
            rows.clear();
        }
        rows.sort_by_key(|r| r.0);
        let mut offsets: Vec<u32> = Vec::with_capacity(rows.len() + 1);
        let mut rules: Vec<Rule> = Vec::with_capacity(rows.len() + 1);
        let mut push = |at: usize, rule: Rule| {
            if rules.last().copied().unwrap_or(Rule::NONE) != rule {
                offsets.push((at - start) as u32);
                rules.push(rule);
            }
        };
        let mut share = FpShare::default();
        let mut covered = start;
        for (lo, hi, rule) in rows {
            let lo = lo.max(covered);
            if lo >= hi {
                continue;
            }
            if lo > covered {
                push(covered, Rule::NONE);
            }
            push(lo, rule);
            share.add(lo, hi, rule);
            covered = hi;
        }
        if covered < end {
            push(covered, Rule::NONE);
        }
        let len = if rules.is_empty() { 0 } else { end - start };
        let count = (len >> BLOCK_SHIFT) + 2;
        let mut blocks = Vec::with_capacity(count);
        let mut i = 0;
        for b in 0..count {
            let block_start = (b << BLOCK_SHIFT) as u64;
            while i < offsets.len() && u64::from(offsets[i]) < block_start {
                i += 1;
            }
            blocks.push(i as u32);
        }
        ModuleTable {
            start,
            end,
            offsets: offsets.into_boxed_slice(),
            rules: rules.into_boxed_slice(),
            blocks: blocks.into_boxed_slice(),
            fp_per_mille: share.per_mille(),
            pending: false,
            wanted: AtomicBool::new(false),
            built: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

/// Appends the rows of every FDE of `object`'s `.eh_frame`, found through
/// the FDE index of its `.eh_frame_hdr`.
fn eh_frame_rows(
    object: &LoadedObject<'_>,
    rows: &mut Vec<(usize, usize, Rule)>,
    every_fp: &mut bool,
) -> gimli::Result<()> {
    let mut cies = Cies::default();
    for_each_fde(object, |eh_frame, bases, offset| {
        function_rows_at(eh_frame, bases, &mut cies, offset, rows, every_fp)
    })
}

/// [`fde_rows_at`], one function's rows, and whether they keep a frame
/// pointer (one row at least is the frame-pointer frame; a function with
/// no rows has nothing to judge) ANDed into `every_fp`, for
/// [`ModuleTable::judged`].
pub(crate) fn function_rows_at<'a>(
    eh_frame: &EhFrame<EndianSlice<'a, NativeEndian>>,
    bases: &BaseAddresses,
    cies: &mut Cies<'a>,
    offset: EhFrameOffset,
    rows: &mut Vec<(usize, usize, Rule)>,
    every_fp: &mut bool,
) -> gimli::Result<()> {
    let from = rows.len();
    let r = fde_rows_at(eh_frame, bases, cies, offset, rows);
    let function = &rows[from..];
    *every_fp &= function.is_empty() || function.iter().any(|r| r.2.is_fp_frame());
    r
}

/// Calls `f` with `object`'s `.eh_frame`, its bases and the offset of
/// each FDE its `.eh_frame_hdr` indexes, in the index's order, until `f`
/// or the index fails. An object without an index has no FDE here.
pub(crate) fn for_each_fde<'a>(
    object: &LoadedObject<'a>,
    mut f: impl FnMut(
        &EhFrame<EndianSlice<'a, NativeEndian>>,
        &BaseAddresses,
        EhFrameOffset,
    ) -> gimli::Result<()>,
) -> gimli::Result<()> {
    let (hdr_addr, hdr) = object.eh_frame_hdr;
    if hdr.is_empty() {
        return Ok(());
    }
    let bases = BaseAddresses::default().set_eh_frame_hdr(hdr_addr as u64);
    let parsed = EhFrameHdr::new(hdr, NativeEndian).parse(&bases, 8)?;
    let Pointer::Direct(eh_frame_addr) = parsed.eh_frame_ptr() else {
        return Ok(());
    };
    let Some(bytes) = object.bytes_from(eh_frame_addr as usize) else {
        return Ok(());
    };
    let eh_frame = EhFrame::new(bytes, NativeEndian);
    let bases = bases.set_eh_frame(eh_frame_addr);
    let Some(table) = parsed.table() else {
        return Ok(());
    };
    let mut entries = table.iter(&bases);
    while let Some((_, fde_ptr)) = entries.next()? {
        f(&eh_frame, &bases, table.pointer_to_offset(fde_ptr)?)?;
    }
    Ok(())
}

/// `part` in thousandths of `whole` (0 if `whole` is 0).
fn per_mille(part: usize, whole: usize) -> u32 {
    (part as u128 * 1000 / whole.max(1) as u128) as u32
}

/// Bytes of code that have a rule, and of those, bytes whose rule is the
/// frame-pointer frame (`push rbp; mov rbp, rsp` done): how far an object
/// was built with frame pointers.
#[derive(Default)]
struct FpShare {
    fp: usize,
    cfi: usize,
}

impl FpShare {
    fn add(&mut self, lo: usize, hi: usize, rule: Rule) {
        if rule.kind() != Kind::None && lo < hi {
            self.cfi += hi - lo;
            if rule.is_fp_frame() {
                self.fp += hi - lo;
            }
        }
    }

    fn per_mille(&self) -> u32 {
        per_mille(self.fp, self.cfi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_merged_clipped_and_end_in_gaps() {
        let rsp8 = Rule::cfa(false, 8, SavedFp::Same);
        let rsp16 = Rule::cfa(false, 16, SavedFp::Same);
        let rbp = Rule::cfa(true, 16, SavedFp::At(-16));
        let t = ModuleTable::from_rows(
            0x1000,
            0x2000,
            vec![
                (0x1100, 0x1110, rbp),
                (0x1000, 0x1001, rsp8),
                (0x1001, 0x1080, rsp16),
                (0x1080, 0x1100, rsp16), // the same rule: one row
                (0x1200, 0x1300, Rule::END),
                (0x0800, 0x1000, rsp8),  // before the code: dropped
                (0x1f00, 0x3000, rsp8),  // past its end: clipped
                (0x1250, 0x1260, rsp16), // overlaps an earlier FDE: loses
            ],
        );
        let at = |pc| t.lookup(pc);
        assert_eq!(at(0x1000), rsp8);
        assert_eq!(at(0x1001), rsp16);
        assert_eq!(at(0x10ff), rsp16);
        assert_eq!(at(0x1100), rbp);
        assert_eq!(at(0x110f), rbp);
        assert_eq!(at(0x1110), Rule::NONE); // the gap between FDEs
        assert_eq!(at(0x11ff), Rule::NONE);
        assert_eq!(at(0x1200), Rule::END);
        assert_eq!(at(0x1f00), rsp8);
        assert_eq!(at(0x1fff), rsp8);
        assert_eq!(at(0x1250), Rule::END);
        assert_eq!(at(0x1300), Rule::NONE);
        // rsp8, rsp16, rbp, gap, END, gap, rsp8
        assert_eq!(t.rows(), 7);
        // 16 blocks of 256 bytes, and two ends.
        assert_eq!(t.bytes(), t.rows() * 8 + 18 * 4);
        // Every address agrees with a plain search of the rows.
        for pc in 0x1000..0x2000 {
            let i = t.offsets.partition_point(|&o| o as usize <= pc - 0x1000);
            let plain = if i == 0 { Rule::NONE } else { t.rules[i - 1] };
            assert_eq!(t.lookup(pc), plain, "{pc:#x}");
        }
        let empty = ModuleTable::from_rows(0x1000, 0x2000, Vec::new());
        assert_eq!((empty.rows(), empty.lookup(0x1800)), (0, Rule::NONE));
        let pending: &'static ModuleTable =
            Box::leak(Box::new(ModuleTable::pending(0x1000, 0x2000)));
        assert_eq!(pending.lookup(0x1800), Rule::NONE);
        assert!(pending.is_pending() && !pending.is_wanted());
        assert!(std::ptr::eq(pending.resolved(), pending));
        pending.want();
        assert!(pending.is_wanted());
        t.want(); // a built table is never wanted
        assert!(!t.is_pending() && !t.is_wanted());
        // Once built, the pending table leads to its build and is no longer
        // wanted.
        let t: &'static ModuleTable = Box::leak(Box::new(t));
        pending.set_built(t);
        assert!(!pending.is_wanted());
        assert!(std::ptr::eq(pending.resolved(), t));
        assert!(std::ptr::eq(t.resolved(), t));
    }

    #[inline(never)]
    fn some_function(x: usize) -> usize {
        std::hint::black_box(x).wrapping_mul(3)
    }

    /// This test binary's own `.eh_frame`: every function starts with CFA =
    /// `rsp` + 8 (the return address just pushed), and this binary keeps
    /// frame pointers, so a body is CFA = `rbp` + 16 with `rbp` at CFA − 16.
    #[test]
    fn this_programs_eh_frame() {
        let f = some_function as *const () as usize;
        let mut table = None;
        // Another test may hold the lock for a moment.
        while crate::sys::code::try_for_each_object(&mut |o| {
            if o.code.0 <= f && f < o.code.1 {
                table = Some(ModuleTable::build(o));
            }
        })
        .is_none()
        {
            std::thread::yield_now();
        }
        let t = table.expect("this program's object");
        assert!(t.rows() > 1000, "{} rows", t.rows());
        assert_eq!(t.lookup(f), Rule::cfa(false, 8, SavedFp::Same));
        let body = (f..f + 32)
            .map(|pc| t.lookup(pc))
            .find(|r| r.kind() == Kind::Rbp);
        assert_eq!(body, Some(Rule::cfa(true, 16, SavedFp::At(-16))));
        // The test harness's entry and std's thread start are in here too.
        let entry =
            crate::profile::unwind::table::tests::this_programs_eh_frame as *const () as usize;
        assert_ne!(t.lookup(entry), Rule::NONE);
    }

    #[test]
    fn the_callers_frame_pointer_is_read_from_one_slot_whatever_the_rule() {
        let (fp, word) = (0x7000, 0x7100);
        let same = Rule::cfa(false, 8, SavedFp::Same);
        assert_eq!((same.fp_slot(), same.caller_fp(fp, word)), (-8, fp));
        let at = Rule::cfa(true, 16, SavedFp::At(-16));
        assert_eq!((at.fp_slot(), at.caller_fp(fp, word)), (-16, word));
        let far = Rule::cfa(false, 200, SavedFp::At(1016));
        assert_eq!((far.fp_slot(), far.caller_fp(fp, word)), (1016, word));
        let unknown = Rule::cfa(false, 8, SavedFp::Unknown);
        assert_eq!((unknown.fp_slot(), unknown.caller_fp(fp, word)), (-8, 0));
    }

    #[test]
    fn rules_round_trip() {
        let r = Rule::cfa(false, 8, SavedFp::Same);
        assert_eq!(
            (r.kind(), r.cfa_offset(), r.fp()),
            (Kind::Rsp, 8, SavedFp::Same)
        );
        let r = Rule::cfa(true, 16, SavedFp::At(-16));
        assert_eq!(
            (r.kind(), r.cfa_offset(), r.fp()),
            (Kind::Rbp, 16, SavedFp::At(-16))
        );
        let r = Rule::cfa(false, MAX_CFA_OFFSET, SavedFp::At(-1024));
        assert_eq!(
            (r.kind(), r.cfa_offset(), r.fp()),
            (Kind::Rsp, (1 << 20) - 1, SavedFp::At(-1024))
        );
        let r = Rule::cfa(false, 200, SavedFp::At(1016));
        assert_eq!(r.fp(), SavedFp::At(1016));
        assert_eq!(Rule::cfa(false, 8, SavedFp::Unknown).fp(), SavedFp::Unknown);
        // What does not fit is no rule.
        assert_eq!(
            Rule::cfa(false, MAX_CFA_OFFSET + 1, SavedFp::Same),
            Rule::NONE
        );
        assert_eq!(Rule::cfa(false, -8, SavedFp::Same), Rule::NONE);
        assert_eq!(Rule::cfa(false, 8, SavedFp::At(-12)), Rule::NONE);
        assert_eq!(Rule::cfa(false, 8, SavedFp::At(-1032)), Rule::NONE);
        assert_eq!(Rule::END.kind(), Kind::End);
        assert_eq!(Rule::NONE.kind(), Kind::None);
    }
}
