//! Heap snapshots: every live block, what points to what, leaks, dominators
//! and retained size, Chrome DevTools' `.heapsnapshot`.
//!
//! Start the process with `HEAPWISE_SNAPSHOT=1`: every allocation is then
//! recorded with its stack (full mode, as `HEAPWISE_PROFILE_RATE=1`), and
//! each block carries its size and allocation sequence number, so the live
//! blocks can be listed. [`take`] then freezes a copy of the process and
//! finds, conservatively as LeakSanitizer does, every aligned word of the
//! roots (globals, thread stacks from their stack pointers, saved
//! registers, memory heapwise does not track) and of the blocks that points
//! into a block. The [`Snapshot`] holds the graph
//! ([`heapwise_heapgraph::HeapGraph`], re-exported as [`graph`]) and
//! analyses it.
//!
//! ```no_run
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! // HEAPWISE_SNAPSHOT=1 cargo run
//! let snapshot = heapwise::snapshot::take()?;
//! let analysis = snapshot.analyze();
//! eprint!("{}", analysis.leak_report()); // LeakSanitizer's format
//! for site in analysis.retained_by_site().iter().take(5) {
//!     let name = snapshot.graph().site_name(site.site);
//!     println!("{:>10} retained by {name}", site.retained_bytes);
//! }
//! snapshot.save("heap.heapsnapshot")?; // Chrome DevTools, Memory tab, Load
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `heapwise snapshot leaks|retained|why|diff FILE` reads the saved file;
//! `HEAPWISE_SNAPSHOT_AT_EXIT=PATH` saves one when the process exits (`%p`
//! in PATH is the process id).
//! With `HEAPWISE_LEAK_CHECK=1` (and `HEAPWISE_SNAPSHOT=1`) the process
//! checks for leaks when it exits, and, finding direct leaks, prints the
//! report on stderr and exits with status 23 (LeakSanitizer's).
//! [`assert_no_leaks`] does the same in a test. Both report only what two
//! snapshots in a row find leaked (the second is taken only after the
//! first found some): a block another thread allocated while the snapshot
//! was being taken can look leaked in one (`threads.rs` says why), never
//! in two. A single snapshot ([`take`], [`Snapshot::analyze`]) of a
//! process whose other threads are busy allocating can show such blocks.
//!
//! # What the program sees
//!
//! The snapshot is taken in a forked child (`capture.rs` says why); the
//! program pauses for the registers' signal round trip and the `fork`
//! ([`Snapshot::pause`]); the calling thread waits for the scan. Other
//! threads' registers are caught with a signal (`SIGRTMAX - 3`, see
//! `threads.rs`); blocks allocated before the process started snapshot
//! mode, or by heapwise itself, are not in the snapshot, nor are those
//! allocated after the program changed the rate away from 1
//! ([`profile::set_rate`](crate::profile::set_rate)). Linux only.
//!
//! Memory from the C library's `malloc` that heapwise did not hand out
//! (what code allocates with [`std::alloc::System`] directly, C code's
//! blocks) is not scanned, as LeakSanitizer scans no heap: a block only
//! such memory points to is reported leaked. heapwise keeps its own
//! memory, scope names included, out of the graph. std keeps each thread's
//! handle in `System` memory: the thread names it holds get a root of their
//! own, `std's thread handles`.
//!
//! # Module map
//!
//! | file | what it holds |
//! |---|---|
//! | `capture.rs` | the fork, the pipe, the child's exit |
//! | `threads.rs` | other threads' registers, by signal |
//! | `scan.rs` | blocks from the carry bitmap, roots from the memory map, edges |
//! | `globals.rs` | the data symbols that name globals holding pointers |
//! | `wire.rs` | what the child sends the parent |
//! | `error.rs` | [`Error`], [`ErrorKind`] |
//! | `leak_check.rs` | `HEAPWISE_LEAK_CHECK` and [`assert_no_leaks`] |

mod capture;
mod error;
mod globals;
pub(crate) mod leak_check;
mod scan;
mod threads;
mod wire;

pub use error::{Error, ErrorKind};
pub use heapwise_heapgraph as graph;
pub use leak_check::{assert_no_leaks, LEAK_EXIT_CODE};

use crate::local::without_accounting;
use crate::profile::{depot, trailer, Resolved};
use heapwise_heapgraph::{
    Analysis, Block, BlockId, Blocks, Edge, Frame, HeapGraph, Holder, Root, RootId, RootKind,
    StackId,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

/// A heap snapshot: the graph of live blocks and roots. See the module docs.
#[derive(Debug)]
pub struct Snapshot {
    graph: Option<HeapGraph>,
    pause: Duration,
    threads: usize,
    missed: usize,
    note: Option<String>,
}

/// Is every live block tracked (did the process start with
/// `HEAPWISE_SNAPSHOT=1` and heapwise as its allocator)?
pub fn enabled() -> bool {
    // Wide trailers from the start, and a block that carries one (heapwise
    // is the allocator: `heapwise::Alloc`, or the preload of `heapwise run`),
    // or the preload, which is the allocator before any block (a program
    // that never calls `malloc` has an empty heap, not an untracked one).
    trailer::wide() && (trailer::opened() || PRELOADED.load(Relaxed))
}

/// Set as `heapwise run`'s preload loads: it is every block's allocator.
static PRELOADED: AtomicBool = AtomicBool::new(false);

/// Called by `heapwise run`'s preload as it loads. Not for programs.
/// The preload is the process's allocator from then on, whether or not the
/// program ever calls it: its profiles carry the process totals, zeros in
/// a program that never allocates (whose report then says so).
#[doc(hidden)]
pub fn __preload_loaded() {
    PRELOADED.store(true, Relaxed);
    crate::local::process::mark_installed(false, "heapwise_preload::");
}

/// Takes a snapshot of the heap. Errors name the missing setting when the
/// process was not started with `HEAPWISE_SNAPSHOT=1`.
#[inline(never)]
pub fn take() -> Result<Snapshot, Error> {
    if !cfg!(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "heap snapshots are taken on Linux (x86_64, aarch64) only",
        ));
    }
    if !enabled() {
        return Err(Error::new(
            ErrorKind::NotTracking,
            "not every live block is tracked: start the process with HEAPWISE_SNAPSHOT=1 (and heapwise::Alloc as its global allocator)",
        ));
    }
    // One snapshot at a time: the threads' answer slots are shared.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // This frame's address: the stack is scanned from here up, above every
    // frame the scanning child will use.
    let marker = 0u8;
    let sp = std::hint::black_box(&marker as *const u8 as usize) & !7;
    without_accounting(|| {
        let c = capture::capture(sp, |pipe| {
            read_graph(pipe)
                .map_err(|e| Error::new(ErrorKind::Scan, format!("reading the heap scan: {e}")))
        })?;
        Ok(Snapshot {
            graph: Some(c.made.with_addresses()?),
            pause: c.pause,
            threads: c.threads,
            missed: c.missed,
            note: c.note,
        })
    })
}

/// Builds the graph from the child's output as it comes (`wire.rs`): the
/// blocks, named by their buckets' stacks, the roots, then the edges
/// straight into the graph's rows.
fn read_graph(pipe: impl std::io::Read) -> std::io::Result<HeapGraph> {
    let mut r = wire::Reader::new(pipe)?;
    // Stacks by bucket, for the buckets the depot knows (a trailer the
    // program overwrote names no bucket, and gets the unknown stack 0).
    let buckets: HashMap<usize, u32> = depot::lock().bucket_stacks().into_iter().collect();
    let mut stack_ids: HashMap<u32, StackId> = HashMap::new();
    let mut stack_list: Vec<u32> = Vec::new();
    let mut blocks = Blocks::new();
    r.blocks(|n, b| {
        if blocks.is_empty() {
            blocks.reserve(n);
        }
        let stack = match buckets.get(&b.bucket) {
            Some(&s) => *stack_ids.entry(s).or_insert_with(|| {
                stack_list.push(s);
                StackId(stack_list.len() as u32)
            }),
            None => StackId(0),
        };
        blocks.push(Block {
            addr: b.addr,
            size: b.size,
            seq: b.seq,
            stack,
        });
    })?;
    drop((buckets, stack_ids));
    let mut roots: Vec<Root> = r
        .roots()?
        .into_iter()
        .map(|r| Root::new(r.kind, r.name, r.addr as u64, r.len as u64))
        .collect();
    let stacks = symbolize(&stack_list);
    // What no scan sees holding them (std's thread handles, the loader's
    // thread-local storage): a root of their own each, after the scanned
    // ones, pointing to them.
    let mut held: Vec<(RootId, Vec<u32>)> = Vec::new();
    for (name, blocks) in [
        (THREAD_HANDLES, held_by(&blocks, &stacks, is_thread_name)),
        (LOADER_TLS, held_by(&blocks, &stacks, is_loader_tls)),
    ] {
        if !blocks.is_empty() {
            roots.push(Root::new(
                RootKind::UnknownMemory,
                name,
                0,
                blocks.len() as u64 * 8,
            ));
            held.push((RootId(roots.len() as u32 - 1), blocks));
        }
    }
    let invalid = |e: heapwise_heapgraph::Error| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
    };
    let mut graph = HeapGraph::grouped(blocks, roots, stacks).map_err(invalid)?;
    // Edges come in holder order, roots first: those roots' go after the
    // scanned roots', before the blocks'.
    let mut add_handles = |graph: &mut heapwise_heapgraph::GroupedEdges| -> std::io::Result<()> {
        for (root, blocks) in std::mem::take(&mut held) {
            for (i, &b) in blocks.iter().enumerate() {
                graph
                    .edge(Edge {
                        from: Holder::Root(root),
                        offset: i as u64 * 8,
                        to: BlockId(b),
                    })
                    .map_err(invalid)?;
            }
        }
        Ok(())
    };
    r.edges(|e| {
        if e.from_block {
            add_handles(&mut graph)?;
        }
        graph
            .edge(Edge {
                from: if e.from_block {
                    Holder::Block(BlockId(e.holder as u32))
                } else {
                    Holder::Root(RootId(e.holder as u32))
                },
                offset: e.offset,
                to: BlockId(e.to as u32),
            })
            .map_err(invalid)
    })?;
    add_handles(&mut graph)?;
    Ok(graph.finish())
}

/// The name of the root that stands for std's thread handles.
const THREAD_HANDLES: &str = "std's thread handles (memory from System, not scanned)";

/// The name of the root that stands for the dynamic loader's
/// thread-local storage.
const LOADER_TLS: &str = "the dynamic loader's thread-local storage (not scanned)";

/// The blocks whose stack `holds` says they are held where no scan looks.
fn held_by(blocks: &Blocks, stacks: &[Vec<Frame>], holds: fn(&[Frame]) -> bool) -> Vec<u32> {
    let held: Vec<bool> = stacks.iter().map(|s| holds(s)).collect();
    if !held.contains(&true) {
        return Vec::new();
    }
    blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| held.get(b.stack.0 as usize) == Some(&true))
        .map(|(i, _)| i as u32)
        .collect()
}

/// A block that holds a thread's name. std keeps a thread's name in its
/// handle, which it allocates with the `System` allocator, bypassing
/// heapwise: no scan sees what holds the name (`scan.rs`: the C library's
/// heap is no root), so without this a named thread's name would be
/// reported leaked whenever no stale copy of its address happened to lie in
/// scanned memory (one libtest child in a few, with a test's name). They
/// get a root of their own, [`THREAD_HANDLES`]; every reader of the graph
/// (leak checks, `why`, DevTools) sees them held by it.
fn is_thread_name(stack: &[Frame]) -> bool {
    stack
        .iter()
        .take(4)
        .any(|f| f.function.contains("ThreadNameString"))
}

/// A block of the dynamic loader's thread-local storage: a thread's DTV
/// (`allocate_dtv`, from `pthread_create`) or a dynamic TLS block. The
/// loader keeps them in the thread's control block, which for an exited
/// thread lies in a stack the C library caches and the scan skips
/// (`scan.rs`): a joined thread's DTV read as a leak of 288 bytes.
/// LeakSanitizer holds every block the loader allocates live, too.
fn is_loader_tls(stack: &[Frame]) -> bool {
    stack.iter().take(4).any(|f| {
        matches!(
            f.function.as_str(),
            "allocate_dtv"
                | "_dl_allocate_tls"
                | "_dl_resize_dtv"
                | "_dl_update_slotinfo"
                | "tls_get_addr_tail"
                | "__tls_get_addr"
                | "allocate_and_init"
        )
    })
}

/// The frames of the depot's stacks `list` (stack 0 of the result is the
/// unknown stack, empty; stack `i + 1` is `list[i]`'s), innermost first,
/// from the first frame outside the allocator.
fn symbolize(list: &[u32]) -> Vec<Vec<Frame>> {
    let (frames, ranges) = depot::lock().snapshot_stacks();
    let pcs_of = |s: u32| -> &[usize] {
        ranges
            .get(s as usize)
            .and_then(|&(start, len)| frames.get(start as usize..(start + len) as usize))
            .unwrap_or(&[])
    };
    let all: Vec<usize> = list
        .iter()
        .flat_map(|&s| pcs_of(s).iter().copied())
        .collect();
    let resolved = Resolved::new(&all, true);
    let mut stacks: Vec<Vec<Frame>> = vec![Vec::new()];
    for &s in list {
        let mut out = Vec::new();
        for &ret in pcs_of(s) {
            let lines = resolved.lines(ret);
            if lines.is_empty() {
                out.push(Frame::new(format!("{:#x}", ret.wrapping_sub(1)), "", 0));
            }
            for l in lines {
                out.push(Frame::new(l.function.clone(), l.file.clone(), l.line));
            }
        }
        // The allocator's own frames at the leaf (heapwise's, `alloc::`'s),
        // as every heapwise output trims them.
        if let Some(first) = out
            .iter()
            .position(|f| !heapwise_pprof::is_allocator_frame(&f.function))
        {
            out.drain(..first);
        }
        stacks.push(out);
    }
    stacks
}

impl Snapshot {
    /// The graph: blocks, roots, edges, stacks.
    pub fn graph(&self) -> &HeapGraph {
        self.graph.as_ref().expect("present until dropped")
    }

    /// Leaks, dominators, retained sizes (see [`Analysis`]).
    pub fn analyze(&self) -> Analysis<'_> {
        self.graph().analyze()
    }

    /// Saves the snapshot as Chrome DevTools' `.heapsnapshot`. It analyses
    /// the graph first, as [`analyze`](Snapshot::analyze) does (1.3 s and
    /// about 17 bytes a block for 14 M blocks): with an [`Analysis`] at
    /// hand, [`Analysis::save_heapsnapshot`] saves without a second one.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        without_accounting(|| self.analyze().save_heapsnapshot(path)).map_err(Error::from)
    }

    /// Writes the snapshot as Chrome DevTools' `.heapsnapshot` to `w`.
    pub fn write(&self, w: impl std::io::Write) -> Result<(), Error> {
        without_accounting(|| self.analyze().write_heapsnapshot(w)).map_err(Error::from)
    }

    /// A pprof profile by allocation stack: in-use, retained and leaked
    /// objects and bytes (`retained_space` by default); see
    /// [`Analysis::to_pprof`].
    pub fn to_pprof(&self) -> heapwise_pprof::Profile {
        without_accounting(|| self.analyze().to_pprof())
    }

    /// How long the program was paused: the other threads' registers were
    /// caught and the process forked.
    pub fn pause(&self) -> Duration {
        self.pause
    }

    /// Threads whose registers and stacks were taken (this one included),
    /// and those that did not answer (their stacks were scanned whole).
    pub fn threads(&self) -> (usize, usize) {
        (self.threads, self.missed)
    }

    /// Why other threads' registers were not taken, if they were not.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // Made behind the guard, as heapwise's own memory: freed there too.
        let graph = self.graph.take();
        without_accounting(move || drop(graph));
    }
}
