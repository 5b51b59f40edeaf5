//! Messages on standard error, each line in one `write`.
//!
//! `eprintln!` writes a line in pieces (each argument, then the newline):
//! another process on the same stderr (the children of `heapwise run`, each
//! saying the same thing at once) can land between two pieces, and a
//! process that exits while one of its threads prints (the stats line's)
//! leaves half a line, the next output glued to it. [`say!`] formats the
//! line into a buffer on the stack (no allocation: some callers run where
//! the allocator is the program's) and writes it whole.

use std::fmt::{self, Write as _};
use std::io::Write as _;

/// A line of up to this many bytes, newline included, goes out in one
/// write; a longer one goes out as `eprintln!` writes it.
const LINE: usize = 1024;

/// The line being formatted.
struct Buf {
    bytes: [u8; LINE],
    len: usize,
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // One byte is kept for the newline.
        let end = self.len + s.len();
        if end >= LINE {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes `args` and a newline to standard error, in one write if the
/// line fits [`LINE`]. Errors are ignored, as `eprintln!` would panic on
/// them and these messages are never worth a panic.
pub(crate) fn line(args: fmt::Arguments<'_>) {
    let mut buf = Buf {
        bytes: [0; LINE],
        len: 0,
    };
    let mut err = std::io::stderr().lock();
    if buf.write_fmt(args).is_ok() {
        debug_assert!(buf.len < LINE);
        buf.bytes[buf.len] = b'\n';
        let _ = err.write_all(&buf.bytes[..=buf.len]);
    } else {
        let _ = writeln!(err, "{args}");
    }
}

/// `eprintln!`, each line in one write: see the module docs.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::util::say::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_fills_the_buffer_but_for_its_newline() {
        let mut buf = Buf {
            bytes: [0; LINE],
            len: 0,
        };
        assert!(write!(buf, "{}", "x".repeat(LINE - 1)).is_ok());
        assert_eq!(buf.len, LINE - 1);
        assert!(write!(buf, "y").is_err());
        let mut buf = Buf {
            bytes: [0; LINE],
            len: 0,
        };
        let var = "HEAPWISE_TRACE";
        assert!(write!(buf, "heapwise: {var}: {}", 7).is_ok());
        assert_eq!(&buf.bytes[..buf.len], b"heapwise: HEAPWISE_TRACE: 7");
    }
}
