//! Interactive flame graphs of a profile: `heapwise flame`.
//!
//! # What the graph shows
//!
//! Each sample becomes a **folded stack**, `root;caller;...;leaf VALUE`,
//! with one frame per line of each location (inlined functions are frames
//! of their own, as in [`crate::top`]) and the value of the chosen sample
//! type. Stacks with the same frames are summed. [inferno] draws them:
//! each box is a function, its width is the value of all samples passing
//! through it (its cum), and the boxes above it are its callees; the
//! visible top edge of a box is its flat. The SVG is interactive in a
//! browser: hover for exact values, click to zoom into a subtree, Ctrl-F
//! (or the Search button) to highlight functions matching a pattern.
//!
//! Memory profiles (byte or object units) use inferno's green-blue `mem`
//! palette, others its `hot` palette; colors derive from function names,
//! so the same function has the same color in every graph.
//!
//! # Negative values and `--base`
//!
//! A flame graph cannot draw negative widths, so:
//!
//! - [`write_flamegraph`] leaves out stacks whose value is negative (only a
//!   profile that is itself a difference has them) and says how many in
//!   the graph's subtitle.
//! - [`write_diff_flamegraph`] (`--base OLD`) draws a **differential**
//!   flame graph instead of subtracting (Brendan Gregg's differential flame
//!   graphs, inferno's two-column input): widths are the new profile's
//!   values, and each box is colored by the change of its own (flat)
//!   value against the base, red for growth and blue for shrinkage, the
//!   deeper the larger; its tooltip gives that change as a share of the
//!   new total (`+23.08%`). Stacks only in the base have no width in the
//!   new profile and so do not show; `heapwise top --base` and
//!   `heapwise diff` list them.
//!
//! Frame names are used as they are, except that `;` (the folded format's
//! separator) becomes `；` (U+FF1B), a space before a trailing number in a
//! leaf name becomes a no-break space, so that it is not read as a count,
//! and control characters, which XML forbids, become visible escapes
//! (`\x00`; the same goes for the title and unit). The SVG is well-formed
//! XML whatever the profile holds.
//!
//! Every SVG heapwise draws carries the comment [`SVG_MARKER`] after its
//! XML declaration: `heapwise flame` without `-o` overwrites an existing
//! `flame.svg` only if it has it ([`is_heapwise_svg`]).
//!
//! [inferno]: https://github.com/jonhoo/inferno

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{bail, Context, Result};
use heapwise_pprof::Profile;
use inferno::flamegraph::color::BasicPalette;
use inferno::flamegraph::{self, Palette};

use crate::frames::FrameTable;
use crate::sample_index::{SampleIndex, SampleType};
use crate::svg_text::xml_safe;
use crate::units::plural;

/// The comment that marks an SVG as drawn by heapwise.
pub const SVG_MARKER: &str = "<!-- heapwise flame graph -->";

/// How much of a file [`is_heapwise_svg`] needs: the XML declaration and
/// the marker after it.
pub const SVG_MARKER_WITHIN: usize = 256;

/// True if `head`, the start of a file, is the start of an SVG heapwise
/// drew (it has [`SVG_MARKER`] in its first [`SVG_MARKER_WITHIN`] bytes).
pub fn is_heapwise_svg(head: &[u8]) -> bool {
    let head = &head[..head.len().min(SVG_MARKER_WITHIN)];
    head.windows(SVG_MARKER.len())
        .any(|w| w == SVG_MARKER.as_bytes())
}

/// How [`write_flamegraph`] draws.
#[derive(Debug, Clone, Default)]
pub struct FlameOptions {
    /// Which value of each sample gives the widths.
    pub sample_index: SampleIndex,
    /// The title at the top; default `TYPE (UNIT)`, e.g.
    /// `inuse_space (bytes)`.
    pub title: Option<String>,
}

/// A profile's samples as folded stacks: `root;...;leaf` with the summed
/// value of the chosen sample type, sorted by stack. Zero sums are left
/// out; negative sums are kept.
///
/// ```
/// use heapwise_cli::flame::folded_stacks;
/// use heapwise_cli::SampleIndex;
/// use heapwise_pprof::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new();
/// b.sample_type("alloc_space", "bytes");
/// let parse = b.frame("app::parse", "src/parse.rs", 10);
/// let main = b.frame("app::main", "src/main.rs", 3);
/// b.sample(&[parse, main], &[4096], &[]);
/// b.sample(&[parse, main], &[1024], &[]);
/// let (_, stacks) = folded_stacks(&b.build(), &SampleIndex::Default)?;
/// assert_eq!(stacks, [("app::main;app::parse".to_owned(), 5120)]);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn folded_stacks(
    profile: &Profile,
    sample_index: &SampleIndex,
) -> Result<(SampleType, Vec<(String, i64)>)> {
    let sample_type = sample_index.resolve(profile)?;
    Ok((sample_type.clone(), fold(profile, &sample_type)?))
}

/// The most frames the distinct stacks a flame graph draws may hold
/// together: the SVG has up to a rectangle for each (about 200 bytes). 500
/// stacks of 40,000 frames each (a 98 KB profile) made a 3.8 GB SVG in a
/// minute and 7.8 GB of memory. A full profile of a C++ compiler draws
/// about 0.9 M.
const MAX_DRAWN_FRAMES: usize = 1 << 21;

/// The frame drawn for a sample that has none.
const NO_FRAMES: &str = "[no frames]";

fn fold(profile: &Profile, sample_type: &SampleType) -> Result<Vec<(String, i64)>> {
    let table = FrameTable::new(profile)?;
    let names: Vec<String> = table
        .names()
        .iter()
        .map(|n| xml_safe(n).replace(';', "；"))
        .collect();
    let mut stacks: BTreeMap<String, i64> = BTreeMap::new();
    let mut frames = Vec::new();
    let mut drawn = 0;
    for sample in &profile.sample {
        let v = sample.value.get(sample_type.index).copied().unwrap_or(0);
        if v == 0 {
            continue;
        }
        frames.clear();
        frames.extend(table.stack(sample).map(|f| names[f.name].as_str()));
        if frames.is_empty() {
            // Drawn, so the graph's total is the profile's (`top` says
            // the same in a line of its own).
            frames.push(NO_FRAMES);
        }
        frames.reverse();
        let depth = frames.len();
        let mut stack = frames.join(";");
        protect_trailing_number(&mut stack);
        let sum = stacks.entry(stack).or_insert_with(|| {
            drawn += depth;
            0
        });
        *sum = sum.saturating_add(v);
        if drawn > MAX_DRAWN_FRAMES {
            bail!(
                "profile too large to draw: its distinct stacks hold more than {} frames (heapwise top reads it)",
                crate::units::grouped(MAX_DRAWN_FRAMES as i64)
            );
        }
    }
    Ok(stacks.into_iter().filter(|&(_, v)| v != 0).collect())
}

/// inferno reads the last space-separated number of a line as a count (two
/// for a differential graph), so a stack ending in ` 12` would lose its
/// tail: make that space a no-break space.
fn protect_trailing_number(stack: &mut String) {
    if let Some(i) = stack.rfind(' ') {
        if stack[i + 1..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        {
            stack.replace_range(i..=i, "\u{a0}");
        }
    }
}

/// inferno's options for `sample_type`.
fn inferno_options(
    sample_type: &SampleType,
    options: &FlameOptions,
) -> flamegraph::Options<'static> {
    let mut opt = flamegraph::Options::default();
    opt.title = xml_safe(
        &options
            .title
            .clone()
            .unwrap_or_else(|| format!("{} ({})", sample_type.name, sample_type.unit)),
    )
    .into_owned();
    let memory = matches!(
        sample_type.unit.to_lowercase().as_str(),
        "bytes" | "byte" | "b" | "count" | "objects"
    ) || sample_type.name.contains("space")
        || sample_type.name.contains("objects");
    opt.colors = Palette::Basic(if memory {
        BasicPalette::Mem
    } else {
        BasicPalette::Hot
    });
    opt.hash = true;
    opt.deterministic = true;
    opt.count_name = if sample_type.unit == "count" && sample_type.name.ends_with("objects") {
        "objects".to_owned()
    } else {
        xml_safe(&sample_type.unit).into_owned()
    };
    opt
}

/// Runs inferno over `lines` into a buffer, so that nothing is written on
/// failure, and marks the SVG as heapwise's.
fn render(opt: &mut flamegraph::Options<'_>, lines: &[String], mut w: impl Write) -> Result<()> {
    let mut svg = Vec::new();
    flamegraph::from_lines(opt, lines.iter().map(String::as_str), &mut svg)
        .context("drawing the flame graph")?;
    // After the XML declaration, which must come first.
    let at = if svg.starts_with(b"<?xml") {
        svg.windows(2).position(|w| w == b"?>").map_or(0, |i| i + 2)
    } else {
        0
    };
    svg.splice(at..at, SVG_MARKER.bytes());
    w.write_all(&svg)?;
    w.flush()?;
    Ok(())
}

/// Writes an interactive SVG flame graph of `profile` to `w` (see the
/// [module docs](self)). Stacks with negative values are left out, and
/// the subtitle says how many. Fails, writing nothing, if no stack has a
/// positive value.
///
/// ```
/// use heapwise_cli::flame::{write_flamegraph, FlameOptions};
/// use heapwise_pprof::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new();
/// b.sample_type("alloc_space", "bytes");
/// let parse = b.frame("app::parse", "src/parse.rs", 10);
/// let main = b.frame("app::main", "src/main.rs", 3);
/// b.sample(&[parse, main], &[4096], &[]);
/// let mut svg = Vec::new();
/// write_flamegraph(&b.build(), &FlameOptions::default(), &mut svg)?;
/// let svg = String::from_utf8(svg)?;
/// assert!(svg.contains("app::parse"));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn write_flamegraph(profile: &Profile, options: &FlameOptions, w: impl Write) -> Result<()> {
    let (sample_type, stacks) = folded_stacks(profile, &options.sample_index)?;
    let negative = stacks.iter().filter(|(_, v)| *v < 0).count();
    let lines: Vec<String> = stacks
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(s, v)| format!("{s} {v}"))
        .collect();
    if lines.is_empty() {
        bail!("no stack has a positive {} value to draw", sample_type.name);
    }
    let mut opt = inferno_options(&sample_type, options);
    if negative > 0 {
        opt.subtitle = Some(format!(
            "{} with negative values left out",
            plural(negative, "stack")
        ));
    }
    render(&mut opt, &lines, w)
}

/// Writes a differential flame graph of `profile` against `base` to `w`:
/// widths are `profile`'s values, colors the change from `base` (red grew,
/// blue shrank). The profiles must be compatible, as for
/// [`Profile::diff_base`].
pub fn write_diff_flamegraph(
    base: &Profile,
    profile: &Profile,
    options: &FlameOptions,
    w: impl Write,
) -> Result<()> {
    profile.diff_base(base)?;
    let (sample_type, new) = folded_stacks(profile, &options.sample_index)?;
    let old = fold(base, &sample_type)?;
    let mut both: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (stack, v) in old {
        both.entry(stack).or_default().0 = v.max(0);
    }
    for (stack, v) in new {
        both.entry(stack).or_default().1 = v.max(0);
    }
    let mut lines = Vec::with_capacity(both.len());
    for (stack, (old, new)) in both {
        if old > 0 || new > 0 {
            lines.push(format!("{stack} {old} {new}"));
        }
    }
    if !lines.iter().any(|l| !l.ends_with(" 0")) {
        bail!("no stack has a positive {} value to draw", sample_type.name);
    }
    let mut opt = inferno_options(&sample_type, options);
    opt.subtitle = Some(
        "Differential: width is the new profile, red grew and blue shrank since the base"
            .to_owned(),
    );
    render(&mut opt, &lines, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_pprof::ProfileBuilder;

    /// A sample with no frames is drawn as one, so the graph's total is
    /// the profile's (it was left out: 1 byte of 101 drawn, nothing said).
    #[test]
    fn samples_without_frames_are_drawn() {
        let mut b = ProfileBuilder::new();
        b.sample_type("inuse_space", "bytes");
        let main = b.frame("app::main", "src/main.rs", 3);
        b.sample(&[main], &[1], &[]);
        b.sample(&[], &[100], &[]);
        let (_, stacks) = folded_stacks(&b.build(), &SampleIndex::Default).unwrap();
        assert_eq!(
            stacks,
            [("[no frames]".to_owned(), 100), ("app::main".to_owned(), 1)]
        );
    }
}
