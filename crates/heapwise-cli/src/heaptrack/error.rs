//! The importer's error type.

use std::fmt;
use std::io;

/// What kind of failure an [`Error`] reports.
///
/// New kinds may be added in later versions, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Reading the input failed.
    Io,
    /// The input looked gzipped or zstd-compressed but does not decompress.
    Compression,
    /// A line is not what heaptrack writes: an unknown record, a field that
    /// is not hexadecimal, a missing field, or an index that refers to
    /// something the file has not defined.
    Malformed,
    /// heaptrack data this importer cannot read: a newer file format, or a
    /// raw recording (`heaptrack --raw`) that `heaptrack_interpret` has not
    /// symbolized yet.
    Unsupported,
    /// The input is larger than the configured limits
    /// ([`ImportOptions`](super::ImportOptions)): it decompresses to more
    /// bytes than allowed, a line is too long, or converting it would take
    /// more memory than allowed. Nothing large was allocated.
    TooLarge,
}

/// An error from importing a heaptrack data file.
///
/// The message is one lowercase line that names the problem and, for a
/// problem in the data, the line it is on:
/// `line 12: allocation 0x7 does not exist (3 defined so far)`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<io::Error>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(kind: ErrorKind, message: impl Into<String>, e: io::Error) -> Self {
        Error {
            kind,
            message: message.into(),
            source: Some(e),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message (the text `Display` prints).
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

/// The importer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
