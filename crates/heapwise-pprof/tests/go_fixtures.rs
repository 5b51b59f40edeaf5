//! Real profiles written by Go's runtime/pprof (see testdata/gen/main.go).

mod common;

use common::{fixture, sample_profile};
use heapwise_pprof::Profile;

fn heap() -> Profile {
    Profile::decode(&fixture("go_heap.pb.gz")).expect("go heap profile decodes")
}

fn cpu() -> Profile {
    Profile::decode(&fixture("go_cpu.pb.gz")).expect("go cpu profile decodes")
}

fn function_names(p: &Profile) -> Vec<&str> {
    p.function.iter().map(|f| p.string(f.name)).collect()
}

#[test]
fn go_heap_profile_has_the_known_shape() {
    let p = heap();
    assert_eq!(
        p.sample_types(),
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ]
    );
    assert_eq!(p.period_type_names(), Some(("space", "bytes")));
    assert_eq!(p.sample_type_index("inuse_space"), Some(3));
    assert_eq!(p.sample_type_index("nope"), None);
    assert!(p.time_nanos > 0);
    let names = function_names(&p);
    for f in ["main.allocSmall", "main.allocLarge", "main.main"] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
    // The generator keeps 16 × 64 KiB alive from main.allocLarge.
    let inuse = p.sample_type_index("inuse_space").unwrap();
    let large: i64 = p
        .sample
        .iter()
        .filter(|s| p.stack_function_names(s).first() == Some(&"main.allocLarge"))
        .map(|s| s.value[inuse])
        .sum();
    assert!(large >= 16 * 64 * 1024, "allocLarge in use: {large}");
    // Go heap samples carry a numeric "bytes" label.
    assert!(p.sample.iter().any(|s| s
        .label
        .iter()
        .any(|l| p.string(l.key) == "bytes" && l.num > 0)));
    assert!(!p.mapping.is_empty());
}

#[test]
fn go_cpu_profile_has_the_known_shape() {
    let p = cpu();
    assert_eq!(
        p.sample_types(),
        [("samples", "count"), ("cpu", "nanoseconds")]
    );
    assert_eq!(p.period_type_names(), Some(("cpu", "nanoseconds")));
    assert_eq!(p.period, 10_000_000);
    assert!(p.duration_nanos >= 200_000_000);
    assert!(function_names(&p).contains(&"main.spin"));
    let cpu = p.sample_type_index("cpu").unwrap();
    assert!(p.total(cpu) > 0);
    // Every sample's cpu time is its count times the period.
    for s in &p.sample {
        assert_eq!(s.value[1], s.value[0] * p.period);
    }
}

#[test]
fn go_profiles_round_trip_through_our_encoder() {
    for p in [heap(), cpu()] {
        let raw = p.encode();
        let again = Profile::decode(&raw).unwrap();
        assert_eq!(again, p);
        // Our output is a fixed point: encoding the decoded copy gives the
        // same bytes.
        assert_eq!(again.encode(), raw);
        assert_eq!(Profile::decode(&p.encode_gzip()).unwrap(), p);
    }
}

#[test]
fn encoding_is_deterministic() {
    let p = sample_profile();
    assert_eq!(p.encode(), sample_profile().encode());
    assert_eq!(p.encode_gzip(), sample_profile().encode_gzip());
    let mut written = Vec::new();
    p.write_gzip(&mut written).unwrap();
    assert_eq!(written, p.encode_gzip());
    assert!(heapwise_pprof::is_gzip(&written));
}

#[test]
fn encoder_writes_the_empty_string_first_and_packs_repeated_fields() {
    let p = sample_profile();
    let raw = p.encode();
    // The first string table entry (field 6) is the empty string: 0x32 0x00.
    let at = raw.windows(2).position(|w| w == [0x32, 0x00]);
    assert!(at.is_some());
    // A sample's location ids are written packed: field 1, wire type 2.
    let decoded = Profile::decode(&raw).unwrap();
    assert_eq!(decoded.sample[0].location_id, p.sample[0].location_id);
    let mut empty = Profile::new();
    empty.string_table.clear();
    assert_eq!(empty.encode(), [0x32, 0x00]);
    assert_eq!(Profile::decode(&empty.encode()).unwrap(), Profile::new());
}

#[test]
fn writer_errors_are_reported() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let e = sample_profile().write_gzip(Broken).unwrap_err();
    assert_eq!(e.kind(), heapwise_pprof::ErrorKind::Io);
    assert!(e.to_string().contains("disk on fire"), "{e}");
    assert!(std::error::Error::source(&e).is_some());
}
