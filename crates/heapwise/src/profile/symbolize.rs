//! Symbolization at export time: runtime code addresses to functions, files
//! and lines, inlined frames included.
//!
//! # Why only at export
//!
//! The sampler stores raw return addresses (a few words a sample) and never
//! looks at debug information: reading DWARF costs milliseconds to seconds
//! and megabytes to hundreds of megabytes (getsentry/objectstore#527 saw
//! ~400 MB; `docs/profiling.md`, "Costs"), which has no place on an allocation
//! path and would dominate the very heap being profiled if it stayed loaded.
//! So a [`Symbolizer`] lives for one export: the profiler builds it from
//! [`crate::sys::mappings`], resolves each distinct address of the profile
//! once, writes the names into the `Function`/`Line` tables, and drops it,
//! which unmaps the files and frees every parsed unit. Nothing is cached
//! between exports.
//!
//! Symbolizing in process is a convenience (a profile that reads without the
//! binary at hand), not a requirement: every `Mapping` also carries its file
//! name and GNU build ID, so `go tool pprof` can symbolize an address-only
//! profile offline from `$PPROF_BINARY_PATH` or a debuginfod-style store
//! (`docs/profiling.md`, "Go's sampling").
//!
//! # Mechanism
//!
//! For an address, the mapping that holds it gives its file offset
//! (`addr - start + offset`); the object's `PT_LOAD` program headers, read
//! from the file, turn the file offset into the ELF virtual address that
//! DWARF and the symbol table use (`offset - p_offset + p_vaddr`). This is
//! the translation `pprof` itself makes, and it is right for position-
//! independent executables, shared libraries and non-PIE executables alike.
//!
//! Each object is opened on its first address, through `addr2line`'s
//! `Loader` (memory-mapped, parsed lazily unit by unit, split DWARF
//! included). Before that, the file's build ID is checked against the one in
//! memory: a binary replaced on disk since it was loaded yields nothing
//! rather than wrong names (the running executable is then still read
//! through `/proc/self/exe`). An object without DWARF (no `.debug_info`:
//! every stripped binary a distribution ships) never goes to the loader:
//! its ELF symbol table (or the dynamic one, for a stripped library) is
//! read in place, names left in the mapped file, and gives the function
//! name alone (for `cc1plus`'s 31,000 dynamic symbols this took writing
//! its profile at exit from 57 to 45 million instructions). An export
//! reads it for the profile's addresses alone ([`Symbolizer::resolve_all`]:
//! one pass over the records, no sort; the exit of a sampled `cc1plus`
//! run from 19.1 to 12.8 million instructions). The
//! vdso, a file that cannot be opened, or one that is not ELF gives nothing;
//! nothing panics.
//!
//! A separate debug file installed under `/usr/lib/debug/.build-id/`
//! (Debian's `libc6-dbg`, `-dbgsym` packages) lends its full symbol table,
//! which names the static functions a stripped library's dynamic table lacks
//! (`start_thread`, `__libc_start_call_main`: the roots of every stack), but
//! not its DWARF: for libc that would cost ~0.1 s and ~35 MB per export to put
//! line numbers on those few root frames. `go tool pprof` finds such files
//! itself when given the profile without symbols.
//!
//! The preload library (`heapwise run`) is heapwise alone: its frames are
//! only ever named to be hidden as allocator frames, so it is read through
//! its symbol table, never its DWARF ([`read_symbols_only`]). That DWARF,
//! the whole runtime's with the release profile's line tables, took ~50
//! million instructions (~20 ms) to open per profile written, in every
//! process `heapwise run` follows.
//!
//! Names are demangled with `rustc-demangle` without the `::h<hash>` suffix
//! (the raw linkage name stays in `system_name`); C++ names with libstdc++'s
//! `__cxa_demangle` when the process has it loaded (a C++ program under
//! `heapwise run`), else kept mangled; C names are kept as they are.
//!
//! # Cost
//!
//! The memory is the object's debug sections touched through the map
//! (file-backed, reclaimable) plus the heap of the parsed line tables and
//! function ranges of the compilation units that addresses fall in. For 1000
//! addresses spread over every function of this crate's test binary
//! (`symbolize_many_addresses`): ~60 ms, ~15 MB of heap and ~20 MB of mapped
//! debug info at the peak, all released on drop (glibc keeps the freed heap
//! in its arena until `malloc_trim`). The cost grows with the debug info of
//! the units touched, not with the number of samples.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use object::read::elf::{FileHeader, ProgramHeader};
use object::read::ReadRef;

use crate::sys::Mapping;

/// One source-level frame; a single address yields several when calls were
/// inlined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Demangled name without the `::h<hash>` suffix, e.g.
    /// `"myapp::handle_put"`; C names as they are; `""` if unknown.
    pub(crate) function: String,
    /// The raw (mangled) linkage name when known, else the same as `function`.
    pub(crate) system_name: String,
    /// Source file path, `""` if unknown.
    pub(crate) file: String,
    /// Source line, 0 if unknown.
    pub(crate) line: u32,
}

/// Resolves runtime addresses of the given mappings; build one per export
/// and drop it after (it holds the files' maps and parsed debug data).
pub(crate) struct Symbolizer {
    /// The mappings, sorted by start, each pointing into `objects`.
    ranges: Vec<Range>,
    /// One entry per distinct object (path and build ID).
    objects: Vec<Object>,
}

impl std::fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolizer")
            .field("ranges", &self.ranges.len())
            .field("objects", &self.objects.len())
            .finish()
    }
}

struct Range {
    start: u64,
    limit: u64,
    offset: u64,
    object: usize,
}

struct Object {
    path: String,
    build_id: Option<Vec<u8>>,
    /// Read through its symbol table alone ([`read_symbols_only`]).
    symbols_only: bool,
    /// The file offsets [`Symbolizer::resolve_all`] will ask for: its
    /// symbol tables are then read for those alone (empty: for all; `open`
    /// sorts the addresses they become).
    wanted: Vec<u64>,
    state: State,
}

/// An address in the object to read through its symbol table alone (0:
/// none): see [`read_symbols_only`].
static SYMBOLS_ONLY: AtomicUsize = AtomicUsize::new(0);

/// From now on the object whose code holds `addr` is symbolized from its
/// symbol table only, never its DWARF: for the preload library, whose
/// frames are all heapwise's own (see the module docs). If its symbol
/// table is empty (a stripped file), the DWARF is read after all.
pub(crate) fn read_symbols_only(addr: usize) {
    SYMBOLS_ONLY.store(addr, Relaxed);
}

enum State {
    /// Not opened yet.
    Pending,
    /// Opened once and found unusable (no file, not ELF, other build ID).
    Failed,
    Ready(Box<Loaded>),
}

/// An opened object.
struct Loaded {
    /// The object's DWARF and symbol table (none for a symbols-only one).
    loader: Option<addr2line::Loader>,
    /// The symbol table of its separate debug file, if one is installed,
    /// or of the object itself if it is read for its symbols only.
    symbols: Option<Symbols>,
    /// The object's `PT_LOAD` segments: file offset, file size, address.
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    offset: u64,
    filesz: u64,
    vaddr: u64,
}

impl Symbolizer {
    /// A symbolizer for addresses in `mappings`; opens nothing yet.
    pub(crate) fn new(mappings: &[Mapping]) -> Symbolizer {
        Symbolizer::reading_symbols_only(mappings, SYMBOLS_ONLY.load(Relaxed))
    }

    /// [`new`](Self::new), with the object whose code holds `symbols_only`
    /// read through its symbol table alone.
    fn reading_symbols_only(mappings: &[Mapping], symbols_only: usize) -> Symbolizer {
        let symbols_only = symbols_only as u64;
        let mut objects: Vec<Object> = Vec::new();
        let mut ranges = Vec::with_capacity(mappings.len());
        for m in mappings {
            if m.start >= m.limit {
                continue;
            }
            let object = match objects
                .iter()
                .position(|o| o.path == m.path && o.build_id == m.build_id)
            {
                Some(i) => i,
                None => {
                    objects.push(Object {
                        path: m.path.clone(),
                        build_id: m.build_id.clone(),
                        symbols_only: false,
                        wanted: Vec::new(),
                        state: State::Pending,
                    });
                    objects.len() - 1
                }
            };
            if (m.start..m.limit).contains(&symbols_only) {
                if let Some(o) = objects.get_mut(object) {
                    o.symbols_only = true;
                }
            }
            ranges.push(Range {
                start: m.start,
                limit: m.limit,
                offset: m.offset,
                object,
            });
        }
        ranges.sort_by_key(|r| r.start);
        Symbolizer { ranges, objects }
    }

    /// Frames for a runtime code address (already a call-site PC, i.e. return
    /// address − 1), innermost (inlined callee) first, outermost (the real
    /// function) last. Empty if the address is in no mapping or nothing is
    /// known about it. Without DWARF, one frame named from the ELF symbol
    /// table.
    pub(crate) fn resolve(&mut self, addr: u64) -> Vec<Frame> {
        let Some((object, file_offset)) = self.locate(addr) else {
            return Vec::new();
        };
        let Some(object) = self.objects.get_mut(object) else {
            return Vec::new();
        };
        let Some(loaded) = object.load() else {
            return Vec::new();
        };
        match loaded.file_address(file_offset) {
            Some(probe) => loaded.frames(probe),
            None => Vec::new(),
        }
    }
}

impl Symbolizer {
    /// [`resolve`](Self::resolve) of each of `addrs`, in order: an object
    /// read through a symbol table reads it for these addresses alone (for
    /// `cc1plus`'s 31,000 dynamic symbols and a sampled profile's few
    /// hundred addresses, one pass over the records instead of sorting them
    /// all). This symbolizer then answers for these addresses only.
    pub(crate) fn resolve_all(&mut self, addrs: &[u64]) -> Vec<Vec<Frame>> {
        for &addr in addrs {
            if let Some((object, file_offset)) = self.locate(addr) {
                if let Some(o) = self.objects.get_mut(object) {
                    o.wanted.push(file_offset);
                }
            }
        }
        addrs.iter().map(|&a| self.resolve(a)).collect()
    }

    /// The object whose mapping holds `addr`, and the file offset there.
    fn locate(&self, addr: u64) -> Option<(usize, u64)> {
        let i = self.ranges.partition_point(|r| r.start <= addr);
        let range = self.ranges.get(i.checked_sub(1)?)?;
        if addr >= range.limit {
            return None;
        }
        Some((
            range.object,
            (addr - range.start).wrapping_add(range.offset),
        ))
    }
}

impl Object {
    fn load(&mut self) -> Option<&Loaded> {
        if let State::Pending = self.state {
            let wanted = std::mem::take(&mut self.wanted);
            self.state = match open(
                &self.path,
                self.build_id.as_deref(),
                self.symbols_only,
                &wanted,
            ) {
                Some(loaded) => State::Ready(Box::new(loaded)),
                None => State::Failed,
            };
        }
        match &self.state {
            State::Ready(loaded) => Some(loaded),
            _ => None,
        }
    }
}

/// Opens the object at `path` whose loaded image has `build_id`, for its
/// symbol table alone if `symbols_only` (and it has one).
fn open(path: &str, build_id: Option<&[u8]>, symbols_only: bool, wanted: &[u64]) -> Option<Loaded> {
    if !path.starts_with('/') {
        return None; // "[vdso]" and the like: no file to read
    }
    let mut candidates = vec![PathBuf::from(path)];
    // The running executable stays readable there even once its file was
    // deleted or replaced (a deploy); the build ID check picks the right one.
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        let exe = exe.to_string_lossy();
        if exe.strip_suffix(" (deleted)").unwrap_or(&exe) == path {
            candidates.push(PathBuf::from("/proc/self/exe"));
        }
    }
    let (file_path, headers) = candidates.into_iter().find_map(|p| {
        let headers = read_headers(&p)?;
        match (build_id, &headers.build_id) {
            (Some(want), Some(have)) if want != have.as_slice() => None,
            _ => Some((p, headers)),
        }
    })?;
    let segments = headers.segments;
    let debug_file = build_id.and_then(debug_file_path);
    // The ELF addresses asked for, if any: symbol tables are read for them.
    let mut wanted: Vec<u64> = (wanted.iter())
        .filter_map(|&offset| file_address(&segments, offset))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let wanted = (!wanted.is_empty()).then_some(&wanted[..]);
    let read = |p: &Path| Symbols::read(p, wanted);

    if symbols_only || !headers.dwarf {
        // Names from a symbol table alone: the separate debug file's if
        // installed (it has the static functions too), else the object's.
        // (addr2line's loader would read the same table, slower.)
        let from_debug_file = if symbols_only {
            None
        } else {
            debug_file.as_deref()
        };
        let symbols = from_debug_file
            .and_then(read)
            .filter(|s| !s.is_empty())
            .or_else(|| read(&file_path).filter(|s| !s.is_empty()));
        if let Some(symbols) = symbols {
            return Some(Loaded {
                loader: None,
                symbols: Some(symbols),
                segments,
            });
        }
    }
    let loader = Some(addr2line::Loader::new(&file_path).ok()?);
    let symbols = debug_file.and_then(|p| read(&p));
    Some(Loaded {
        loader,
        symbols,
        segments,
    })
}

/// The ELF virtual address of a file offset: inside the `PT_LOAD` segment
/// whose file bytes hold it.
fn file_address(segments: &[Segment], file_offset: u64) -> Option<u64> {
    let s = segments
        .iter()
        .find(|s| s.offset <= file_offset && file_offset - s.offset < s.filesz)?;
    Some((file_offset - s.offset).wrapping_add(s.vaddr))
}

/// A symbol table read in place: the file stays mapped, and each entry
/// points to its name there (a copy of each name made reading cc1plus's
/// 31,000 dynamic symbols cost a heap block each, and as many instructions
/// as the rest).
struct Symbols {
    data: memmap2::Mmap,
    /// Address, size (0: reaches the next), and the offset in `data` of the
    /// name (NUL-terminated: its length is found when it is looked up);
    /// sorted by address, one per address. Read for some addresses only
    /// (see [`Symbols::read`]), the entries those fall in.
    entries: Vec<Entry>,
    /// Whether the table has any symbol (a stripped file has none).
    any: bool,
}

/// A symbol of [`Symbols`]: address, size, name offset.
type Entry = (u64, u64, usize);

/// Per symbol kept, in table order: its size and name offset; and per
/// symbol kept, its address and its rank (lower is better: the priority,
/// then the later entry, `u32::MAX` minus its index in the first).
type Kept = (Vec<(u64, usize)>, Vec<(u64, u64)>);

/// A symbol's rank (see [`Kept`]): a known kind (`unknown` 0) before an
/// unknown one, a size before none, the widest scope (0 dynamic, 1
/// linkage, 2 compilation, 3 other), the later entry.
fn rank(unknown: u64, size: u64, scope: u64, index: usize) -> u64 {
    let priority = (unknown * 2 + u64::from(size == 0)) * 4 + scope;
    priority << 32 | (u64::from(u32::MAX) - index as u64)
}

impl Symbols {
    /// The defined text and data symbols of the ELF file at `path` (its
    /// symbol table, or the dynamic one if it has none), reading only its
    /// section headers and symbol tables. Where symbols share an address the
    /// best name is kept, as `object`'s symbol map ranks them: a known
    /// kind, a size, the widest scope, the later entry.
    ///
    /// With `wanted` (ELF addresses, sorted), only the entries those fall in
    /// are kept, chosen in one pass over the records of a 64-bit ELF file:
    /// each address's entry is the one a full read would find for it.
    fn read(path: &Path, wanted: Option<&[u64]>) -> Option<Symbols> {
        let data = map_file(path)?;
        let kind = object::FileKind::parse(&*data);
        if let (Ok(object::FileKind::Elf64), Some(wanted)) = (kind, wanted) {
            let (entries, any) = elf64_select(&data, wanted)?;
            return Some(Symbols { data, entries, any });
        }
        let (kept, mut order) = match kind {
            Ok(object::FileKind::Elf64) => elf64_symbols(&data)?,
            _ => any_symbols(&data)?,
        };
        best_per_address(&mut order);
        let entries = order
            .into_iter()
            .filter_map(|(address, rank)| {
                let i = u64::from(u32::MAX) - (rank & u64::from(u32::MAX));
                let &(size, offset) = kept.get(i as usize)?;
                Some((address, size, offset))
            })
            .collect::<Vec<_>>();
        let any = !entries.is_empty();
        Some(Symbols { data, entries, any })
    }

    /// The name of the symbol whose range holds `addr` (a size of 0 reaches
    /// the next), if it is UTF-8.
    fn containing(&self, addr: u64) -> Option<&str> {
        let i = self
            .entries
            .partition_point(|s| s.0 <= addr)
            .checked_sub(1)?;
        let &(start, size, offset) = self.entries.get(i)?;
        if size != 0 && addr - start >= size {
            return None;
        }
        let name = self.data.get(offset..)?;
        let len = name.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&name[..len]).ok()
    }

    fn is_empty(&self) -> bool {
        !self.any
    }
}

/// Sorts `order` (address, rank) by address and keeps the best (lowest)
/// rank of each address. By address alone, in passes of 11 bits over the
/// span the addresses cover (three for `cc1plus`'s 32 MB): a comparison
/// sort of the pairs took 10.9 M of the 18.3 M instructions of reading its
/// 31,000 symbols.
fn best_per_address(order: &mut Vec<(u64, u64)>) {
    sort_by_address(order);
    let mut kept = 0;
    for i in 0..order.len() {
        let e = order[i];
        if kept > 0 && order[kept - 1].0 == e.0 {
            order[kept - 1].1 = order[kept - 1].1.min(e.1);
        } else {
            order[kept] = e;
            kept += 1;
        }
    }
    order.truncate(kept);
}

/// An LSD radix sort of `v` by its first field (stable).
fn sort_by_address(v: &mut Vec<(u64, u64)>) {
    const BITS: u32 = 11;
    const MASK: u64 = (1 << BITS) - 1;
    if v.len() < 1024 {
        v.sort_by_key(|e| e.0);
        return;
    }
    let (low, high) = v
        .iter()
        .fold((u64::MAX, 0), |(l, h), e| (l.min(e.0), h.max(e.0)));
    let span_bits = u64::BITS - (high - low).leading_zeros();
    let mut other = vec![(0, 0); v.len()];
    let mut shift = 0;
    while shift < span_bits {
        let digit = |e: &(u64, u64)| ((e.0 - low) >> shift & MASK) as usize;
        let mut at = [0usize; 1 << BITS];
        for e in v.iter() {
            at[digit(e)] += 1;
        }
        let mut sum = 0;
        for slot in &mut at {
            (*slot, sum) = (sum, sum + *slot);
        }
        for e in v.iter() {
            let d = digit(e);
            other[at[d]] = *e;
            at[d] += 1;
        }
        std::mem::swap(v, &mut other);
        shift += BITS;
    }
}

/// [`Symbols::read`] of a 64-bit ELF file, straight from its symbol
/// records: the same choice as `object`'s generic symbols make (what
/// [`any_symbols`] reads), at a fifth of the cost a symbol (`cc1plus`'s
/// 31,000 took 30 M instructions at every profile written), and no name
/// is measured until it is looked up. `None` if the file is broken.
fn elf64_symbols(data: &[u8]) -> Option<Kept> {
    let (mut kept, mut order) = (Vec::new(), Vec::new());
    elf64_records(data, |r| {
        if kept.len() < u32::MAX as usize && r.named(data) {
            order.push((r.address, rank(r.unknown, r.size, r.scope, kept.len())));
            kept.push((r.size, r.name));
        }
    })?;
    Some((kept, order))
}

/// For [`Symbols::read`] with wanted addresses: the entry of each, and
/// whether the table has any symbol. A record is a candidate for the first
/// wanted address at or after it; each address's entry is the candidate
/// with the highest address (the best-ranked at that address) of its own
/// or the nearest address before it that has one: the entry a lookup in
/// the whole sorted table finds. Only candidates that would win have their
/// names checked.
fn elf64_select(data: &[u8], wanted: &[u64]) -> Option<(Vec<Entry>, bool)> {
    let mut best: Vec<Option<(u64, u64, u64, usize)>> = vec![None; wanted.len()];
    let (mut index, mut any) = (0, false);
    elf64_records(data, |r| {
        let i = index;
        index += 1;
        let rank = rank(r.unknown, r.size, r.scope, i);
        let slot = best.get_mut(wanted.partition_point(|&w| w < r.address));
        let wins = match slot.as_deref() {
            None => false,
            Some(None) => true,
            Some(Some((address, best_rank, ..))) => {
                r.address > *address || (r.address == *address && rank < *best_rank)
            }
        };
        if (wins || !any) && r.named(data) {
            any = true;
            if let (true, Some(slot)) = (wins, slot) {
                *slot = Some((r.address, rank, r.size, r.name));
            }
        }
    })?;
    let entries = best.into_iter().flatten();
    Some((
        entries.map(|(a, _, size, name)| (a, size, name)).collect(),
        any,
    ))
}

/// A defined text, data or untyped symbol of an ELF64 symbol table.
struct Record {
    address: u64,
    size: u64,
    /// 1 if untyped, else 0 (see [`rank`]).
    unknown: u64,
    /// See [`rank`].
    scope: u64,
    local: bool,
    /// Its name's offset in the file (inside the string table).
    name: usize,
}

impl Record {
    /// Whether it has a name, and is not a mapping symbol (`$x`, `$d`).
    fn named(&self, data: &[u8]) -> bool {
        match data.get(self.name) {
            None | Some(0) => false,
            Some(b'$') => !(self.unknown == 1 && self.local),
            Some(_) => true,
        }
    }
}

/// Calls `f` with each record of the symbol table of the 64-bit ELF file
/// `data` (its dynamic one if it has no other) that `object`'s generic
/// symbols would list as a definition of a text, data or unknown kind, in
/// table order; the name is not looked at (see [`Record::named`]). `None`
/// if the file is broken.
fn elf64_records(data: &[u8], mut f: impl FnMut(Record)) -> Option<()> {
    // A file of this machine's byte order is read with the order fixed at
    // compile time (each field read is a load, not a branch on the order:
    // half the instructions of a pass over `cc1plus`'s 31,000 records).
    let native = object::elf::FileHeader64::<object::NativeEndian>::parse(data)
        .ok()
        .and_then(|h| h.endian().ok());
    match native {
        Some(_) => elf64_records_as::<object::NativeEndian>(data, &mut f),
        None => elf64_records_as::<object::Endianness>(data, &mut f),
    }
}

fn elf64_records_as<E: object::Endian>(data: &[u8], f: &mut impl FnMut(Record)) -> Option<()> {
    use object::elf;
    use object::read::elf::{FileHeader as _, SectionHeader as _, Sym as _};
    let header = elf::FileHeader64::<E>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, data).ok()?;
    let mut table = sections.symbols(endian, data, elf::SHT_SYMTAB).ok()?;
    if table.is_empty() {
        table = sections.symbols(endian, data, elf::SHT_DYNSYM).ok()?;
    }
    if table.is_empty() {
        return Some(());
    }
    let strings = sections.section(table.string_section()).ok()?;
    let (at, len) = strings.file_range(endian)?;
    for symbol in table.symbols() {
        // `object`'s `is_definition`, and its kinds: text and data
        // known, no type unknown, others left out.
        let section = symbol.st_shndx(endian);
        if section.is_special() && section != elf::SHN_XINDEX {
            continue;
        }
        let unknown = match symbol.st_type() {
            elf::STT_FUNC | elf::STT_OBJECT => 0,
            elf::STT_NOTYPE => 1,
            _ => continue,
        };
        let name = u64::from(symbol.st_name(endian));
        if name >= len {
            continue;
        }
        let scope = match symbol.st_bind() {
            elf::STB_LOCAL => 2,
            elf::STB_GLOBAL | elf::STB_WEAK if symbol.st_visibility() == elf::STV_HIDDEN => 1,
            elf::STB_GLOBAL | elf::STB_WEAK => 0,
            _ => 3,
        };
        f(Record {
            address: symbol.st_value(endian),
            size: symbol.st_size(endian),
            unknown,
            scope,
            local: symbol.st_bind() == elf::STB_LOCAL,
            name: usize::try_from(at + name).ok()?,
        });
    }
    Some(())
}

/// [`Symbols::read`] of any object file `object` reads.
fn any_symbols(data: &[u8]) -> Option<Kept> {
    use object::{Object as _, ObjectSymbol as _, ObjectSymbolTable as _};
    use object::{SymbolKind, SymbolScope};
    let base = data.as_ptr() as usize;
    let (mut kept, mut order) = (Vec::new(), Vec::new());
    let file = object::File::parse(data).ok()?;
    let Some(table) = file.symbol_table().or_else(|| file.dynamic_symbol_table()) else {
        return Some((kept, order));
    };
    for symbol in table.symbols() {
        if !symbol.is_definition() {
            continue;
        }
        let unknown = match symbol.kind() {
            SymbolKind::Text | SymbolKind::Data => 0,
            SymbolKind::Unknown => 1,
            _ => continue,
        };
        let Ok(name) = symbol.name_bytes() else {
            continue;
        };
        if name.is_empty() || kept.len() >= u32::MAX as usize {
            continue;
        }
        let scope = match symbol.scope() {
            SymbolScope::Dynamic => 0,
            SymbolScope::Linkage => 1,
            SymbolScope::Compilation => 2,
            _ => 3,
        };
        let size = symbol.size();
        order.push((symbol.address(), rank(unknown, size, scope, kept.len())));
        kept.push((size, (name.as_ptr() as usize).wrapping_sub(base)));
    }
    Some((kept, order))
}

/// The file at `path` mapped read-only, to read its symbol tables in place:
/// through `object`'s `ReadCache` every name is a read into a heap copy,
/// which made reading libc's separate debug file (~10,000 symbols) a fifth
/// of a heap snapshot's time.
pub(crate) fn map_file(path: &Path) -> Option<memmap2::Mmap> {
    let file = File::open(path).ok()?;
    // SAFETY: a private read-only map, read only as bytes. Were the file
    // truncated on disk meanwhile, a read past its new end would fault; an
    // object file in use is replaced (a new inode), not truncated, and
    // addr2line's loader maps the same files the same way.
    unsafe { memmap2::Mmap::map(&file) }.ok()
}

/// A separate debug file for `build_id` in the system's build-ID tree, if
/// one is installed.
fn debug_file_path(build_id: &[u8]) -> Option<PathBuf> {
    let (first, rest) = build_id.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let path = PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        crate::sys::build_id_hex(&[*first]),
        crate::sys::build_id_hex(rest)
    ));
    path.is_file().then_some(path)
}

/// What [`read_headers`] learns of an ELF file.
struct Headers {
    /// The `PT_LOAD` segments.
    segments: Vec<Segment>,
    /// The GNU build ID.
    build_id: Option<Vec<u8>>,
    /// Whether it has DWARF (a `.debug_info` section).
    dwarf: bool,
}

/// The `PT_LOAD` segments, the GNU build ID and whether there is DWARF, of
/// the ELF file at `path`, reading only its headers and notes.
fn read_headers(path: &Path) -> Option<Headers> {
    let file = File::open(path).ok()?;
    let data = object::read::ReadCache::new(file);
    let ident = data.read_bytes_at(0, 16).ok()?;
    match ident.get(..5)? {
        [0x7f, b'E', b'L', b'F', 2] => {
            headers::<object::elf::FileHeader64<object::Endianness>, _>(&data)
        }
        [0x7f, b'E', b'L', b'F', 1] => {
            headers::<object::elf::FileHeader32<object::Endianness>, _>(&data)
        }
        _ => None,
    }
}

fn headers<'data, Elf, R>(data: R) -> Option<Headers>
where
    Elf: FileHeader<Endian = object::Endianness>,
    R: ReadRef<'data>,
{
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let mut segments = Vec::new();
    let mut build_id = None;
    for ph in header.program_headers(endian, data).ok()? {
        if ph.p_type(endian) == object::elf::PT_LOAD {
            segments.push(Segment {
                offset: ph.p_offset(endian).into(),
                filesz: ph.p_filesz(endian).into(),
                vaddr: ph.p_vaddr(endian).into(),
            });
        }
        if build_id.is_some() {
            continue;
        }
        if let Ok(Some(mut notes)) = ph.notes(endian, data) {
            while let Ok(Some(note)) = notes.next() {
                if note.name() == object::elf::ELF_NOTE_GNU
                    && note.n_type(endian) == object::elf::NT_GNU_BUILD_ID
                {
                    build_id = Some(note.desc().to_vec());
                    break;
                }
            }
        }
    }
    // If the section headers cannot be read, say there is DWARF: the
    // loader then looks for itself.
    let dwarf = header.sections(endian, data).map_or(true, |sections| {
        [&b".debug_info"[..], b".zdebug_info"]
            .iter()
            .any(|name| sections.section_by_name(endian, name).is_some())
    });
    Some(Headers {
        segments,
        build_id,
        dwarf,
    })
}

impl Loaded {
    /// The ELF virtual address of a file offset: inside the `PT_LOAD`
    /// segment whose file bytes hold it.
    fn file_address(&self, file_offset: u64) -> Option<u64> {
        file_address(&self.segments, file_offset)
    }

    /// Frames at ELF address `probe`, innermost first.
    fn frames(&self, probe: u64) -> Vec<Frame> {
        let mut out = Vec::new();
        if let Some(Ok(mut frames)) = self.loader.as_ref().map(|l| l.find_frames(probe)) {
            while let Ok(Some(frame)) = frames.next() {
                let raw = frame
                    .function
                    .as_ref()
                    .and_then(|f| f.raw_name().ok())
                    .map(|name| name.into_owned())
                    .unwrap_or_default();
                let (file, line) = match &frame.location {
                    Some(l) => (l.file.unwrap_or_default().to_owned(), l.line.unwrap_or(0)),
                    None => (String::new(), 0),
                };
                let (function, system_name) = names(raw);
                out.push(Frame {
                    function,
                    system_name,
                    file,
                    line,
                });
            }
        }
        // No DWARF for this address (stripped, or code without debug info),
        // or line tables without function entries: the symbol table names
        // the real (outermost) function.
        if out.last().is_none_or(|f| f.function.is_empty()) {
            let symbol = self
                .symbols
                .as_ref()
                .and_then(|s| s.containing(probe))
                .or_else(|| self.loader.as_ref()?.find_symbol(probe));
            if let Some(symbol) = symbol {
                let (function, system_name) = names(symbol.to_owned());
                match out.last_mut() {
                    Some(last) => {
                        last.function = function;
                        last.system_name = system_name;
                    }
                    None => out.push(Frame {
                        function,
                        system_name,
                        file: String::new(),
                        line: 0,
                    }),
                }
            }
        }
        out
    }
}

/// `(function, system_name)` for a linkage name: Rust names demangled
/// without their hash, C++ names demangled if the process has libstdc++,
/// anything else as is.
fn names(raw: String) -> (String, String) {
    match rustc_demangle::try_demangle(&raw) {
        Ok(demangled) => (format!("{demangled:#}"), raw),
        Err(_) => match cxx_demangle(&raw) {
            Some(demangled) => (demangled, raw),
            None => (raw.clone(), raw),
        },
    }
}

/// A C++ linkage name demangled by `__cxa_demangle`, if the process has it
/// (libstdc++ is loaded in every C++ program); `None` otherwise.
#[cfg(not(unix))]
fn cxx_demangle(_raw: &str) -> Option<String> {
    None
}

/// A C++ linkage name demangled by `__cxa_demangle`, if the process has it
/// (libstdc++ is loaded in every C++ program); `None` otherwise.
#[cfg(unix)]
fn cxx_demangle(raw: &str) -> Option<String> {
    use std::ffi::{c_char, c_int, CStr, CString};
    use std::sync::OnceLock;
    type Demangle =
        unsafe extern "C" fn(*const c_char, *mut c_char, *mut usize, *mut c_int) -> *mut c_char;
    static FOUND: OnceLock<usize> = OnceLock::new();
    if !raw.starts_with("_Z") {
        return None;
    }
    let f = *FOUND.get_or_init(|| {
        // SAFETY: a NUL-terminated name; RTLD_DEFAULT searches the global scope.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__cxa_demangle".as_ptr()) as usize }
    });
    if f == 0 {
        return None;
    }
    // SAFETY: libstdc++'s `__cxa_demangle` has this signature.
    let demangle: Demangle = unsafe { std::mem::transmute(f) };
    let name = CString::new(raw).ok()?;
    let mut status: c_int = 0;
    // SAFETY: a NUL-terminated name; null buffer and length ask it to
    // allocate the result with malloc.
    let out = unsafe {
        demangle(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut status,
        )
    };
    if out.is_null() {
        return None;
    }
    // SAFETY: on success `out` is a NUL-terminated string from malloc,
    // read once and freed once.
    let text = unsafe {
        let text = (status == 0).then(|| CStr::from_ptr(out).to_string_lossy().into_owned());
        libc::free(out.cast());
        text
    };
    text
}

// The mappings come from dl_iterate_phdr: Linux only for now.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::sys::mappings;

    const MARKER_LINE: u32 = line!();
    #[inline(never)]
    fn marker_fn(x: u64) -> u64 {
        std::hint::black_box(x).wrapping_mul(3)
    }

    /// The address of the `lea`/`adr` instruction itself, wherever this
    /// function is inlined.
    const CALLEE_LINE: u32 = line!();
    #[inline(always)]
    fn inlined_callee() -> u64 {
        let pc: u64;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: computes an address; touches no memory, flags or stack.
        unsafe {
            // rip is the next instruction: step back into this one.
            std::arch::asm!("lea {0}, [rip]", "dec {0}", out(reg) pc, options(nomem, nostack));
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: computes an address; touches no memory, flags or stack.
        unsafe {
            std::arch::asm!("adr {}, .", out(reg) pc, options(nomem, nostack, preserves_flags));
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            pc = 0;
        }
        pc
    }

    #[inline(never)]
    fn outer_caller() -> (u64, u32) {
        let (pc, line) = (inlined_callee(), line!());
        (std::hint::black_box(pc), line)
    }

    /// Whether this test binary was built with debug info (the workspace's
    /// dev and release profiles both are; `CARGO_PROFILE_*_DEBUG=0` is not).
    fn has_dwarf() -> bool {
        use object::{Object as _, ObjectSection as _};
        let exe = std::env::current_exe().unwrap();
        let data = object::read::ReadCache::new(File::open(exe).unwrap());
        let file = object::File::parse(&data).unwrap();
        file.section_by_name(".debug_line")
            .is_some_and(|s| s.size() > 0)
    }

    fn symbolizer() -> Symbolizer {
        Symbolizer::new(&mappings())
    }

    #[test]
    fn resolves_a_function_of_this_binary() {
        let mut s = symbolizer();
        let frames = s.resolve(marker_fn as *const () as usize as u64 + 1);
        let f = frames.last().expect("frames for marker_fn");
        assert_eq!(
            f.function, "heapwise::profile::symbolize::tests::marker_fn",
            "{frames:?}"
        );
        assert!(
            f.system_name.starts_with("_ZN") || f.system_name.starts_with("_R"),
            "{f:?}"
        );
        if has_dwarf() {
            assert!(f.file.ends_with("symbolize.rs"), "{f:?}");
            assert!(
                (MARKER_LINE..MARKER_LINE + 5).contains(&f.line),
                "{f:?} (defined at line {})",
                MARKER_LINE + 2
            );
        } else {
            // The symbol table names it, nothing more.
            assert_eq!((f.file.as_str(), f.line), ("", 0), "{f:?}");
        }
        // Resolving again (the object is loaded now) gives the same.
        assert_eq!(
            s.resolve(marker_fn as *const () as usize as u64 + 1),
            frames
        );
        assert_eq!(marker_fn(1), 3);
    }

    /// An object read for its symbols only (the preload's) names the
    /// function from its symbol table, with no file, line or inlined frame.
    #[test]
    fn an_object_read_for_its_symbols_only_names_functions_without_lines() {
        let addr = marker_fn as *const () as usize;
        let mut s = Symbolizer::reading_symbols_only(&mappings(), addr);
        let frames = s.resolve(addr as u64 + 1);
        let [f] = frames.as_slice() else {
            panic!("one frame: {frames:?}");
        };
        assert_eq!(f.function, "heapwise::profile::symbolize::tests::marker_fn");
        assert_eq!((f.file.as_str(), f.line), ("", 0), "{f:?}");
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn inlined_frames_innermost_first() {
        let (pc, call_line) = outer_caller();
        let frames = symbolizer().resolve(pc);
        if !has_dwarf() {
            // The symbol table knows the real function only.
            let f = frames.last().expect("a frame");
            assert_eq!(
                f.function,
                "heapwise::profile::symbolize::tests::outer_caller"
            );
            return;
        }
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(
            frames[0].function,
            "heapwise::profile::symbolize::tests::inlined_callee"
        );
        assert!(frames[0].file.ends_with("symbolize.rs"), "{frames:?}");
        assert!(
            (CALLEE_LINE + 2..CALLEE_LINE + 20).contains(&frames[0].line),
            "{frames:?}"
        );
        assert_eq!(
            frames[1].function,
            "heapwise::profile::symbolize::tests::outer_caller"
        );
        assert!(frames[1].file.ends_with("symbolize.rs"), "{frames:?}");
        assert_eq!(frames[1].line, call_line, "{frames:?}");
    }

    /// A shared library: its own bias, not the executable's. Debian's libc
    /// has no DWARF of its own (it is in libc6-dbg, used when installed).
    #[test]
    fn resolves_a_libc_function() {
        let maps = mappings();
        let addr = libc::qsort as *const () as usize as u64;
        let Some(m) = maps.iter().find(|m| m.start <= addr && addr < m.limit) else {
            panic!("qsort at {addr:#x} in no mapping: {maps:#x?}");
        };
        if m.path == maps[0].path {
            return; // a non-PIE executable's canonical PLT entry
        }
        let frames = Symbolizer::new(&maps).resolve(addr + 1);
        let f = frames.last().expect("a frame for qsort");
        assert!(f.function.contains("qsort"), "{frames:?}");

        // Without the build ID there is no separate debug file to look up:
        // the library's dynamic symbol table names the function.
        let no_id: Vec<Mapping> = maps
            .iter()
            .filter(|n| n.path == m.path)
            .map(|n| Mapping {
                build_id: None,
                bias: 0,
                ..n.clone()
            })
            .collect();
        let frames = Symbolizer::new(&no_id).resolve(addr + 1);
        let f = frames.last().expect("a frame for qsort");
        assert!(f.function.contains("qsort"), "{frames:?}");
    }

    /// The radix sort and the pick of each address's best rank agree with
    /// a comparison sort and `dedup`, on large and small spans and sizes.
    #[test]
    fn best_per_address_matches_sort_and_dedup() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (n, span) in [
            (10, 100),
            (5_000, 1 << 12),
            (50_000, 1 << 26),
            (3_000, u64::MAX),
        ] {
            let base = next() % (1 << 40);
            let order: Vec<(u64, u64)> = (0..n)
                .map(|_| (base.wrapping_add(next() % span.max(1)), next() % 1000))
                .collect();
            let mut want = order.clone();
            want.sort_unstable();
            want.dedup_by_key(|e| e.0);
            let mut got = order;
            best_per_address(&mut got);
            assert_eq!(got, want, "{n} over {span}");
        }
    }

    /// The files of the objects loaded here.
    fn object_paths() -> Vec<String> {
        let mut paths: Vec<String> = mappings()
            .into_iter()
            .map(|m| m.path)
            .filter(|p| p.starts_with('/'))
            .collect();
        paths.dedup();
        paths
    }

    /// The ELF64 reader keeps the symbols, names and ranks `object`'s
    /// generic symbols give, on this test binary (a symbol table) and on
    /// every shared library it loaded (mostly dynamic tables).
    #[test]
    fn the_elf64_reader_keeps_what_object_keeps() {
        let paths = object_paths();
        assert!(paths.len() >= 2, "{paths:?}");
        let name = |data: &[u8], at: usize| {
            let rest = &data[at..];
            rest[..rest.iter().position(|&b| b == 0).unwrap()].to_vec()
        };
        for path in paths {
            let Some(data) = map_file(Path::new(&path)) else {
                continue;
            };
            let fast = elf64_symbols(&data).expect("readable");
            let any = any_symbols(&data).expect("readable");
            assert_eq!(fast.1, any.1, "{path}: addresses and ranks");
            assert_eq!(fast.0.len(), any.0.len(), "{path}");
            for (f, a) in fast.0.iter().zip(&any.0) {
                assert_eq!(f.0, a.0, "{path}: size");
                assert_eq!(name(&data, f.1), name(&data, a.1), "{path}: name");
            }
        }
    }

    /// Read for some addresses, a symbol table gives each of them the name
    /// the whole table gives: on every object loaded here (their symbol or
    /// dynamic tables), at symbol starts, inside and past symbols, and
    /// between them, few addresses and many.
    #[test]
    fn a_table_read_for_some_addresses_names_them_as_the_whole_table() {
        let paths = object_paths();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut checked = 0;
        for path in paths {
            let path = Path::new(&path);
            let Some(whole) = Symbols::read(path, None) else {
                continue;
            };
            let Some(&(first, ..)) = whole.entries.first() else {
                continue;
            };
            let last = whole.entries.last().map_or(first, |e| e.0 + e.1);
            for n in [1, 7, 300, 5000] {
                let mut wanted: Vec<u64> = (0..n)
                    .map(|i| match i % 4 {
                        // A symbol's start, one past it, anywhere in the
                        // table's span, or before or after it.
                        0 => whole.entries[next() as usize % whole.entries.len()].0,
                        1 => whole.entries[next() as usize % whole.entries.len()].0 + 1,
                        2 => first + next() % (last - first + 1),
                        _ => [first.saturating_sub(1), last, last + 4096][next() as usize % 3],
                    })
                    .collect();
                wanted.sort_unstable();
                wanted.dedup();
                let some = Symbols::read(path, Some(&wanted)).expect("readable");
                assert_eq!(some.is_empty(), whole.is_empty(), "{}", path.display());
                for &a in &wanted {
                    assert_eq!(
                        some.containing(a),
                        whole.containing(a),
                        "{} at {a:#x} of {n}",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked} addresses");
    }

    /// `resolve_all` names addresses as `resolve` does one by one.
    #[test]
    fn resolving_all_at_once_is_resolving_each() {
        let maps = mappings();
        let mut addrs: Vec<u64> = maps
            .iter()
            .flat_map(|m| (0..64).map(move |i| m.start + (m.limit - m.start) / 64 * i))
            .chain([libc::qsort as *const () as usize as u64 + 1, 0, u64::MAX])
            .collect();
        addrs.sort_unstable();
        let all = Symbolizer::new(&maps).resolve_all(&addrs);
        let mut one = Symbolizer::new(&maps);
        for (a, frames) in addrs.iter().zip(all) {
            assert_eq!(frames, one.resolve(*a), "{a:#x}");
        }
    }

    #[test]
    fn an_object_without_dwarf_is_read_through_its_symbol_table_alone() {
        let maps = mappings();
        let addr = libc::qsort as *const () as usize as u64;
        let m = maps
            .iter()
            .find(|m| m.start <= addr && addr < m.limit)
            .expect("qsort in a mapping");
        if read_headers(Path::new(&m.path)).expect("libc is ELF").dwarf {
            return; // a libc built with its DWARF
        }
        let loaded = open(&m.path, m.build_id.as_deref(), false, &[]).expect("libc opens");
        assert!(loaded.loader.is_none());
        let symbols = loaded.symbols.as_ref().expect("a symbol table");
        let probe = loaded
            .file_address(addr - m.start + m.offset)
            .expect("in a segment");
        assert!(symbols
            .containing(probe)
            .is_some_and(|n| n.contains("qsort")));
    }

    #[test]
    fn unknown_or_unreadable_addresses_give_nothing() {
        let mut s = symbolizer();
        assert!(s.resolve(0x10).is_empty());
        assert!(s.resolve(0).is_empty());
        assert!(s.resolve(u64::MAX).is_empty());

        // Files that are missing, not ELF, or another build: nothing, no panic.
        let fake = |path: &str, build_id: Option<Vec<u8>>| Mapping {
            start: 0x1000,
            limit: 0x3000,
            offset: 0,
            path: path.to_owned(),
            build_id,
            bias: 0,
        };
        let exe = mappings().remove(0).path;
        for m in [
            fake("/nonexistent/heapwise-test", None),
            fake(
                concat!(env!("CARGO_MANIFEST_DIR"), "/src/profile/symbolize.rs"),
                None,
            ),
            fake("/proc/self/cmdline", None),
            fake("[vdso]", None),
            fake("relative/path", None),
            fake(&exe, Some(vec![1, 2, 3, 4])),
        ] {
            let mut s = Symbolizer::new(&[m]);
            assert!(s.resolve(0x1800).is_empty());
            assert!(
                s.resolve(0x1801).is_empty(),
                "second lookup of a failed object"
            );
        }
        // An empty or inverted mapping is ignored.
        let mut inverted = fake(&exe, None);
        inverted.limit = inverted.start;
        assert!(Symbolizer::new(&[inverted]).resolve(0x1000).is_empty());
    }

    #[test]
    fn every_mapping_resolves_without_panic() {
        let maps = mappings();
        let mut s = Symbolizer::new(&maps);
        for m in &maps {
            for addr in [m.start, m.start + 1, (m.start + m.limit) / 2, m.limit - 1] {
                for f in s.resolve(addr) {
                    assert!(f.system_name.is_empty() || !f.function.is_empty(), "{f:?}");
                }
            }
        }
    }

    #[test]
    fn names_are_demangled_without_hash() {
        let (f, s) = names("_ZN8heapwise9symbolize5tests9marker_fn17h0123456789abcdefE".into());
        assert_eq!(f, "heapwise::symbolize::tests::marker_fn");
        assert_eq!(
            s,
            "_ZN8heapwise9symbolize5tests9marker_fn17h0123456789abcdefE"
        );
        let (f, s) = names("malloc".into());
        assert_eq!((f.as_str(), s.as_str()), ("malloc", "malloc"));
    }

    /// Time and memory to symbolize ~1000 distinct addresses of this binary:
    /// `cargo test -p heapwise --lib --release -- --ignored --nocapture
    /// symbolize_many_addresses`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn symbolize_many_addresses() {
        use object::{Object as _, ObjectSymbol as _};
        let maps = mappings();
        let exe = &maps[0];
        // Function addresses from the symbol table, converted to runtime
        // addresses through marker_fn's known address.
        let data = std::fs::read(&exe.path).unwrap();
        let file = object::read::elf::ElfFile64::<object::Endianness>::parse(&*data).unwrap();
        let mut funcs: Vec<(u64, u64)> = file
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text)
            .map(|s| (s.address(), s.size()))
            .filter(|&(a, size)| a != 0 && size > 8)
            .collect();
        funcs.sort_unstable();
        funcs.dedup_by_key(|f| f.0);
        let marker = file
            .symbols()
            .find(|s| {
                s.name()
                    .is_ok_and(|n| n.contains("9symbolize5tests9marker_fn"))
            })
            .map(|s| s.address())
            .unwrap();
        let bias = (marker_fn as *const () as usize as u64).wrapping_sub(marker);
        let step = (funcs.len() / 1000).max(1);
        let addrs: Vec<u64> = funcs
            .iter()
            .step_by(step)
            .take(1000)
            .map(|&(a, size)| bias.wrapping_add(a + size / 2))
            .collect();
        drop(file);
        drop(data);

        // kB figures of /proc/self/status.
        let status = || {
            let text = std::fs::read_to_string("/proc/self/status").unwrap();
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map_or(String::new(), |v| v.trim().to_owned())
            };
            format!(
                "VmRSS {} (anon {}, file {}), VmHWM {}",
                field("VmRSS:"),
                field("RssAnon:"),
                field("RssFile:"),
                field("VmHWM:")
            )
        };
        #[cfg(target_env = "gnu")]
        let heap = || {
            // SAFETY: mallinfo2 only reads glibc's malloc statistics.
            let m = unsafe { libc::mallinfo2() };
            format!("{} kB", (m.uordblks + m.hblkhd) / 1024)
        };
        #[cfg(not(target_env = "gnu"))]
        let heap = || String::from("?");
        // Peak RSS from here on ("5" resets VmHWM, Linux 4.0+).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        eprintln!("before:  {}; malloc in use {}", status(), heap());
        let t = std::time::Instant::now();
        let mut s = Symbolizer::new(&maps);
        let (mut resolved, mut frames, mut with_line) = (0, 0, 0);
        for &a in &addrs {
            let fs = s.resolve(a);
            resolved += usize::from(!fs.is_empty());
            with_line += usize::from(fs.iter().any(|f| f.line != 0));
            frames += fs.len();
        }
        let elapsed = t.elapsed();
        eprintln!(
            "{} addresses ({} functions in {}): {resolved} resolved, {with_line} with lines, {frames} frames in {elapsed:?}",
            addrs.len(),
            funcs.len(),
            exe.path,
        );
        eprintln!("after:   {}; malloc in use {}", status(), heap());
        drop(s);
        eprintln!("dropped: {}; malloc in use {}", status(), heap());
        // glibc keeps the freed heap until trimmed.
        #[cfg(target_env = "gnu")]
        {
            // SAFETY: malloc_trim only returns free memory to the system.
            unsafe { libc::malloc_trim(0) };
            eprintln!("trimmed: {}; malloc in use {}", status(), heap());
        }
        assert!(resolved * 10 >= addrs.len() * 9);
    }
}
