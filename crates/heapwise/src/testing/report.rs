//! The top allocation sites of one call, from the full-mode profile: the
//! samples labelled with the call's scope name, summed by their first
//! frame.

use std::fmt::Write;

use crate::profile;
use crate::util::count::Count;

/// std's function that appends a `print!` to the buffer libtest captures a
/// test's output in (which libtest frees after the test).
const CAPTURE: &str = "std::io::stdio::print_to_buffer_if_capture_used";

/// Whether the sample's stack passes through [`CAPTURE`].
fn is_captured_output(p: &crate::pprof::Profile, s: &crate::pprof::Sample) -> bool {
    s.location_id
        .iter()
        .filter_map(|&id| p.location_by_id(id))
        .flat_map(|l| &l.line)
        .filter_map(|line| p.function_by_id(line.function_id))
        .any(|f| p.string(f.name).starts_with(CAPTURE))
}

/// The call's samples labelled `scope`, with a positive `ty` figure.
fn ours<'p>(
    p: &'p crate::pprof::Profile,
    scope: &'p str,
    ty: usize,
) -> impl Iterator<Item = &'p crate::pprof::Sample> {
    p.sample.iter().filter(move |s| {
        s.value[ty] > 0
            && s.label
                .iter()
                .any(|l| p.string(l.key) == "scope" && p.string(l.str) == scope)
    })
}

/// Bytes and blocks of the call still live that libtest's output capture
/// holds (the buffer a `print!` grew): not the call's leak.
pub(crate) fn captured_output(scope: &str) -> (u64, u64) {
    let p = profile::heap();
    let (Some(bytes), Some(objects)) = (
        p.sample_type_index("inuse_space"),
        p.sample_type_index("inuse_objects"),
    ) else {
        return (0, 0);
    };
    ours(&p, scope, bytes)
        .filter(|s| is_captured_output(&p, s))
        .fold((0, 0), |(b, o), s| {
            (
                b + s.value[bytes] as u64,
                o + s.value[objects].max(0) as u64,
            )
        })
}

/// Up to `n` lines, largest first, by the sample type `ty` (`inuse_space`
/// or `alloc_space`) and its object count `ty_objects`; in use, without
/// libtest's output capture.
pub(crate) fn top_sites(scope: &str, ty: &str, ty_objects: &str, n: usize) -> String {
    let p = profile::heap();
    let (Some(bytes), Some(objects)) = (p.sample_type_index(ty), p.sample_type_index(ty_objects))
    else {
        return String::new();
    };
    let mut sites: Vec<(String, i64, i64)> = Vec::new();
    for s in ours(&p, scope, bytes) {
        if ty == "inuse_space" && is_captured_output(&p, s) {
            continue;
        }
        let site = leaf(&p, s);
        match sites.iter_mut().find(|(name, _, _)| *name == site) {
            Some(e) => {
                e.1 += s.value[bytes];
                e.2 += s.value[objects];
            }
            None => sites.push((site, s.value[bytes], s.value[objects])),
        }
    }
    sites.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = String::new();
    for (site, b, o) in sites.iter().take(n) {
        let _ = write!(
            out,
            "\n    {} in {}  {site}",
            Count(*b as u64, "byte"),
            Count(*o as u64, "block")
        );
    }
    if sites.is_empty() {
        out.push_str("\n    (no sampled site)");
    }
    out
}

/// The sample's innermost line: `function (file:line)`.
fn leaf(p: &crate::pprof::Profile, s: &crate::pprof::Sample) -> String {
    let line = s
        .location_id
        .first()
        .and_then(|&id| p.location_by_id(id))
        .and_then(|l| l.line.first());
    let Some(line) = line else {
        return "(no stack)".to_string();
    };
    match p.function_by_id(line.function_id) {
        Some(f) if line.line > 0 => format!(
            "{} ({}:{})",
            p.string(f.name),
            p.string(f.filename),
            line.line
        ),
        Some(f) => p.string(f.name).to_string(),
        None => "(unknown)".to_string(),
    }
}
