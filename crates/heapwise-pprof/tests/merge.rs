//! Merging and diffing (`pprof -base`).

mod common;

use common::{fixture, sample_profile};
use heapwise_pprof::{ErrorKind, Profile, ProfileBuilder};

fn heap() -> Profile {
    Profile::decode(&fixture("go_heap.pb.gz")).unwrap()
}

fn cpu() -> Profile {
    Profile::decode(&fixture("go_cpu.pb.gz")).unwrap()
}

/// Total per sample type.
fn totals(p: &Profile) -> Vec<i64> {
    (0..p.sample_type.len()).map(|i| p.total(i)).collect()
}

#[test]
fn merging_a_profile_with_itself_doubles_every_value() {
    let p = sample_profile();
    let merged = Profile::merge([&p, &p]).unwrap();
    merged.validate().unwrap();
    assert_eq!(merged.sample.len(), p.sample.len());
    for (m, s) in merged.sample.iter().zip(&p.sample) {
        let doubled: Vec<i64> = s.value.iter().map(|v| v * 2).collect();
        assert_eq!(m.value, doubled);
        assert_eq!(merged.stack_function_names(m), p.stack_function_names(s));
    }
    assert_eq!(merged.duration_nanos, 2 * p.duration_nanos);
    assert_eq!(merged.time_nanos, p.time_nanos);
    assert_eq!(merged.sample_types(), p.sample_types());
    assert_eq!(merged.period_type_names(), p.period_type_names());
    assert_eq!(merged.comment.len(), 1);
    assert_eq!(merged.string(merged.default_sample_type), "alloc_space");
}

#[test]
fn merging_one_profile_keeps_its_content() {
    let p = sample_profile();
    let merged = Profile::merge([&p]).unwrap();
    assert_eq!(totals(&merged), totals(&p));
    assert_eq!(merged.location.len(), p.location.len());
    assert_eq!(merged.function.len(), p.function.len());
    assert_eq!(merged.mapping.len(), p.mapping.len());
    assert_eq!(Profile::decode(&merged.encode()).unwrap(), merged);
}

#[test]
fn merging_go_heap_profiles_sums_totals() {
    let h = heap();
    let merged = Profile::merge([&h, &h, &h]).unwrap();
    merged.validate().unwrap();
    let expected: Vec<i64> = totals(&h).iter().map(|t| t * 3).collect();
    assert_eq!(totals(&merged), expected);
    assert!(merged.sample.len() <= h.sample.len());
}

#[test]
fn samples_merge_regardless_of_label_order_and_string_layout() {
    let build = |flip: bool| {
        let mut b = ProfileBuilder::new();
        if flip {
            // Intern some strings first so every index differs.
            b.string("zzz");
            b.string("thread");
        }
        b.sample_type("samples", "count");
        let f = b.frame("main.work", "main.go", 10);
        let a = b.label_str("thread", "t1");
        let c = b.label_num("size", 64, "bytes");
        let labels = if flip { vec![c, a] } else { vec![a, c] };
        b.sample(&[f], &[5], &labels);
        b.build()
    };
    let merged = Profile::merge([&build(false), &build(true)]).unwrap();
    assert_eq!(merged.sample.len(), 1);
    assert_eq!(merged.sample[0].value, [10]);
}

#[test]
fn different_labels_keep_samples_apart() {
    let mut b = ProfileBuilder::new();
    b.sample_type("samples", "count");
    let f = b.frame("main.work", "main.go", 10);
    let t1 = b.label_str("thread", "t1");
    let t2 = b.label_str("thread", "t2");
    b.sample(&[f], &[1], &[t1])
        .sample(&[f], &[2], &[t2])
        .sample(&[f], &[4], &[t1]);
    let p = b.build();
    let merged = Profile::merge([&p]).unwrap();
    let values: Vec<i64> = merged.sample.iter().map(|s| s.value[0]).collect();
    assert_eq!(values, [5, 2]);
}

#[test]
fn relocated_mappings_merge_by_relative_address() {
    let p = sample_profile();
    let mut moved = p.clone();
    let shift = 0x1000_0000;
    moved.mapping[0].memory_start += shift;
    moved.mapping[0].memory_limit += shift;
    for l in &mut moved.location {
        if l.mapping_id != 0 {
            l.address += shift;
        }
    }
    let merged = Profile::merge([&p, &moved]).unwrap();
    assert_eq!(merged.mapping.len(), 1);
    assert_eq!(merged.location.len(), p.location.len());
    assert_eq!(merged.sample.len(), p.sample.len());
}

#[test]
fn merging_different_sample_types_names_both() {
    let e = Profile::merge([&heap(), &cpu()]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    assert_eq!(
        e.to_string(),
        "cannot merge profiles: sample types differ: profile 0 has \
         [alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes], \
         profile 1 has [samples/count, cpu/nanoseconds]"
    );
}

#[test]
fn merging_different_period_types_names_both() {
    let p = sample_profile();
    let mut q = p.clone();
    q.period_type = None;
    let e = Profile::merge([&p, &q]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    assert_eq!(
        e.to_string(),
        "cannot merge profiles: period types differ: profile 0 has space/bytes, profile 1 has none"
    );
}

#[test]
fn merging_nothing_or_invalid_input_is_an_error() {
    assert!(Profile::merge([]).is_err());
    let mut bad = sample_profile();
    bad.sample[0].location_id.push(1234);
    let e = Profile::merge([&sample_profile(), &bad]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
}

#[test]
fn diff_against_itself_is_empty() {
    let h = heap();
    let d = h.diff_base(&h).unwrap();
    d.validate().unwrap();
    assert!(d.sample.is_empty());
    assert_eq!(d.sample_types(), h.sample_types());
    assert_eq!(d.time_nanos, h.time_nanos);
}

#[test]
fn diff_shows_growth_and_shrinkage() {
    let build = |parse: i64, main: i64, gone: Option<i64>| {
        let mut b = ProfileBuilder::new();
        b.sample_type("inuse_space", "bytes")
            .period("space", "bytes", 1);
        let parse_loc = b.frame("app::parse", "parse.rs", 1);
        let main_loc = b.frame("app::main", "main.rs", 1);
        b.sample(&[parse_loc, main_loc], &[parse], &[]);
        b.sample(&[main_loc], &[main], &[]);
        if let Some(v) = gone {
            let old = b.frame("app::old_cache", "cache.rs", 1);
            b.sample(&[old, main_loc], &[v], &[]);
        }
        b.build()
    };
    let base = build(100, 50, Some(30));
    let new = build(250, 50, None);
    let d = new.diff_base(&base).unwrap();
    d.validate().unwrap();
    let mut got: Vec<(Vec<&str>, i64)> = d
        .sample
        .iter()
        .map(|s| (d.stack_function_names(s), s.value[0]))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (vec!["app::old_cache", "app::main"], -30),
            (vec!["app::parse", "app::main"], 150),
        ]
    );
    assert_eq!(d.total(0), new.total(0) - base.total(0));
}

#[test]
fn diff_with_mismatched_types_names_both() {
    let e = heap().diff_base(&cpu()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    assert!(
        e.to_string().starts_with(
            "cannot subtract base profile: sample types differ: new profile has [alloc_objects/count"
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("base has [samples/count, cpu/nanoseconds]"),
        "{e}"
    );
}

#[test]
fn diff_saturates_instead_of_overflowing() {
    let build = |v: i64| {
        let mut b = ProfileBuilder::new();
        b.sample_type("samples", "count");
        let f = b.frame("f", "f.go", 1);
        b.sample(&[f], &[v], &[]);
        b.build()
    };
    let d = build(i64::MIN).diff_base(&build(i64::MAX)).unwrap();
    assert_eq!(d.sample[0].value, [i64::MIN]);
    let m = Profile::merge([&build(i64::MAX), &build(i64::MAX)]).unwrap();
    assert_eq!(m.sample[0].value, [i64::MAX]);
}
