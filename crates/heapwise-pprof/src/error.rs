//! The crate's error type.

use std::fmt;

/// What kind of failure an [`Error`] reports.
///
/// New kinds may be added in later versions, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The bytes are not a well-formed protobuf message: a truncated varint,
    /// a length running past the end of the input, a group or unknown wire
    /// type, a known field with the wrong wire type, or nesting too deep.
    Malformed,
    /// The message decoded, but the profile breaks a rule of profile.proto:
    /// a string index out of range, a reference to an id that does not
    /// exist, a zero or duplicate id, or a sample with the wrong number of
    /// values.
    Invalid,
    /// The input looked gzipped but could not be decompressed.
    Gzip,
    /// The input is too large for the configured limits: decompressing it
    /// would exceed the decompressed-size limit, or decoding it would take
    /// more memory than the memory limit
    /// ([`crate::DecodeOptions::max_memory`]). Nothing large was allocated.
    TooLarge,
    /// Profiles could not be merged or diffed because their sample types or
    /// period types differ.
    Incompatible,
    /// Writing the output failed.
    Io,
}

/// An error from decoding, validating, merging or writing a profile.
///
/// The message is lowercase and names the offending item, for example
/// `sample 12 refers to location 99, which does not exist` or
/// `truncated varint at byte 4031`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<std::io::Error>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Malformed, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }

    pub(crate) fn io(message: impl Into<String>, source: std::io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            message: message.into(),
            source: Some(source),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message (the same text `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
