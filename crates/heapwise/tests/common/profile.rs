//! Reading heap profiles in tests: per-site figures.

use heapwise_pprof::Profile;

/// Go's four heap values, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Site {
    pub(crate) alloc_objects: i64,
    pub(crate) alloc_space: i64,
    pub(crate) inuse_objects: i64,
    pub(crate) inuse_space: i64,
}

/// The label `key`'s number on a sample.
pub(crate) fn label_num(p: &Profile, s: &heapwise_pprof::Sample, key: &str) -> Option<i64> {
    s.label
        .iter()
        .find(|l| p.string(l.key) == key && l.str == 0)
        .map(|l| l.num)
}

/// The label `key`'s string value on a sample.
pub(crate) fn label_str<'p>(
    p: &'p Profile,
    s: &heapwise_pprof::Sample,
    key: &str,
) -> Option<&'p str> {
    s.label
        .iter()
        .find(|l| p.string(l.key) == key && l.str != 0)
        .map(|l| p.string(l.str))
}

/// Sums the samples whose leaf function's name ends with `leaf` (and, if
/// given, whose `bytes` label is `size`).
pub(crate) fn site(p: &Profile, leaf: &str, size: Option<i64>) -> Site {
    let mut total = Site::default();
    for s in &p.sample {
        let names = p.stack_function_names(s);
        if !names.first().is_some_and(|n| n.ends_with(leaf)) {
            continue;
        }
        if size.is_some() && label_num(p, s, "bytes") != size {
            continue;
        }
        total.alloc_objects += s.value[0];
        total.alloc_space += s.value[1];
        total.inuse_objects += s.value[2];
        total.inuse_space += s.value[3];
    }
    total
}

/// The samples whose leaf function's name ends with `leaf`.
pub(crate) fn samples<'p>(p: &'p Profile, leaf: &str) -> Vec<&'p heapwise_pprof::Sample> {
    p.sample
        .iter()
        .filter(|s| {
            p.stack_function_names(s)
                .first()
                .is_some_and(|n| n.ends_with(leaf))
        })
        .collect()
}

/// Sums the sample type `ty` over the samples whose leaf function's name
/// ends with `leaf` (and, if given, whose `bytes` label is `size`).
pub(crate) fn value(p: &Profile, leaf: &str, size: Option<i64>, ty: &str) -> i64 {
    let i = p
        .sample_type_index(ty)
        .unwrap_or_else(|| panic!("no sample type {ty}"));
    p.sample
        .iter()
        .filter(|s| {
            p.stack_function_names(s)
                .first()
                .is_some_and(|n| n.ends_with(leaf))
                && (size.is_none() || label_num(p, s, "bytes") == size)
        })
        .map(|s| s.value[i])
        .sum()
}
