//! Heap profiles: where the program allocates, sampled as Go samples, written
//! as Go's `profile.proto`.
//!
//! The allocator samples about one allocation per [`rate`] bytes (512 KiB by
//! default, like Go's `runtime.MemProfileRate`), records its stack, and
//! remembers the block until it is freed. [`heap`] turns what was recorded
//! into a [`Profile`] with Go's four heap sample types (and heapwise's peak
//! and temporary ones after them), which `go tool
//! pprof`, Pyroscope, Parca and `heapwise top` read:
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//!
//! fn main() -> std::io::Result<()> {
//!     let kept: Vec<Vec<u8>> = (0..1000).map(|_| vec![0u8; 10_000]).collect();
//!     heapwise::profile::write_heap("heap.pb.gz")?;
//!     // $ go tool pprof -top heap.pb.gz
//!     drop(kept);
//!     Ok(())
//! }
//! ```
//!
//! # What a profile holds
//!
//! | sample type | unit | meaning |
//! |---|---|---|
//! | `alloc_objects` | count | blocks allocated since start (estimated) |
//! | `alloc_space` | bytes | bytes allocated since start (estimated) |
//! | `inuse_objects` | count | blocks allocated and not yet freed |
//! | `inuse_space` | bytes | bytes allocated and not yet freed |
//! | `peak_objects` | count | blocks live at the peak (see below) |
//! | `peak_space` | bytes | bytes live at the peak |
//! | `temporary_objects` | count | blocks freed before their thread allocated anything else (rate 1 only) |
//! | `temporary_space` | bytes | their bytes |
//!
//! The first four are Go's heap profile's, at the same positions. The
//! **peak** is the moment the profile's live bytes (`inuse_space` summed)
//! were highest since start: `peak_*` is what was live then, by stack, so
//! a transient spike can be found after it is gone without dumping at the
//! right moment (a comment says how many bytes the peak was). It is exact
//! for one thread; with several threads allocating at the moment of the
//! peak, a site may be off by the blocks in flight then. **Temporary**
//! allocations are heaptrack's: a block freed by the thread that allocated
//! it before that thread allocated anything else (a realloc frees its old
//! block and allocates a new one, so a `Vec` that grows right after it
//! was made counts). They need every allocation seen, so they are counted
//! only in full mode ([`set_rate`]`(1)`) and are 0 otherwise.
//!
//! One sample per (stack, block size, scope name): the numeric label `bytes`
//! is the block size (so `pprof -tagfocus=bytes=1MiB` works) and, when the
//! allocation happened inside a named [`Scope`](crate::Scope), the string
//! label `scope` is the innermost scope's name (`pprof -tagfocus=scope=request`
//! focuses on one kind of work). `period_type` is `space/bytes` and `period`
//! the rate. `default_sample_type` is the view a reader shows first:
//! `inuse_space` for [`heap`], `alloc_space` for [`allocs`] (as Go's `heap`
//! and `allocs` profiles), `peak_space` for [`peak`].
//!
//! A comment carries the process's exact figures when the profile was
//! made ([`crate::stats()`], the allocator's counters, which see every
//! call at any rate): `heapwise process totals (heapwise::stats):
//! allocs=456167 allocated_bytes=37224123 frees=442805 live_bytes=826777
//! peak_bytes=3145728` (`go tool pprof -comments`; `heapwise run`'s summary
//! line prints them).
//!
//! # Estimates
//!
//! A block of `S` bytes is sampled with probability `1 - exp(-S/R)`; each
//! sample is scaled by the inverse, per bucket of one size, as Go's
//! `scaleHeapSample` does, so every estimate is unbiased. Its spread comes
//! from how many samples the site got: a site that allocated `B` bytes in
//! blocks much smaller than `R` gets about `B/R` samples (a Poisson count),
//! so **one standard deviation is `√(R/B)` of the estimate**. At the default
//! `R` = 512 KiB, a site that allocated 64 MiB (128 samples on average) is
//! within ±8.8% of the truth two times in three and within ±18% nineteen
//! times in twenty; 1 GiB gives ±2.2%; 1 MiB (2 samples) says little more
//! than "this site allocates". Blocks of `R` bytes or more are sampled with
//! probability 63% or more, and estimated closer. In-use figures follow the
//! same rule applied to the bytes still live. Frees are exact for the
//! sampled blocks: in-use figures are as of the call, not of an earlier GC
//! cycle as in Go. [`set_rate`]`(1)` records every allocation (exact
//! figures, at a cost; see the crate docs' overhead table): each block
//! allocated then carries its bucket in 8 more bytes, so the cost per block
//! does not grow with the number of live blocks; `0` stops sampling.
//!
//! # Stacks and symbols
//!
//! Stacks are walked with the DWARF CFI of `.eh_frame`, which every object
//! on Linux carries, so they reach `main` (or the thread's entry) whatever
//! the program was built with; code without CFI is stepped through by its
//! frame pointer ([`set_unwinder`], `HEAPWISE_UNWIND`). Up to [`max_depth`]
//! frames (64 by default) are kept. A profile whose stacks were all cut
//! short says so in a comment (and once on stderr). The allocator's own frames and the standard library's allocation
//! plumbing at the leaf (`__rust_alloc`, `alloc::raw_vec::…`,
//! `alloc::boxed::Box::new`, …; C's `malloc` family and C++'s `operator
//! new` under `heapwise run`) are hidden, as Go hides `runtime.mallocgc`,
//! so the leaf is the code that asked for the memory; use
//! [`ProfileOptions::keep_allocator_frames`] to see them.
//!
//! Symbols (demangled function names, files, lines and inlined frames) are
//! resolved when the profile is built, from the binary's debug info, behind
//! heapwise's reentrancy guard: that memory is neither counted in scopes nor
//! sampled, and it is released before [`heap`] returns. Every mapping also
//! carries the object's GNU build ID, so [`ProfileOptions::addresses_only`]
//! profiles can be symbolized later by `go tool pprof` from the binary
//! (`PPROF_BINARY_PATH`).

pub(crate) mod at_exit;
pub(crate) mod depot;
pub(crate) mod high_water;
pub(crate) mod live;
pub(crate) mod profiler;
pub(crate) mod stack;
pub(crate) mod symbolize;
pub(crate) mod trailer;
pub(crate) mod unwind;

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use heapwise_pprof::is_allocator_frame as is_plumbing;
use heapwise_pprof::{Line, Mapping, Profile, ProfileBuilder, HEAP_SAMPLE_TYPES};

use crate::local::sampler;
use crate::local::{own_work, without_accounting};
use crate::sys;
use depot::Snapshot;
use symbolize::{Frame, Symbolizer};

pub use crate::local::sampler::DEFAULT_RATE;
pub use unwind::Unwinder;

/// Sets the sampling rate: on average one sample per `bytes` allocated.
///
/// `1` records every allocation, `0` turns sampling off (what was recorded
/// stays). The default is [`DEFAULT_RATE`] (512 KiB), or
/// `HEAPWISE_PROFILE_RATE` from the environment. Each thread picks up a change
/// within 64 KiB of its own allocator traffic. As with Go's
/// `MemProfileRate`, set it once, early: samples keep the rate they were
/// taken at, so estimates stay right across a change, but a profile reports
/// only the current rate as its `period`.
pub fn set_rate(bytes: u64) {
    sampler::set_rate(bytes);
}

/// Parses a rate as `HEAPWISE_PROFILE_RATE` takes it (`512KiB`, `1MiB`,
/// `1` for every allocation, `0` for off), for a tool that passes one on
/// (`heapwise run --rate`); the error is a one-line message.
#[doc(hidden)]
pub fn __parse_rate(text: &str) -> Result<u64, String> {
    sampler::parse_rate(text)
}

/// Parses an interval as `HEAPWISE_PROFILE_EVERY` takes it, for
/// `heapwise run --every`; the error is a one-line message.
#[doc(hidden)]
pub fn __parse_every(text: &str) -> Result<Duration, String> {
    at_exit::parse_interval(text)
}

/// The sampling rate in bytes: see [`set_rate`].
pub fn rate() -> u64 {
    sampler::rate()
}

/// Sets how many frames a sampled stack keeps (1..=256; default 64).
pub fn set_max_depth(frames: usize) {
    profiler::set_max_depth(frames);
}

/// How many frames a sampled stack keeps.
pub fn max_depth() -> usize {
    profiler::max_depth()
}

/// Sets how sampled stacks are walked (default [`Unwinder::Auto`], or
/// `HEAPWISE_UNWIND` = `auto`, `fp` or `cfi` from the environment).
///
/// [`Unwinder::Auto`] unwinds with the DWARF CFI of `.eh_frame`, which
/// every object on Linux carries, and frame pointers where the code has no
/// CFI: stacks reach `main` whether or not the program was built with
/// frame pointers. The tables are built a few dozen functions at a
/// time, the first time a sampled stack passes through them (heapwise's
/// own memory, see [`memory`]).
/// [`Unwinder::Fp`] walks frame pointers only, as profilers built for
/// `-C force-frame-pointers=yes` do; [`Unwinder::Cfi`] uses CFI only. On
/// other platforms than x86_64 Linux every mode walks frame pointers. Takes
/// effect from the next sample.
pub fn set_unwinder(unwinder: Unwinder) {
    unwind::set_unwinder(unwinder);
}

/// How sampled stacks are walked: see [`set_unwinder`].
pub fn unwinder() -> Unwinder {
    unwind::unwinder()
}

/// Seeds the sampler, for reproducible profiles in tests: threads that
/// allocate after this call draw from a generator seeded by `seed` and the
/// order in which threads first allocate after it. `0` returns to seeding
/// from addresses (different in each run).
pub fn set_seed(seed: u64) {
    sampler::set_seed(seed);
}

/// The heap profile now: Go's `heap` profile (default view `inuse_space`).
pub fn heap() -> Profile {
    ProfileOptions::new().heap()
}

/// The same figures with `alloc_space` as the default view: Go's `allocs`
/// profile.
pub fn allocs() -> Profile {
    ProfileOptions::new().allocs()
}

/// The same figures with `peak_space` as the default view: what was live,
/// by stack, when the profile's live bytes were at their highest since
/// start (memray's and heaptrack's peak view). See "What a profile holds".
pub fn peak() -> Profile {
    ProfileOptions::new().peak()
}

/// Writes [`heap`] to `path` as gzipped `profile.proto`.
///
/// Building, encoding and writing it is heapwise's own work: none of it is
/// counted in [`stats`](crate::stats()) (but in
/// [`Stats::heapwise_bytes`](crate::Stats::heapwise_bytes)), in scopes, or
/// sampled.
pub fn write_heap(path: impl AsRef<Path>) -> io::Result<()> {
    ProfileOptions::new().write(None, path.as_ref())
}

/// Writes [`allocs`] to `path` as gzipped `profile.proto`; see [`write_heap`].
pub fn write_allocs(path: impl AsRef<Path>) -> io::Result<()> {
    ProfileOptions::new().write(Some("alloc_space"), path.as_ref())
}

/// Writes [`peak`] to `path` as gzipped `profile.proto`; see [`write_heap`].
pub fn write_peak(path: impl AsRef<Path>) -> io::Result<()> {
    ProfileOptions::new().write(Some("peak_space"), path.as_ref())
}

/// Writes the heap profile to `path` when the process exits normally
/// (`main` returns, also after a panic in it, or `std::process::exit`), and
/// with `every` also rewrites it on that interval, so the last one survives
/// a kill (the OOM killer's SIGKILL runs no exit handler).
///
/// The file's `inuse_*` values are what was never freed, by stack, and its
/// `peak_*` values what was live at the peak (`heapwise top --peak`). Each
/// write goes to a temporary file renamed over `path`: a reader never sees
/// half a profile. `%p` in `path` becomes the process id (a forked child
/// writes its own file at exit; the interval thread is not forked). A
/// relative path is resolved now, against the current directory. This is
/// what `HEAPWISE_PROFILE_AT_EXIT=path` and `HEAPWISE_PROFILE_EVERY=10s`
/// set before `main`.
///
/// # Errors
///
/// The path is empty, its directory does not exist or takes no new files
/// (not checked if it contains `%p`), one is already set (once per
/// process), or the thread could not be started. Errors of a later write
/// are reported on stderr in one line.
pub fn write_at_exit(path: impl AsRef<Path>, every: Option<Duration>) -> io::Result<()> {
    at_exit::start(path.as_ref(), every)
}

/// Fails unless the directory of `path` takes new files (not checked if
/// it contains `%p`): what [`write_at_exit`] checks, for `heapwise run`,
/// which checks before it starts the program.
#[doc(hidden)]
pub fn __check_profile_directory(path: &Path) -> io::Result<()> {
    at_exit::check_directory(path)
}

/// Called by the preload library as it loads, with an address of its
/// code: its frames are symbolized from its symbol table alone (they are
/// heapwise's, hidden as allocator frames), not its DWARF.
#[doc(hidden)]
pub fn __preload_symbols_only(addr: *const ()) {
    symbolize::read_symbols_only(addr as usize);
}

/// Whether the calling thread updates full mode's shared counters with
/// unlocked instructions now (`sys/solo.rs`): for heapwise's tests.
#[doc(hidden)]
pub fn __counters_unlocked_here() -> bool {
    crate::sys::solo::unlocked_here()
}

/// How to build a profile: symbols or addresses, which frames.
#[derive(Debug, Clone)]
pub struct ProfileOptions {
    symbolize: bool,
    allocator_frames: bool,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions::new()
    }
}

impl ProfileOptions {
    /// Symbolized, allocator frames hidden.
    pub fn new() -> ProfileOptions {
        ProfileOptions {
            symbolize: true,
            allocator_frames: false,
        }
    }

    /// Writes addresses and mappings (with build IDs) only, for `go tool
    /// pprof` to symbolize from the binary later: cheaper, and nothing of the
    /// debug info is loaded into the process. Allocator frames cannot be
    /// recognised without symbols, so they are left in, and the profile's
    /// `drop_frames` asks pprof to hide them.
    pub fn addresses_only(mut self) -> ProfileOptions {
        self.symbolize = false;
        self
    }

    /// Keeps the allocator's and the standard library's allocation frames at
    /// the leaf of each stack.
    pub fn keep_allocator_frames(mut self) -> ProfileOptions {
        self.allocator_frames = true;
        self
    }

    /// Go's `heap` profile.
    pub fn heap(&self) -> Profile {
        self.build(None)
    }

    /// Go's `allocs` profile.
    pub fn allocs(&self) -> Profile {
        self.build(Some("alloc_space"))
    }

    /// The [`peak`] profile.
    pub fn peak(&self) -> Profile {
        self.build(Some("peak_space"))
    }

    /// The profile, as the caller's memory: built as heapwise's own work
    /// (uncounted, unsampled), then copied out.
    fn build(&self, default_sample_type: Option<&str>) -> Profile {
        own_work(|| self.build_own(default_sample_type), Profile::clone)
    }

    fn write(&self, default_sample_type: Option<&str>, path: &Path) -> io::Result<()> {
        // An error made behind the guard would be freed by the caller: keep
        // only its kind and OS code there, and word it here.
        let written = without_accounting(|| {
            let bytes = self.assemble_own(default_sample_type, true).encode_gzip();
            std::fs::write(path, bytes).map_err(|e| (e.kind(), e.raw_os_error()))
        });
        written.map_err(|(kind, code)| {
            let e = code.map_or_else(|| io::Error::from(kind), io::Error::from_raw_os_error);
            io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
        })
    }

    /// Builds the profile; run it behind the guard (heapwise's own work).
    pub(crate) fn build_own(&self, default_sample_type: Option<&str>) -> Profile {
        self.assemble_own(default_sample_type, false).build()
    }

    /// [`build_own`](Self::build_own) in its builder, samples streamed if
    /// `stream` (for a profile that is only written).
    fn assemble_own(&self, default_sample_type: Option<&str>, stream: bool) -> ProfileBuilder {
        let snapshot = depot::lock().snapshot();
        let resolved = Resolved::new(&snapshot.frames, self.symbolize);
        assemble(&snapshot, &resolved, self, default_sample_type, stream)
    }
}

/// The distinct return addresses of a set of stacks, with the process's
/// mappings and, if symbolized, each address's source frames: what
/// [`Locations`] turns into a profile's mappings, functions and locations.
///
/// Building one allocates (the debug info is loaded and released inside
/// [`Resolved::new`]): run it, and drop it, behind the reentrancy guard.
#[derive(Debug)]
pub(crate) struct Resolved {
    addrs: Vec<usize>,
    /// For each frame given to [`Resolved::new`], its index in `addrs`.
    frame_index: Vec<u32>,
    mappings: Vec<sys::Mapping>,
    /// By index into `addrs`; empty if not symbolized.
    symbols: Vec<Vec<Frame>>,
    symbolized: bool,
}

impl Resolved {
    /// Resolves every distinct address of `frames` (return addresses).
    pub(crate) fn new(frames: &[usize], symbolize: bool) -> Resolved {
        // Distinct first, numbered as first seen (a stack's frames recur in
        // many stacks), then sorted and each frame's number made its rank:
        // one hash lookup a frame, here and for `Locations::stack`.
        // A direct-mapped cache in front of the map: a stack's outer frames
        // are in most stacks (a full profile of cc1plus: 1.1 M frames, 7,500
        // addresses; the map alone took 40 M instructions).
        const RECENT: usize = 4096;
        let mut recent = vec![(0usize, 0u32); RECENT];
        let mut numbered: HashMap<usize, u32, depot::Fx> = HashMap::default();
        let mut seen: Vec<usize> = Vec::new();
        let mut frame_index: Vec<u32> = frames
            .iter()
            .map(|&a| {
                let slot =
                    &mut recent[((a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize];
                if slot.0 == a && a != 0 {
                    return slot.1;
                }
                let n = *numbered.entry(a).or_insert_with(|| {
                    seen.push(a);
                    (seen.len() - 1) as u32
                });
                *slot = (a, n);
                n
            })
            .collect();
        drop(numbered);
        let mut order: Vec<u32> = (0..seen.len() as u32).collect();
        order.sort_unstable_by_key(|&i| seen[i as usize]);
        let mut rank = vec![0u32; seen.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        for ix in &mut frame_index {
            *ix = rank[*ix as usize];
        }
        let addrs: Vec<usize> = order.iter().map(|&i| seen[i as usize]).collect();
        debug_assert!(addrs.windows(2).all(|w| w[0] < w[1]));
        let mappings = sys::mappings();
        let symbols: Vec<Vec<Frame>> = if symbolize {
            let pcs: Vec<u64> = addrs.iter().map(|&a| a.wrapping_sub(1) as u64).collect();
            Symbolizer::new(&mappings).resolve_all(&pcs)
        } else {
            Vec::new()
        };
        Resolved {
            addrs,
            frame_index,
            mappings,
            symbols,
            symbolized: symbolize,
        }
    }
}

impl Resolved {
    /// The lines of return address `ret` (one of those resolved),
    /// innermost first; empty if unknown.
    pub(crate) fn lines(&self, ret: usize) -> &[Frame] {
        match self.addrs.binary_search(&ret) {
            Ok(i) => self.symbols.get(i).map_or(&[], Vec::as_slice),
            Err(_) => &[],
        }
    }

    /// The `addrs` indices of frames `start..start + len` of those given to
    /// [`Resolved::new`].
    pub(crate) fn frame_indices(&self, start: usize, len: usize) -> &[u32] {
        &self.frame_index[start..start + len]
    }
}

/// What trimming the leaf of a stack does with a line (a real or inlined
/// frame), by its function name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trim {
    /// The program's own code: trimming stops here.
    Keep,
    /// Plumbing: hidden while at the leaf.
    Plumbing,
    /// A cut: the rootmost such line and every line leafward of it are
    /// hidden, plumbing or not (then trimming goes on through plumbing).
    Cut,
}

/// Turns stacks into the location ids of a profile being built: adds the
/// mappings (main binary first) and, per distinct address, its functions and
/// lines once; trims the leaf of each stack.
#[derive(Debug)]
pub(crate) struct Locations {
    /// Per distinct address: the id of its location with all its lines, once
    /// made (0 before): most frames of most stacks are that one, found here
    /// without building and hashing a location again (a full profile of a
    /// C++ compiler spent a tenth of its exit there).
    whole: Vec<u64>,
    /// Per distinct address: its mapping id (0 for none) and its lines,
    /// innermost first, with what trimming does with each.
    mapping_of: Vec<u64>,
    lines_of: Vec<Vec<(Line, Trim)>>,
    /// The locations made of part of an address's lines, by address, lines
    /// skipped, and whether trimming was on: the leaf of most stacks, made
    /// once (hashing a location each stack took a full profile's exit 7%).
    trimmed: HashMap<(u32, u32, bool), u64, depot::Fx>,
    trim: bool,
}

impl Locations {
    /// Adds the mappings and functions of `r` to `b`. `classify` says what
    /// trimming does with a function name; with `trim` false every frame is
    /// kept.
    pub(crate) fn new(
        b: &mut ProfileBuilder,
        r: &Resolved,
        classify: &dyn Fn(&str) -> Trim,
        trim: bool,
    ) -> Locations {
        let (addrs, mappings, symbols) = (&r.addrs, &r.mappings, &r.symbols);
        // Mappings, main binary first (Go writes at least one).
        let mut mapping_ids = Vec::with_capacity(mappings.len());
        for m in mappings {
            let filename = b.string(&m.path);
            let build_id = match &m.build_id {
                Some(id) => b.string(&sys::build_id_hex(id)),
                None => 0,
            };
            let id = b.add_mapping(Mapping {
                id: 0,
                memory_start: m.start,
                memory_limit: m.limit,
                file_offset: m.offset,
                filename,
                build_id,
                ..Mapping::default()
            });
            mapping_ids.push(id);
        }
        if mappings.is_empty() {
            let filename = b.string("unknown");
            mapping_ids.push(b.add_mapping(Mapping {
                memory_limit: u64::MAX,
                filename,
                ..Mapping::default()
            }));
        }
        // A mapping has functions if every address in it resolved to a name.
        let mut resolved = vec![(0usize, 0usize); mappings.len()];

        let mut mapping_of: Vec<u64> = Vec::with_capacity(addrs.len());
        let mut lines_of: Vec<Vec<(Line, Trim)>> = Vec::with_capacity(addrs.len());
        for (i, &a) in addrs.iter().enumerate() {
            let pc = a.wrapping_sub(1) as u64;
            let frames = symbols.get(i).map_or(&[][..], |f| &f[..]);
            let m = mappings.iter().position(|m| m.start <= pc && pc < m.limit);
            mapping_of.push(m.map_or(0, |m| mapping_ids[m]));
            if let Some(m) = m {
                resolved[m].0 += 1;
                resolved[m].1 += frames.iter().any(|f| !f.function.is_empty()) as usize;
            }
            let lines = frames
                .iter()
                .map(|f| {
                    let function_id = b.function(&f.function, &f.system_name, &f.file, 0);
                    let line = Line {
                        function_id,
                        line: f.line as i64,
                        column: 0,
                    };
                    (line, classify(&f.function))
                })
                .collect();
            lines_of.push(lines);
        }
        for (i, (total, named)) in resolved.iter().enumerate() {
            if r.symbolized && *total > 0 && total == named {
                let m = &mut b.mappings_mut()[i];
                m.has_functions = true;
                m.has_filenames = true;
                m.has_line_numbers = true;
                m.has_inline_frames = true;
            }
        }
        Locations {
            whole: vec![0; addrs.len()],
            mapping_of,
            lines_of,
            trimmed: HashMap::default(),
            trim,
        }
    }

    /// Appends to `out` the location ids of `stack` (return addresses, leaf
    /// first, given to the [`Resolved`] this was made from; `at` their
    /// indices there, [`Resolved::frame_indices`]), trimmed at the leaf:
    /// everything up to the rootmost [`Trim::Cut`] line, then the
    /// [`Trim::Plumbing`] lines that follow. A location whose
    /// lines are all trimmed is left out; an address without symbols stops
    /// the trimming. A stack that would be trimmed away entirely is kept
    /// whole.
    pub(crate) fn stack(
        &mut self,
        b: &mut ProfileBuilder,
        stack: &[usize],
        at: &[u32],
        out: &mut Vec<u64>,
    ) {
        debug_assert_eq!(stack.len(), at.len());
        let first = out.len();
        let cut = if self.trim {
            at.iter().enumerate().rev().find_map(|(li, &a)| {
                let lines = &self.lines_of[a as usize];
                lines
                    .iter()
                    .rposition(|l| l.1 == Trim::Cut)
                    .map(|lj| (li, lj))
            })
        } else {
            None
        };
        let mut trimming = self.trim;
        let mut keep: Vec<Line> = Vec::new();
        for (li, (&ret, &a)) in stack.iter().zip(at).enumerate() {
            let (pc, a) = (ret.wrapping_sub(1) as u64, a as usize);
            let skip = match cut {
                Some((cl, _)) if li < cl => continue,
                Some((cl, cj)) if li == cl => cj + 1,
                _ => 0,
            };
            if !trimming && skip == 0 {
                out.push(self.whole_location(b, a, pc));
                continue;
            }
            let key = (a as u32, skip as u32, trimming);
            let lines = &self.lines_of[a];
            keep.clear();
            for &(line, kind) in &lines[skip..] {
                if trimming && kind != Trim::Keep {
                    continue;
                }
                trimming = false;
                keep.push(line);
            }
            if trimming && !lines.is_empty() {
                continue; // every line of this location is trimmed
            }
            trimming = false;
            let id = match self.trimmed.get(&key) {
                Some(&id) => id,
                None => {
                    let id = b.location(self.mapping_of[a], pc, &keep);
                    self.trimmed.insert(key, id);
                    id
                }
            };
            out.push(id);
        }
        if out.len() == first && !stack.is_empty() && self.trim {
            // Nothing but plumbing (say, a thread-local destructor): keep it all.
            for (&ret, &a) in stack.iter().zip(at) {
                out.push(self.whole_location(b, a as usize, ret.wrapping_sub(1) as u64));
            }
        }
    }

    /// The location of distinct address `a` (at `pc`) with all its lines:
    /// inline, as most frames of a profile's stacks ask for one made already.
    #[inline]
    fn whole_location(&mut self, b: &mut ProfileBuilder, a: usize, pc: u64) -> u64 {
        match self.whole[a] {
            0 => self.make_whole_location(b, a, pc),
            id => id,
        }
    }

    /// [`whole_location`](Self::whole_location) the first time.
    #[inline(never)]
    fn make_whole_location(&mut self, b: &mut ProfileBuilder, a: usize, pc: u64) -> u64 {
        let lines: Vec<Line> = self.lines_of[a].iter().map(|l| l.0).collect();
        self.whole[a] = b.location(self.mapping_of[a], pc, &lines);
        self.whole[a]
    }
}

/// The comment that carries the process's exact figures ([`crate::stats()`])
/// into a heap profile, whose samples are estimates at a sampling rate:
/// `heapwise run`'s summary line reads them. `None` when
/// [`crate::Alloc`] is not installed.
fn process_totals() -> Option<String> {
    let s = crate::local::process::stats();
    crate::installed().then(|| {
        format!(
            "{__PROCESS_TOTALS} allocs={} allocated_bytes={} frees={} live_bytes={} peak_bytes={}",
            s.allocs, s.allocated_bytes, s.frees, s.live_bytes, s.peak_bytes
        )
    })
}

/// How the comment of [`process_totals`] starts.
#[doc(hidden)]
pub const __PROCESS_TOTALS: &str = "heapwise process totals (heapwise::stats):";

/// The indices of `snap`'s buckets ordered by stack, in bucket order within
/// a stack: a counting sort (a comparison sort of cc1plus's 44,000 full-mode
/// buckets took 10 M instructions at exit).
fn by_stack(snap: &Snapshot) -> Vec<u32> {
    debug_assert!(
        (snap.buckets.iter()).all(|b| (b.stack as usize) < snap.stacks.len()),
        "a bucket of a stack the snapshot does not hold"
    );
    let mut next = vec![0u32; snap.stacks.len() + 1];
    for bucket in &snap.buckets {
        if let Some(n) = next.get_mut(bucket.stack as usize + 1) {
            *n += 1;
        }
    }
    for i in 1..next.len() {
        next[i] += next[i - 1];
    }
    let mut order = vec![0u32; snap.buckets.len()];
    for (i, bucket) in snap.buckets.iter().enumerate() {
        if let Some(at) = next.get_mut(bucket.stack as usize) {
            order[*at as usize] = i as u32;
            *at += 1;
        }
    }
    order
}

/// The profile of `snap` in a builder; with `stream`, its samples are
/// encoded as they are made (`ProfileBuilder::stream_samples`), for a
/// profile that is only written.
fn assemble(
    snap: &Snapshot,
    resolved: &Resolved,
    opts: &ProfileOptions,
    default_sample_type: Option<&str>,
    stream: bool,
) -> ProfileBuilder {
    let rate = sampler::rate();
    let mut b = ProfileBuilder::new();
    for t in HEAP_SAMPLE_TYPES {
        b.sample_type(t.name, t.unit);
    }
    b.period("space", "bytes", rate as i64);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    b.time_nanos(now);
    b.default_sample_type(default_sample_type.unwrap_or("inuse_space"));
    if snap.peak_bytes > 0 {
        b.comment(&format!(
            "peak: {} live at the high-water mark (peak_space, heapwise top --peak)",
            crate::Bytes::from(snap.peak_bytes)
        ));
    }
    if let Some(totals) = process_totals() {
        b.comment(&totals);
    }
    if profiler::COVERAGE.all_cut_short() {
        b.comment(&unwind::cut_short_warning());
    }
    if !opts.symbolize && !opts.allocator_frames {
        b.drop_frames(
            "(__rustc::)?__rust_(alloc|alloc_zeroed|realloc|dealloc)|__rg_.*|__rdl_.*|heapwise::.*|<heapwise::.*",
        );
    }

    let classify = |name: &str| {
        if is_plumbing(name) {
            Trim::Plumbing
        } else {
            Trim::Keep
        }
    };
    let mut locations = Locations::new(&mut b, resolved, &classify, !opts.allocator_frames);

    let bytes_key = b.string("bytes");
    let scope_key = b.string("scope");
    if stream {
        b.stream_samples();
    }
    // The buckets by stack (in full mode a stack has a bucket per size
    // allocated there: cc1plus ~5 each), so each stack's location ids are
    // made once and kept only while its buckets are written (kept for
    // every stack at once, they took a full profile of cc1plus ~10 MB).
    let by_stack = by_stack(snap);
    let mut locs: Vec<u64> = Vec::new();
    let mut locs_of = None;
    let mut labels = Vec::with_capacity(2);
    for &i in &by_stack {
        let bucket = &snap.buckets[i as usize];
        if locs_of != Some(bucket.stack) {
            let (start, len) = snap.stacks[bucket.stack as usize];
            let stack = &snap.frames[start as usize..(start + len) as usize];
            let at = resolved.frame_indices(start as usize, len as usize);
            locs.clear();
            locations.stack(&mut b, stack, at, &mut locs);
            locs_of = Some(bucket.stack);
        }
        let size = bucket.size;
        let live = bucket.allocs - bucket.frees;
        let (ao, ab) = sampler::scale(bucket.allocs, bucket.allocs * size, bucket.rate);
        let (io, ib) = sampler::scale(live, live * size, bucket.rate);
        let peak = bucket.at_peak;
        let (po, pb) = sampler::scale(peak, peak * size, bucket.rate);
        let temporary = bucket.temporary;
        let (to, tb) = sampler::scale(temporary, temporary * size, bucket.rate);
        labels.clear();
        labels.push(heapwise_pprof::Label {
            key: bytes_key,
            num: size as i64,
            ..Default::default()
        });
        if bucket.label != 0 {
            let value = b.string(&snap.labels[bucket.label as usize]);
            labels.push(heapwise_pprof::Label {
                key: scope_key,
                str: value,
                ..Default::default()
            });
        }
        b.sample(&locs, &[ao, ab, io, ib, po, pb, to, tb], &labels);
    }
    b
}

/// What the profiler holds, for the overhead figures (see the crate docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfilerMemory {
    /// Samples taken since start.
    pub samples: u64,
    /// Sampled blocks alive now.
    pub live_samples: usize,
    /// Distinct stacks recorded.
    pub stacks: usize,
    /// Distinct (stack, size, scope name, rate) buckets.
    pub buckets: usize,
    /// Bytes of the stack depot (frames and index).
    pub stack_bytes: usize,
    /// Bytes of the buckets and their index.
    pub bucket_bytes: usize,
    /// Bytes of the live-block tables (the 1 MiB filter and 4 MiB of
    /// per-byte counts are static and not included).
    pub live_bytes: usize,
    /// Bytes of the unwind tables ([`Unwinder::Auto`] and
    /// [`Unwinder::Cfi`]): built once per loaded object, never freed.
    pub unwind_bytes: usize,
    /// Bytes of the trailers of the live blocks that carry their bucket (full
    /// mode): 8 per block (the inner allocator may round a block up more).
    pub carried_bytes: usize,
    /// Bytes of the full-mode carry bitmap's pages written so far (1 bit per
    /// 8 bytes of the heap's address span; they stay).
    pub bitmap_bytes: usize,
}

impl ProfilerMemory {
    /// All the profiler's heap memory, in bytes.
    pub fn total_bytes(&self) -> usize {
        self.stack_bytes
            + self.bucket_bytes
            + self.live_bytes
            + self.unwind_bytes
            + self.carried_bytes
            + self.bitmap_bytes
    }
}

/// The profiler's own memory and counts.
pub fn memory() -> ProfilerMemory {
    // Behind the guard: a signal handler allocating on this thread meanwhile
    // must not sample, which would wait for a lock taken here.
    let (f, (in_table, live_bytes)) =
        without_accounting(|| (depot::lock().footprint(), live::census()));
    // The rest of the live samples carry their bucket.
    let carried = f.live_samples.saturating_sub(in_table as u64) as usize;
    let (unwind_bytes, _) = unwind::footprint();
    ProfilerMemory {
        samples: f.samples,
        live_samples: in_table + carried,
        stacks: f.stacks,
        buckets: f.buckets,
        stack_bytes: f.stack_bytes,
        bucket_bytes: f.bucket_bytes,
        live_bytes,
        unwind_bytes,
        carried_bytes: carried * trailer::size(),
        bitmap_bytes: trailer::bitmap_bytes(),
    }
}
