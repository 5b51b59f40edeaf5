//! The protobuf wire format: varints, field keys, length-delimited and
//! packed fields, written by hand into a `Vec<u8>`.
//!
//! This is the encoding half of the
//! [wire format](https://protobuf.dev/programming-guides/encoding/), with
//! no schema and no code generation: a message is its fields, each a key
//! (field number and [`WireType`]) then its value, in any order the
//! writer chooses. heapwise uses it for pprof's `profile.proto` and for
//! Perfetto's trace protos; anything else that writes protobuf by hand can
//! too.
//!
//! Every `put_*` function appends exactly what it is asked to, zero or
//! not: whether a default value is omitted is the schema's business
//! (proto3 omits zeros, proto2 keeps them because presence matters), so it
//! is the caller's. The one exception is an empty packed field, which
//! decodes as no elements under either syntax and is left out.
//!
//! ```
//! use heapwise_pprof::wire;
//!
//! // message Test { int32 a = 1; string b = 2; Inner c = 3; }
//! // message Inner { repeated uint64 d = 4 [packed = true]; }
//! let mut buf = Vec::new();
//! wire::put_uint(&mut buf, 1, 150);
//! wire::put_bytes(&mut buf, 2, b"testing");
//! wire::put_message(&mut buf, 3, |inner| wire::put_packed_uint(inner, 4, &[3, 270]));
//! assert_eq!(
//!     buf,
//!     b"\x08\x96\x01\x12\x07testing\x1a\x05\x22\x03\x03\x8e\x02"
//! );
//! ```
//!
//! The crate's decoder reads the same format with a bounded cursor that
//! checks every length against the input before using it; that half is
//! private to the crate.

mod read;

pub(crate) use read::{count_varints, decode_varint, parse_key, Reader};

/// The largest field number protobuf allows: 2^29 - 1.
pub const MAX_FIELD: u32 = (1 << 29) - 1;

/// A protobuf wire type: how a field's value is laid out after its key.
///
/// Groups (wire types 3 and 4, deprecated) are not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireType {
    /// 0: a base-128 varint (`int32`, `int64`, `uint32`, `uint64`, `bool`,
    /// enums).
    Varint,
    /// 1: eight little-endian bytes (`fixed64`, `sfixed64`, `double`).
    Fixed64,
    /// 2: a varint length followed by that many bytes (`string`, `bytes`,
    /// embedded messages, packed repeated fields).
    Len,
    /// 5: four little-endian bytes (`fixed32`, `sfixed32`, `float`).
    Fixed32,
}

impl WireType {
    /// The wire type's number, the low three bits of a key.
    pub const fn number(self) -> u8 {
        match self {
            WireType::Varint => 0,
            WireType::Fixed64 => 1,
            WireType::Len => 2,
            WireType::Fixed32 => 5,
        }
    }
}

impl std::fmt::Display for WireType {
    /// The number and the name: `2 (length-delimited)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "length-delimited",
            WireType::Fixed32 => "fixed32",
        };
        write!(f, "{} ({name})", self.number())
    }
}

/// Appends `v` as a base-128 varint: seven bits per byte, least
/// significant first, the high bit set on every byte but the last.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// The number of bytes [`put_varint`] writes for `v`: 1 to 10.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends a field key: `field << 3 | wire`, as a varint.
///
/// `field` must be between 1 and [`MAX_FIELD`] (checked in debug builds).
pub fn put_key(buf: &mut Vec<u8>, field: u32, wire: WireType) {
    debug_assert!(
        (1..=MAX_FIELD).contains(&field),
        "field number {field} is outside 1..={MAX_FIELD}"
    );
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire.number()));
}

/// Appends a varint field: `uint64`, `uint32`, an enum, or a non-negative
/// `int32`.
pub fn put_uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, WireType::Varint);
    put_varint(buf, v);
}

/// Appends an `int64` or `int32` field: two's complement as a varint, so a
/// negative value takes ten bytes (what protobuf specifies; `sint64`'s
/// zigzag form is a different type).
pub fn put_int(buf: &mut Vec<u8>, field: u32, v: i64) {
    put_uint(buf, field, v as u64);
}

/// Appends a `bool` field: a varint 0 or 1.
pub fn put_bool(buf: &mut Vec<u8>, field: u32, v: bool) {
    put_uint(buf, field, u64::from(v));
}

/// Appends a `fixed64` field: eight little-endian bytes.
pub fn put_fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, WireType::Fixed64);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `double` field: its IEEE 754 bits as a `fixed64`.
pub fn put_double(buf: &mut Vec<u8>, field: u32, v: f64) {
    put_fixed64(buf, field, v.to_bits());
}

/// Appends a length-delimited field: a `string`'s or `bytes`' contents, or
/// an embedded message already encoded. Written even when empty.
pub fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, WireType::Len);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Appends a packed repeated `uint64` (or `uint32`, enum) field: one
/// length-delimited run of varints. Left out when `values` is empty.
pub fn put_packed_uint(buf: &mut Vec<u8>, field: u32, values: &[u64]) {
    put_packed(buf, field, values.iter().copied());
}

/// Appends a packed repeated `int64` (or `int32`) field, two's complement
/// as in [`put_int`]. Left out when `values` is empty.
pub fn put_packed_int(buf: &mut Vec<u8>, field: u32, values: &[i64]) {
    put_packed(buf, field, values.iter().map(|&v| v as u64));
}

fn put_packed(buf: &mut Vec<u8>, field: u32, values: impl Iterator<Item = u64> + Clone) {
    if values.clone().next().is_none() {
        return;
    }
    // As a message: the run written in place after one byte kept for its
    // length (most runs are under 128 bytes), with room for two bytes a
    // value made first. Summing the values' lengths first, then writing
    // them, took a full profile's samples ~35 instructions a value.
    buf.reserve(2 * values.size_hint().0 + 2);
    put_message(buf, field, |b| {
        for v in values {
            put_varint(b, v);
        }
    });
}

/// Appends an embedded message field whose fields `body` writes. The body
/// is written in place after one byte kept for its length, which is all a
/// body under 128 bytes needs (most of a profile's: samples, locations,
/// functions); a longer body moves by the prefix's extra bytes once. No
/// scratch buffer.
pub fn put_message(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    put_key(buf, field, WireType::Len);
    buf.push(0);
    let start = buf.len();
    body(buf);
    let len = buf.len() - start;
    if len < 0x80 {
        buf[start - 1] = len as u8;
        return;
    }
    let mut prefix = Vec::with_capacity(10);
    put_varint(&mut prefix, len as u64);
    let extra = prefix.len() - 1;
    buf.resize(buf.len() + extra, 0);
    buf.copy_within(start..start + len, start + extra);
    buf[start - 1..start + extra].copy_from_slice(&prefix);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_known_encodings() {
        let ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let cases: [(u64, &[u8]); 5] = [
            (0, &[0x00]),
            (1, &[0x01]),
            (300, &[0xac, 0x02]),
            (u64::MAX, &ten),
            // int64 -1 is ten bytes, as protobuf specifies.
            (-1i64 as u64, &ten),
        ];
        for (v, bytes) in cases {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf, bytes);
            assert_eq!(varint_len(v), bytes.len());
        }
    }

    #[test]
    fn keys_carry_the_field_and_the_wire_type() {
        let mut buf = Vec::new();
        put_key(&mut buf, 1, WireType::Varint);
        put_key(&mut buf, 2, WireType::Fixed64);
        put_key(&mut buf, 3, WireType::Len);
        put_key(&mut buf, 4, WireType::Fixed32);
        // Field 58 needs a two-byte key.
        put_key(&mut buf, 58, WireType::Varint);
        put_key(&mut buf, MAX_FIELD, WireType::Len);
        assert_eq!(
            buf,
            [0x08, 0x11, 0x1a, 0x25, 0xd0, 0x03, 0xfa, 0xff, 0xff, 0xff, 0x0f]
        );
        assert_eq!(WireType::Len.to_string(), "2 (length-delimited)");
        assert_eq!(WireType::Fixed32.number(), 5);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "field number 0 is outside")]
    fn field_zero_is_a_bug() {
        put_key(&mut Vec::new(), 0, WireType::Varint);
    }

    #[test]
    fn scalars_are_written_zero_or_not() {
        let mut buf = Vec::new();
        put_uint(&mut buf, 1, 0);
        put_int(&mut buf, 2, 0);
        put_bool(&mut buf, 3, false);
        put_bytes(&mut buf, 4, b"");
        assert_eq!(buf, [0x08, 0, 0x10, 0, 0x18, 0, 0x22, 0]);

        let mut buf = Vec::new();
        put_uint(&mut buf, 1, 150);
        assert_eq!(buf, [0x08, 0x96, 0x01]);
        let mut buf = Vec::new();
        put_int(&mut buf, 4, -1);
        assert_eq!(buf.len(), 1 + 10);
        assert_eq!(buf[0], 4 << 3);
        let mut buf = Vec::new();
        put_bool(&mut buf, 2, true);
        assert_eq!(buf, [0x10, 1]);
    }

    #[test]
    fn fixed_width_fields_are_little_endian() {
        let mut buf = Vec::new();
        put_double(&mut buf, 5, 1.5);
        assert_eq!(buf, [5 << 3 | 1, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]);
        let mut buf = Vec::new();
        put_fixed64(&mut buf, 1, 0x0102_0304_0506_0708);
        assert_eq!(buf, [0x09, 8, 7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn bytes_are_length_delimited() {
        let mut buf = Vec::new();
        put_bytes(&mut buf, 2, b"testing");
        assert_eq!(buf, b"\x12\x07testing");
        let long = [7u8; 200];
        let mut buf = Vec::new();
        put_bytes(&mut buf, 1, &long);
        assert_eq!(buf[..3], [0x0a, 0xc8, 0x01]);
        assert_eq!(buf[3..], long);
    }

    #[test]
    fn packed_fields_are_one_run_and_empty_ones_are_left_out() {
        let mut buf = Vec::new();
        put_packed_uint(&mut buf, 4, &[3, 270, 86942]);
        assert_eq!(buf, [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]);
        let mut buf = Vec::new();
        put_packed_int(&mut buf, 1, &[-1, 1]);
        assert_eq!(buf[..2], [0x0a, 11]);
        assert_eq!(buf.len(), 2 + 11);
        let mut buf = Vec::new();
        put_packed_uint(&mut buf, 1, &[]);
        put_packed_int(&mut buf, 2, &[]);
        assert!(buf.is_empty());
    }

    /// Values of every varint length either side of each boundary, after
    /// other bytes: the run is their varints, one after another.
    #[test]
    fn packed_values_of_every_length_are_their_varints() {
        let mut values = vec![0u64, 1, u64::MAX];
        for bits in (7..64).step_by(7) {
            values.extend([(1u64 << bits) - 1, 1 << bits, (1 << bits) + 1]);
        }
        let mut buf = vec![0xaa];
        put_packed_uint(&mut buf, 3, &values);
        let mut want = vec![0xaa];
        let mut run = Vec::new();
        for &v in &values {
            put_varint(&mut run, v);
        }
        put_key(&mut want, 3, WireType::Len);
        put_varint(&mut want, run.len() as u64);
        want.extend_from_slice(&run);
        assert_eq!(buf, want);
    }

    /// Bodies either side of each prefix length, after other bytes: the
    /// same bytes as a length-delimited field of the body.
    #[test]
    fn messages_of_every_prefix_length_are_their_bytes() {
        for len in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut a = vec![9, 9];
            put_bytes(&mut a, 5, &body);
            let mut b = vec![9, 9];
            put_message(&mut b, 5, |m| m.extend_from_slice(&body));
            assert_eq!(a, b, "a body of {len} bytes");
        }
    }

    #[test]
    fn message_prefix_is_inserted_for_long_bodies() {
        let mut buf = Vec::new();
        put_message(&mut buf, 6, |b| b.extend(std::iter::repeat_n(7u8, 300)));
        let mut r = Reader::new(&buf);
        assert_eq!(r.read_key().unwrap(), (6, WireType::Len));
        let body = r.read_bytes().unwrap();
        assert_eq!(body.len(), 300);
        assert!(r.is_empty());
    }

    #[test]
    fn a_message_is_its_encoded_bytes() {
        let mut inner = Vec::new();
        put_uint(&mut inner, 1, 150);
        let mut a = Vec::new();
        put_bytes(&mut a, 3, &inner);
        let mut b = Vec::new();
        put_message(&mut b, 3, |m| put_uint(m, 1, 150));
        assert_eq!(a, b);
        assert_eq!(a, [0x1a, 0x03, 0x08, 0x96, 0x01]);
        // An empty message is written.
        let mut buf = Vec::new();
        put_message(&mut buf, 1, |_| {});
        assert_eq!(buf, [0x0a, 0]);
    }
}
