//! An FDE's CFI program evaluated to rows of [`Rule`]s: the x86_64 call
//! frame state a walk needs (the CFA, the return address's rule, `rbp`'s),
//! nothing else.
//!
//! # Why not `gimli::UnwindTable`
//!
//! It keeps every register's rule in a row it copies on each
//! `remember_state`, and evaluates the CIE's initial instructions again for
//! every FDE: ~260 instructions a row, most of the time it took to build
//! `cc1plus`'s chunks (`chunks.rs`). Here the state is three small values,
//! a CIE is evaluated once per table build (cached with it), `gimli` parses
//! the CIEs, and the FDEs of the form every x86_64 Linux toolchain writes
//! are parsed and decoded here (`fast`; ~2,400 instructions an FDE of
//! `cc1plus`, 3,900 through `gimli`'s parser). The rows, and the errors
//! that end a table early, are `gimli`'s: a test runs both on every FDE of
//! every object loaded into the test binary.

use std::collections::HashMap;

use gimli::{
    BaseAddresses, CallFrameInstruction, CommonInformationEntry, EhFrame, EhFrameOffset,
    EndianSlice, NativeEndian, UnwindSection, X86_64,
};

use crate::profile::depot::Fx;
use crate::profile::unwind::table::{Rule, SavedFp};

type Slice<'a> = EndianSlice<'a, NativeEndian>;

/// What a row says about one register the walk reads (the return address
/// or `rbp`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reg {
    /// No rule: the default (`rbp` unchanged; the return address unknown).
    Unset,
    Undefined,
    SameValue,
    /// Saved at CFA + N.
    Offset(i64),
    /// Any other rule (in a register, an expression, a value offset).
    Other,
}

/// The CFA's rule.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cfa {
    /// A register plus an offset (`gimli`'s default: register 0 + 0).
    At { register: u16, offset: i64 },
    /// A DWARF expression.
    Expression,
}

/// The state of one row.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct State {
    cfa: Cfa,
    ra: Reg,
    rbp: Reg,
}

impl State {
    const DEFAULT: State = State {
        cfa: Cfa::At {
            register: 0,
            offset: 0,
        },
        ra: Reg::Unset,
        rbp: Reg::Unset,
    };

    /// The row's [`Rule`].
    fn rule(&self) -> Rule {
        match self.ra {
            Reg::Undefined => return Rule::END,
            Reg::Offset(-8) => {}
            _ => return Rule::NONE,
        }
        let Cfa::At { register, offset } = self.cfa else {
            return Rule::NONE;
        };
        let rbp_base = match register {
            r if r == X86_64::RSP.0 => false,
            r if r == X86_64::RBP.0 => true,
            _ => return Rule::NONE,
        };
        let fp = match self.rbp {
            Reg::Unset | Reg::SameValue => SavedFp::Same,
            Reg::Offset(m) => SavedFp::At(m as isize),
            Reg::Undefined => SavedFp::Unknown,
            Reg::Other => return Rule::NONE,
        };
        Rule::cfa(rbp_base, offset, fp)
    }
}

/// Rows `remember_state` can stack, the current one included (`gimli`'s
/// `StoreOnHeap` depth, whose errors these reproduce).
const STACK: usize = 4;

/// A CIE's initial state: its instructions' last row, and whether they gave
/// rules to more than one register (`gimli` then keeps that row at the
/// bottom of the stack, one fewer for `remember_state`).
#[derive(Clone, Copy, Debug)]
struct Initial {
    state: State,
    several: bool,
}

/// A parsed CIE with its evaluated initial state (or the error evaluating
/// it gave).
#[derive(Clone, Debug)]
struct Cie<'a> {
    cie: CommonInformationEntry<Slice<'a>>,
    initial: gimli::Result<Initial>,
}

/// CIEs parsed and evaluated so far, by offset: an object's FDEs share a
/// few.
#[derive(Default)]
pub(crate) struct Cies<'a>(HashMap<EhFrameOffset, Cie<'a>, Fx>);

/// Appends the rows of the FDE at `offset`, parsing and evaluating its CIE
/// once per `cies`.
pub(crate) fn fde_rows_at<'a>(
    eh_frame: &EhFrame<Slice<'a>>,
    bases: &BaseAddresses,
    cies: &mut Cies<'a>,
    offset: EhFrameOffset,
    rows: &mut Vec<(usize, usize, Rule)>,
) -> gimli::Result<()> {
    let mark = rows.len();
    if fast::fde_rows(eh_frame, bases, cies, offset, rows).is_some() {
        #[cfg(test)]
        tests::FAST.set(tests::FAST.get() + 1);
        return Ok(());
    }
    // Anything the fast path does not take, `gimli` parses: from the start.
    rows.truncate(mark);
    let mut initial = None;
    let fde = eh_frame.fde_from_offset(bases, offset, |s, b, o| {
        if let Some(c) = cies.0.get(&o) {
            initial = Some(c.initial);
            return Ok(c.cie.clone());
        }
        let cie = s.cie_from_offset(b, o)?;
        let evaluated = initial_state(s, b, &cie);
        initial = Some(evaluated);
        cies.0.insert(
            o,
            Cie {
                cie: cie.clone(),
                initial: evaluated,
            },
        );
        Ok(cie)
    })?;
    if fde.is_signal_trampoline() {
        return Ok(()); // the caller's registers are in a signal frame
    }
    // `fde_from_offset` called the closure (the FDE has a CIE).
    let initial = initial.unwrap_or(Err(gimli::Error::NoEntryAtGivenOffset(0)))?;
    let mut program = Program::new(fde.cie(), Some(initial), fde.initial_address());
    let mut instructions = fde.instructions(eh_frame, bases);
    while let Some(instruction) = instructions.next()? {
        program.evaluate(instruction, &mut |start, end, state| {
            rows.push((start as usize, end as usize, state.rule()));
        })?;
    }
    let (start, state) = (program.start, program.row());
    rows.push((start as usize, fde.end_address() as usize, state.rule()));
    Ok(())
}

/// The FDEs every x86_64 Linux toolchain writes, parsed and decoded here
/// with `gimli`'s own reader and LEB128 (so every field reads, and fails,
/// as in `gimli`): its parser took 480 instructions an FDE header and 67 a
/// CFI instruction (cc1plus: 27 of them an FDE). The instructions are
/// `gimli`'s [`CallFrameInstruction`]s, as its parser makes them,
/// evaluated by the same [`Program`]; anything else (a
/// CIE not parsed yet, other pointer encodings, expressions, rare
/// instructions, a malformed byte, an error evaluating) gives `None`, and
/// the FDE goes through `gimli` whole, errors included (`rows_are_gimlis`
/// holds both to `gimli`'s `UnwindTable`).
mod fast {
    use gimli::{constants, leb128, BaseAddresses, CallFrameInstruction, EhFrame, EhFrameOffset};
    use gimli::{Reader as _, Register, Section as _};

    use super::{Cies, Program, Rule, Slice};

    /// `pcrel | sdata4`: the FDE address encoding of GCC's and LLVM's
    /// `.eh_frame` on x86_64.
    const PCREL_SDATA4: constants::DwEhPe = constants::DwEhPe(0x1b);

    /// The next unsigned LEB128, as `gimli` reads it (and fails on).
    fn uleb(r: &mut Slice<'_>) -> Option<u64> {
        leb128::read::unsigned(r).ok()
    }

    fn register(r: &mut Slice<'_>) -> Option<Register> {
        u16::try_from(uleb(r)?).ok().map(Register)
    }

    pub(super) fn fde_rows<'a>(
        eh_frame: &EhFrame<Slice<'a>>,
        bases: &BaseAddresses,
        cies: &Cies<'a>,
        offset: EhFrameOffset,
        rows: &mut Vec<(usize, usize, Rule)>,
    ) -> Option<()> {
        // The entry, read with `gimli`'s own reader over the section.
        let section = eh_frame.reader();
        let mut entry = *section;
        entry.skip(offset.0).ok()?;
        let length = entry.read_u32().ok()?;
        if length == 0 || length >= 0xffff_fff0 {
            return None; // a terminator, or the 64-bit format
        }
        let mut body = entry.split(length as usize).ok()?;
        let cie_id_at = body.offset_from(*section);
        let cie_id = body.read_u32().ok()? as usize;
        if cie_id == 0 {
            return None; // a CIE
        }
        let cie = cies.0.get(&EhFrameOffset(cie_id_at.checked_sub(cie_id)?))?;
        let initial = cie.initial.ok()?;
        let cie = &cie.cie;
        if cie.fde_address_encoding() != Some(PCREL_SDATA4)
            || cie.address_size() != 8
            || cie.is_signal_trampoline()
        {
            return None;
        }
        // The initial location, relative to its own address; the range.
        let field = bases
            .eh_frame
            .section?
            .wrapping_add(body.offset_from(*section) as u64);
        let initial_address = field.wrapping_add(body.read_i32().ok()? as u64);
        let range = body.read_i32().ok()? as u64;
        // The augmentation data: an LSDA pointer, if the CIE says so.
        let data_len = usize::try_from(uleb(&mut body)?).ok()?;
        if let Some(lsda) = cie.lsda_encoding() {
            // A 4-byte pointer (absolute or pc-relative, maybe indirect) that
            // the data holds: `gimli` parses it and fails where it cannot.
            let simple = matches!(lsda.0 & 0x7f, 0x03 | 0x0b | 0x13 | 0x1b);
            if !simple || data_len < 4 {
                return None;
            }
        }
        body.skip(data_len).ok()?;
        let mut program = Program::new(cie, Some(initial), initial_address);
        let mut row = |start: u64, end: u64, state: &super::State| {
            rows.push((start as usize, end as usize, state.rule()));
        };
        while !body.is_empty() {
            let instruction = decode(&mut body)?;
            program.evaluate(instruction, &mut row).ok()?;
        }
        let end_address = initial_address.wrapping_add(range);
        let state = program.row();
        rows.push((program.start as usize, end_address as usize, state.rule()));
        Some(())
    }

    /// One instruction, as `gimli`'s parser gives it; `None` for those left
    /// to it. Inlined into the loop with [`Program::evaluate`], so the two
    /// matches fuse and no instruction is built in memory.
    #[inline(always)]
    fn decode(b: &mut Slice<'_>) -> Option<CallFrameInstruction<usize>> {
        use CallFrameInstruction as I;
        let op = b.read_u8().ok()?;
        let low = op & 0x3f;
        Some(match op >> 6 {
            1 => I::AdvanceLoc { delta: low.into() },
            2 => I::Offset {
                register: Register(low.into()),
                factored_offset: uleb(b)?,
            },
            3 => I::Restore {
                register: Register(low.into()),
            },
            _ => match op {
                0x00 => I::Nop,
                0x02 => I::AdvanceLoc {
                    delta: b.read_u8().ok()?.into(),
                },
                0x03 => I::AdvanceLoc {
                    delta: b.read_u16().ok()?.into(),
                },
                0x04 => I::AdvanceLoc {
                    delta: b.read_u32().ok()?,
                },
                0x05 => I::Offset {
                    register: register(b)?,
                    factored_offset: uleb(b)?,
                },
                0x06 => I::Restore {
                    register: register(b)?,
                },
                0x07 => I::Undefined {
                    register: register(b)?,
                },
                0x08 => I::SameValue {
                    register: register(b)?,
                },
                0x09 => I::Register {
                    dest_register: register(b)?,
                    src_register: register(b)?,
                },
                0x0a => I::RememberState,
                0x0b => I::RestoreState,
                0x0c => I::DefCfa {
                    register: register(b)?,
                    offset: uleb(b)?,
                },
                0x0d => I::DefCfaRegister {
                    register: register(b)?,
                },
                0x0e => I::DefCfaOffset { offset: uleb(b)? },
                0x2e => I::ArgsSize { size: uleb(b)? },
                _ => return None,
            },
        })
    }
}

/// Runs a CIE's initial instructions.
fn initial_state(
    eh_frame: &EhFrame<Slice<'_>>,
    bases: &BaseAddresses,
    cie: &CommonInformationEntry<Slice<'_>>,
) -> gimli::Result<Initial> {
    let mut program = Program::new(cie, None, 0);
    let mut instructions = cie.instructions(eh_frame, bases);
    while let Some(instruction) = instructions.next()? {
        program.evaluate(instruction, &mut |_, _, _| {})?;
    }
    Ok(Initial {
        state: program.row(),
        several: program.several,
    })
}

/// One CFI program being evaluated (a CIE's, or an FDE's after its CIE's).
struct Program {
    code_align: u64,
    data_align: i64,
    /// The CIE's state, for `restore`; `None` while evaluating the CIE.
    initial: Option<Initial>,
    /// The current row's start.
    start: u64,
    stack: [State; STACK],
    /// Rows on the stack; the current one is `stack[depth - 1]`.
    depth: usize,
    /// `remember_state`'s floor: `restore_state` cannot pop below it.
    floor: usize,
    /// While evaluating a CIE: the first register given a rule, and whether
    /// another one was.
    first: Option<u16>,
    several: bool,
}

impl Program {
    fn new(
        cie: &CommonInformationEntry<Slice<'_>>,
        initial: Option<Initial>,
        start: u64,
    ) -> Program {
        let (state, floor) = match initial {
            Some(i) => (i.state, if i.several { 2 } else { 1 }),
            None => (State::DEFAULT, 1),
        };
        Program {
            code_align: cie.code_alignment_factor(),
            data_align: cie.data_alignment_factor(),
            initial,
            start,
            stack: [state; STACK],
            depth: floor,
            floor,
            first: None,
            several: false,
        }
    }

    fn row(&self) -> State {
        self.stack[self.depth - 1]
    }

    fn row_mut(&mut self) -> &mut State {
        &mut self.stack[self.depth - 1]
    }

    /// Gives `register` the rule `rule` (ignored unless the walk reads it).
    fn set(&mut self, register: gimli::Register, rule: Reg) {
        if self.initial.is_none() {
            match self.first {
                None => self.first = Some(register.0),
                Some(r) if r != register.0 => self.several = true,
                Some(_) => {}
            }
        }
        let row = self.row_mut();
        if register == X86_64::RA {
            row.ra = rule;
        } else if register == X86_64::RBP {
            row.rbp = rule;
        }
    }

    fn cfa_at(&mut self) -> gimli::Result<(&mut u16, &mut i64)> {
        match &mut self.row_mut().cfa {
            Cfa::At { register, offset } => Ok((register, offset)),
            Cfa::Expression => Err(gimli::Error::CfiInstructionInInvalidContext),
        }
    }

    /// Evaluates one instruction; a completed row goes to `row(start, end,
    /// state)`.
    #[inline(always)]
    fn evaluate(
        &mut self,
        instruction: CallFrameInstruction<usize>,
        row: &mut impl FnMut(u64, u64, &State),
    ) -> gimli::Result<()> {
        use CallFrameInstruction as I;
        let factored = |f: i64, data_align: i64| f.wrapping_mul(data_align);
        match instruction {
            I::SetLoc { address } => {
                if address < self.start {
                    return Err(gimli::Error::InvalidCfiSetLoc(address));
                }
                row(self.start, address, &self.row());
                self.start = address;
            }
            I::AdvanceLoc { delta } => {
                let delta = u64::from(delta).wrapping_mul(self.code_align);
                let next = self
                    .start
                    .checked_add(delta)
                    .ok_or(gimli::Error::AddressOverflow)?;
                row(self.start, next, &self.row());
                self.start = next;
            }
            I::DefCfa { register, offset } => {
                self.row_mut().cfa = Cfa::At {
                    register: register.0,
                    offset: offset as i64,
                };
            }
            I::DefCfaSf {
                register,
                factored_offset,
            } => {
                self.row_mut().cfa = Cfa::At {
                    register: register.0,
                    offset: factored(factored_offset, self.data_align),
                };
            }
            I::DefCfaRegister { register } => *self.cfa_at()?.0 = register.0,
            I::DefCfaOffset { offset } => *self.cfa_at()?.1 = offset as i64,
            I::DefCfaOffsetSf { factored_offset } => {
                let offset = factored(factored_offset, self.data_align);
                *self.cfa_at()?.1 = offset;
            }
            I::DefCfaExpression { .. } => self.row_mut().cfa = Cfa::Expression,
            I::Undefined { register } => self.set(register, Reg::Undefined),
            I::SameValue { register } => self.set(register, Reg::SameValue),
            I::Offset {
                register,
                factored_offset,
            } => {
                let offset = factored(factored_offset as i64, self.data_align);
                self.set(register, Reg::Offset(offset));
            }
            I::OffsetExtendedSf {
                register,
                factored_offset,
            } => {
                let offset = factored(factored_offset, self.data_align);
                self.set(register, Reg::Offset(offset));
            }
            I::ValOffset { register, .. }
            | I::ValOffsetSf { register, .. }
            | I::Register {
                dest_register: register,
                ..
            }
            | I::Expression { register, .. }
            | I::ValExpression { register, .. } => self.set(register, Reg::Other),
            I::NegateRaState => self.set(gimli::AArch64::RA_SIGN_STATE, Reg::Other),
            I::Restore { register } => {
                // A CIE's own instructions have no initial rules to restore.
                let initial = self
                    .initial
                    .ok_or(gimli::Error::CfiInstructionInInvalidContext)?
                    .state;
                let row = self.row_mut();
                if register == X86_64::RA {
                    row.ra = initial.ra;
                } else if register == X86_64::RBP {
                    row.rbp = initial.rbp;
                }
            }
            I::RememberState => {
                if self.depth == STACK {
                    return Err(gimli::Error::StackFull);
                }
                self.stack[self.depth] = self.row();
                self.depth += 1;
            }
            I::RestoreState => {
                if self.depth <= self.floor {
                    return Err(gimli::Error::PopWithEmptyStack);
                }
                self.depth -= 1;
            }
            I::ArgsSize { .. } | I::Nop => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::unwind::table::for_each_fde;
    use gimli::{CfaRule, RegisterRule, UnwindContext};
    use std::cell::Cell;

    thread_local! {
        /// FDEs this thread read through `fast`.
        pub(super) static FAST: Cell<usize> = const { Cell::new(0) };
    }

    /// `gimli`'s own evaluation of the FDE at `offset`, reduced to rules as
    /// this module's.
    fn gimli_rows(
        eh_frame: &EhFrame<Slice<'_>>,
        bases: &BaseAddresses,
        ctx: &mut UnwindContext<usize>,
        offset: EhFrameOffset,
        rows: &mut Vec<(usize, usize, Rule)>,
    ) -> gimli::Result<()> {
        let fde = eh_frame.fde_from_offset(bases, offset, |s, b, o| s.cie_from_offset(b, o))?;
        if fde.is_signal_trampoline() {
            return Ok(());
        }
        let mut table = fde.rows(eh_frame, bases, ctx)?;
        while let Some(row) = table.next_row()? {
            let reg = |r: Option<RegisterRule<usize>>| match r {
                None => Reg::Unset,
                Some(RegisterRule::Undefined) => Reg::Undefined,
                Some(RegisterRule::SameValue) => Reg::SameValue,
                Some(RegisterRule::Offset(n)) => Reg::Offset(n),
                Some(_) => Reg::Other,
            };
            let state = State {
                cfa: match *row.cfa() {
                    CfaRule::RegisterAndOffset { register, offset } => Cfa::At {
                        register: register.0,
                        offset,
                    },
                    CfaRule::Expression(_) => Cfa::Expression,
                },
                ra: reg(row.register(X86_64::RA)),
                rbp: reg(row.register(X86_64::RBP)),
            };
            rows.push((
                row.start_address() as usize,
                row.end_address() as usize,
                state.rule(),
            ));
        }
        Ok(())
    }

    /// For every FDE of every object loaded here (this test binary, libc,
    /// the loader…): the same rows as `gimli`'s `UnwindTable`, and the
    /// same error where it gives one.
    #[test]
    fn rows_are_gimlis() {
        let mut fdes = 0;
        let mut rows_seen = 0;
        while crate::sys::code::try_for_each_object(&mut |o| {
            let mut ctx = UnwindContext::new();
            let mut cies = Cies::default();
            let _ = for_each_fde(o, |eh_frame, bases, offset| {
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                let a = fde_rows_at(eh_frame, bases, &mut cies, offset, &mut ours);
                let b = gimli_rows(eh_frame, bases, &mut ctx, offset, &mut theirs);
                assert_eq!(a, b, "FDE at {offset:?}");
                assert_eq!(ours, theirs, "FDE at {offset:?}");
                fdes += 1;
                rows_seen += ours.len();
                Ok(())
            });
        })
        .is_none()
        {
            (fdes, rows_seen) = (0, 0);
            FAST.set(0);
            std::thread::yield_now();
        }
        assert!(
            fdes > 1000 && rows_seen > fdes,
            "{fdes} FDEs, {rows_seen} rows"
        );
        // Most went through the fast path (the first of each CIE cannot).
        let fast = FAST.get();
        assert!(fast > fdes * 9 / 10, "{fast} of {fdes} FDEs read fast");
    }
}
