//! Protobuf bytes → Profile.
//!
//! The decoder accepts packed and unpacked repeated scalars, skips unknown
//! fields of wire types 0, 1, 2 and 5, rejects groups and undefined wire
//! types, checks every length against the input that remains, and validates
//! the decoded profile ([`Profile::validate`]) before returning it. Strings
//! that are not valid UTF-8 are decoded lossily (U+FFFD), as Go tools
//! tolerate such bytes too.

use crate::error::{Error, Result};
use crate::gzip;
use crate::profile::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
use crate::protobuf::{Reader, WireType};

/// The default limit on the decompressed size of gzipped input: 1 GiB.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: u64 = 1 << 30;

/// Options for [`Profile::decode_with`].
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    max_decompressed_size: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
        }
    }
}

impl DecodeOptions {
    /// The default options.
    pub fn new() -> Self {
        DecodeOptions::default()
    }

    /// Sets the largest decompressed size accepted from gzipped input;
    /// anything larger fails with [`crate::ErrorKind::TooLarge`] instead of
    /// exhausting memory. Defaults to [`DEFAULT_MAX_DECOMPRESSED_SIZE`].
    ///
    /// The decoded model can take up to a few tens of times the
    /// decompressed size (a two-byte empty sample becomes a 72-byte
    /// [`crate::Sample`]), so lower this for input from untrusted sources
    /// on small machines.
    pub fn max_decompressed_size(mut self, bytes: u64) -> Self {
        self.max_decompressed_size = bytes;
        self
    }

    /// The configured decompressed-size limit.
    pub fn decompressed_size_limit(&self) -> u64 {
        self.max_decompressed_size
    }
}

impl Profile {
    /// Decodes a profile from gzipped or raw protobuf bytes (gzip is
    /// detected by its `1f 8b` magic) and validates it.
    ///
    /// Byte offsets in error messages count from the start of the raw
    /// (decompressed) protobuf.
    pub fn decode(data: &[u8]) -> Result<Profile> {
        Profile::decode_with(data, &DecodeOptions::default())
    }

    /// [`Profile::decode`] with explicit options.
    pub fn decode_with(data: &[u8], options: &DecodeOptions) -> Result<Profile> {
        if gzip::is_gzip(data) {
            let raw = gzip::decompress(data, options.max_decompressed_size)?;
            decode_raw(&raw)
        } else {
            decode_raw(data)
        }
    }
}

/// Decodes and validates raw protobuf bytes.
fn decode_raw(data: &[u8]) -> Result<Profile> {
    let mut p = Profile {
        string_table: Vec::new(),
        ..Profile::new()
    };
    reserve(data, &mut p)?;
    decode_profile(&mut Reader::new(data), &mut p)?;
    p.validate()?;
    Ok(p)
}

/// Counts the top-level repeated messages and strings and reserves exactly
/// that much room, so the big vectors never over-allocate by doubling. Each
/// counted item took at least two bytes of input, so the reservation is
/// bounded by the input's size.
fn reserve(data: &[u8], p: &mut Profile) -> Result<()> {
    let mut counts = [0usize; 7];
    let mut r = Reader::new(data);
    while !r.is_empty() {
        let (field, wire) = r.read_key()?;
        r.skip(wire)?;
        if wire == WireType::Len {
            if let Some(n) = usize::try_from(field).ok().and_then(|f| counts.get_mut(f)) {
                *n += 1;
            }
        }
    }
    let [_, sample_types, samples, mappings, locations, functions, strings] = counts;
    p.sample_type.reserve_exact(sample_types);
    p.sample.reserve_exact(samples);
    p.mapping.reserve_exact(mappings);
    p.location.reserve_exact(locations);
    p.function.reserve_exact(functions);
    p.string_table.reserve_exact(strings);
    Ok(())
}

fn wrong_wire(msg: &str, field: u32, at: usize, wire: WireType, expected: &str) -> Error {
    Error::malformed(format!(
        "field {field} of {msg} at byte {at} has wire type {wire}, expected {expected}"
    ))
}

/// Reads a singular varint field's value.
fn varint(r: &mut Reader<'_>, msg: &str, field: u32, at: usize, wire: WireType) -> Result<u64> {
    if wire != WireType::Varint {
        return Err(wrong_wire(msg, field, at, wire, "0 (varint)"));
    }
    r.read_varint()
}

fn int64(r: &mut Reader<'_>, msg: &str, field: u32, at: usize, wire: WireType) -> Result<i64> {
    varint(r, msg, field, at, wire).map(|v| v as i64)
}

fn boolean(r: &mut Reader<'_>, msg: &str, field: u32, at: usize, wire: WireType) -> Result<bool> {
    varint(r, msg, field, at, wire).map(|v| v != 0)
}

/// Reads an embedded message field.
fn message<'a>(
    r: &mut Reader<'a>,
    msg: &str,
    field: u32,
    at: usize,
    wire: WireType,
) -> Result<Reader<'a>> {
    if wire != WireType::Len {
        return Err(wrong_wire(msg, field, at, wire, "2 (length-delimited)"));
    }
    r.read_message()
}

fn repeated_i64(
    r: &mut Reader<'_>,
    msg: &str,
    field: u32,
    at: usize,
    wire: WireType,
    out: &mut Vec<i64>,
) -> Result<()> {
    let mut raw = Vec::new();
    repeated_u64(r, msg, field, at, wire, &mut raw)?;
    out.extend(raw.into_iter().map(|v| v as i64));
    Ok(())
}

fn repeated_u64(
    r: &mut Reader<'_>,
    msg: &str,
    field: u32,
    at: usize,
    wire: WireType,
    out: &mut Vec<u64>,
) -> Result<()> {
    let what = format!("field {field} of {msg} at byte {at}");
    r.read_repeated_varint(wire, out, &what)
}

fn decode_profile(r: &mut Reader<'_>, p: &mut Profile) -> Result<()> {
    const M: &str = "profile";
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => {
                let mut sub = message(r, M, field, at, wire)?;
                let mut vt = ValueType::default();
                decode_value_type(&mut sub, &mut vt)?;
                p.sample_type.push(vt);
            }
            2 => {
                let mut sub = message(r, M, field, at, wire)?;
                p.sample.push(decode_sample(&mut sub)?);
            }
            3 => {
                let mut sub = message(r, M, field, at, wire)?;
                p.mapping.push(decode_mapping(&mut sub)?);
            }
            4 => {
                let mut sub = message(r, M, field, at, wire)?;
                p.location.push(decode_location(&mut sub)?);
            }
            5 => {
                let mut sub = message(r, M, field, at, wire)?;
                p.function.push(decode_function(&mut sub)?);
            }
            6 => {
                if wire != WireType::Len {
                    return Err(wrong_wire(M, field, at, wire, "2 (length-delimited)"));
                }
                let bytes = r.read_bytes()?;
                p.string_table
                    .push(String::from_utf8_lossy(bytes).into_owned());
            }
            7 => p.drop_frames = int64(r, M, field, at, wire)?,
            8 => p.keep_frames = int64(r, M, field, at, wire)?,
            9 => p.time_nanos = int64(r, M, field, at, wire)?,
            10 => p.duration_nanos = int64(r, M, field, at, wire)?,
            11 => {
                // A repeated occurrence of a singular message merges into
                // the earlier one, as protobuf specifies.
                let mut sub = message(r, M, field, at, wire)?;
                let vt = p.period_type.get_or_insert_with(ValueType::default);
                decode_value_type(&mut sub, vt)?;
            }
            12 => p.period = int64(r, M, field, at, wire)?,
            13 => repeated_i64(r, M, field, at, wire, &mut p.comment)?,
            14 => p.default_sample_type = int64(r, M, field, at, wire)?,
            15 => p.doc_url = int64(r, M, field, at, wire)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn decode_value_type(r: &mut Reader<'_>, vt: &mut ValueType) -> Result<()> {
    const M: &str = "value type";
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => vt.ty = int64(r, M, field, at, wire)?,
            2 => vt.unit = int64(r, M, field, at, wire)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn decode_sample(r: &mut Reader<'_>) -> Result<Sample> {
    const M: &str = "sample";
    let mut s = Sample::default();
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => repeated_u64(r, M, field, at, wire, &mut s.location_id)?,
            2 => repeated_i64(r, M, field, at, wire, &mut s.value)?,
            3 => {
                let mut sub = message(r, M, field, at, wire)?;
                s.label.push(decode_label(&mut sub)?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(s)
}

fn decode_label(r: &mut Reader<'_>) -> Result<Label> {
    const M: &str = "label";
    let mut l = Label::default();
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => l.key = int64(r, M, field, at, wire)?,
            2 => l.str = int64(r, M, field, at, wire)?,
            3 => l.num = int64(r, M, field, at, wire)?,
            4 => l.num_unit = int64(r, M, field, at, wire)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(l)
}

fn decode_mapping(r: &mut Reader<'_>) -> Result<Mapping> {
    const M: &str = "mapping";
    let mut m = Mapping::default();
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => m.id = varint(r, M, field, at, wire)?,
            2 => m.memory_start = varint(r, M, field, at, wire)?,
            3 => m.memory_limit = varint(r, M, field, at, wire)?,
            4 => m.file_offset = varint(r, M, field, at, wire)?,
            5 => m.filename = int64(r, M, field, at, wire)?,
            6 => m.build_id = int64(r, M, field, at, wire)?,
            7 => m.has_functions = boolean(r, M, field, at, wire)?,
            8 => m.has_filenames = boolean(r, M, field, at, wire)?,
            9 => m.has_line_numbers = boolean(r, M, field, at, wire)?,
            10 => m.has_inline_frames = boolean(r, M, field, at, wire)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(m)
}

fn decode_location(r: &mut Reader<'_>) -> Result<Location> {
    const M: &str = "location";
    let mut l = Location::default();
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => l.id = varint(r, M, field, at, wire)?,
            2 => l.mapping_id = varint(r, M, field, at, wire)?,
            3 => l.address = varint(r, M, field, at, wire)?,
            4 => {
                let mut sub = message(r, M, field, at, wire)?;
                l.line.push(decode_line(&mut sub)?);
            }
            5 => l.is_folded = boolean(r, M, field, at, wire)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(l)
}

fn decode_line(r: &mut Reader<'_>) -> Result<Line> {
    const M: &str = "line";
    let mut l = Line::default();
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => l.function_id = varint(r, M, field, at, wire)?,
            2 => l.line = int64(r, M, field, at, wire)?,
            3 => l.column = int64(r, M, field, at, wire)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(l)
}

fn decode_function(r: &mut Reader<'_>) -> Result<Function> {
    const M: &str = "function";
    let mut f = Function::default();
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => f.id = varint(r, M, field, at, wire)?,
            2 => f.name = int64(r, M, field, at, wire)?,
            3 => f.system_name = int64(r, M, field, at, wire)?,
            4 => f.filename = int64(r, M, field, at, wire)?,
            5 => f.start_line = int64(r, M, field, at, wire)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(f)
}
