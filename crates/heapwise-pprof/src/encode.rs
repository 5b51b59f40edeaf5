//! Profile → protobuf bytes.
//!
//! Fields are written in field-number order, repeated scalars packed, zero
//! scalars omitted (proto3), and `string_table[0]` is always present, so the
//! same profile always encodes to the same bytes.

use std::io::Write;

use crate::error::Result;
use crate::gzip;
use crate::profile::{Function, Label, Line, Location, Mapping, Profile, ValueType};
use crate::wire::{self, put_bytes, put_message, put_packed_int, put_packed_uint};

impl Profile {
    /// Encodes the profile as raw (uncompressed) protobuf bytes.
    ///
    /// The output is deterministic. Encoding does not validate: call
    /// [`Profile::validate`] first if the profile was edited by hand. An
    /// empty string table is written as `[""]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_profile(&mut buf, self, &[]);
        buf
    }

    /// Encodes the profile and gzips it, as `go tool pprof` expects on disk.
    pub fn encode_gzip(&self) -> Vec<u8> {
        gzip::compress(&self.encode())
    }

    /// Encodes the profile, gzips it and writes it to `w`.
    pub fn write_gzip<W: Write>(&self, w: W) -> Result<()> {
        gzip::compress_to(&self.encode(), w)
    }
}

/// Encodes `p`, with `more_samples` (whole `sample` fields, from
/// [`put_sample`]) after its own samples.
pub(crate) fn encode_profile(buf: &mut Vec<u8>, p: &Profile, more_samples: &[u8]) {
    for vt in &p.sample_type {
        put_message(buf, 1, |b| encode_value_type(b, vt));
    }
    for s in &p.sample {
        put_sample(buf, &s.location_id, &s.value, &s.label);
    }
    buf.extend_from_slice(more_samples);
    for m in &p.mapping {
        put_message(buf, 3, |b| encode_mapping(b, m));
    }
    for l in &p.location {
        put_message(buf, 4, |b| encode_location(b, l));
    }
    for f in &p.function {
        put_message(buf, 5, |b| encode_function(b, f));
    }
    if p.string_table.is_empty() {
        put_bytes(buf, 6, b"");
    }
    for s in &p.string_table {
        put_bytes(buf, 6, s.as_bytes());
    }
    put_i64(buf, 7, p.drop_frames);
    put_i64(buf, 8, p.keep_frames);
    put_i64(buf, 9, p.time_nanos);
    put_i64(buf, 10, p.duration_nanos);
    if let Some(vt) = &p.period_type {
        put_message(buf, 11, |b| encode_value_type(b, vt));
    }
    put_i64(buf, 12, p.period);
    put_packed_int(buf, 13, &p.comment);
    put_i64(buf, 14, p.default_sample_type);
    put_i64(buf, 15, p.doc_url);
}

// proto3: a scalar at its default (zero, false) is not written.

fn put_u64(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        wire::put_uint(buf, field, v);
    }
}

fn put_i64(buf: &mut Vec<u8>, field: u32, v: i64) {
    if v != 0 {
        wire::put_int(buf, field, v);
    }
}

fn put_bool(buf: &mut Vec<u8>, field: u32, v: bool) {
    if v {
        wire::put_bool(buf, field, v);
    }
}

fn encode_value_type(buf: &mut Vec<u8>, vt: &ValueType) {
    put_i64(buf, 1, vt.ty);
    put_i64(buf, 2, vt.unit);
}

/// Appends a `sample` field of the profile message.
pub(crate) fn put_sample(
    buf: &mut Vec<u8>,
    location_ids: &[u64],
    values: &[i64],
    labels: &[Label],
) {
    put_message(buf, 2, |b| {
        put_packed_uint(b, 1, location_ids);
        put_packed_int(b, 2, values);
        for l in labels {
            put_message(b, 3, |b| encode_label(b, l));
        }
    });
}

fn encode_label(buf: &mut Vec<u8>, l: &Label) {
    put_i64(buf, 1, l.key);
    put_i64(buf, 2, l.str);
    put_i64(buf, 3, l.num);
    put_i64(buf, 4, l.num_unit);
}

fn encode_mapping(buf: &mut Vec<u8>, m: &Mapping) {
    put_u64(buf, 1, m.id);
    put_u64(buf, 2, m.memory_start);
    put_u64(buf, 3, m.memory_limit);
    put_u64(buf, 4, m.file_offset);
    put_i64(buf, 5, m.filename);
    put_i64(buf, 6, m.build_id);
    put_bool(buf, 7, m.has_functions);
    put_bool(buf, 8, m.has_filenames);
    put_bool(buf, 9, m.has_line_numbers);
    put_bool(buf, 10, m.has_inline_frames);
}

fn encode_location(buf: &mut Vec<u8>, l: &Location) {
    put_u64(buf, 1, l.id);
    put_u64(buf, 2, l.mapping_id);
    put_u64(buf, 3, l.address);
    for line in &l.line {
        put_message(buf, 4, |b| encode_line(b, line));
    }
    put_bool(buf, 5, l.is_folded);
}

fn encode_line(buf: &mut Vec<u8>, l: &Line) {
    put_u64(buf, 1, l.function_id);
    put_i64(buf, 2, l.line);
    put_i64(buf, 3, l.column);
}

fn encode_function(buf: &mut Vec<u8>, f: &Function) {
    put_u64(buf, 1, f.id);
    put_i64(buf, 2, f.name);
    put_i64(buf, 3, f.system_name);
    put_i64(buf, 4, f.filename);
    put_i64(buf, 5, f.start_line);
}

#[cfg(test)]
mod tests {
    use super::{put_bool, put_i64, put_u64};

    #[test]
    fn zero_scalars_are_omitted() {
        let mut buf = Vec::new();
        put_u64(&mut buf, 3, 0);
        put_i64(&mut buf, 4, 0);
        put_bool(&mut buf, 5, false);
        assert!(buf.is_empty());
        put_i64(&mut buf, 4, -1);
        assert_eq!(buf.len(), 11);
        put_u64(&mut buf, 3, 1);
        put_bool(&mut buf, 5, true);
        assert_eq!(buf[11..], [0x18, 1, 0x28, 1]);
    }
}
