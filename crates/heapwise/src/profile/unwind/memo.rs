//! The thread's last walk, step by step, so the next walk can take its
//! outer frames without looking up their rules.
//!
//! In full mode one thread's consecutive allocations share most of their
//! stacks (cc1plus: 75% of the frames of each walk are the previous walk's
//! outermost ones), and a step by CFI costs a rule lookup where a frame
//! pointer step costs one load. So each step by a rule is recorded: the
//! frame's `pc`, `sp` and `fp`, and the one word besides the return address
//! that the step read (its caller's saved `fp`, or the return address again
//! where the rule saves none) with its address. A later walk that reaches a
//! recorded state, the same `pc`, `sp` and `fp`, steps on by the record:
//! the same state and the same rule (the same tables) read the same two
//! addresses, so where both still hold the recorded words the step's
//! result is the recorded next state. Each such step reads the two words
//! and compares them, no lookup; the first word that differs, or the
//! record's end, returns the walk to stepping by rules from the state it
//! has reached. The walk is the one it would be without the record.
//!
//! Steps by frame records (code with frame pointers and code without a
//! rule) are not recorded: they cost a load already. A record is only of
//! the steps after the last such step ([`Memo::from`]). Two buffers: the
//! walk writes its own record into one while reading the last walk's from
//! the other.

use std::cell::Cell;

use crate::profile::unwind::modules::Tables;

/// The states a record holds: the default depth's 64 frames, the skipped
/// first one, and the last state. A walk with more steps (a depth raised
/// past 64) leaves no record.
pub(crate) const STEPS: usize = 66;

/// One state of a walk and, for a step taken from it by a rule, the other
/// word the step read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) pc: usize,
    pub(crate) sp: usize,
    pub(crate) fp: usize,
    /// The address of the word the step read for the caller's `fp`.
    pub(crate) word_at: usize,
    /// That word.
    pub(crate) word: usize,
}

impl Step {
    const EMPTY: Step = Step {
        pc: 0,
        sp: 0,
        fp: 0,
        word_at: 0,
        word: 0,
    };
}

/// The last walk's record, and room for the next: see the module docs.
#[derive(Debug)]
pub(crate) struct Memo {
    steps: [[Cell<Step>; STEPS]; 2],
    /// The buffer holding the last walk's record.
    last: Cell<usize>,
    /// The record's last state (`0..len` are its states; `len` 0: none).
    len: Cell<usize>,
    /// The first recorded state: those before it were stepped by frame
    /// records.
    from: Cell<usize>,
    /// Whether the walk was CFI only (which changes where it ends).
    cfi_only: Cell<bool>,
    /// The tables the record's rules came from.
    tables: Cell<*const Tables>,
}

impl Memo {
    pub(crate) const fn new() -> Memo {
        Memo {
            steps: [const { [const { Cell::new(Step::EMPTY) }; STEPS] }; 2],
            last: Cell::new(0),
            len: Cell::new(0),
            from: Cell::new(0),
            cfi_only: Cell::new(false),
            tables: Cell::new(std::ptr::null()),
        }
    }

    /// The last walk's record, if it was over `tables` in the same mode:
    /// its states and the first usable one.
    #[inline]
    pub(crate) fn record(&self, tables: &Tables, cfi_only: bool) -> (&[Cell<Step>], usize) {
        if !std::ptr::eq(self.tables.get(), tables) || self.cfi_only.get() != cfi_only {
            return (&[], 0);
        }
        let steps = &self.steps[self.last.get()];
        (&steps[..self.len.get().min(STEPS)], self.from.get())
    }

    /// The buffer the current walk records into (not the last walk's).
    #[inline]
    pub(crate) fn next(&self) -> &[Cell<Step>; STEPS] {
        &self.steps[self.last.get() ^ 1]
    }

    /// Makes the current walk's record the last one: states `from..=end`
    /// of [`next`](Self::next) were written (`None`: the walk leaves no
    /// record).
    #[inline]
    pub(crate) fn keep(&self, tables: &Tables, cfi_only: bool, from: usize, end: Option<usize>) {
        match end {
            Some(end) if end < STEPS && from <= end => {
                self.last.set(self.last.get() ^ 1);
                self.len.set(end + 1);
                self.from.set(from);
                self.cfi_only.set(cfi_only);
                self.tables.set(tables);
            }
            _ => self.len.set(0),
        }
    }

    /// Forgets the record (its tables are gone).
    pub(crate) fn clear(&self) {
        self.len.set(0);
        self.tables.set(std::ptr::null());
    }
}
