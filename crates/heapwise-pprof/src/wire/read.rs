//! The reading half of the wire format: a bounded cursor over a byte slice.
//!
//! Every length the reader takes from its input is checked against the
//! bytes that remain before anything is sliced, so no allocation or read is
//! ever larger than the input can justify, and every error names the
//! absolute byte offset where the problem starts.

use super::{WireType, MAX_FIELD};
use crate::error::{Error, Result};

/// The deepest message nesting the reader accepts. profile.proto itself
/// nests three deep (Profile → Location → Line); unknown fields are skipped
/// without being parsed, so this only guards against a programming error
/// turning into unbounded recursion.
pub(crate) const MAX_DEPTH: u32 = 16;

/// Decodes a base-128 varint of at most ten bytes from `next`, which
/// yields `None` at the end of the input; `start` is the absolute offset of
/// its first byte, for error messages. Shared by [`Reader`] and the
/// streaming scan of gzipped input, so both report the same errors.
#[inline]
pub(crate) fn decode_varint(mut next: impl FnMut() -> Option<u8>, start: usize) -> Result<u64> {
    let mut value = 0u64;
    for i in 0..10u32 {
        let Some(b) = next() else {
            return Err(Error::malformed(format!(
                "truncated varint at byte {start}"
            )));
        };
        if i == 9 && b > 1 {
            return Err(Error::malformed(format!(
                "varint at byte {start} overflows 64 bits"
            )));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    // Unreachable in practice: a tenth byte of 0 or 1 has no continuation
    // bit. Kept as an error rather than a panic.
    Err(Error::malformed(format!(
        "varint at byte {start} overflows 64 bits"
    )))
}

/// Splits a key read at byte `at` into field number and wire type. Groups
/// (wire types 3 and 4), the undefined wire types 6 and 7, and field
/// number 0 are errors.
#[inline]
pub(crate) fn parse_key(key: u64, at: usize) -> Result<(u32, WireType)> {
    let field = key >> 3;
    if field == 0 || field > u64::from(MAX_FIELD) {
        return Err(field_error(field, at));
    }
    let wire = match key & 7 {
        0 => WireType::Varint,
        1 => WireType::Fixed64,
        2 => WireType::Len,
        5 => WireType::Fixed32,
        wire => return Err(wire_error(field, wire, at)),
    };
    // `field` fits in 29 bits, checked above.
    Ok((field as u32, wire))
}

/// [`parse_key`]'s error for field number `field` (built out of line).
#[cold]
#[inline(never)]
fn field_error(field: u64, at: usize) -> Error {
    Error::malformed(format!("invalid field number {field} at byte {at}"))
}

/// [`parse_key`]'s error for wire type `wire` (built out of line).
#[cold]
#[inline(never)]
fn wire_error(field: u64, wire: u64, at: usize) -> Error {
    if let 3 | 4 = wire {
        return Error::malformed(format!(
            "field {field} at byte {at} is a group (wire type {wire}), which is not supported"
        ));
    }
    Error::malformed(format!(
        "invalid wire type {wire} for field {field} at byte {at}"
    ))
}

/// The number of varints in a packed run: the bytes that end one (high bit
/// clear). Exact for a well-formed run; a malformed one fails to decode.
pub(crate) fn count_varints(packed: &[u8]) -> usize {
    packed.iter().filter(|&&b| b < 0x80).count()
}

/// A bounded cursor over one protobuf message inside a larger buffer.
///
/// Positions are absolute offsets into the whole buffer, so error messages
/// point at the same byte whatever the nesting.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader over the whole of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
            depth: 0,
        }
    }

    /// True once every byte of this message has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// The absolute offset of the next byte.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left in this message.
    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn next_byte(&mut self) -> Option<u8> {
        if self.pos >= self.end {
            return None;
        }
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Reads a base-128 varint of at most ten bytes. Inline for one- and
    /// two-byte varints (keys, ids, counts, lengths): most of a profile's.
    #[inline]
    pub(crate) fn read_varint(&mut self) -> Result<u64> {
        match self.buf.get(self.pos..self.end) {
            Some(&[b, ..]) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            Some(&[b0, b1, ..]) if b1 < 0x80 => {
                self.pos += 2;
                Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7)
            }
            _ => self.read_varint_slow(),
        }
    }

    /// [`read_varint`](Self::read_varint) of a longer varint, or at the end.
    #[inline(never)]
    fn read_varint_slow(&mut self) -> Result<u64> {
        let start = self.pos;
        decode_varint(|| self.next_byte(), start)
    }

    /// Reads a field key. Groups (wire types 3 and 4), the undefined wire
    /// types 6 and 7, and field number 0 are errors.
    #[inline]
    pub(crate) fn read_key(&mut self) -> Result<(u32, WireType)> {
        let at = self.pos;
        let key = self.read_varint()?;
        parse_key(key, at)
    }

    /// Reads a length prefix and checks it against the bytes remaining.
    fn read_len(&mut self) -> Result<usize> {
        let at = self.pos;
        let len = self.read_varint()?;
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(len) if len <= remaining => Ok(len),
            _ => Err(Error::malformed(format!(
                "length {len} at byte {at} exceeds the {remaining} bytes remaining"
            ))),
        }
    }

    /// Reads a length-delimited field's bytes.
    pub(crate) fn read_bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.read_len()?;
        let start = self.pos;
        let end = start + len; // len <= remaining, so no overflow
        let bytes = self.buf.get(start..end).ok_or_else(|| {
            Error::malformed(format!("length {len} at byte {start} runs past the input"))
        })?;
        self.pos = end;
        Ok(bytes)
    }

    /// Reads a length-delimited field as a reader over its bytes, one
    /// nesting level deeper.
    pub(crate) fn read_message(&mut self) -> Result<Reader<'a>> {
        let at = self.pos;
        if self.depth >= MAX_DEPTH {
            return Err(Error::malformed(format!(
                "message at byte {at} is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        let len = self.read_len()?;
        let start = self.pos;
        self.pos = start + len;
        Ok(Reader {
            buf: self.buf,
            pos: start,
            end: start + len,
            depth: self.depth + 1,
        })
    }

    /// Skips a field's value of the given wire type.
    pub(crate) fn skip(&mut self, wire: WireType) -> Result<()> {
        match wire {
            WireType::Varint => self.read_varint().map(drop),
            WireType::Len => self.read_bytes().map(drop),
            WireType::Fixed64 => self.skip_fixed(8, "fixed64"),
            WireType::Fixed32 => self.skip_fixed(4, "fixed32"),
        }
    }

    fn skip_fixed(&mut self, n: usize, what: &str) -> Result<()> {
        if self.remaining() < n {
            return Err(Error::malformed(format!(
                "truncated {what} at byte {}",
                self.pos
            )));
        }
        self.pos += n;
        Ok(())
    }

    /// Reads one or more values of a repeated varint field, accepting both
    /// the packed (length-delimited) and the unpacked (one varint per key)
    /// encodings, and hands each to `push`. `what` names the field in an
    /// error message.
    pub(crate) fn read_repeated_varint(
        &mut self,
        wire: WireType,
        mut push: impl FnMut(u64),
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        match wire {
            WireType::Varint => {
                push(self.read_varint()?);
                Ok(())
            }
            WireType::Len => {
                let mut packed = self.read_message()?;
                while !packed.is_empty() {
                    push(packed.read_varint()?);
                }
                Ok(())
            }
            other => Err(Error::malformed(format!(
                "{} at byte {} has wire type {other}, expected 0 (varint) or 2 (packed)",
                what(),
                self.pos
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{put_packed_uint, put_varint, varint_len};

    const EDGES: [u64; 14] = [
        0,
        1,
        0x7f,
        0x80,
        0x3fff,
        0x4000,
        0x1f_ffff,
        0x20_0000,
        u32::MAX as u64,
        1 << 56,
        (1 << 63) - 1,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn varint_round_trips_edge_values() {
        for v in EDGES {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "length of {v}");
            let mut r = Reader::new(&buf);
            assert_eq!(r.read_varint().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    /// Varints with bytes after them: the same values and errors, and
    /// never read past the end of the message they are in.
    #[test]
    fn varints_with_bytes_after_them() {
        for v in EDGES {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let len = buf.len();
            buf.extend_from_slice(&[0xff; 12]);
            let mut r = Reader::new(&buf);
            assert_eq!(r.read_varint().unwrap(), v);
            assert_eq!(r.position(), len, "after {v}");
        }
        let mut buf = vec![0xff; 9];
        buf.extend_from_slice(&[0x02, 0, 0]);
        let e = Reader::new(&buf).read_varint().unwrap_err();
        assert_eq!(e.to_string(), "varint at byte 0 overflows 64 bits");
        // A message of 3 bytes whose varint runs on past its end.
        let mut buf = vec![0x0a, 0x03, 0x96, 0x96, 0x96];
        buf.extend_from_slice(&[0x01; 12]);
        let mut outer = Reader::new(&buf);
        outer.read_key().unwrap();
        let mut inner = outer.read_message().unwrap();
        let e = inner.read_varint().unwrap_err();
        assert_eq!(e.to_string(), "truncated varint at byte 2");
    }

    #[test]
    fn non_canonical_varint_with_padding_is_accepted() {
        // 1 encoded in three bytes: legal protobuf.
        let mut r = Reader::new(&[0x81, 0x80, 0x00]);
        assert_eq!(r.read_varint().unwrap(), 1);
    }

    #[test]
    fn truncated_varint_names_its_start() {
        let buf = [0x08, 0x96, 0x80];
        let mut r = Reader::new(&buf);
        r.read_varint().unwrap();
        let e = r.read_varint().unwrap_err();
        assert_eq!(e.to_string(), "truncated varint at byte 1");
        assert_eq!(e.kind(), crate::ErrorKind::Malformed);
        assert!(Reader::new(&[]).read_varint().is_err());
    }

    #[test]
    fn overlong_varints_are_rejected() {
        // Tenth byte above 1 overflows 64 bits.
        let mut buf = vec![0xff; 9];
        buf.push(0x02);
        let e = Reader::new(&buf).read_varint().unwrap_err();
        assert_eq!(e.to_string(), "varint at byte 0 overflows 64 bits");
        // Eleven bytes.
        let mut buf = vec![0x80; 10];
        buf.push(0x00);
        assert!(Reader::new(&buf).read_varint().is_err());
    }

    #[test]
    fn keys_reject_groups_bad_wire_types_and_field_zero() {
        for (key, needle) in [
            (0x0b_u64, "group"),           // field 1, wire type 3
            (0x0c, "group"),               // field 1, wire type 4
            (0x0e, "invalid wire type 6"), // field 1, wire type 6
            (0x0f, "invalid wire type 7"),
            (0x00, "invalid field number 0"),
            (u64::MAX, "invalid field number"),
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, key);
            let e = Reader::new(&buf).read_key().unwrap_err();
            assert!(e.to_string().contains(needle), "{key:#x}: {e}");
        }
        let mut r = Reader::new(&[0x08, 0x11, 0x12, 0x1d]);
        assert_eq!(r.read_key().unwrap(), (1, WireType::Varint));
        assert_eq!(r.read_key().unwrap(), (2, WireType::Fixed64));
        assert_eq!(r.read_key().unwrap(), (2, WireType::Len));
        assert_eq!(r.read_key().unwrap(), (3, WireType::Fixed32));
    }

    #[test]
    fn hostile_lengths_are_rejected_before_allocating() {
        for len in [6u64, 1 << 31, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, len);
            buf.extend_from_slice(b"abcde");
            let e = Reader::new(&buf).read_bytes().unwrap_err();
            assert!(
                e.to_string().starts_with(&format!(
                    "length {len} at byte 0 exceeds the 5 bytes remaining"
                )),
                "{e}"
            );
            assert!(Reader::new(&buf).read_message().is_err());
        }
    }

    #[test]
    fn sub_message_is_bounded_by_its_length() {
        // A message of length 2 followed by a byte that belongs to the
        // parent: the child must not read it.
        let buf = [0x02, 0x08, 0x96, 0x01];
        let mut r = Reader::new(&buf);
        let mut child = r.read_message().unwrap();
        let (field, wire) = child.read_key().unwrap();
        assert_eq!((field, wire), (1, WireType::Varint));
        assert_eq!(
            child.read_varint().unwrap_err().to_string(),
            "truncated varint at byte 2"
        );
        assert_eq!(r.position(), 3);
        assert_eq!(r.remaining(), 1);
    }

    #[test]
    fn nesting_depth_is_limited() {
        // Length prefixes nested deeper than the limit.
        let depth = MAX_DEPTH as usize + 4;
        let mut buf = Vec::new();
        for _ in 0..depth {
            let mut outer = Vec::new();
            put_varint(&mut outer, buf.len() as u64);
            outer.extend_from_slice(&buf);
            buf = outer;
        }
        let mut r = Reader::new(&buf);
        let mut levels = 0;
        let err = loop {
            match r.read_message() {
                Ok(child) => {
                    r = child;
                    levels += 1;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(levels, MAX_DEPTH);
        assert!(err.to_string().contains("nested deeper than"), "{err}");
    }

    #[test]
    fn skip_handles_every_wire_type_and_truncation() {
        let mut r = Reader::new(&[0x96, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0xaa, 1, 2, 3, 4]);
        r.skip(WireType::Varint).unwrap();
        r.skip(WireType::Fixed64).unwrap();
        r.skip(WireType::Len).unwrap();
        r.skip(WireType::Fixed32).unwrap();
        assert!(r.is_empty());
        let e = Reader::new(&[1, 2, 3]).skip(WireType::Fixed32).unwrap_err();
        assert_eq!(e.to_string(), "truncated fixed32 at byte 0");
        let e = Reader::new(&[1, 2, 3]).skip(WireType::Fixed64).unwrap_err();
        assert_eq!(e.to_string(), "truncated fixed64 at byte 0");
    }

    #[test]
    fn repeated_varints_packed_and_unpacked() {
        let mut buf = Vec::new();
        put_packed_uint(&mut buf, 1, &EDGES);
        let mut r = Reader::new(&buf);
        let (_, wire) = r.read_key().unwrap();
        let mut out = Vec::new();
        r.read_repeated_varint(wire, |v| out.push(v), || "test".into())
            .unwrap();
        assert_eq!(out, EDGES);

        let mut r = Reader::new(&[0x05, 0x0a]);
        let mut out = Vec::new();
        r.read_repeated_varint(WireType::Varint, |v| out.push(v), || "test".into())
            .unwrap();
        assert_eq!(out, [5]);

        let e = Reader::new(&[0, 0, 0, 0])
            .read_repeated_varint(
                WireType::Fixed32,
                |v| out.push(v),
                || "field 1 of sample".into(),
            )
            .unwrap_err();
        assert!(
            e.to_string().contains("expected 0 (varint) or 2 (packed)"),
            "{e}"
        );

        // A packed run whose last varint is cut off by the length prefix.
        let e = Reader::new(&[0x02, 0x01, 0x80, 0x01])
            .read_repeated_varint(WireType::Len, |v| out.push(v), || "test".into())
            .unwrap_err();
        assert_eq!(e.to_string(), "truncated varint at byte 2");
    }
}
