//! What grew and what shrank between two profiles: `heapwise diff`.
//!
//! # What the report means
//!
//! Both profiles are reduced to their **sites**: the functions that
//! allocated, each with its **flat** value (the sum of the samples whose
//! leaf frame is in that function; see [`crate::top`]) for the chosen
//! sample type. For every site present in either profile the report gives
//! the old value, the new value and the **delta** (new − old), and lists
//! the sites that changed by the size of the change, largest first:
//!
//! ```text
//! Type: inuse_space
//! Total: 1.10MB -> 1.60MB (+512kB, +45.55%)
//! 2 sites grew, 1 shrank, 1 unchanged
//!        old        new       delta    change
//!      256kB     1.25MB        +1MB  +400.00%  app::cache_fill
//!      768kB          0      -768kB      gone  app::load_config
//!          0      256kB      +256kB       new  app::spawn_worker
//! ```
//!
//! A `+` delta is growth and a `-` delta shrinkage; `change` is the delta
//! relative to the old value, `new` for a site that did not allocate
//! before and `gone` for one that no longer does. The totals are the sums
//! of all samples of each profile.
//!
//! The two profiles must have the same sample types and period type
//! (two heap profiles from Go, or two from heapwise); otherwise the report
//! fails with the error of [`Profile::diff_base`], which names both sets of
//! types.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

use anyhow::Result;
use heapwise_pprof::{printable, Profile};
use serde_json::{json, Value};

use crate::frames::FrameTable;
use crate::sample_index::{SampleIndex, SampleType};
use crate::units::{plural, ValueFormat};

/// What [`diff_report`] computes.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Which value of each sample to compare.
    pub sample_index: SampleIndex,
    /// The most rows to keep; 0 keeps all. Default 10.
    pub max_rows: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            sample_index: SampleIndex::Default,
            max_rows: 10,
        }
    }
}

/// One site's old and new flat values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// The function name.
    pub name: String,
    /// Flat value in the old profile.
    pub old: i64,
    /// Flat value in the new profile.
    pub new: i64,
}

impl DiffRow {
    /// `new - old`: positive if the site grew.
    pub fn delta(&self) -> i64 {
        self.new.saturating_sub(self.old)
    }
}

/// The result of [`diff_report`]: print it with `Display`,
/// [`DiffReport::write_text`] or [`DiffReport::to_json`].
#[derive(Debug, Clone)]
pub struct DiffReport {
    /// The sample type compared.
    pub sample_type: SampleType,
    /// Sum of all samples of the old profile.
    pub old_total: i64,
    /// Sum of all samples of the new profile.
    pub new_total: i64,
    /// Number of sites whose value grew.
    pub grew: usize,
    /// Number of sites whose value shrank.
    pub shrank: usize,
    /// Number of sites present in either profile whose value did not
    /// change.
    pub unchanged: usize,
    /// The sites that changed, largest change first, at most
    /// `max_rows` of them.
    pub rows: Vec<DiffRow>,
}

/// Sum of value `index` over the samples, by leaf function.
fn flat_by_function(profile: &Profile, index: usize) -> Result<BTreeMap<String, i64>> {
    let table = FrameTable::new(profile)?;
    let mut flat = vec![0i64; table.names().len()];
    for sample in &profile.sample {
        let v = sample.value.get(index).copied().unwrap_or(0);
        if let Some(leaf) = table.stack(sample).next() {
            flat[leaf.name] = flat[leaf.name].saturating_add(v);
        }
    }
    Ok(table
        .names()
        .iter()
        .cloned()
        .zip(flat)
        .filter(|&(_, v)| v != 0)
        .collect())
}

/// Compares the flat value of every site of `old` and `new` (see the
/// [module docs](self)).
///
/// ```
/// use heapwise_cli::diff::{diff_report, DiffOptions};
/// use heapwise_pprof::ProfileBuilder;
///
/// let profile = |cache: i64, config: i64| {
///     let mut b = ProfileBuilder::new();
///     b.sample_type("inuse_space", "bytes");
///     let cache_fill = b.frame("app::cache_fill", "src/cache.rs", 9);
///     let load_config = b.frame("app::load_config", "src/config.rs", 4);
///     b.sample(&[cache_fill], &[cache], &[]);
///     b.sample(&[load_config], &[config], &[]);
///     b.build()
/// };
/// let report = diff_report(&profile(100, 50), &profile(300, 20), &DiffOptions::default())?;
/// assert_eq!(report.rows[0].name, "app::cache_fill");
/// assert_eq!(report.rows[0].delta(), 200);
/// assert_eq!(report.rows[1].delta(), -30);
/// assert_eq!((report.grew, report.shrank), (1, 1));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn diff_report(old: &Profile, new: &Profile, options: &DiffOptions) -> Result<DiffReport> {
    // The same check, and the same message, as subtracting a base.
    new.diff_base(old)?;
    let sample_type = options.sample_index.resolve(new)?;
    let index = sample_type.index;
    let old_flat = flat_by_function(old, index)?;
    let new_flat = flat_by_function(new, index)?;

    let mut sites: BTreeMap<&str, DiffRow> = BTreeMap::new();
    for (name, &v) in &old_flat {
        sites
            .entry(name)
            .or_insert_with(|| DiffRow {
                name: name.clone(),
                old: 0,
                new: 0,
            })
            .old = v;
    }
    for (name, &v) in &new_flat {
        sites
            .entry(name)
            .or_insert_with(|| DiffRow {
                name: name.clone(),
                old: 0,
                new: 0,
            })
            .new = v;
    }
    let (mut grew, mut shrank, mut unchanged) = (0, 0, 0);
    let mut rows = Vec::new();
    for row in sites.into_values() {
        match row.delta().signum() {
            1 => grew += 1,
            -1 => shrank += 1,
            _ => {
                unchanged += 1;
                continue;
            }
        }
        rows.push(row);
    }
    rows.sort_by(|a, b| {
        b.delta()
            .unsigned_abs()
            .cmp(&a.delta().unsigned_abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    if options.max_rows > 0 {
        rows.truncate(options.max_rows);
    }
    Ok(DiffReport {
        old_total: old.total(index),
        new_total: new.total(index),
        sample_type,
        grew,
        shrank,
        unchanged,
        rows,
    })
}

/// `delta` relative to `old` as text: `+25.00%`, `new` or `gone`.
fn change(old: i64, new: i64) -> String {
    if old == 0 {
        "new".to_owned()
    } else if new == 0 {
        "gone".to_owned()
    } else {
        let pct = (new as f64 - old as f64) * 100.0 / (old as f64).abs();
        format!("{pct:+.2}%")
    }
}

impl DiffReport {
    /// `new_total - old_total`.
    pub fn total_delta(&self) -> i64 {
        self.new_total.saturating_sub(self.old_total)
    }

    /// Writes the text report (the `Display` form) to `w`.
    pub fn write_text(&self, mut w: impl Write) -> io::Result<()> {
        write!(w, "{self}")
    }

    /// The report as JSON, with exact integer values:
    ///
    /// ```json
    /// {"sample_type": "inuse_space", "unit": "bytes", "sample_index": 1,
    ///  "old_total": 1150976, "new_total": 1675264, "delta": 524288,
    ///  "grew": 2, "shrank": 1, "unchanged": 1,
    ///  "rows": [{"name": "app::cache_fill", "old": 262144,
    ///            "new": 1310720, "delta": 1048576}]}
    /// ```
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| json!({"name": r.name, "old": r.old, "new": r.new, "delta": r.delta()}))
            .collect();
        json!({
            "sample_type": self.sample_type.name,
            "unit": self.sample_type.unit,
            "sample_index": self.sample_type.index,
            "old_total": self.old_total,
            "new_total": self.new_total,
            "delta": self.total_delta(),
            "grew": self.grew,
            "shrank": self.shrank,
            "unchanged": self.unchanged,
            "rows": rows,
        })
    }
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vf = ValueFormat::auto(&self.sample_type.unit);
        writeln!(f, "Type: {}", printable(&self.sample_type.name))?;
        let total_change = if self.old_total == 0 {
            String::new()
        } else {
            format!(", {}", change(self.old_total, self.new_total))
        };
        writeln!(
            f,
            "Total: {} -> {} ({}{total_change})",
            vf.format(self.old_total),
            vf.format(self.new_total),
            vf.format_signed(self.total_delta()),
        )?;
        let changed = self.grew + self.shrank;
        let showing = if self.rows.len() < changed {
            format!("; showing the {} largest changes", self.rows.len())
        } else {
            String::new()
        };
        writeln!(
            f,
            "{} grew, {} shrank, {} unchanged{showing}",
            plural(self.grew, "site"),
            self.shrank,
            self.unchanged
        )?;
        if self.rows.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "{:>10} {:>10} {:>11} {:>9}",
            "old", "new", "delta", "change"
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "{:>10} {:>10} {:>11} {:>9}  {}",
                vf.format(row.old),
                vf.format(row.new),
                vf.format_signed(row.delta()),
                change(row.old, row.new),
                printable(&row.name)
            )?;
        }
        Ok(())
    }
}
