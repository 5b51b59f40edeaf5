//! Protobuf bytes → Profile.
//!
//! The decoder accepts packed and unpacked repeated scalars, skips unknown
//! fields of wire types 0, 1, 2 and 5, rejects groups and undefined wire
//! types, checks every length against the input that remains, and validates
//! the decoded profile ([`Profile::validate`]) before returning it. Strings
//! that are not valid UTF-8 are decoded lossily (U+FFFD), as Go tools
//! tolerate such bytes too.
//!
//! Memory is bounded by [`DecodeOptions::max_memory`]: the top-level items
//! are counted first and every vector is allocated at its exact size after
//! its bytes are charged to the budget (see `budget`), so hostile input
//! fails with [`crate::ErrorKind::TooLarge`] before anything large is allocated.

use crate::budget::{self, Budget, TopLevel};
use crate::error::{Error, Result};
use crate::gzip;
use crate::profile::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
use crate::wire::{count_varints, Reader, WireType};

/// The default limit on the decompressed size of gzipped input: 1 GiB.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: u64 = 1 << 30;

/// The default limit on the memory a decode may allocate: 256 MiB.
pub const DEFAULT_MAX_MEMORY: u64 = 256 << 20;

/// Options for [`Profile::decode_with`].
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    max_decompressed_size: u64,
    max_memory: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            max_memory: DEFAULT_MAX_MEMORY,
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
    /// The decompressed bytes are also charged to the memory limit
    /// ([`DecodeOptions::max_memory`]), which usually binds first.
    pub fn max_decompressed_size(mut self, bytes: u64) -> Self {
        self.max_decompressed_size = bytes;
        self
    }

    /// The configured decompressed-size limit.
    pub fn decompressed_size_limit(&self) -> u64 {
        self.max_decompressed_size
    }

    /// Sets the most memory a decode may allocate: the decoded profile,
    /// the decompressed protobuf of gzipped input, and the index that
    /// validation builds. Input that would need more fails with
    /// [`crate::ErrorKind::TooLarge`], naming what takes the memory, before it is
    /// allocated; gzipped input fails while it is still being
    /// decompressed. Defaults to [`DEFAULT_MAX_MEMORY`].
    ///
    /// The decoded model takes up to a few tens of times the size of its
    /// protobuf (a two-byte empty sample becomes a 72-byte
    /// [`crate::Sample`]); a heap profile of a large Go service takes a
    /// few megabytes. Only small scratch space (the gzip decoder's window
    /// and buffers, about 100 KiB, and error messages) is not counted.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = bytes;
        self
    }

    /// The configured memory limit.
    pub fn memory_limit(&self) -> u64 {
        self.max_memory
    }
}

impl Profile {
    /// Decodes a profile from gzipped or raw protobuf bytes (gzip is
    /// detected by its `1f 8b` magic) and validates it, with the default
    /// [`DecodeOptions`].
    ///
    /// Byte offsets in error messages count from the start of the raw
    /// (decompressed) protobuf.
    pub fn decode(data: &[u8]) -> Result<Profile> {
        Profile::decode_with(data, &DecodeOptions::default())
    }

    /// [`Profile::decode`] with explicit options.
    pub fn decode_with(data: &[u8], options: &DecodeOptions) -> Result<Profile> {
        let mut budget = Budget::new(options.max_memory);
        if gzip::is_gzip(data) {
            let raw = gzip::decompress(data, options.max_decompressed_size, &mut budget)?;
            decode_raw(&raw, &mut budget)
        } else {
            decode_raw(data, &mut budget)
        }
    }
}

/// Decodes and validates raw protobuf bytes.
fn decode_raw(data: &[u8], budget: &mut Budget) -> Result<Profile> {
    let top = count_top_level(data)?;
    let need = top.bytes();
    if !budget.fits(need) {
        let total = budget.used().saturating_add(need);
        let largest = top
            .largest(budget.used())
            .unwrap_or_else(|| "the decompressed protobuf".to_owned());
        return Err(budget.too_large(total, &largest));
    }
    budget.charge(need, String::new)?;
    let mut p = Profile {
        string_table: Vec::new(),
        ..Profile::new()
    };
    // The counts fit in memory: they were charged above.
    let exact = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    p.sample_type.reserve_exact(exact(top.sample_types));
    p.sample.reserve_exact(exact(top.samples));
    p.mapping.reserve_exact(exact(top.mappings));
    p.location.reserve_exact(exact(top.locations));
    p.function.reserve_exact(exact(top.functions));
    p.string_table.reserve_exact(exact(top.strings));
    p.comment.reserve_exact(exact(top.comments));
    decode_profile(&mut Reader::new(data), &mut p, budget)?;
    p.validate()?;
    Ok(p)
}

/// Counts the top-level repeated messages, strings and comments, so the
/// big vectors can be charged to the budget and reserved exactly. Counting
/// allocates nothing.
fn count_top_level(data: &[u8]) -> Result<TopLevel> {
    let mut top = TopLevel::default();
    let mut r = Reader::new(data);
    while !r.is_empty() {
        let (field, wire) = r.read_key()?;
        match (field, wire) {
            (13, WireType::Varint) => {
                r.read_varint()?;
                top.comments += 1;
            }
            (_, WireType::Len) => {
                let bytes = r.read_bytes()?;
                top.count_len_field(field, bytes.len());
                if field == 13 {
                    top.comments += count_varints(bytes) as u64;
                }
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(top)
}

/// The exact length of `bytes` decoded lossily as UTF-8: each invalid
/// sequence becomes U+FFFD (three bytes).
fn lossy_len(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|c| c.valid().len() + if c.invalid().is_empty() { 0 } else { 3 })
        .sum()
}

/// `bytes` as a string of exactly their (lossy) length.
fn lossy_string(bytes: &[u8], len: usize) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(len);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
            out
        }
    }
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

/// Reads a repeated varint field into `out`, whose room the caller
/// reserved.
fn repeated<T>(
    r: &mut Reader<'_>,
    (msg, field, at, wire): (&str, u32, usize, WireType),
    out: &mut Vec<T>,
    convert: impl Fn(u64) -> T,
) -> Result<()> {
    r.read_repeated_varint(
        wire,
        |v| out.push(convert(v)),
        || format!("field {field} of {msg} at byte {at}"),
    )
}

fn decode_profile(r: &mut Reader<'_>, p: &mut Profile, budget: &mut Budget) -> Result<()> {
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
                let sample = decode_sample(&mut sub, budget, p.sample.len(), at)?;
                p.sample.push(sample);
            }
            3 => {
                let mut sub = message(r, M, field, at, wire)?;
                p.mapping.push(decode_mapping(&mut sub)?);
            }
            4 => {
                let mut sub = message(r, M, field, at, wire)?;
                let location = decode_location(&mut sub, budget, p.location.len(), at)?;
                p.location.push(location);
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
                // The stored bytes were charged with the top level; invalid
                // UTF-8 grows by its replacement characters.
                let len = lossy_len(bytes);
                let index = p.string_table.len();
                budget.charge(len.saturating_sub(bytes.len()) as u64, || {
                    format!("string {index} at byte {at}")
                })?;
                p.string_table.push(lossy_string(bytes, len));
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
            13 => repeated(r, (M, field, at, wire), &mut p.comment, |v| v as i64)?,
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

/// Appends to `samples` the `sample` fields in `bytes`, which the encoder
/// wrote (`ProfileBuilder::stream_samples`): trusted, so nothing is
/// charged, and a field that does not parse (none does) is left out.
pub(crate) fn append_samples(bytes: &[u8], samples: &mut Vec<Sample>) {
    let mut budget = Budget::new(u64::MAX);
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let at = r.position();
        let Ok((2, wire)) = r.read_key() else {
            debug_assert!(false, "a streamed sample at byte {at} does not parse");
            return;
        };
        let decoded = message(&mut r, "profile", 2, at, wire)
            .and_then(|mut sub| decode_sample(&mut sub, &mut budget, samples.len(), at));
        match decoded {
            Ok(s) => samples.push(s),
            Err(e) => {
                debug_assert!(false, "a streamed sample at byte {at}: {e}");
                return;
            }
        }
    }
}

/// Decodes sample `index` (at byte `at`), charging its vectors to
/// `budget` and allocating them at their exact sizes.
fn decode_sample(
    r: &mut Reader<'_>,
    budget: &mut Budget,
    index: usize,
    at: usize,
) -> Result<Sample> {
    const M: &str = "sample";
    let [locations, values, labels] = count_fields(r.clone(), [1, 2], [3]);
    let bytes = (locations as u64)
        .saturating_mul(budget::LOCATION_ID)
        .saturating_add((values as u64).saturating_mul(budget::VALUE))
        .saturating_add((labels as u64).saturating_mul(budget::LABEL));
    budget.charge(bytes, || format!("sample {index} at byte {at}"))?;
    let mut s = Sample {
        location_id: Vec::with_capacity(locations),
        value: Vec::with_capacity(values),
        label: Vec::with_capacity(labels),
    };
    while !r.is_empty() {
        let at = r.position();
        let (field, wire) = r.read_key()?;
        match field {
            1 => repeated(r, (M, field, at, wire), &mut s.location_id, |v| v)?,
            2 => repeated(r, (M, field, at, wire), &mut s.value, |v| v as i64)?,
            3 => {
                let mut sub = message(r, M, field, at, wire)?;
                s.label.push(decode_label(&mut sub)?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(s)
}

/// Counts, in the message `r`, the values of the repeated varint fields
/// `varints` and the occurrences of the message fields `messages`, in that
/// order. Counting stops at the first field that does not parse (the
/// decoder then reports it), so the counts are exact for a well-formed
/// message and never more than the decoder pushes otherwise.
fn count_fields<const V: usize, const M: usize, const N: usize>(
    mut r: Reader<'_>,
    varints: [u32; V],
    messages: [u32; M],
) -> [usize; N] {
    let mut counts = [0usize; N];
    while !r.is_empty() {
        let Ok((field, wire)) = r.read_key() else {
            break;
        };
        if let Some(i) = varints.iter().position(|&f| f == field) {
            let n = match wire {
                WireType::Varint => r.read_varint().map(|_| 1),
                WireType::Len => r.read_bytes().map(count_varints),
                _ => break,
            };
            match (n, counts.get_mut(i)) {
                (Ok(n), Some(count)) => *count += n,
                _ => break,
            }
            continue;
        }
        if let Some(i) = messages.iter().position(|&f| f == field) {
            if wire != WireType::Len {
                break;
            }
            if let Some(count) = counts.get_mut(V + i) {
                *count += 1;
            }
        }
        if r.skip(wire).is_err() {
            break;
        }
    }
    counts
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

/// Decodes location `index` (at byte `at`), charging its lines to
/// `budget` and allocating them at their exact number.
fn decode_location(
    r: &mut Reader<'_>,
    budget: &mut Budget,
    index: usize,
    at: usize,
) -> Result<Location> {
    const M: &str = "location";
    let [lines] = count_fields(r.clone(), [], [4]);
    budget.charge((lines as u64).saturating_mul(budget::LINE), || {
        format!("location {index} at byte {at}")
    })?;
    let mut l = Location {
        line: Vec::with_capacity(lines),
        ..Location::default()
    };
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
