//! The top allocation sites of one call, from the full-mode profile: the
//! samples labelled with the call's scope name, summed by their first
//! frame.

use std::fmt::Write;

use crate::profile;
use crate::util::count::Count;

/// Up to `n` lines, largest first, by the sample type `ty` (`inuse_space`
/// or `alloc_space`) and its object count `ty_objects`.
pub(crate) fn top_sites(scope: &str, ty: &str, ty_objects: &str, n: usize) -> String {
    let p = profile::heap();
    let (Some(bytes), Some(objects)) = (p.sample_type_index(ty), p.sample_type_index(ty_objects))
    else {
        return String::new();
    };
    let mut sites: Vec<(String, i64, i64)> = Vec::new();
    for s in &p.sample {
        let ours = s
            .label
            .iter()
            .any(|l| p.string(l.key) == "scope" && p.string(l.str) == scope);
        if !ours || s.value[bytes] <= 0 {
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
