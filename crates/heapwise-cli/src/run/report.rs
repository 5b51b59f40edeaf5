//! What `heapwise run` prints when the program has ended: the summary
//! line and top sites of its profile (or why there is none), and the
//! snapshot's leaks.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

use anyhow::{Context, Result};
use heapwise_pprof::Profile;

use crate::input::read_profile_within;
use crate::sample_index::SampleIndex;
use crate::signals::signal_name;
use crate::top::{top_report, TopOptions};
use crate::units::{binary_size, grouped, human_bytes, plural_grouped};

/// How long before now `profile` was made (`1.9 s`), from its time.
fn written_ago(profile: &Profile) -> Option<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos() as i64;
    let ago = now
        .checked_sub(profile.time_nanos)
        .filter(|&n| n >= 0 && profile.time_nanos > 0)?;
    Some(format!("{:.1} s", ago as f64 / 1e9))
}

/// Why the profile at `path` is missing, from how the program ended
/// (`every`: it was rewritten on an interval).
pub(super) fn no_profile(
    path: &Path,
    status: ExitStatus,
    every: bool,
    out: &mut impl Write,
) -> Result<()> {
    let why = match status.signal() {
        Some(signal) => format!(
            "the program died of signal {signal}{} before writing one{}",
            signal_name(signal).map_or(String::new(), |n| format!(" ({n})")),
            if every {
                " (before the first --every rewrite)"
            } else {
                "; --every 10s rewrites it as the program runs, so one survives a kill"
            }
        ),
        None => "the program wrote none: it exec'd into a program without the preload, left through _exit, or its write failed (said above)".to_owned(),
    };
    writeln!(out, "heapwise: no profile at {}: {why}", path.display())?;
    Ok(())
}

/// The report on the profile at `profile_path`, which exists; `status`
/// is how the program ended (killed by a signal, its profile is the last
/// one `--every` wrote, not the one at exit).
pub(super) fn write_report(
    profile_path: &Path,
    top: usize,
    peak: bool,
    rate_zero: bool,
    status: ExitStatus,
    out: &mut impl Write,
) -> Result<()> {
    // The child's own profile, not a hostile file: read within 4 GiB, not
    // `heapwise top`'s default 256 MiB (a full profile of a C++ compiler
    // decodes to ~15 MB).
    let profile = read_profile_within(profile_path, 4 << 30)?;
    let (what, how, index) = if peak {
        ("bytes live at the peak", "--peak", "peak_space")
    } else {
        (
            "bytes allocated",
            "--sample-index alloc_space",
            "alloc_space",
        )
    };
    writeln!(out, "heapwise: profile at {}", profile_path.display())?;
    let killed = status.signal();
    if let Some(signal) = killed {
        writeln!(
            out,
            "heapwise: the program died of signal {signal}{}: this is the last profile --every wrote{}, not one at exit",
            signal_name(signal).map_or(String::new(), |n| format!(" ({n})")),
            written_ago(&profile).map_or(String::new(), |s| format!(", {s} before the end"))
        )?;
    }
    let totals = ProcessTotals::of(&profile);
    let allocated = profile
        .sample_type_index("alloc_objects")
        .map(|i| profile.total(i));
    let made_none = match &totals {
        Some(t) => t.allocs == 0,
        // Every allocation recorded, and none.
        None => allocated == Some(0) && profile.period == 1,
    };
    if made_none {
        writeln!(
            out,
            "heapwise: no allocation: the program made none through malloc and friends"
        )?;
        out.flush()?;
        return Ok(());
    }
    if profile.period == 0 {
        // Profiling off: the counters' figures, and no sites.
        // `--rate 0`, or a program with heapwise::Alloc of its own that
        // turned its profiler off.
        let why = if rate_zero {
            "no sites: profiling was off (--rate 0); --full records every allocation"
        } else {
            "no sites: the program turned profiling off"
        };
        if let Some(line) = totals.and_then(|t| t.summary(killed.is_some(), why)) {
            writeln!(out, "heapwise: {line}")?;
        }
        out.flush()?;
        return Ok(());
    }
    if let Some(summary) = summary(&profile, killed.is_some()) {
        writeln!(out, "heapwise: {summary}")?;
    }
    let report = top_report(
        &profile,
        &TopOptions {
            sample_index: SampleIndex::Name(index.into()),
            max_rows: top,
            focus: None,
        },
    )
    .with_context(|| profile_path.display().to_string())?;
    writeln!(
        out,
        "\nTop sites by {what} (heapwise top {} {how}):",
        profile_path.display()
    )?;
    report.write_text(&mut *out)?;
    if report.total == 0 && profile.period > 1 {
        // An empty table is otherwise a puzzle: a short program allocates
        // less than one sampling period.
        writeln!(
            out,
            "heapwise: no allocation was sampled: at one sample every {} allocated, a program that allocates less shows nothing; --full records every allocation",
            binary_size(profile.period)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The whole run in one line, as heaptrack's summary gives it: how many
/// allocations and bytes (with how many were temporary, in full mode), the
/// peak, and what was not freed at exit. A sampled profile's line gives
/// the process's exact figures from its totals comment (see
/// [`ProcessTotals`]); without one, the samples' estimates, marked `~`.
/// `None` for a profile without those sample types or with no allocation
/// in it. `killed`: the profile is a killed program's last `--every` one,
/// whose live figures are of then, not at exit.
fn summary(profile: &Profile, killed: bool) -> Option<String> {
    if profile.period > 1 {
        let note = format!(
            "sites below estimated from one sample every {}",
            binary_size(profile.period)
        );
        if let Some(line) = ProcessTotals::of(profile).and_then(|t| t.summary(killed, &note)) {
            return Some(line);
        }
    }
    let total = |name: &str| -> Option<i64> {
        let i = profile.sample_type_index(name)?;
        Some(
            profile
                .sample
                .iter()
                .map(|s| s.value.get(i).copied().unwrap_or(0))
                .sum(),
        )
    };
    let (allocs, bytes) = (total("alloc_objects")?, total("alloc_space")?);
    if allocs == 0 {
        return None;
    }
    let exact = profile.period <= 1;
    let about = if exact { "" } else { "~" };
    let count = |n: i64, what: &str| format!("{about}{}", plural_grouped(n, what));
    let mut line = format!(
        "{} ({about}{})",
        count(allocs, "allocation"),
        human_bytes(bytes)
    );
    if exact {
        if let Some(temporary) = total("temporary_objects").filter(|&t| t > 0) {
            line.push_str(&format!(", {} temporary", grouped(temporary)));
        }
    } else {
        line.push_str(&format!(
            ", estimated from one sample every {}",
            binary_size(profile.period)
        ));
    }
    if let (Some(peak), Some(blocks)) = (total("peak_space"), total("peak_objects")) {
        line.push_str(&format!(
            "; peak heap {about}{} in {}",
            human_bytes(peak),
            count(blocks, "block")
        ));
    }
    match (total("inuse_space"), total("inuse_objects")) {
        (Some(0), _) => line.push_str(&format!("; {}", live_clause(0, 0, exact, killed))),
        (Some(live), Some(blocks)) => {
            line.push_str(&format!("; {}", live_clause(live, blocks, exact, killed)))
        }
        _ => {}
    }
    Some(line)
}

/// The summary's last clause: what was live when the profile was written,
/// at exit or (`killed`) at the last `--every` rewrite; estimates (not
/// `exact`) marked `~`.
fn live_clause(bytes: i64, blocks: i64, exact: bool, killed: bool) -> String {
    let about = if exact { "" } else { "~" };
    match (bytes == 0 && blocks == 0, exact, killed) {
        (true, true, false) => "all freed at exit".to_owned(),
        (true, true, true) => "nothing live then".to_owned(),
        (true, false, false) => "no sampled block live at exit".to_owned(),
        (true, false, true) => "no sampled block live then".to_owned(),
        (false, _, _) => format!(
            "{}: {about}{} in {about}{}",
            if killed {
                "live then"
            } else {
                "not freed at exit"
            },
            human_bytes(bytes),
            plural_grouped(blocks, "block")
        ),
    }
}

/// Where the snapshot went and its leaks by site.
pub(super) fn snapshot_report(path: &Path, out: &mut impl Write) -> Result<()> {
    let graph = match heapwise_heapgraph::HeapGraph::load_heapsnapshot(path) {
        Ok(g) => g,
        Err(e) => {
            writeln!(out, "heapwise: no heap snapshot at {}: {e}", path.display())?;
            return Ok(());
        }
    };
    let analysis = graph.analyze();
    writeln!(
        out,
        "\nheapwise: heap snapshot at {} ({}; heapwise snapshot leaks|retained|why FILE)",
        path.display(),
        plural_grouped(graph.blocks().len() as i64, "live block")
    )?;
    crate::snapshot::leak_summary(&analysis, out)?;
    Ok(())
}

/// The process's exact figures a heap profile carries in a comment
/// (`heapwise::profile::__PROCESS_TOTALS`): the allocator's counters,
/// which see every call whatever the sampling rate.
#[derive(Debug, Default, PartialEq, Eq)]
struct ProcessTotals {
    allocs: u64,
    allocated_bytes: u64,
    frees: u64,
    live_bytes: u64,
    peak_bytes: u64,
}

impl ProcessTotals {
    /// The totals in `profile`'s comments; `None` without a well-formed one.
    fn of(profile: &Profile) -> Option<ProcessTotals> {
        let text = profile.comment.iter().find_map(|&c| {
            profile
                .string(c)
                .strip_prefix(heapwise::profile::__PROCESS_TOTALS)
        })?;
        let mut t = ProcessTotals::default();
        let mut seen = 0;
        for pair in text.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            let field = match key {
                "allocs" => &mut t.allocs,
                "allocated_bytes" => &mut t.allocated_bytes,
                "frees" => &mut t.frees,
                "live_bytes" => &mut t.live_bytes,
                "peak_bytes" => &mut t.peak_bytes,
                _ => continue,
            };
            *field = value.parse().ok()?;
            seen += 1;
        }
        (seen == 5).then_some(t)
    }

    /// The summary line, ending with `(note)` (of a killed program's last
    /// `--every` profile: see [`live_clause`]); `None` when nothing was
    /// allocated.
    fn summary(&self, killed: bool, note: &str) -> Option<String> {
        if self.allocs == 0 {
            return None;
        }
        let live_blocks = self.allocs.saturating_sub(self.frees);
        let live = live_clause(self.live_bytes as i64, live_blocks as i64, true, killed);
        Some(format!(
            "{} ({}); peak heap {}; {live} ({note})",
            plural_grouped(self.allocs as i64, "allocation"),
            human_bytes(self.allocated_bytes as i64),
            human_bytes(self.peak_bytes as i64),
        ))
    }
}
