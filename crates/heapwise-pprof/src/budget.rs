//! The memory budget of decoding: what the decoded profile will take,
//! counted before it is allocated.
//!
//! Every byte the decoder allocates for a profile is charged here first:
//! the decompressed protobuf of gzipped input, each vector of the model at
//! its exact capacity (the decoder counts the items of a vector before it
//! allocates it, so nothing grows by doubling), each string, and the id
//! index [`Profile::validate`](crate::Profile::validate) builds. A charge
//! that would take the total over the limit fails with
//! [`ErrorKind::TooLarge`] before the allocation happens, so the decoded
//! profile never takes more than the limit. Only small scratch space (the
//! gzip decoder's window and buffers, error messages) is not charged.

use std::mem::size_of;

use crate::error::{Error, ErrorKind, Result};
use crate::profile::{Function, Label, Line, Location, Mapping, Sample, ValueType};

/// Heap bytes of one `sample_type` entry.
pub(crate) const SAMPLE_TYPE: u64 = size_of::<ValueType>() as u64;
/// Heap bytes of one sample, without its vectors' contents.
pub(crate) const SAMPLE: u64 = size_of::<Sample>() as u64;
/// One id in the index `validate` builds of mappings, locations and
/// functions.
const ID: u64 = size_of::<u64>() as u64;
/// Heap bytes of one mapping, with its id in the validation index.
pub(crate) const MAPPING: u64 = size_of::<Mapping>() as u64 + ID;
/// Heap bytes of one location, without its lines, with its id in the
/// validation index.
pub(crate) const LOCATION: u64 = size_of::<Location>() as u64 + ID;
/// Heap bytes of one function, with its id in the validation index.
pub(crate) const FUNCTION: u64 = size_of::<Function>() as u64 + ID;
/// Heap bytes of one string-table entry, without its text.
pub(crate) const STRING: u64 = size_of::<String>() as u64;
/// Heap bytes of one comment index.
pub(crate) const COMMENT: u64 = size_of::<i64>() as u64;
/// Heap bytes of one location id of a sample.
pub(crate) const LOCATION_ID: u64 = size_of::<u64>() as u64;
/// Heap bytes of one value of a sample.
pub(crate) const VALUE: u64 = size_of::<i64>() as u64;
/// Heap bytes of one label of a sample.
pub(crate) const LABEL: u64 = size_of::<Label>() as u64;
/// Heap bytes of one line of a location.
pub(crate) const LINE: u64 = size_of::<Line>() as u64;

/// The memory a decode may still allocate.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    used: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Budget { limit, used: 0 }
    }

    /// Bytes charged so far.
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// True if `bytes` more fit.
    pub(crate) fn fits(&self, bytes: u64) -> bool {
        self.used
            .checked_add(bytes)
            .is_some_and(|total| total <= self.limit)
    }

    /// Charges `bytes`, or fails (charging nothing) if they do not fit;
    /// `what` says where, e.g. `sample 12 at byte 4031`.
    pub(crate) fn charge(&mut self, bytes: u64, what: impl FnOnce() -> String) -> Result<()> {
        if !self.fits(bytes) {
            return Err(self.exceeded(&what()));
        }
        self.used += bytes;
        Ok(())
    }

    /// The error for a decode that needs more than the limit; `detail`
    /// says what was being decoded.
    pub(crate) fn exceeded(&self, detail: &str) -> Error {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "decoding would take more than the {} memory limit ({detail})",
                human(self.limit)
            ),
        )
    }

    /// The error for a decode whose total need is known: `total` bytes, of
    /// which `largest` (e.g. `250000000 samples`) is the biggest part.
    pub(crate) fn too_large(&self, total: u64, largest: &str) -> Error {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "decoding would take {} ({largest}), over the {} memory limit",
                human(total),
                human(self.limit)
            ),
        )
    }
}

/// The top-level items of a profile message: the counts the decoder
/// reserves exactly, and the memory they take.
#[derive(Debug, Default, Clone)]
pub(crate) struct TopLevel {
    pub(crate) sample_types: u64,
    pub(crate) samples: u64,
    pub(crate) mappings: u64,
    pub(crate) locations: u64,
    pub(crate) functions: u64,
    pub(crate) strings: u64,
    /// The strings' bytes as stored (more for invalid UTF-8, whose
    /// replacement characters are charged as each string is decoded).
    pub(crate) string_bytes: u64,
    pub(crate) comments: u64,
}

impl TopLevel {
    /// Counts a length-delimited top-level field of `len` bytes (packed
    /// comments are counted by the caller, which has their bytes).
    pub(crate) fn count_len_field(&mut self, field: u32, len: usize) {
        let n = match field {
            1 => &mut self.sample_types,
            2 => &mut self.samples,
            3 => &mut self.mappings,
            4 => &mut self.locations,
            5 => &mut self.functions,
            6 => {
                self.string_bytes = self.string_bytes.saturating_add(len as u64);
                &mut self.strings
            }
            _ => return,
        };
        *n += 1;
    }

    /// Each kind of item with its count and heap bytes.
    fn parts(&self) -> [(u64, &'static str, u64); 7] {
        let strings = self
            .strings
            .saturating_mul(STRING)
            .saturating_add(self.string_bytes);
        [
            (self.samples, "samples", self.samples.saturating_mul(SAMPLE)),
            (
                self.locations,
                "locations",
                self.locations.saturating_mul(LOCATION),
            ),
            (self.strings, "strings", strings),
            (
                self.functions,
                "functions",
                self.functions.saturating_mul(FUNCTION),
            ),
            (
                self.mappings,
                "mappings",
                self.mappings.saturating_mul(MAPPING),
            ),
            (
                self.sample_types,
                "sample types",
                self.sample_types.saturating_mul(SAMPLE_TYPE),
            ),
            (
                self.comments,
                "comments",
                self.comments.saturating_mul(COMMENT),
            ),
        ]
    }

    /// The heap bytes of these items (without the samples' and locations'
    /// own vectors, which are charged as each is decoded).
    pub(crate) fn bytes(&self) -> u64 {
        self.parts()
            .iter()
            .fold(0u64, |sum, &(_, _, bytes)| sum.saturating_add(bytes))
    }

    /// The kind of item that takes the most memory, as `COUNT KIND`
    /// (`250000000 samples`), or `None` if `raw_bytes` (the decompressed
    /// protobuf) is more.
    pub(crate) fn largest(&self, raw_bytes: u64) -> Option<String> {
        let (count, kind, bytes) = self
            .parts()
            .into_iter()
            .max_by_key(|&(_, _, bytes)| bytes)
            .unwrap_or((0, "samples", 0));
        (raw_bytes <= bytes).then(|| format!("{count} {kind}"))
    }
}

/// `bytes` for a message: `256 MiB`, `16.8 GiB`, `900 bytes`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size {
            return if bytes % size == 0 {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(256 << 20), "256 MiB");
        assert_eq!(human(18_000_000_000), "16.8 GiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(900), "900 bytes");
    }

    #[test]
    fn charges_fail_without_charging() {
        let mut b = Budget::new(100);
        b.charge(60, String::new).unwrap();
        let e = b.charge(41, || "sample 3 at byte 9".into()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert_eq!(
            e.to_string(),
            "decoding would take more than the 100 bytes memory limit (sample 3 at byte 9)"
        );
        assert_eq!(b.used(), 60);
        b.charge(40, String::new).unwrap();
        assert!(!b.fits(1));
        assert!(!b.fits(u64::MAX));
    }

    #[test]
    fn largest_part_names_the_cause() {
        let top = TopLevel {
            samples: 250_000_000,
            strings: 2,
            string_bytes: 10,
            ..TopLevel::default()
        };
        assert_eq!(top.bytes(), 250_000_000 * SAMPLE + 2 * STRING + 10);
        assert_eq!(top.largest(0).as_deref(), Some("250000000 samples"));
        assert_eq!(top.largest(u64::MAX), None);
    }
}
