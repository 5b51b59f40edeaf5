//! The snapshot's error: an opaque struct over a kind.

use std::fmt;

/// What kind of failure an [`Error`] reports.
///
/// New kinds may be added in later versions, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Not every live block is tracked: the process did not start with
    /// `HEAPWISE_SNAPSHOT=1`, or heapwise is not the global allocator.
    NotTracking,
    /// Snapshots are taken on Linux (x86_64, aarch64) only.
    Unsupported,
    /// The operating system refused a step (`fork`, a pipe).
    Os,
    /// The process that scans the heap failed or died.
    Scan,
    /// The graph could not be built or written (see `heapwise_heapgraph`).
    Graph,
}

/// Why a snapshot could not be taken or saved: one lowercase line.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn os(what: &str) -> Error {
        Error::new(
            ErrorKind::Os,
            format!("{what}: {}", std::io::Error::last_os_error()),
        )
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<heapwise_heapgraph::Error> for Error {
    fn from(e: heapwise_heapgraph::Error) -> Error {
        Error::new(ErrorKind::Graph, e.to_string())
    }
}
