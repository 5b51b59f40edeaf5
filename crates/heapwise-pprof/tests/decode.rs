//! Wire-level decoding: packed and unpacked scalars, unknown fields, bad
//! wire types, hostile lengths, truncation and gzip handling.

mod common;

use common::{fixture, raw_fixture, sample_profile, Pb};
use heapwise_pprof::{DecodeOptions, ErrorKind, Profile};

/// A minimal valid profile in which the caller chooses how the sample is
/// written.
fn minimal(sample: Pb) -> Vec<u8> {
    Pb::new()
        .msg(1, Pb::new().uint(1, 1).uint(2, 2)) // sample_type samples/count
        .msg(2, sample)
        .msg(
            4,
            Pb::new()
                .uint(1, 1)
                .msg(4, Pb::new().uint(1, 7).uint(2, 12)),
        )
        .msg(4, Pb::new().uint(1, 2))
        .msg(5, Pb::new().uint(1, 7).uint(2, 3))
        .bytes(6, b"")
        .bytes(6, b"samples")
        .bytes(6, b"count")
        .bytes(6, b"main.main")
        .done()
}

#[test]
fn packed_and_unpacked_repeated_fields_decode_alike() {
    let unpacked = minimal(Pb::new().uint(1, 1).uint(1, 2).uint(2, 5));
    let packed = minimal(Pb::new().bytes(1, &[1, 2]).bytes(2, &[5]));
    // Mixed: part packed, part unpacked, appended in order.
    let mixed = minimal(Pb::new().uint(1, 1).bytes(1, &[2]).uint(2, 5));
    let a = Profile::decode(&unpacked).unwrap();
    let b = Profile::decode(&packed).unwrap();
    let c = Profile::decode(&mixed).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.sample[0].location_id, [1, 2]);
    assert_eq!(a.sample[0].value, [5]);
    assert_eq!(a.sample_types(), [("samples", "count")]);
    assert_eq!(a.stack_function_names(&a.sample[0]), ["main.main"]);
}

#[test]
fn negative_values_decode_from_ten_byte_varints() {
    let neg = Pb::new().uint(1, 1).uint(2, -5i64 as u64);
    let p = Profile::decode(&minimal(neg)).unwrap();
    assert_eq!(p.sample[0].value, [-5]);
}

#[test]
fn unknown_fields_of_every_skippable_wire_type_are_ignored() {
    let plain = Profile::decode(&minimal(Pb::new().uint(1, 1).uint(2, 5))).unwrap();
    let unknowns = |pb: Pb| {
        pb.uint(100, 42) // varint
            .key(101, 1)
            .raw(&[1, 2, 3, 4, 5, 6, 7, 8]) // fixed64
            .bytes(102, b"opaque") // length-delimited
            .key(103, 5)
            .raw(&[1, 2, 3, 4]) // fixed32
    };
    // Unknown fields at the top level (including the newer Breakdown-era
    // field numbers 16+) and inside a sample.
    let sample = unknowns(Pb::new().uint(1, 1)).uint(2, 5);
    let mut bytes = minimal(sample);
    bytes.extend(unknowns(Pb::new()).done());
    let p = Profile::decode(&bytes).unwrap();
    assert_eq!(p, plain);
}

#[test]
fn groups_are_rejected() {
    for wire in [3u8, 4] {
        let mut bytes = minimal(Pb::new().uint(1, 1).uint(2, 5));
        bytes.extend(Pb::new().key(20, wire).done());
        let e = Profile::decode(&bytes).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert!(e.to_string().contains("group"), "{e}");
    }
}

#[test]
fn undefined_wire_types_are_rejected() {
    for wire in [6u8, 7] {
        let sample = Pb::new().uint(1, 1).uint(2, 5).key(9, wire);
        let e = Profile::decode(&minimal(sample)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert!(
            e.to_string()
                .contains(&format!("invalid wire type {wire} for field 9")),
            "{e}"
        );
    }
}

#[test]
fn known_field_with_wrong_wire_type_is_an_error() {
    let bytes = Pb::new().key(9, 5).raw(&[0, 0, 0, 0]).bytes(6, b"").done();
    let e = Profile::decode(&bytes).unwrap_err();
    assert_eq!(
        e.to_string(),
        "field 9 of profile at byte 0 has wire type 5 (fixed32), expected 0 (varint)"
    );
    let bytes = Pb::new().uint(1, 3).done();
    let e = Profile::decode(&bytes).unwrap_err();
    assert!(
        e.to_string().contains("expected 2 (length-delimited)"),
        "{e}"
    );
}

#[test]
fn hostile_length_prefixes_fail_fast_without_allocating() {
    // A string claiming 2^62 bytes, a sample claiming a petabyte, a packed
    // field claiming more than its message: all are errors, immediately.
    for bytes in [
        Pb::new().key(6, 2).varint(1 << 62).raw(b"abc").done(),
        Pb::new().key(2, 2).varint(1 << 50).done(),
        Pb::new()
            .bytes(6, b"")
            .msg(2, Pb::new().key(1, 2).varint(1 << 40).raw(&[1, 2]))
            .done(),
    ] {
        let start = std::time::Instant::now();
        let e = Profile::decode(&bytes).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert!(e.to_string().contains("bytes remaining"), "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}

#[test]
fn singular_message_repeated_merges_fields() {
    let bytes = Pb::new()
        .msg(11, Pb::new().uint(1, 1))
        .msg(11, Pb::new().uint(2, 2))
        .bytes(6, b"")
        .bytes(6, b"space")
        .bytes(6, b"bytes")
        .done();
    let p = Profile::decode(&bytes).unwrap();
    assert_eq!(p.period_type_names(), Some(("space", "bytes")));
}

#[test]
fn invalid_utf8_strings_decode_lossily() {
    let bytes = Pb::new().bytes(6, b"").bytes(6, b"bad \xff name").done();
    let p = Profile::decode(&bytes).unwrap();
    assert_eq!(p.string_table[1], "bad \u{fffd} name");
}

#[test]
fn empty_input_is_an_error() {
    let e = Profile::decode(&[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.to_string(),
        "string table is empty; entry 0 must be the empty string"
    );
}

/// Byte offsets at which the top-level message ends a field: cutting there
/// leaves a shorter but well-formed message.
fn top_level_boundaries(raw: &[u8]) -> Vec<usize> {
    fn varint(raw: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = raw[*pos];
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    let mut pos = 0;
    let mut out = vec![0];
    while pos < raw.len() {
        let key = varint(raw, &mut pos);
        match key & 7 {
            0 => {
                varint(raw, &mut pos);
            }
            2 => {
                let len = varint(raw, &mut pos) as usize;
                pos += len;
            }
            w => panic!("fixture uses wire type {w}"),
        }
        out.push(pos);
    }
    out
}

fn assert_every_prefix_fails_or_is_a_boundary(raw: &[u8]) {
    let boundaries = top_level_boundaries(raw);
    let mut ok = 0;
    for cut in 0..raw.len() {
        match Profile::decode(&raw[..cut]) {
            Ok(_) => {
                assert!(
                    boundaries.contains(&cut),
                    "prefix of {cut} bytes decoded, but it cuts a field"
                );
                ok += 1;
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    // Only prefixes after the string table (trailing scalars) can be valid.
    assert!(ok < 16, "{ok} prefixes decoded");
}

#[test]
fn truncating_a_go_heap_profile_at_every_byte_never_panics() {
    assert_every_prefix_fails_or_is_a_boundary(&raw_fixture("go_heap.pb.gz"));
}

#[test]
fn truncating_a_go_cpu_profile_at_every_byte_never_panics() {
    assert_every_prefix_fails_or_is_a_boundary(&raw_fixture("go_cpu.pb.gz"));
}

#[test]
fn truncating_our_encoding_at_every_byte_never_panics() {
    assert_every_prefix_fails_or_is_a_boundary(&sample_profile().encode());
}

#[test]
fn truncating_gzipped_input_at_every_byte_is_always_an_error() {
    let gz = fixture("go_heap.pb.gz");
    for cut in 0..gz.len() {
        assert!(Profile::decode(&gz[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn gzip_and_raw_input_decode_alike() {
    let gz = Profile::decode(&fixture("go_heap.pb.gz")).unwrap();
    let raw = Profile::decode(&raw_fixture("go_heap.pb.gz")).unwrap();
    assert_eq!(gz, raw);
}

#[test]
fn concatenated_gzip_members_are_read_as_one_stream() {
    let raw = sample_profile().encode();
    let (a, b) = raw.split_at(raw.len() / 2);
    let gz = |part: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        e.finish().unwrap()
    };
    let mut both = gz(a);
    both.extend(gz(b));
    assert_eq!(Profile::decode(&both).unwrap(), sample_profile());
}

#[test]
fn gzip_with_a_bad_header_is_a_gzip_error() {
    let e = Profile::decode(&[
        0x1f, 0x8b, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ])
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Gzip);
    assert_eq!(e.to_string(), "gzip: invalid header");
}

#[test]
fn gzip_with_bytes_appended_says_so() {
    for junk in [&b"x"[..], b"\n", b"not gzip at all, a longer tail"] {
        let mut gz = fixture("go_heap.pb.gz");
        gz.extend_from_slice(junk);
        let e = Profile::decode(&gz).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Gzip);
        assert_eq!(
            e.to_string(),
            "gzip: bytes after the end of the compressed data are not gzip"
        );
    }
    // A truncated stream is still one.
    let gz = fixture("go_heap.pb.gz");
    let e = Profile::decode(&gz[..gz.len() - 3]).unwrap_err();
    assert_eq!(e.to_string(), "gzip: truncated stream");
}

#[test]
fn a_profile_gzipped_twice_says_so() {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&fixture("go_heap.pb.gz")).unwrap();
    let e = Profile::decode(&e.finish().unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Gzip);
    assert!(e.to_string().contains("compressed twice"), "{e}");
}

#[test]
fn gzip_with_a_corrupt_body_is_a_gzip_error() {
    let mut gz = fixture("go_heap.pb.gz");
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 8] {
        *b ^= 0x5a;
    }
    let e = Profile::decode(&gz).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Gzip, "{e}");
    assert!(e.to_string().starts_with("gzip: "), "{e}");
}

#[test]
fn hostile_length_prefixes_in_gzipped_input_say_what_raw_input_says() {
    use std::io::Write;
    // Declared lengths past the decompressed-size limit and the memory
    // budget, over a few bytes: not "too large", but too short.
    for raw in [
        Pb::new().key(6, 2).varint(1 << 60).raw(b"abc").done(),
        Pb::new().key(6, 2).varint(4 << 30).raw(b"abc").done(),
        Pb::new().key(2, 2).varint(1 << 50).done(),
    ] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&raw).unwrap();
        let gz = e.finish().unwrap();
        let start = std::time::Instant::now();
        let e = Profile::decode(&gz).unwrap_err();
        let r = Profile::decode(&raw).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
        assert_eq!(e.to_string(), r.to_string());
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}

#[test]
fn gzip_bomb_hits_the_size_limit() {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // A well-formed start: one string-table entry of 8 MiB of zeros (a
    // stream of zeros alone is malformed at byte 0; see below).
    e.write_all(&Pb::new().key(6, 2).varint(8 << 20).done())
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..8 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    let options = DecodeOptions::new().max_decompressed_size(1 << 20);
    let err = Profile::decode_with(&bomb, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert_eq!(
        err.to_string(),
        "gzip: decompressed size exceeds the limit of 1048576 bytes"
    );
    assert_eq!(
        DecodeOptions::default().decompressed_size_limit(),
        heapwise_pprof::DEFAULT_MAX_DECOMPRESSED_SIZE
    );
}

#[test]
fn input_exactly_at_the_limit_is_accepted() {
    let raw = sample_profile().encode();
    let gz = sample_profile().encode_gzip();
    let options = DecodeOptions::new().max_decompressed_size(raw.len() as u64);
    assert!(Profile::decode_with(&gz, &options).is_ok());
    let options = DecodeOptions::new().max_decompressed_size(raw.len() as u64 - 1);
    assert_eq!(
        Profile::decode_with(&gz, &options).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
}
