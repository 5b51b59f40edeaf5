//! `heapwise animate`: a garbage collector's tri-colour mark phase,
//! replayed over a heap snapshot's object graph in a web page.
//!
//! ```text
//! $ heapwise animate sample.heapsnapshot -o mark.html      # open mark.html in a browser
//! $ heapwise animate big.heapsnapshot -o mark.html --max-nodes 500
//! ```
//!
//! The page (one self-contained HTML file: inline script and style, no
//! network) draws the GC roots in the first column, the heap blocks in
//! columns by breadth-first depth from the roots, and the blocks no root
//! reaches in columns of their own at the right; each block is labelled
//! with its allocation site, and its tooltip gives its sequence number,
//! size, retained size and leak class. Every block starts white. The
//! first step scans the roots: the blocks they point to turn grey and join
//! a work queue, shown under the controls. Each further step pops the
//! queue's oldest block, greys the white blocks it points to (queueing
//! them), and blackens it. When the queue is empty the mark is done and
//! the blocks still white are exactly the leaked ones (LeakSanitizer's
//! direct and indirect leaks, as `heapwise snapshot leaks` reports them).
//!
//! Controls: Step, Play/Pause, a speed slider (1 to 100 steps a second)
//! and Reset; counters of white, grey and black blocks, the queue's
//! length, and the step number of the total. `mark.html?autoplay` starts
//! playing on load; `?autoplay=fast` runs every step at once and writes
//! each frame's colours to a hidden `#heapwise-result` element (what the
//! browser test reads); `window.__heapwise` has `step()`, `runToEnd()`,
//! `reset()` and `colours()` for scripting.
//!
//! The mark order is computed here, in Rust (`steps.rs`): breadth-first
//! from the roots in root order, each holder's pointers in offset order.
//! The page only replays it. A heap of more than `--max-nodes` (default
//! 300, at most 10,000) blocks is cut to a readable subgraph (`subgraph.rs`): the first
//! blocks the mark reaches, so the steps shown are the start of the real
//! mark, plus leaked blocks breadth-first from the direct leaks, each
//! kind at least half the budget if it has that many; the page says how
//! many of each it shows. The layout (`layout.rs`) and the page (`page.rs`,
//! where the escaping is) are deterministic: the same snapshot gives the
//! same file.

mod layout;
mod page;
mod steps;
mod subgraph;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;
use heapwise_heapgraph::HeapGraph;

use crate::output::{finish, stdout, write_file};

/// The most `--max-nodes`: a page of a million nodes took 5 GB to make
/// (and no browser draws it readably: the default is 300).
const MAX_NODES: i64 = 10_000;

/// Arguments of `heapwise animate`.
#[derive(Debug, Args)]
pub struct AnimateArgs {
    /// The `.heapsnapshot`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the page; `-` is standard output.
    #[arg(short, long, value_name = "OUT.html")]
    pub output: PathBuf,
    /// Animate at most N blocks (and N roots), N up to 10000: a larger heap
    /// is cut to the first blocks the mark reaches and some of the leaked
    /// ones, and the page says so.
    #[arg(long, value_name = "N", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..=MAX_NODES))]
    pub max_nodes: u32,
}

/// The page animating the mark over `graph` (at most `max_nodes` blocks),
/// titled with `title` (the snapshot's file name).
pub fn animate_page(graph: &HeapGraph, max_nodes: usize, title: &str) -> String {
    let analysis = graph.analyze();
    let sub = subgraph::Subgraph::select(&analysis, max_nodes);
    let steps = steps::mark(graph, &sub);
    let layout = layout::layout(graph, &sub, &steps);
    page::render(&analysis, &sub, &steps, &layout, title)
}

/// Runs `heapwise animate`: reads the snapshot, writes the page.
pub fn run_animate(args: &AnimateArgs) -> Result<()> {
    let graph = HeapGraph::load_heapsnapshot(&args.file).map_err(|e| anyhow!("{e}"))?;
    let title = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let html = animate_page(&graph, args.max_nodes as usize, &title);
    if args.output.as_os_str() == "-" {
        let mut out = stdout();
        out.write_all(html.as_bytes())?;
        return finish(out);
    }
    write_file(&args.output, html.as_bytes(), &[&args.file])
}
