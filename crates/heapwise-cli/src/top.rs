//! The flat and cumulative table of `heapwise top`, as `go tool pprof -top`
//! computes it.
//!
//! # What the columns mean
//!
//! For the chosen sample type (say `inuse_space`), each row is a function
//! and:
//!
//! - **flat** is the sum of the samples whose **leaf** frame is in that
//!   function: memory it allocated itself.
//! - **cum** (cumulative) is the sum of the samples in which the function
//!   appears **anywhere** on the stack, each sample counted once even if
//!   the function recurses: memory allocated by it and everything it
//!   called.
//! - **flat%** and **cum%** are those as a share of the profile's total,
//!   the sum of the absolute values of all samples (so a diff against a
//!   base, where values can be negative, still has a meaningful total).
//! - **sum%** is the running total of flat% down the table: the first rows
//!   together account for that much.
//!
//! A frame is each line of each location, so a function inlined into
//! another is a row of its own, marked `(inline)`, or `(partial-inline)` if
//! it was also called without inlining. Like pprof, the marks are judged
//! on the calls between the rows shown, and only calls that carry at least
//! 0.1% of the total count (pprof's default `-edgefraction`).
//!
//! Functions whose flat and cum are both zero are left out. Rows are
//! sorted by the magnitude of flat, then by name, then by the magnitude of
//! cum: pprof's order, so that the two tools list (and, with `-n`, keep)
//! the same rows in the same order.
//!
//! With a focus pattern only the samples with at least one frame whose
//! function name matches are counted (pprof's `-focus` also matches file
//! and binary names); percentages stay relative to the whole profile's
//! total, as in pprof.
//!
//! The table prints every value in one unit, chosen from its smallest
//! entry (see [`ValueFormat::for_table`]), and the header line says what
//! the rows shown add up to:
//!
//! ```text
//! Showing nodes accounting for 2458.85kB, 99.94% of 2460.32kB total
//! Showing top 3 nodes out of 14
//! ```
//!
//! # Agreement with pprof
//!
//! The text from the `Showing nodes` line on is what `go tool pprof -top`
//! prints with `-nodefraction=0` (without it pprof also hides the rows
//! whose cum is under 0.5% of the total and says `Dropped N nodes`;
//! heapwise keeps them and cuts only at `-n`): the same values, units,
//! percentages, labels and row order. pprof's file, build id and time
//! lines are not printed. The integration tests compare the two on a heap
//! profile written by Go, on a profile with inlined frames and recursion,
//! with `-focus`, `-nodecount` and `-base`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};

use anyhow::Result;
use heapwise_pprof::printable;
use heapwise_pprof::Profile;
use regex::Regex;
use serde_json::{json, Value};

use crate::frames::FrameTable;
use crate::sample_index::{SampleIndex, SampleType};
use crate::units::{percentage, ValueFormat};

/// pprof's default `-edgefraction`: call edges carrying less than this
/// share of the total do not count towards the `(inline)` labels.
const EDGE_FRACTION: f64 = 0.001;

/// What [`top_report`] computes.
#[derive(Debug, Clone)]
pub struct TopOptions {
    /// Which value of each sample to add up.
    pub sample_index: SampleIndex,
    /// The most rows to keep; 0 keeps all. Default 10.
    pub max_rows: usize,
    /// Count only samples with a frame whose function name matches.
    pub focus: Option<Regex>,
}

impl Default for TopOptions {
    fn default() -> Self {
        TopOptions {
            sample_index: SampleIndex::Default,
            max_rows: 10,
            focus: None,
        }
    }
}

/// Whether a function was inlined into its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inlining {
    /// Always called as a real function (or only a root).
    No,
    /// Always inlined into its callers: `(inline)`.
    Inline,
    /// Inlined into some callers, called from others: `(partial-inline)`.
    Partial,
}

impl Inlining {
    /// pprof's label: `""`, `"(inline)"` or `"(partial-inline)"`.
    pub fn label(self) -> &'static str {
        match self {
            Inlining::No => "",
            Inlining::Inline => "(inline)",
            Inlining::Partial => "(partial-inline)",
        }
    }
}

/// One function's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    /// The function name.
    pub name: String,
    /// Sum of the samples whose leaf is this function.
    pub flat: i64,
    /// Sum of the samples with this function anywhere on the stack.
    pub cum: i64,
    /// Whether it was inlined.
    pub inlining: Inlining,
}

/// The result of [`top_report`]: print it with `Display` (pprof's text
/// layout), [`TopReport::write_text`] or [`TopReport::to_json`].
#[derive(Debug, Clone)]
pub struct TopReport {
    /// The sample type reported.
    pub sample_type: SampleType,
    /// Sum of the absolute values of all samples, before any focus.
    pub total: i64,
    /// The focus pattern, if any.
    pub focus: Option<String>,
    /// Number of functions with a nonzero flat or cum.
    pub node_count: usize,
    /// The rows kept, in order.
    pub rows: Vec<TopRow>,
    /// Sum of the samples counted that have no frames (no row shows them).
    pub stackless: i64,
}

/// Computes the flat and cum of every function of `profile` (see the
/// [module docs](self) for the exact rules) and keeps the top
/// `options.max_rows`.
///
/// ```
/// use heapwise_cli::top::{top_report, TopOptions};
/// use heapwise_pprof::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new();
/// b.sample_type("alloc_space", "bytes");
/// let parse = b.frame("app::parse", "src/parse.rs", 10);
/// let main = b.frame("app::main", "src/main.rs", 3);
/// b.sample(&[parse, main], &[3 << 20], &[]);
/// b.sample(&[main], &[1 << 20], &[]);
/// let report = top_report(&b.build(), &TopOptions::default())?;
///
/// assert_eq!(report.rows[0].name, "app::parse");
/// assert_eq!((report.rows[0].flat, report.rows[0].cum), (3 << 20, 3 << 20));
/// assert_eq!((report.rows[1].flat, report.rows[1].cum), (1 << 20, 4 << 20));
/// assert!(report.to_string().contains("Showing nodes accounting for 4MB, 100% of 4MB total"));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn top_report(profile: &Profile, options: &TopOptions) -> Result<TopReport> {
    let sample_type = options.sample_index.resolve(profile)?;
    let index = sample_type.index;
    let value = |s: &heapwise_pprof::Sample| s.value.get(index).copied().unwrap_or(0);
    let total = profile
        .sample
        .iter()
        .fold(0i64, |acc, s| acc.saturating_add(value(s).saturating_abs()));

    let table = FrameTable::new(profile)?;
    let n = table.names().len();
    let focused: Option<Vec<bool>> = options
        .focus
        .as_ref()
        .map(|re| table.names().iter().map(|name| re.is_match(name)).collect());

    // Pass 1: flat and cum of every function, over the samples counted.
    let mut flat = vec![0i64; n];
    let mut cum = vec![0i64; n];
    let mut seen_in = vec![usize::MAX; n];
    let mut counted = Vec::new();
    let mut flat_sum = 0i64;
    let mut stackless = 0i64;
    let mut stack = Vec::new();
    for (sample_no, sample) in profile.sample.iter().enumerate() {
        let v = value(sample);
        if v == 0 {
            continue;
        }
        table.stack_into(sample, &mut stack);
        let Some(leaf) = stack.first() else {
            if focused.is_none() {
                stackless = stackless.saturating_add(v);
            }
            continue;
        };
        if let Some(focused) = &focused {
            if !stack.iter().any(|f| focused[f.name]) {
                continue;
            }
        }
        counted.push((sample_no, v));
        flat[leaf.name] = flat[leaf.name].saturating_add(v);
        flat_sum = flat_sum.saturating_add(v);
        for frame in &stack {
            if seen_in[frame.name] != sample_no {
                seen_in[frame.name] = sample_no;
                cum[frame.name] = cum[frame.name].saturating_add(v);
            }
        }
    }

    let mut kept: Vec<usize> = (0..n).filter(|&i| flat[i] != 0 || cum[i] != 0).collect();
    kept.sort_by(|&a, &b| {
        flat[b]
            .unsigned_abs()
            .cmp(&flat[a].unsigned_abs())
            .then_with(|| table.name(a).cmp(table.name(b)))
            .then_with(|| cum[b].unsigned_abs().cmp(&cum[a].unsigned_abs()))
    });
    let node_count = kept.len();
    if options.max_rows > 0 {
        kept.truncate(options.max_rows);
    }

    // Pass 2: the (inline) labels, from the call edges between the rows
    // kept, as pprof draws them once it has dropped the other rows.
    let mut is_kept = vec![false; n];
    for &i in &kept {
        is_kept[i] = true;
    }
    let edge_cutoff = (flat_sum as f64 * EDGE_FRACTION).abs() as i64;
    let inlining = inlining(profile, &table, &counted, &is_kept, edge_cutoff);

    let rows = kept
        .into_iter()
        .map(|i| TopRow {
            name: table.name(i).to_owned(),
            flat: flat[i],
            cum: cum[i],
            inlining: inlining[i],
        })
        .collect();
    Ok(TopReport {
        sample_type,
        total,
        focus: options.focus.as_ref().map(|re| re.as_str().to_owned()),
        node_count,
        rows,
        stackless,
    })
}

/// Whether each function was inlined into its callers, judged by its
/// incoming call edges as pprof does: an edge runs from the nearest kept
/// caller frame to a kept frame, is inline if the callee frame was inlined
/// every time the edge occurred, and counts only if its weight (the sum of
/// the samples it occurs in) reaches `edge_cutoff`.
fn inlining(
    profile: &Profile,
    table: &FrameTable,
    counted: &[(usize, i64)],
    is_kept: &[bool],
    edge_cutoff: i64,
) -> Vec<Inlining> {
    // (caller, callee) -> (weight, inlined every time).
    let mut edges: HashMap<(usize, usize), (i64, bool)> = HashMap::new();
    let mut seen = HashSet::new();
    let mut stack = Vec::new();
    for &(sample_no, v) in counted {
        table.stack_into(&profile.sample[sample_no], &mut stack);
        seen.clear();
        let mut caller = None;
        for frame in stack.iter().rev().filter(|f| is_kept[f.name]) {
            if let Some(c) = caller.filter(|&c| c != frame.name) {
                if seen.insert((c, frame.name)) {
                    let edge = edges.entry((c, frame.name)).or_insert((0, true));
                    edge.0 = edge.0.saturating_add(v);
                    edge.1 &= frame.inlined;
                }
            }
            caller = Some(frame.name);
        }
    }
    let mut inline_in = vec![false; is_kept.len()];
    let mut call_in = vec![false; is_kept.len()];
    for (&(_, callee), &(weight, inlined)) in &edges {
        if weight.saturating_abs() >= edge_cutoff {
            if inlined {
                inline_in[callee] = true;
            } else {
                call_in[callee] = true;
            }
        }
    }
    inline_in
        .into_iter()
        .zip(call_in)
        .map(|flags| match flags {
            (true, true) => Inlining::Partial,
            (true, false) => Inlining::Inline,
            _ => Inlining::No,
        })
        .collect()
}

/// `value` as a percentage of `total`, for JSON.
fn percent_of(value: i64, total: i64) -> f64 {
    if total == 0 {
        0.0
    } else {
        value as f64 * 100.0 / total as f64
    }
}

impl TopReport {
    /// The sum of the flat values of the rows kept.
    pub fn shown_flat(&self) -> i64 {
        self.rows
            .iter()
            .fold(0i64, |acc, r| acc.saturating_add(r.flat))
    }

    /// The unit every value of the table is printed in, chosen as pprof
    /// does (see [`ValueFormat::for_table`]).
    pub fn value_format(&self) -> ValueFormat {
        let entries = self
            .rows
            .iter()
            .map(|r| if r.flat != 0 { r.flat } else { r.cum });
        ValueFormat::for_table(&self.sample_type.unit, entries, self.total)
    }

    /// Writes the text table (the `Display` form) to `w`.
    pub fn write_text(&self, mut w: impl Write) -> io::Result<()> {
        write!(w, "{self}")
    }

    /// The report as JSON, with exact integer values:
    ///
    /// ```json
    /// {"sample_type": "alloc_space", "unit": "bytes", "sample_index": 1,
    ///  "total": 2519368, "shown_flat": 2097512, "node_count": 14,
    ///  "focus": null,
    ///  "rows": [{"name": "main.allocBig", "flat": 2097512,
    ///            "flat_percent": 83.25548312116372, "cum": 2097512,
    ///            "cum_percent": 83.25548312116372, "inline": null}]}
    /// ```
    ///
    /// Percentages are of `total`, signed, not rounded; `inline` is
    /// `"inline"`, `"partial-inline"` or `null`.
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "flat": r.flat,
                    "flat_percent": percent_of(r.flat, self.total),
                    "cum": r.cum,
                    "cum_percent": percent_of(r.cum, self.total),
                    "inline": match r.inlining {
                        Inlining::No => Value::Null,
                        Inlining::Inline => json!("inline"),
                        Inlining::Partial => json!("partial-inline"),
                    },
                })
            })
            .collect();
        json!({
            "sample_type": self.sample_type.name,
            "unit": self.sample_type.unit,
            "sample_index": self.sample_type.index,
            "total": self.total,
            "shown_flat": self.shown_flat(),
            "node_count": self.node_count,
            "focus": self.focus,
            "rows": rows,
        })
    }
}

impl fmt::Display for TopReport {
    /// pprof's `-top` layout:
    ///
    /// ```text
    /// Type: alloc_space
    /// Showing nodes accounting for 2458.85kB, 99.94% of 2460.32kB total
    /// Showing top 3 nodes out of 14
    ///       flat  flat%   sum%        cum   cum%
    ///  2048.35kB 83.26% 83.26%  2048.35kB 83.26%  main.allocBig
    ///   322.62kB 13.11% 96.37%   322.62kB 13.11%  main.allocMedium
    ///    87.88kB  3.57% 99.94%    87.88kB  3.57%  main.allocSmall
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vf = self.value_format();
        writeln!(f, "Type: {}", printable(&self.sample_type.name))?;
        if let Some(focus) = &self.focus {
            writeln!(f, "Active filters:")?;
            let filter = format!("focus={focus}");
            let mut end = filter.len().min(80);
            while !filter.is_char_boundary(end) {
                end -= 1;
            }
            let more = if end < filter.len() { "…" } else { "" };
            writeln!(f, "   {}{more}", printable(&filter[..end]))?;
        }
        let shown = self.shown_flat();
        writeln!(
            f,
            "Showing nodes accounting for {}, {} of {} total",
            vf.format(shown),
            percentage(shown, self.total).trim(),
            vf.format(self.total)
        )?;
        if !self.rows.is_empty() && self.rows.len() < self.node_count {
            writeln!(
                f,
                "Showing top {} nodes out of {}",
                self.rows.len(),
                self.node_count
            )?;
        }
        writeln!(
            f,
            "{:>10} {:>5}% {:>5}% {:>10} {:>5}%",
            "flat", "flat", "sum", "cum", "cum"
        )?;
        let mut running = 0i64;
        for row in &self.rows {
            running = running.saturating_add(row.flat);
            let label = row.inlining.label();
            let sep = if label.is_empty() { "" } else { " " };
            writeln!(
                f,
                "{:>10} {} {} {:>10} {}  {}{sep}{label}",
                vf.format(row.flat),
                percentage(row.flat, self.total),
                percentage(running, self.total),
                vf.format(row.cum),
                percentage(row.cum, self.total),
                printable(&row.name)
            )?;
        }
        if self.stackless != 0 {
            // pprof shows nothing for them; say where the rest of the
            // total went.
            writeln!(
                f,
                "{} ({}) in samples with no frames (in a heapwise profile: stacks not walked, \
                 as with HEAPWISE_UNWIND=fp in a program built without frame pointers)",
                vf.format(self.stackless),
                percentage(self.stackless, self.total).trim()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_pprof::ProfileBuilder;

    /// Samples with no frames (a frame-pointer walk through code without
    /// them) are in the total but in no row: the report says so, where
    /// pprof leaves the total unexplained.
    #[test]
    fn samples_without_frames_are_named_under_the_rows() {
        let mut b = ProfileBuilder::new();
        b.sample_type("inuse_space", "bytes");
        let main = b.frame("app::main", "src/main.rs", 3);
        b.sample(&[main], &[1 << 20], &[]);
        b.sample(&[], &[3 << 20], &[]);
        let report = top_report(&b.build(), &TopOptions::default()).unwrap();
        assert_eq!((report.total, report.stackless), (4 << 20, 3 << 20));
        let text = report.to_string();
        assert!(
            text.ends_with(
                "3MB (75.00%) in samples with no frames (in a heapwise profile: stacks not walked, \
                 as with HEAPWISE_UNWIND=fp in a program built without frame pointers)\n"
            ),
            "{text}"
        );
    }
}
