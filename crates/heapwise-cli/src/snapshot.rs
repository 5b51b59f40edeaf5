//! `heapwise snapshot leaks|retained|why|diff`: reports over a saved
//! `.heapsnapshot` (as `heapwise_heapgraph` writes it), thin glue over
//! `heapwise_heapgraph`.
//!
//! On heapwise-heapgraph's sample snapshot (a global `Vec` of four
//! 100-byte boxes, a tree on the main thread's stack, a leaked chain and a
//! leaked cycle):
//!
//! ```text
//! $ heapwise snapshot retained sample.heapsnapshot -n 3
//! 736 bytes in 14 blocks; showing 3 of 6 sites by retained size
//!     retained       %    blocks        bytes  site
//!          432  58.70%         1           32  app::fill
//!          400  54.35%         4          400  app::make_box
//!          144  19.57%         3          144  app::Tree::new
//! leak suspects (retaining 10% of the heap or more):
//!   #10 app::fill retains 432 bytes (58.70%) in 5 blocks
//!   #20 app::Tree::new retains 144 bytes (19.57%) in 3 blocks
//!   #11 app::make_box retains 100 bytes (13.59%) in 1 block
//! $ heapwise snapshot why sample.heapsnapshot app::make_box
//! globals: app::V +0x0
//! -> #10 app::fill (32 bytes) +0x0
//! -> #11 app::make_box (100 bytes)
//! $ heapwise snapshot leaks sample.heapsnapshot | tail -5
//! Indirect leak of 40 byte(s) in 1 object(s) allocated from:
//!     #0 app::leak_cycle src/app.rs:50
//!     #1 app::main src/main.rs:3
//!
//! SUMMARY: heapwise: 152 byte(s) leaked in 5 allocation(s).
//! ```
//!
//! A site's retained bytes count each of its blocks that no other block of
//! the site dominates, so the column does not add up to the total; `%` is
//! of the heap's bytes. `why` takes `#SEQ` (a block's allocation sequence
//! number, the node id DevTools shows) or a site; each line names the
//! holder and the byte offset of its pointer to the next. `diff OLD NEW`
//! prints, per site, the bytes in NEW, their change, the change of the
//! retained bytes, and the blocks allocated and freed in between (matched
//! by sequence number), the sites that grew most first. `pprof FILE -o
//! OUT.pb.gz` writes the snapshot as a pprof profile of retained size and
//! leaks by allocation stack:
//!
//! ```text
//! $ heapwise snapshot pprof heap.heapsnapshot -o retained.pb.gz
//! $ heapwise top retained.pb.gz --sample-index direct_leak_space
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use heapwise_heapgraph::{diff, Analysis, BlockId, HeapGraph, LeakClass, Target};

use crate::units::plural;
use heapwise_pprof::printable;

/// Arguments of `heapwise snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The report.
    #[command(subcommand)]
    pub report: SnapshotReport,
}

/// The reports over a `.heapsnapshot`.
#[derive(Debug, Subcommand)]
pub enum SnapshotReport {
    /// Leaked blocks (unreachable from every root), LeakSanitizer-style:
    /// direct and indirect leaks by allocation stack, and a summary line.
    Leaks {
        /// The `.heapsnapshot`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Retained size by allocation site (without double counting), and
    /// the leak suspects (blocks retaining 10% of the heap or more).
    Retained {
        /// The `.heapsnapshot`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Show at most N sites; 0 shows all.
        #[arg(
            short = 'n',
            long = "nodecount",
            value_name = "N",
            default_value_t = 10
        )]
        nodecount: usize,
    },
    /// The shortest chain of pointers from a root to a block (`#SEQ`, its
    /// allocation sequence number) or to any block of a site (its name).
    Why {
        /// The `.heapsnapshot`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// `#SEQ` or a site's name.
        #[arg(value_name = "TARGET")]
        target: String,
    },
    /// A pprof profile by allocation stack with the sample types
    /// `inuse_*`, `retained_*`, `direct_leak_*` and `indirect_leak_*`
    /// (`retained_space` by default), for `go tool pprof` or `heapwise top`.
    Pprof {
        /// The `.heapsnapshot`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Where to write the gzipped profile (`-`: standard output).
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
    },
    /// Two snapshots of one process by site: blocks, bytes and retained
    /// bytes before and after, blocks allocated and freed in between.
    Diff {
        /// The earlier `.heapsnapshot`.
        #[arg(value_name = "OLD")]
        old: PathBuf,
        /// The later one.
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// Show at most N sites; 0 shows all.
        #[arg(
            short = 'n',
            long = "nodecount",
            value_name = "N",
            default_value_t = 10
        )]
        nodecount: usize,
    },
}

fn load(path: &Path) -> Result<HeapGraph> {
    HeapGraph::load_heapsnapshot(path).map_err(|e| anyhow!("{e}"))
}

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * part as f64 / total as f64
    }
}

fn limit(n: usize) -> usize {
    if n == 0 {
        usize::MAX
    } else {
        n
    }
}

/// Runs one report, writing it to `out`.
pub fn run_snapshot(args: &SnapshotArgs, out: &mut impl Write) -> Result<()> {
    match &args.report {
        SnapshotReport::Leaks { file } => {
            let graph = load(file)?;
            let analysis = graph.analyze();
            let report = analysis.leak_report();
            if report.is_empty() {
                writeln!(
                    out,
                    "no leaks: {}, {}, all reachable",
                    plural(graph.blocks().len(), "block"),
                    plural(graph.total_bytes() as usize, "byte")
                )?;
            } else {
                out.write_all(report.as_bytes())?;
            }
        }
        SnapshotReport::Retained { file, nodecount } => {
            let graph = load(file)?;
            retained(&graph.analyze(), *nodecount, out)?;
        }
        SnapshotReport::Why { file, target } => {
            let graph = load(file)?;
            why(&graph, target, out)?;
        }
        SnapshotReport::Pprof { file, output } => {
            let bytes = load(file)?.analyze().to_pprof().encode_gzip();
            if output.as_os_str() == "-" {
                out.write_all(&bytes)?;
            } else {
                crate::output::write_file(output, &bytes, &[file])?;
            }
        }
        SnapshotReport::Diff {
            old,
            new,
            nodecount,
        } => {
            let (a, b) = (load(old)?, load(new)?);
            // Sequence numbers grow with every allocation: an OLD holding
            // a block newer than all of NEW's was taken later (or comes
            // from another process).
            let newest = |g: &HeapGraph| g.blocks().iter().map(|b| b.seq).max();
            if let (Some(o), Some(n)) = (newest(&a), newest(&b)) {
                if o > n {
                    eprintln!(
                        "heapwise: warning: {} holds block #{o}, allocated after every block of {} \
                         (the newest is #{n}): diff takes the earlier snapshot first",
                        old.display(),
                        new.display()
                    );
                }
            }
            let rows = diff(&a.analyze(), &b.analyze());
            writeln!(
                out,
                "{:>12} {:>12} {:>14} {:>9} {:>9}  site",
                "bytes", "delta", "retained delta", "new", "freed"
            )?;
            for r in rows.iter().take(limit(*nodecount)) {
                writeln!(
                    out,
                    "{:>12} {:>+12} {:>+14} {:>9} {:>9}  {}",
                    r.after.bytes,
                    r.bytes_delta(),
                    i128::from(r.after.retained_bytes) - i128::from(r.before.retained_bytes),
                    r.new_blocks,
                    r.freed_blocks,
                    printable(&r.site.to_string())
                )?;
            }
        }
    }
    Ok(())
}

/// Leaks by site, one line per class and site ("Direct leak of B byte(s)
/// in N object(s) allocated from SITE"), then LeakSanitizer's summary line.
pub(crate) fn leak_summary(analysis: &Analysis<'_>, out: &mut impl Write) -> Result<()> {
    let (mut bytes, mut blocks) = (0, 0);
    for site in analysis.leaks_by_site() {
        for (kind, n, b) in [
            ("Direct", site.direct_blocks, site.direct_bytes),
            ("Indirect", site.indirect_blocks, site.indirect_bytes),
        ] {
            if n > 0 {
                writeln!(
                    out,
                    "{kind} leak of {b} byte(s) in {n} object(s) allocated from {}",
                    printable(&site.site.to_string())
                )?;
            }
        }
        bytes += site.direct_bytes + site.indirect_bytes;
        blocks += site.direct_blocks + site.indirect_blocks;
    }
    writeln!(
        out,
        "SUMMARY: heapwise: {bytes} byte(s) leaked in {blocks} allocation(s)."
    )?;
    Ok(())
}

pub(crate) fn retained(
    analysis: &Analysis<'_>,
    nodecount: usize,
    out: &mut impl Write,
) -> Result<()> {
    let graph = analysis.graph();
    let total = graph.total_bytes();
    let sites = analysis.retained_by_site();
    writeln!(
        out,
        "{} in {}; showing {} of {} sites by retained size",
        plural(total as usize, "byte"),
        plural(graph.blocks().len(), "block"),
        sites.len().min(limit(nodecount)),
        sites.len()
    )?;
    writeln!(
        out,
        "{:>12} {:>7} {:>9} {:>12}  site",
        "retained", "%", "blocks", "bytes"
    )?;
    for s in sites.iter().take(limit(nodecount)) {
        writeln!(
            out,
            "{:>12} {:>6.2}% {:>9} {:>12}  {}",
            s.retained_bytes,
            percent(s.retained_bytes, total),
            s.blocks,
            s.bytes,
            printable(graph.site_name(s.site))
        )?;
    }
    let suspects = analysis.suspects();
    if !suspects.is_empty() {
        writeln!(out, "leak suspects (retaining 10% of the heap or more):")?;
        for s in suspects.iter().take(limit(nodecount)) {
            let block = graph.block(s.block);
            writeln!(
                out,
                "  #{} {} retains {} ({:.2}%) in {}",
                block.seq,
                printable(graph.site_name(graph.block_site(s.block))),
                plural(s.retained_bytes as usize, "byte"),
                percent(s.retained_bytes, total),
                plural(s.retained_blocks as usize, "block")
            )?;
        }
    }
    Ok(())
}

fn why(graph: &HeapGraph, target: &str, out: &mut impl Write) -> Result<()> {
    let t = match target.strip_prefix('#') {
        Some(seq) => {
            let seq: u64 = seq
                .parse()
                .map_err(|_| anyhow!("{target:?} is not #SEQ (a sequence number)"))?;
            let b = graph
                .block_by_seq(seq)
                .ok_or_else(|| anyhow!("no block has sequence number {seq}"))?;
            Target::Block(b)
        }
        None => {
            let site = graph
                .site_by_name(target)
                .filter(|&s| {
                    (0..graph.blocks().len()).any(|i| graph.block_site(BlockId(i as u32)) == s)
                })
                .ok_or_else(|| anyhow!("no live block was allocated at site {target:?}"))?;
            Target::Site(site)
        }
    };
    match graph.why_alive(t) {
        Some(path) => write!(out, "{}", path.display(graph))?,
        None => {
            let analysis = graph.analyze();
            let class = |b: BlockId| match analysis.leak_class(b) {
                LeakClass::Direct => "a direct leak",
                LeakClass::Indirect => "an indirect leak",
                LeakClass::Reachable => "reachable",
            };
            match t {
                Target::Block(b) => bail!(
                    "{target} is not reachable from any root: it is {}",
                    class(b)
                ),
                Target::Site(_) => {
                    bail!("no block of {target:?} is reachable from a root: all are leaked")
                }
            }
        }
    }
    Ok(())
}
