//! Each validation rule, checked both on a profile edited in memory and on
//! the same profile after encoding, so the decoder is shown to enforce it.

mod common;

use common::sample_profile;
use heapwise_pprof::{ErrorKind, Profile};

/// Applies `edit` to the sample profile and checks that both `validate` and
/// `decode(encode(..))` fail with exactly `message`.
fn rejects(edit: impl FnOnce(&mut Profile), message: &str) {
    let mut p = sample_profile();
    edit(&mut p);
    let e = p.validate().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.to_string(), message);
    let e = Profile::decode(&p.encode()).unwrap_err();
    assert_eq!(e.to_string(), message, "after encoding");
}

/// An edit that breaks one rule.
type Edit = Box<dyn FnOnce(&mut Profile)>;

fn strings(p: &Profile) -> usize {
    p.string_table.len()
}

#[test]
fn sample_profile_is_valid() {
    sample_profile().validate().unwrap();
}

#[test]
fn string_table_must_start_with_empty_string() {
    let mut p = sample_profile();
    p.string_table[0] = "x".to_owned();
    assert_eq!(
        p.validate().unwrap_err().to_string(),
        "string table entry 0 is \"x\"; it must be the empty string"
    );
    let mut p = sample_profile();
    p.string_table.clear();
    assert_eq!(
        p.validate().unwrap_err().to_string(),
        "string table is empty; entry 0 must be the empty string"
    );
}

#[test]
fn every_string_index_is_checked() {
    let n = strings(&sample_profile());
    let cases: Vec<(Edit, String)> = vec![
        (Box::new(|p| p.sample_type[1].ty = 999), format!("sample type 1 type refers to string 999, but the string table has {n} entries")),
        (Box::new(|p| p.sample_type[0].unit = -1), format!("sample type 0 unit refers to string -1, but the string table has {n} entries")),
        (Box::new(|p| p.period_type.as_mut().unwrap().ty = 500), format!("period type type refers to string 500, but the string table has {n} entries")),
        (Box::new(|p| p.period_type.as_mut().unwrap().unit = 500), format!("period type unit refers to string 500, but the string table has {n} entries")),
        (Box::new(|p| p.drop_frames = 77), format!("drop_frames refers to string 77, but the string table has {n} entries")),
        (Box::new(|p| p.keep_frames = 78), format!("keep_frames refers to string 78, but the string table has {n} entries")),
        (Box::new(|p| p.default_sample_type = i64::MIN), format!("default_sample_type refers to string {}, but the string table has {n} entries", i64::MIN)),
        (Box::new(|p| p.doc_url = i64::MAX), format!("doc_url refers to string {}, but the string table has {n} entries", i64::MAX)),
        (Box::new(|p| p.comment.push(300)), format!("comment 1 refers to string 300, but the string table has {n} entries")),
        (Box::new(|p| p.mapping[0].filename = 40), format!("mapping 1 filename refers to string 40, but the string table has {n} entries")),
        (Box::new(|p| p.mapping[0].build_id = 41), format!("mapping 1 build_id refers to string 41, but the string table has {n} entries")),
        (Box::new(|p| p.function[1].name = 42), format!("function 2 name refers to string 42, but the string table has {n} entries")),
        (Box::new(|p| p.function[0].system_name = 43), format!("function 1 system_name refers to string 43, but the string table has {n} entries")),
        (Box::new(|p| p.function[2].filename = 44), format!("function 3 filename refers to string 44, but the string table has {n} entries")),
        (Box::new(|p| p.sample[0].label[1].key = 45), format!("sample 0 label 1 key refers to string 45, but the string table has {n} entries")),
        (Box::new(|p| p.sample[2].label[0].str = 46), format!("sample 2 label 0 str refers to string 46, but the string table has {n} entries")),
        (Box::new(|p| p.sample[0].label[0].num_unit = 47), format!("sample 0 label 0 num_unit refers to string 47, but the string table has {n} entries")),
    ];
    for (edit, message) in cases {
        rejects(edit, &message);
    }
}

#[test]
fn ids_must_be_nonzero() {
    rejects(
        |p| p.mapping[0].id = 0,
        "mapping at index 0 has id 0; ids must be nonzero",
    );
    rejects(
        |p| p.function[1].id = 0,
        "function at index 1 has id 0; ids must be nonzero",
    );
    rejects(
        |p| p.location[2].id = 0,
        "location at index 2 has id 0; ids must be nonzero",
    );
}

#[test]
fn ids_must_be_unique() {
    rejects(
        |p| {
            let mut m = p.mapping[0].clone();
            m.memory_start = 1;
            p.mapping.push(m);
        },
        "duplicate mapping id 1",
    );
    rejects(|p| p.function[2].id = 1, "duplicate function id 1");
    rejects(|p| p.location[1].id = 1, "duplicate location id 1");
}

#[test]
fn locations_must_refer_to_existing_mappings_and_functions() {
    rejects(
        |p| p.location[0].mapping_id = 99,
        "location 1 refers to mapping 99, which does not exist",
    );
    rejects(
        |p| p.location[0].line[1].function_id = 12,
        "location 1 line 1 refers to function 12, which does not exist",
    );
    // Zero means "none" and is fine.
    let mut p = sample_profile();
    p.location[0].mapping_id = 0;
    p.location[0].line[0].function_id = 0;
    p.validate().unwrap();
    assert_eq!(Profile::decode(&p.encode()).unwrap(), p);
}

#[test]
fn samples_must_refer_to_existing_locations() {
    rejects(
        |p| p.sample[1].location_id[1] = 99,
        "sample 1 refers to location 99, which does not exist",
    );
    rejects(
        |p| p.sample[0].location_id.push(0),
        "sample 0 refers to location 0, which does not exist",
    );
}

#[test]
fn samples_must_have_one_value_per_sample_type() {
    rejects(
        |p| p.sample[2].value.push(1),
        "sample 2 has 3 values, but the profile has 2 sample types",
    );
    rejects(
        |p| p.sample[0].value.clear(),
        "sample 0 has 0 values, but the profile has 2 sample types",
    );
}
