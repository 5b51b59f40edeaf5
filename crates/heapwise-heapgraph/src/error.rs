//! The crate's error type.

use std::fmt;

/// What kind of failure an [`Error`] reports.
///
/// New kinds may be added in later versions, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The blocks, roots, stacks or edges given to build a graph break a
    /// rule of the model: overlapping blocks, a repeated sequence number, a
    /// reference to a stack, block or root that does not exist.
    Invalid,
    /// The graph is larger than the model's limits (2³² − 2 blocks or
    /// edges, holders of more than 32 GiB) or than a reader's limits.
    TooLarge,
    /// A `.heapsnapshot` is not well-formed JSON or breaks the format's
    /// rules.
    Malformed,
    /// Reading or writing failed.
    Io,
}

/// An error from building, reading or writing a heap graph.
///
/// The message is one lowercase line naming the offending item, e.g.
/// `blocks #12 and #40 overlap at 0x7f0010` or
/// `edges[30]: to_node 71 is not a multiple of 7`.
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

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::TooLarge, message)
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Malformed, message)
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

    /// The one-line message (the same text `Display` prints, without the
    /// I/O cause).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
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
pub type Result<T> = std::result::Result<T, Error>;
