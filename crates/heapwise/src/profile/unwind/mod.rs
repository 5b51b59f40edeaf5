//! Stack capture for samples and event profiles: DWARF CFI unwinding from
//! the objects' `.eh_frame`, with frame pointers as the fast path where the
//! code has them, so stacks are whole whatever the program was built with.
//!
//! # Why CFI
//!
//! A frame-pointer walk (`stack.rs`) costs about a nanosecond a frame but
//! needs every function on the stack to keep a frame pointer. The standard
//! library does; code built by a plain `cargo build --release` does not, and
//! there a frame-pointer walk stops at the first such function (or, with
//! the allocator itself built without them, before the program's first
//! frame): a profile without one location of the program's own. Every
//! object on Linux carries `.eh_frame` for panics and C++ exceptions, and
//! it says how to unwind every instruction, frame pointer or not.
//!
//! # Mechanism
//!
//! Reading `.eh_frame` at each step, as libgcc's unwinder does, costs about
//! 150 ns a frame and takes locks. Here each loaded object's CFI is
//! evaluated once into a compact sorted table of rules (`table.rs`), built
//! off the allocator's fast path, behind the reentrancy guard, a chunk of
//! a few dozen functions at a time, the first time a walk meets the
//! chunk (`modules.rs`, `chunks.rs`). A walk
//! (`walk.rs`) then reads `rip`, `rsp` and `rbp` at the sample point and,
//! per frame, looks the return address up in its object's table (one binary
//! search) and applies the rule: no allocation, no lock, reads only inside
//! the thread's stack. Where the tables have no rule (code without CFI), a
//! frame steps by its frame pointer; where the rule is the frame-pointer
//! rule itself, the two agree.
//!
//! In full mode a thread's consecutive walks share most of their outer
//! frames (three quarters of cc1plus's), so each walk keeps its steps by
//! rules (`memo.rs`), and the next walk, on reaching one of those states,
//! steps by the record while the two stack words each step read still
//! hold: two loads and compares a frame instead of a lookup (cc1plus at
//! rate 1: 3.5% fewer instructions for the whole process).
//!
//! Frame pointers stay the fast path where the code has them, chosen per
//! chunk of 32 functions once its table is built: a chunk whose every
//! function keeps a frame pointer and whose rules are nearly all the
//! frame-pointer frame (built with `-C force-frame-pointers=yes`: ~97% of
//! its code; without: under 5%) is stepped through by frame pointers with
//! no lookup, only a range check per frame (`walk.rs`, `FP_OBJECT`). One
//! function without stops that: its `rbp` holds an outer frame's record,
//! and stepping by it skips frames (Rust's standard library is built with
//! frame pointers, the program linking it often not). On the bench's `events`
//! workload at rate 1 that brought [`Unwinder::Auto`] from ~40% slower than
//! [`Unwinder::Fp`] to ~5%; a program built without frame pointers gets
//! CFI for its own frames as before.
//!
//! [`Unwinder`] chooses: [`Unwinder::Auto`] (the default) as above,
//! [`Unwinder::Fp`] frame pointers only (no tables, the old behaviour),
//! [`Unwinder::Cfi`] CFI only (a frame without a rule ends the stack).
//!
//! # Platforms
//!
//! The CFI walk is implemented for x86_64 Linux. Elsewhere every mode walks
//! frame pointers (`stack.rs`); aarch64 is planned: its CFI reduces the same
//! way (CFA = `sp`/`x29` + N, `x30` and `x29` saved at CFA − M).
//!
//! # Cut-short stacks
//!
//! A walk knows whether it reached the stack's root (see `walk.rs`). Each
//! profile keeps a [`Coverage`]; when every stack it holds was cut short,
//! the profile says so in a comment, and the first such profile of the
//! process on stderr.

// The tables and the CFI walk serve x86_64 Linux only (see Platforms).
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
mod cfi;
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
mod chunks;
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
mod directory;
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
mod memo;
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
mod modules;
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
mod table;
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
mod walk;

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

use crate::profile::stack::Bounds;
use crate::util::say::say;

pub(crate) use walk::{End, Walked};

/// How sampled stacks are walked: see [`set_unwinder`](crate::profile::set_unwinder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Unwinder {
    /// CFI from `.eh_frame` where the code has it, frame pointers where it
    /// does not: whole stacks whatever the build flags.
    #[default]
    Auto,
    /// Frame pointers only: no tables are built, and a function without a
    /// frame pointer cuts the stack short.
    Fp,
    /// CFI only: a function without unwind information cuts the stack
    /// short.
    Cfi,
}

impl Unwinder {
    /// Parses a name as `HEAPWISE_UNWIND` takes it: `auto`, `fp` or `cfi`.
    pub(crate) fn parse(s: &str) -> Result<Unwinder, String> {
        match s.trim() {
            "auto" => Ok(Unwinder::Auto),
            "fp" => Ok(Unwinder::Fp),
            "cfi" => Ok(Unwinder::Cfi),
            other => Err(format!("{other:?} is not auto, fp or cfi")),
        }
    }
}

static UNWINDER: AtomicU8 = AtomicU8::new(0);

pub(crate) fn set_unwinder(u: Unwinder) {
    let v = match u {
        Unwinder::Auto => 0,
        Unwinder::Fp => 1,
        Unwinder::Cfi => 2,
    };
    UNWINDER.store(v, Relaxed);
}

pub(crate) fn unwinder() -> Unwinder {
    match UNWINDER.load(Relaxed) {
        1 => Unwinder::Fp,
        2 => Unwinder::Cfi,
        _ => Unwinder::Auto,
    }
}

/// Heap bytes the unwind tables hold, and their rows.
pub(crate) fn footprint() -> (usize, usize) {
    modules::footprint()
}

/// Fills the start of `out` with the return addresses of the calling
/// frames, innermost first, starting with the return address into
/// `capture`'s caller's caller (so the function that calls `capture` and
/// its immediate caller are not included), as [`unwinder`] says. Never
/// allocates on its own, never faults; it may build the unwind tables,
/// behind the reentrancy guard, at the first call and when objects were
/// loaded since.
#[inline(always)]
pub(crate) fn capture(bounds: &Bounds, out: &mut [MaybeUninit<usize>]) -> Walked {
    capture_as(unwinder(), bounds, out)
}

/// [`capture`] with `mode`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(never)]
fn capture_as(mode: Unwinder, bounds: &Bounds, out: &mut [MaybeUninit<usize>]) -> Walked {
    use walk::Using;
    let regs = registers();
    let (lo, hi) = bounds.get();
    if regs.sp < lo || regs.sp >= hi {
        // Not on the thread's stack (a signal stack, an unknown thread).
        return Walked::empty(End::Cut);
    }
    // No tables yet: another thread is listing the objects, or is in the
    // loader. Wait for them a while; then no frames rather than a walk by
    // frame pointers, which in code built without them reads whatever
    // `rbp` holds and skips frames (a test's leak, allocated on one of
    // several threads sampling at once, was named as libtest's `run_test`).
    let tables = match mode {
        Unwinder::Fp => return walk::walk(regs, hi, Using::Fp, 1, out),
        _ => modules::current().or_else(|| refreshed(refresh)),
    };
    let using = |t| match mode {
        Unwinder::Cfi => Using::Cfi(t),
        _ => Using::Auto(t),
    };
    let Some(tables) = tables else {
        return Walked::empty(End::Cut);
    };
    let mut tables = tables;
    let mut w = walk::walk(regs, hi, using(tables), 1, out);
    // A walk that met an object whose table is not built yet (or code in
    // no known object) asked for it: refresh and walk again, once per
    // chunk of code the stack crosses at most.
    for _ in 0..REWALKS {
        if !w.missed {
            break;
        }
        match advanced(tables, refresh) {
            Some(fresh) => tables = fresh,
            None => break,
        }
        w = walk::walk(regs, hi, using(tables), 1, out);
    }
    // Tables still missing: what was guessed past them goes.
    w.sure()
}

/// After a walk over `tables` missed: refreshes, and returns the tables to
/// walk again with if that can find more (objects listed, or tables built
/// since the walk, by this refresh or another thread's).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(never)]
fn advanced(
    tables: &'static modules::Tables,
    refresh: fn() -> Option<&'static modules::Tables>,
) -> Option<&'static modules::Tables> {
    let builds = modules::builds();
    let fresh = refreshed(refresh)?;
    (!std::ptr::eq(fresh, tables) || modules::builds() != builds).then_some(fresh)
}

/// How many times a walk is redone after refreshing the tables it missed:
/// one per chunk of code on the stack without a built table (`modules.rs`,
/// `chunks.rs`): as many as a stack has frames.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const REWALKS: usize = 64;

/// The return addresses of another thread's frames (for a heap snapshot's
/// names of stack slots), walked from its registers `pc`, `sp`, `fp` over
/// its stack `[sp, high)`, innermost first, into `out`; their number. The
/// stack must stay readable and unchanged meanwhile (a forked child's copy).
/// Behind the reentrancy guard.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) fn walk_thread(
    pc: usize,
    sp: usize,
    fp: usize,
    high: usize,
    out: &mut [MaybeUninit<usize>],
) -> usize {
    use walk::{Regs, Using};
    let Some(mut tables) = modules::current().or_else(modules::refresh) else {
        return 0;
    };
    let read = |addr: usize| {
        if addr < sp || addr % 8 != 0 || addr.checked_add(8)? > high {
            return None;
        }
        // SAFETY: an aligned word of `[sp, high)`, readable (the caller's
        // contract).
        Some(unsafe { (addr as *const usize).read() })
    };
    let read_pair = |addr: usize| Some((read(addr)?, read(addr.checked_add(8)?)?));
    let walk = |tables, out: &mut [MaybeUninit<usize>]| {
        walk::walk_with(
            Regs { pc, sp, fp },
            Using::Auto(tables),
            0,
            out,
            None,
            read,
            read_pair,
        )
    };
    let mut w = walk(tables, out);
    // As in `capture_as`: build what the walk met without a table.
    for _ in 0..REWALKS {
        if !w.missed {
            break;
        }
        match advanced(tables, modules::refresh) {
            Some(fresh) => tables = fresh,
            None => break,
        }
        w = walk(tables, out);
    }
    w.sure().len
}

/// [`walk_thread`] for the calling thread, from here: the `pc` and `sp`
/// it started from, and the number of return addresses written.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(never)]
pub(crate) fn walk_here(high: usize, out: &mut [MaybeUninit<usize>]) -> (usize, usize, usize) {
    let r = registers();
    (r.pc, r.sp, walk_thread(r.pc, r.sp, r.fp, high, out))
}

/// Other platforms: no walk.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub(crate) fn walk_here(_: usize, _: &mut [MaybeUninit<usize>]) -> (usize, usize, usize) {
    (0, 0, 0)
}

/// Other platforms: no walk of another thread's stack.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub(crate) fn walk_thread(
    _: usize,
    _: usize,
    _: usize,
    _: usize,
    _: &mut [MaybeUninit<usize>],
) -> usize {
    0
}

/// Other platforms: frame pointers (`stack.rs`), whatever the mode.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[inline(always)]
fn capture_as(_: Unwinder, bounds: &Bounds, out: &mut [MaybeUninit<usize>]) -> Walked {
    let len = crate::profile::stack::capture(bounds, out);
    // SAFETY: `capture` initialised `out[..len]`.
    let frames = unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<usize>(), len) };
    Walked {
        len,
        end: if len > 0 { End::Root } else { End::Cut },
        missed: false,
        guessed: None,
        hash: walk::stack_hash(frames),
    }
}

/// `refresh()`, tried again, yielding between tries, while another thread
/// holds the tables (building what a walk wants, or listing the objects) or
/// is in the loader; `None` after [`TABLES_WAIT`] (say, in a forked child
/// whose parent held them). Giving up at once left the walk cut at its first
/// frame, a sample with no frames, whenever threads sampled while one built.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn refreshed(
    refresh: fn() -> Option<&'static modules::Tables>,
) -> Option<&'static modules::Tables> {
    let start = std::time::Instant::now();
    loop {
        if let Some(t) = refresh() {
            return Some(t);
        }
        if start.elapsed() >= TABLES_WAIT {
            return None;
        }
        std::thread::yield_now();
    }
}

/// How long a sample waits for the tables another thread lists or builds.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const TABLES_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Builds or refreshes the tables, behind the guard.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn refresh() -> Option<&'static modules::Tables> {
    crate::local::without_accounting(modules::refresh)
}

/// This function's `rip` (just after the read), `rsp` and `rbp`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
fn registers() -> walk::Regs {
    let (pc, sp, fp): (usize, usize, usize);
    // SAFETY: reads three registers, touches no memory.
    unsafe {
        std::arch::asm!(
            "lea {pc}, [rip]",
            "mov {sp}, rsp",
            "mov {fp}, rbp",
            pc = out(reg) pc,
            sp = out(reg) sp,
            fp = out(reg) fp,
            options(nomem, nostack, preserves_flags),
        );
    }
    walk::Regs { pc, sp, fp }
}

/// Whether a profile's stacks reached their roots: see the module docs.
#[derive(Debug)]
pub(crate) struct Coverage {
    walked: AtomicBool,
    whole: AtomicBool,
}

impl Coverage {
    pub(crate) const fn new() -> Coverage {
        Coverage {
            walked: AtomicBool::new(false),
            whole: AtomicBool::new(false),
        }
    }

    /// Counts one walk (allocator-safe: two loads once both flags are set).
    /// A walk that ended at a root without a frame counts as cut short: a
    /// frame-pointer walk reads a zero from a register that holds no frame
    /// pointer as easily as from the end of the chain.
    #[inline]
    pub(crate) fn note(&self, w: &Walked) {
        if !self.walked.load(Relaxed) {
            self.walked.store(true, Relaxed);
        }
        if w.end != End::Cut && w.len > 0 && !self.whole.load(Relaxed) {
            self.whole.store(true, Relaxed);
        }
    }

    /// Every walk so far was cut short (and there was one).
    pub(crate) fn all_cut_short(&self) -> bool {
        self.walked.load(Relaxed) && !self.whole.load(Relaxed)
    }
}

/// The comment a profile whose stacks were all cut short carries; the
/// first such profile also prints it on stderr.
pub(crate) fn cut_short_warning() -> String {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let text = format!(
        "heapwise: every stack in this profile was cut short (unwinder: {}); \
         the program's own frames may be missing: {}",
        match unwinder() {
            Unwinder::Auto => "auto",
            Unwinder::Fp => "fp",
            Unwinder::Cfi => "cfi",
        },
        match unwinder() {
            Unwinder::Fp => "build with -C force-frame-pointers=yes or set HEAPWISE_UNWIND=auto",
            _ => "see heapwise::profile::set_unwinder",
        }
    );
    if !WARNED.swap(true, Relaxed) {
        say!("{text}");
    }
    text
}

#[cfg(all(test, target_arch = "x86_64", target_os = "linux"))]
mod tests {
    use super::*;

    /// The walk from a function that calls `capture_as` (the profiler's
    /// `sample`), called by `leaf`, called by `middle`.
    #[inline(never)]
    fn sample(mode: Unwinder, out: &mut [usize]) -> Walked {
        let bounds = Bounds::new();
        let mut buf = [MaybeUninit::uninit(); 64];
        let w = std::hint::black_box(capture_as(mode, &bounds, &mut buf[..out.len()]));
        for (o, b) in out.iter_mut().zip(&buf[..w.len]) {
            // SAFETY: the walk initialised the first `len` entries.
            *o = unsafe { b.assume_init() };
        }
        w
    }

    #[inline(never)]
    fn leaf(mode: Unwinder, out: &mut [usize]) -> Walked {
        std::hint::black_box(sample(mode, out))
    }

    #[inline(never)]
    fn middle(mode: Unwinder, out: &mut [usize]) -> Walked {
        std::hint::black_box(leaf(mode, out))
    }

    /// Builds the tables (another test may be building them: wait).
    fn built() {
        while refresh().is_none() {
            std::thread::yield_now();
        }
    }

    fn walk_as(mode: Unwinder) -> (Vec<usize>, Walked) {
        built();
        let mut out = [0usize; 64];
        // A walk that met code without a built table while another test
        // held the loader or the tables' lock (building tables: up to ~0.3
        // s) is cut, by design (a refresh never waits): a later one builds
        // what it needs. So walk until nothing is missed, then once more
        // from the one call site whose frames are returned (retries from
        // the same source line can be another call site once the optimiser
        // peels the loop).
        let start = std::time::Instant::now();
        while middle(mode, &mut out).missed && start.elapsed() < std::time::Duration::from_secs(20)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let w = middle(mode, &mut out);
        (out[..w.len].to_vec(), w)
    }

    /// This test binary keeps frame pointers (the workspace's config), so
    /// the CFI walk and the frame-pointer walk must agree frame for frame
    /// through the Rust code; the CFI walk goes on to the thread's root.
    #[test]
    fn cfi_and_frame_pointers_agree_where_both_work() {
        let (cfi, wc) = walk_as(Unwinder::Cfi);
        let (fp, _) = walk_as(Unwinder::Fp);
        let (auto, wa) = walk_as(Unwinder::Auto);
        assert!(cfi.len() >= 4, "{cfi:x?}");
        assert_eq!(wc.end, End::Root, "{cfi:x?}");
        assert_eq!(wa.end, End::Root, "{auto:x?}");
        // Into leaf, middle and walk_as; then the call sites in this test
        // differ; then the test harness's frames agree again.
        assert_eq!(cfi[..3], fp[..3]);
        let agree = cfi[4..]
            .iter()
            .zip(&fp[4..])
            .take_while(|(c, f)| c == f)
            .count();
        // The frame-pointer walk ends in the C library's thread start
        // (`clone3` clears `rbp`), the CFI walk one frame further.
        assert!(
            agree >= 2 && agree == fp.len() - 4,
            "cfi {cfi:x?}\nfp {fp:x?}"
        );
        assert_eq!(auto[..3], cfi[..3]);
        assert_eq!(auto[4..], cfi[4..]);
    }

    #[test]
    fn spawned_threads_walk_to_their_root() {
        let (frames, w) = std::thread::spawn(|| walk_as(Unwinder::Cfi))
            .join()
            .unwrap();
        assert_eq!(w.end, End::Root, "{frames:x?}");
        assert!(frames.len() >= 3, "{frames:x?}");
    }

    #[test]
    fn modes_parse() {
        assert_eq!(Unwinder::parse("auto"), Ok(Unwinder::Auto));
        assert_eq!(Unwinder::parse(" fp"), Ok(Unwinder::Fp));
        assert_eq!(Unwinder::parse("cfi"), Ok(Unwinder::Cfi));
        assert!(Unwinder::parse("dwarf")
            .unwrap_err()
            .contains("not auto, fp or cfi"));
    }
}
