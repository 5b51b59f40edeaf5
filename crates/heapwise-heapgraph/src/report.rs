//! A LeakSanitizer-style text report of the leaks.

use std::fmt::Write;

use crate::analysis::Analysis;
use crate::leaks::LeakClass;
use crate::model::BlockId;
use crate::site::is_allocator_frame;
use heapwise_pprof::printable;

impl Analysis<'_> {
    /// The leaks as LeakSanitizer prints them: one paragraph per
    /// allocation stack and class (direct first, then most bytes), the
    /// stack from its site outwards, then a summary line; empty if nothing
    /// leaked.
    ///
    /// ```text
    /// Direct leak of 40 byte(s) in 1 object(s) allocated from:
    ///     #0 app::leak_cycle src/app.rs:50
    ///     #1 app::main src/main.rs:3
    ///
    /// SUMMARY: heapwise: 152 byte(s) leaked in 5 allocation(s).
    /// ```
    pub fn leak_report(&self) -> String {
        self.leak_report_of(|_| true)
    }

    /// [`leak_report`](Analysis::leak_report) of the leaked blocks for
    /// which `keep` is true only (e.g. those another snapshot also found
    /// leaked).
    pub fn leak_report_of(&self, keep: impl Fn(BlockId) -> bool) -> String {
        let graph = self.graph();
        // (direct?, stack) -> (bytes, blocks)
        let mut groups = std::collections::BTreeMap::<(bool, u32), (u64, u64)>::new();
        let (mut bytes, mut blocks) = (0, 0);
        for (i, b) in graph.blocks().iter().enumerate() {
            let direct = match self.leak_classes()[i] {
                _ if !keep(BlockId(i as u32)) => continue,
                LeakClass::Reachable => continue,
                LeakClass::Direct => true,
                LeakClass::Indirect => false,
            };
            let g = groups.entry((direct, b.stack.0)).or_default();
            g.0 += b.size;
            g.1 += 1;
            bytes += b.size;
            blocks += 1;
        }
        // Stacks that print alike (distinct return addresses on one line,
        // say) are one entry, as a reader of the file sees them.
        let mut merged = std::collections::BTreeMap::<(bool, String), (u64, u64)>::new();
        for ((direct, stack), (b, n)) in groups {
            let g = merged
                .entry((direct, stack_text(graph, stack)))
                .or_default();
            g.0 += b;
            g.1 += n;
        }
        let mut groups: Vec<_> = merged.into_iter().collect();
        groups.sort_by(|a, b| (b.0 .0, b.1 .0, &a.0 .1).cmp(&(a.0 .0, a.1 .0, &b.0 .1)));
        let mut out = String::new();
        for ((direct, text), (b, n)) in groups {
            let kind = if direct { "Direct" } else { "Indirect" };
            let _ = writeln!(
                out,
                "{kind} leak of {b} byte(s) in {n} object(s) allocated from:"
            );
            out.push_str(&text);
            out.push('\n');
        }
        if blocks > 0 {
            let _ = writeln!(
                out,
                "SUMMARY: heapwise: {bytes} byte(s) leaked in {blocks} allocation(s)."
            );
        }
        out
    }
}

/// The frames of `stack` as a leak report prints them, from the first
/// outside the allocator, a line each.
fn stack_text(graph: &crate::HeapGraph, stack: u32) -> String {
    let frames = graph.stack(crate::StackId(stack));
    let from = frames
        .iter()
        .position(|f| !is_allocator_frame(&f.function))
        .unwrap_or(0);
    let mut out = String::new();
    if frames.is_empty() {
        let _ = writeln!(out, "    #0 {}", crate::UNKNOWN_SITE);
    }
    for (i, f) in frames[from..].iter().enumerate() {
        // Names from a file: escaped (`heapwise_pprof::printable`).
        let _ = write!(out, "    #{i} {}", printable(&f.function));
        if !f.file.is_empty() {
            let _ = write!(out, " {}:{}", printable(&f.file), f.line);
        }
        out.push('\n');
    }
    out
}
