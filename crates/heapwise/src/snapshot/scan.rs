//! The scan, in the forked child: the live blocks from the carry bitmap,
//! the roots from `/proc/self/maps`, and every aligned word of both that
//! points into a block, streamed to the parent (`wire.rs`).
//!
//! # Roots
//!
//! Each private, writable mapping of the process is one of:
//! - **heap**, skipped as a root: it holds a tracked block (the inner
//!   allocator's arenas, a large block's own mapping), or it is the carry
//!   bitmap's, or, when the inner allocator is the C library's `malloc`, it
//!   is that heap (`[heap]`, a thread arena's 64 MiB reservation), whose
//!   untracked contents are heapwise's own memory and free chunks (C code's
//!   blocks too: like LeakSanitizer, which scans no heap as a root,
//!   heapwise does not see pointers held only by them);
//! - a **thread's stack**: it holds a stack pointer caught at the snapshot
//!   (`threads.rs`); scanned from 128 bytes below it (x86_64's red zone) to
//!   the mapping's end, which on glibc also holds the thread's TCB and
//!   static thread-local storage;
//! - a module's **globals**: backed by a file (`.data`), or the anonymous
//!   mapping that follows one (`.bss`);
//! - an **exited thread's stack**, skipped: anonymous, just above a guard
//!   page, holding no live thread's stack pointer (the C library keeps the
//!   stacks of exited threads for reuse; their stale words are no root) —
//!   unless some thread did not answer, whose stack this may be;
//! - **unknown memory**: the rest (mmap regions, another allocator's heap,
//!   stacks of threads that did not answer), scanned so that what it points
//!   to is not reported leaked: its resident pages, as `mincore` tells
//!   (a reservation of gigabytes costs nothing; a page swapped out is not
//!   scanned).
//!
//! The registers each answering thread was caught with are roots too. The
//! child reads the map before it allocates anything large, so its own
//! memory is not taken for the program's.

use super::globals::{self, Module};
use super::threads::{self, Caught, REGS};
use super::wire::{RootRecord, Writer};
use crate::profile::trailer::{self, Carried};
use heapwise_heapgraph::RootKind;
use std::io::{self, Write};

/// What the parent caught before the fork.
#[derive(Debug)]
pub(crate) struct Frozen {
    /// The snapshotting thread: its id, stack pointer and callee-saved
    /// registers just before the fork.
    pub(crate) me: Caught,
    pub(crate) threads: threads::Threads,
    /// Thread names by id, read before the fork.
    pub(crate) names: Vec<(i32, String)>,
    /// The loaded objects' paths and load biases, read before the fork.
    pub(crate) modules: Vec<Module>,
}

/// One line of `/proc/self/maps`.
#[derive(Debug)]
struct Map {
    start: usize,
    end: usize,
    writable_private: bool,
    /// `---p`: a guard page, as below every thread stack.
    guard: bool,
    path: String,
}

fn read_maps() -> io::Result<Vec<Map>> {
    let text = std::fs::read_to_string("/proc/self/maps")?;
    let mut maps = Vec::new();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(3).unwrap_or("").to_string();
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        else {
            continue;
        };
        let p = perms.as_bytes();
        maps.push(Map {
            start,
            end,
            writable_private: p.len() >= 4 && p[0] == b'r' && p[1] == b'w' && p[3] == b'p',
            guard: perms == "---p",
            path,
        });
    }
    Ok(maps)
}

/// Scans the process (a forked child's copy of it) into `out`.
pub(crate) fn scan(out: impl Write, frozen: &Frozen) -> io::Result<()> {
    let maps = read_maps()?;
    let mut blocks: Vec<Carried> = Vec::new();
    trailer::for_each_block(|c| blocks.push(c));
    let mut holes: Vec<(usize, usize)> = Vec::new();
    trailer::leaf_ranges(|a, b| holes.push((a, b)));
    let (mut roots, paths) = roots(&maps, &blocks, &holes, frozen);
    let index = Index::new(&blocks);
    // The roots' edges first, kept (roots hold few pointers), so that those
    // from a module's globals can name their symbol (`globals.rs`).
    let mut root_edges: Vec<(usize, usize, u64)> = Vec::new();
    for (i, r) in roots.iter().enumerate() {
        let edge = |off: u64, to| {
            root_edges.push((i, r.addr + off as usize, to));
            Ok(())
        };
        // SAFETY: every root is readable memory of this process: a private
        // writable mapping (read from the map, nothing unmaps meanwhile: this
        // child runs alone) or a register copy this child owns.
        unsafe {
            if r.kind == RootKind::UnknownMemory {
                scan_resident(r.addr, r.len, &index, edge)?
            } else {
                scan_range(r.addr, r.len, &index, edge)?
            }
        };
    }
    name_globals(&mut roots, &paths, &mut root_edges, &frozen.modules);
    name_frames(&mut roots, &mut root_edges, frozen);
    root_edges.sort_unstable();
    let mut w = Writer::new(out);
    w.blocks(&blocks)?;
    w.roots(&roots)?;
    for &(i, addr, to) in &root_edges {
        w.edge(i as u64, false, (addr - roots[i].addr) as u64, to)?;
    }
    for (i, b) in blocks.iter().enumerate() {
        // SAFETY: a live block's bytes, readable (the carry bitmap's bits
        // are set only for blocks the inner allocator handed out).
        unsafe {
            scan_range(b.addr, b.size, &index, |off, to| {
                w.edge(i as u64, true, off, to)
            })?
        };
    }
    w.finish()
}

/// Adds a root per data symbol that holds a pointer in a module's globals
/// and moves those edges to it (the module's root stays, for the rest).
fn name_globals(
    roots: &mut Vec<RootRecord>,
    paths: &[Option<String>],
    edges: &mut [(usize, usize, u64)],
    modules: &[Module],
) {
    for (i, path) in paths.iter().enumerate() {
        let Some(path) = path else { continue };
        let Some(module) = modules.iter().find(|m| &m.path == path) else {
            continue;
        };
        let addrs: Vec<usize> = edges.iter().filter(|e| e.0 == i).map(|e| e.1).collect();
        if addrs.is_empty() {
            continue;
        }
        for (start, end, name) in globals::symbols_holding(path, module.bias, &addrs) {
            carve(roots, edges, i, RootKind::Global, name, start, end);
        }
    }
}

/// Adds a root per stack frame that holds a pointer, named after the
/// thread and the frame's function, and moves those edges to it: each
/// answering thread's stack is walked from its registers (the unwinder's
/// CFI tables), and each return address found is located on the stack,
/// which bounds its caller's frame.
fn name_frames(roots: &mut Vec<RootRecord>, edges: &mut [(usize, usize, u64)], frozen: &Frozen) {
    let stacks: Vec<usize> = (0..roots.len())
        .filter(|&i| roots[i].kind == RootKind::ThreadStack && edges.iter().any(|e| e.0 == i))
        .collect();
    let mut frames: Vec<(usize, usize, usize, usize)> = Vec::new(); // (root, lo, hi, pc)
    for i in stacks {
        let (lo, hi) = (roots[i].addr, roots[i].addr + roots[i].len);
        // The thread whose stack this is: its registers and its walk.
        // On the heap: the search below must not find the walk's output
        // on this very stack.
        let mut out = vec![std::mem::MaybeUninit::<usize>::uninit(); 256];
        let (pc, sp, n) = if lo <= frozen.me.sp && frozen.me.sp < hi {
            crate::profile::unwind::walk_here(hi, &mut out)
        } else if let Some(c) = frozen
            .threads
            .caught
            .iter()
            .find(|c| lo <= c.sp && c.sp < hi)
        {
            let Some((pc, fp)) = pc_fp(c) else { continue };
            (
                pc,
                c.sp,
                crate::profile::unwind::walk_thread(pc, c.sp, fp, hi, &mut out),
            )
        } else {
            continue;
        };
        // SAFETY: `walk_thread` wrote the first `n`.
        let rets: Vec<usize> = out[..n]
            .iter()
            .map(|r| unsafe { r.assume_init() })
            .collect();
        // Frame k spans from above the slot of return address k - 1 (or the
        // stack pointer) to the slot of return address k; its code is at
        // `pc`, then at each return address.
        // The innermost frame from the root's start: the red zone below the
        // stack pointer is its.
        let mut from = sp.min(lo);
        let mut code = pc + 1; // as a return address, for the symbolizer
        for &ret in &rets {
            let mut at = (from + 7) & !7;
            // SAFETY: aligned words of this thread's stack, below `hi`.
            while at + 8 <= hi && unsafe { (at as *const usize).read() } != ret {
                at += 8;
            }
            if at + 8 > hi {
                // Not on the stack: the slot of a frame that has returned
                // since the walk (on the thread taking the snapshot, the
                // walk's own callee, whose slot the next call reused).
                // The frame merges into the next one found.
                code = ret;
                continue;
            }
            if at + 8 > lo {
                frames.push((i, from.max(lo), at + 8, code));
            }
            from = at + 8;
            code = ret;
        }
    }
    if frames.is_empty() {
        return;
    }
    let pcs: Vec<usize> = frames.iter().map(|f| f.3).collect();
    let resolved = crate::profile::Resolved::new(&pcs, true);
    for (root, lo, hi, pc) in frames {
        if !edges.iter().any(|e| e.0 == root && lo <= e.1 && e.1 < hi) {
            continue;
        }
        // The function the code is in at that address: the innermost of
        // the functions inlined there, and the real one it was inlined in.
        let lines = resolved.lines(pc);
        let (Some(inner), Some(outer)) = (lines.first(), lines.last()) else {
            continue;
        };
        if inner.function.is_empty() {
            continue;
        }
        let function = if outer.function != inner.function {
            format!("{} (inlined in {})", inner.function, outer.function)
        } else {
            inner.function.clone()
        };
        let name = format!("{}, frame {function}", roots[root].name);
        carve(roots, edges, root, RootKind::ThreadStack, name, lo, hi);
    }
}

/// Adds a root `[start, end)` named `name` inside root `from`, and moves
/// `from`'s edges in that range to it.
fn carve(
    roots: &mut Vec<RootRecord>,
    edges: &mut [(usize, usize, u64)],
    from: usize,
    kind: RootKind,
    name: String,
    start: usize,
    end: usize,
) {
    let j = roots.len();
    roots.push(RootRecord {
        kind,
        name,
        addr: start,
        len: end - start,
    });
    for e in edges
        .iter_mut()
        .filter(|e| e.0 == from && start <= e.1 && e.1 < end)
    {
        e.0 = j;
    }
}

/// An answering thread's `pc` and frame pointer, from its saved registers.
fn pc_fp(c: &Caught) -> Option<(usize, usize)> {
    #[cfg(target_arch = "x86_64")]
    {
        Some((
            c.regs[libc::REG_RIP as usize],
            c.regs[libc::REG_RBP as usize],
        ))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = c;
        None
    }
}

/// The roots (see the module docs), and for each the path of the module
/// whose globals it is.
fn roots(
    maps: &[Map],
    blocks: &[Carried],
    holes: &[(usize, usize)],
    frozen: &Frozen,
) -> (Vec<RootRecord>, Vec<Option<String>>) {
    let mut stacks: Vec<(usize, i32)> = frozen
        .threads
        .caught
        .iter()
        .map(|c| (c.sp, c.tid))
        .collect();
    stacks.push((frozen.me.sp, frozen.me.tid));
    let name_of = |tid: i32| {
        let name = frozen
            .names
            .iter()
            .find(|(t, _)| *t == tid)
            .map_or("", |(_, n)| n.as_str());
        format!("thread {tid} ({name})")
    };
    let mut roots = Vec::new();
    let mut paths: Vec<Option<String>> = Vec::new();
    let mut previous_file: Option<(usize, &str)> = None;
    let mut previous_guard: Option<usize> = None;
    let malloc_inner = crate::local::process::malloc_inner();
    for (i, m) in maps.iter().enumerate() {
        let after_guard = previous_guard == Some(m.start) && m.path.is_empty();
        previous_guard = (m.guard && m.path.is_empty()).then_some(m.end);
        let file = (!m.path.is_empty() && !m.path.starts_with('[')).then_some(m.path.as_str());
        let after_file = previous_file
            .filter(|&(end, _)| end == m.start)
            .map(|(_, p)| p);
        previous_file = file.map(|p| (m.end, p));
        if !m.writable_private || m.path.starts_with("/dev/") || m.path.starts_with("[v") {
            continue;
        }
        if holes.iter().any(|&(a, b)| a < m.end && m.start < b) {
            continue;
        }
        let first = blocks.partition_point(|b| b.addr < m.start);
        if blocks.get(first).is_some_and(|b| b.addr < m.end) {
            continue; // the heap
        }
        if malloc_inner && (m.path == "[heap]" || arena_shaped(m, maps.get(i + 1))) {
            // The C library's heap, which the inner allocator is: what is in
            // it and untracked is heapwise's own, or free.
            continue;
        }
        if let Some(&(sp, tid)) = stacks.iter().find(|&&(sp, _)| m.start <= sp && sp < m.end) {
            let from = sp.saturating_sub(128).max(m.start) & !7;
            roots.push(RootRecord {
                kind: RootKind::ThreadStack,
                name: name_of(tid),
                addr: from,
                len: m.end - from,
            });
            continue;
        }
        if after_guard && frozen.threads.missed == 0 && frozen.threads.note.is_none() {
            // Shaped as a thread stack (anonymous, above a guard page), and
            // no live thread's: an exited thread's, cached by the C library
            // for reuse. Its stale words are no root (LeakSanitizer scans
            // live threads only).
            continue;
        }
        paths.resize(roots.len(), None);
        paths.push(file.or(after_file).map(str::to_string));
        let (kind, name) = match (file, after_file) {
            (Some(p), _) => (RootKind::Global, base_name(p).to_string()),
            (None, Some(p)) => (RootKind::Global, format!("{} (.bss)", base_name(p))),
            (None, None) if m.path.is_empty() => {
                (RootKind::UnknownMemory, "anonymous mapping".to_string())
            }
            (None, None) => (RootKind::UnknownMemory, m.path.clone()),
        };
        roots.push(RootRecord {
            kind,
            name,
            addr: m.start,
            len: m.end - m.start,
        });
    }
    // Static TLS, around each thread pointer: at the top of a thread's stack
    // mapping (scanned with the stack) except the main thread's, which the
    // loader maps on its own, where a heap block's mapping may have merged
    // with it.
    let mut tls = |c: &Caught| {
        let Some(m) = maps.iter().find(|m| m.start <= c.tp && c.tp < m.end) else {
            return;
        };
        if m.start <= c.sp && c.sp < m.end {
            return;
        }
        let (from, to) = (
            (c.tp.saturating_sub(TLS_BELOW)).max(m.start),
            (c.tp + TLS_ABOVE).min(m.end),
        );
        // Around any block in the window.
        let mut at = from;
        let first = blocks.partition_point(|b| b.addr + b.size <= from);
        for b in blocks[first..].iter().take_while(|b| b.addr < to) {
            if b.addr > at {
                roots.push(RootRecord {
                    kind: RootKind::Tls,
                    name: name_of(c.tid),
                    addr: at,
                    len: b.addr - at,
                });
            }
            at = at.max((b.addr + b.size + 7) & !7);
        }
        if at < to {
            roots.push(RootRecord {
                kind: RootKind::Tls,
                name: name_of(c.tid),
                addr: at,
                len: to - at,
            });
        }
    };
    tls(&frozen.me);
    frozen.threads.caught.iter().for_each(&mut tls);
    let mut regs = |c: &Caught| {
        roots.push(RootRecord {
            kind: RootKind::Registers,
            name: name_of(c.tid),
            addr: c.regs.as_ptr() as usize,
            len: REGS * 8,
        })
    };
    regs(&frozen.me);
    frozen.threads.caught.iter().for_each(&mut regs);
    paths.resize(roots.len(), None);
    split_large(roots, paths)
}

/// Roots of at most 1 GiB (a graph's holder has a bounded size), a larger
/// one cut in pieces of the same kind and name.
fn split_large(
    roots: Vec<RootRecord>,
    paths: Vec<Option<String>>,
) -> (Vec<RootRecord>, Vec<Option<String>>) {
    const MAX: usize = 1 << 30;
    let mut out = (
        Vec::with_capacity(roots.len()),
        Vec::with_capacity(roots.len()),
    );
    for (r, p) in roots.into_iter().zip(paths) {
        let mut at = r.addr;
        let end = r.addr + r.len;
        loop {
            let len = (end - at).min(MAX);
            out.0.push(RootRecord {
                addr: at,
                len,
                ..r.clone()
            });
            out.1.push(p.clone());
            at += len;
            if at >= end {
                break;
            }
        }
    }
    out
}

/// glibc's heap for a thread arena: anonymous, aligned to its 64 MiB
/// reservation, the rest of which follows, inaccessible.
fn arena_shaped(m: &Map, next: Option<&Map>) -> bool {
    const HEAP_MAX: usize = 64 << 20;
    m.path.is_empty()
        && m.start % HEAP_MAX == 0
        && next.is_some_and(|n| n.guard && n.start == m.end && n.end <= m.start + HEAP_MAX)
}

/// The static TLS window around a thread pointer: glibc puts the blocks
/// below it (x86_64), the TCB above; aarch64 the reverse.
const TLS_BELOW: usize = 64 << 10;
const TLS_ABOVE: usize = 64 << 10;

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Blocks by address, for "which block holds this address?".
struct Index<'a> {
    blocks: &'a [Carried],
    lo: usize,
    hi: usize,
}

impl<'a> Index<'a> {
    fn new(blocks: &'a [Carried]) -> Index<'a> {
        Index {
            blocks,
            lo: blocks.first().map_or(usize::MAX, |b| b.addr),
            hi: blocks.last().map_or(0, |b| b.addr + b.size),
        }
    }

    #[inline]
    fn find(&self, v: usize) -> Option<usize> {
        if v < self.lo || v >= self.hi {
            return None;
        }
        let i = self
            .blocks
            .partition_point(|b| b.addr <= v)
            .checked_sub(1)?;
        let b = &self.blocks[i];
        (v < b.addr + b.size).then_some(i)
    }
}

/// [`scan_range`] over the pages of the range that are resident: a large
/// mapping heapwise does not know (a runtime's reservation of gigabytes,
/// say) is mostly never-touched pages, which hold zeros and which reading
/// would only fault in. A page swapped out is skipped too.
///
/// # Safety
///
/// The range is readable.
unsafe fn scan_resident(
    addr: usize,
    len: usize,
    index: &Index<'_>,
    mut edge: impl FnMut(u64, u64) -> io::Result<()>,
) -> io::Result<()> {
    const PAGE: usize = 4096;
    const CHUNK: usize = 16 << 20;
    if len <= CHUNK {
        // SAFETY: the caller's contract.
        return unsafe { scan_range(addr, len, index, edge) };
    }
    let end = addr + len;
    let mut residency = vec![0u8; CHUNK / PAGE];
    let mut chunk = addr & !(PAGE - 1);
    while chunk < end {
        let chunk_end = (chunk + CHUNK).min(end);
        let pages = (chunk_end - chunk).div_ceil(PAGE);
        // SAFETY: `chunk` is page-aligned, the range is mapped (the caller's
        // contract) and `residency` has a byte per page.
        let known = unsafe {
            libc::mincore(
                chunk as *mut libc::c_void,
                chunk_end - chunk,
                residency.as_mut_ptr(),
            )
        } == 0;
        for (p, resident) in residency[..pages].iter().enumerate() {
            if known && resident & 1 == 0 {
                continue;
            }
            let from = (chunk + p * PAGE).max(addr);
            let to = (chunk + (p + 1) * PAGE).min(end);
            let base = (from - addr) as u64;
            // SAFETY: inside the caller's readable range.
            unsafe { scan_range(from, to - from, index, |off, b| edge(base + off, b))? };
        }
        chunk = chunk_end;
    }
    Ok(())
}

/// Calls `edge(offset, block)` for every aligned word of `[addr, addr +
/// len)` that points into a block.
///
/// # Safety
///
/// The range is readable.
unsafe fn scan_range(
    addr: usize,
    len: usize,
    index: &Index<'_>,
    mut edge: impl FnMut(u64, u64) -> io::Result<()>,
) -> io::Result<()> {
    let end = addr + len;
    let mut at = (addr + 7) & !7;
    while at + 8 <= end {
        // SAFETY: inside the range (the caller's contract), aligned.
        let v = unsafe { (at as *const usize).read_volatile() };
        if let Some(to) = index.find(v) {
            edge((at - addr) as u64, to as u64)?;
        }
        at += 8;
    }
    Ok(())
}
