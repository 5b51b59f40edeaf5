//! `/metrics` (cargo feature `metrics`): the process's and each scope
//! name's figures in Prometheus' text exposition format (0.0.4), which
//! OpenMetrics scrapers read too.
//!
//! Names follow Prometheus' conventions: a `heapwise_` prefix, base units
//! (`_bytes`), counters end in `_total`, each family has `HELP` and `TYPE`
//! lines. Scopes are labelled by name (`scope="login"`): the scopes of one
//! name are summed, so a name used for every request is one series, and
//! its counters keep what ended scopes did (see `scope/registry.rs`), so
//! they never go down. A scope nested in another of its name is in that
//! one's figures already and is not added again (a recursive function's
//! spans). Unnamed scopes are not listed.

use std::fmt::Write;

use crate::profile;
use crate::scope::limit::LimitKind;
use crate::scope::registry::{self, NameFigures};
use crate::stats;

/// The exposition format's content type.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics page.
pub(crate) fn text() -> String {
    let s = stats();
    let m = profile::memory();
    let names = registry::by_name();
    let mut out = String::with_capacity(2048 + 1024 * names.len());
    let o = &mut out;
    one(
        o,
        "heapwise_live_bytes",
        GAUGE,
        "Bytes allocated and not yet freed.",
        s.live_bytes,
    );
    one(
        o,
        "heapwise_peak_bytes",
        GAUGE,
        "The highest live bytes since start.",
        s.peak_bytes,
    );
    one(
        o,
        "heapwise_allocated_bytes_total",
        COUNTER,
        "Bytes allocated since start.",
        s.allocated_bytes,
    );
    one(
        o,
        "heapwise_freed_bytes_total",
        COUNTER,
        "Bytes freed since start.",
        s.freed_bytes,
    );
    one(
        o,
        "heapwise_allocations_total",
        COUNTER,
        "Blocks allocated since start.",
        s.allocs,
    );
    one(
        o,
        "heapwise_frees_total",
        COUNTER,
        "Blocks freed since start.",
        s.frees,
    );
    one(
        o,
        "heapwise_reallocations_total",
        COUNTER,
        "Successful realloc calls since start.",
        s.reallocs,
    );
    one(
        o,
        "heapwise_own_bytes",
        GAUGE,
        "Bytes heapwise itself holds (profiler, endpoint); not in heapwise_live_bytes.",
        s.heapwise_bytes,
    );
    one(
        o,
        "heapwise_profiler_bytes",
        GAUGE,
        "Bytes the heap profiler holds (part of heapwise_own_bytes).",
        m.total_bytes() as u64,
    );
    one(
        o,
        "heapwise_profile_samples_total",
        COUNTER,
        "Allocations the heap profiler sampled since start.",
        m.samples,
    );
    if names.is_empty() {
        return out;
    }
    let o = &mut out;
    per_scope(
        o,
        &names,
        "heapwise_scopes",
        GAUGE,
        "Named scopes alive now.",
        |f| f.live_scopes,
    );
    per_scope(
        o,
        &names,
        "heapwise_scope_live_bytes",
        GAUGE,
        "Live bytes of the scopes of this name alive now.",
        |f| f.live_bytes,
    );
    per_scope(
        o,
        &names,
        "heapwise_scope_allocated_bytes_total",
        COUNTER,
        "Bytes allocated in the scopes of this name since start, ended ones included.",
        |f| f.totals.bytes,
    );
    per_scope(
        o,
        &names,
        "heapwise_scope_allocations_total",
        COUNTER,
        "Blocks allocated in the scopes of this name since start, ended ones included.",
        |f| f.totals.allocs,
    );
    per_scope(
        o,
        &names,
        "heapwise_scope_limit_exceeded_total",
        COUNTER,
        "Scopes of this name that exceeded a limit since start.",
        |f| f.totals.exceeded,
    );
    let name = "heapwise_scope_limit_bytes";
    header(
        o,
        name,
        GAUGE,
        "The largest byte limit among the live scopes of this name (kind bytes: allocated; live_bytes: live).",
    );
    for f in &names {
        for (k, kind) in LimitKind::ALL.into_iter().enumerate() {
            let label = match kind {
                LimitKind::Bytes => "bytes",
                LimitKind::LiveBytes => "live_bytes",
                _ => continue,
            };
            if let Some(v) = f.limits[k] {
                let _ = writeln!(
                    o,
                    "{name}{{scope=\"{}\",kind=\"{label}\"}} {v}",
                    escape(&f.name)
                );
            }
        }
    }
    out
}

const GAUGE: &str = "gauge";
const COUNTER: &str = "counter";

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// A family of one unlabelled value.
fn one(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// A family with one value per scope name.
fn per_scope(
    out: &mut String,
    names: &[NameFigures],
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&NameFigures) -> u64,
) {
    header(out, name, kind, help);
    for f in names {
        let _ = writeln!(out, "{name}{{scope=\"{}\"}} {}", escape(&f.name), value(f));
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
