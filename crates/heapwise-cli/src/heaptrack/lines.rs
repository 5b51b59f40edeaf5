//! Where the lines come from: the file, decompressed if it is gzipped or
//! zstd-compressed (told by its first bytes, whatever its name), read one
//! line at a time within the size limits.

use std::io::{self, BufRead, BufReader, Cursor, Read};

use flate2::bufread::MultiGzDecoder;

use super::error::{Error, ErrorKind, Result};

/// The first four bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How the input is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// The input's lines, without their newline.
pub(crate) struct Lines<'a> {
    inner: Box<dyn BufRead + 'a>,
    compression: Compression,
    line: Vec<u8>,
    number: u64,
    total: u64,
    max_total: u64,
    max_line: usize,
}

impl std::fmt::Debug for Lines<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("compression", &self.compression)
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl<'a> Lines<'a> {
    /// Reads `input`, decompressing it if it starts with the gzip or zstd
    /// magic; at most `max_total` bytes (decompressed) in lines of at most
    /// `max_line` bytes.
    pub(crate) fn new(mut input: impl Read + 'a, max_total: u64, max_line: usize) -> Result<Self> {
        let mut head = Vec::with_capacity(4);
        (&mut input)
            .take(4)
            .read_to_end(&mut head)
            .map_err(|e| Error::with_source(ErrorKind::Io, format!("cannot read: {e}"), e))?;
        let compression = if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        };
        let raw = BufReader::new(Cursor::new(head).chain(input));
        let inner: Box<dyn BufRead + 'a> = match compression {
            Compression::None => Box::new(raw),
            Compression::Gzip => Box::new(BufReader::new(MultiGzDecoder::new(raw))),
            Compression::Zstd => {
                let decoder = zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| {
                    Error::with_source(ErrorKind::Compression, format!("zstd: {e}"), e)
                })?;
                Box::new(BufReader::new(decoder))
            }
        };
        Ok(Lines {
            inner,
            compression,
            line: Vec::new(),
            number: 0,
            total: 0,
            max_total,
            max_line,
        })
    }

    /// The next line's number (from 1) and text, without its newline;
    /// `None` at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        self.line.clear();
        let room = self.max_total.saturating_sub(self.total);
        let limit = (self.max_line as u64 + 1).min(room.saturating_add(1));
        let read = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| self.read_error(e))?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        self.total += read as u64;
        if self.total > self.max_total {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "the data is larger than the {} limit for decompressed input (see --max-input)",
                    mib(self.max_total)
                ),
            ));
        }
        match self.line.last() {
            Some(b'\n') => {
                self.line.pop();
            }
            _ if read as u64 == limit => {
                return Err(Error::new(
                    ErrorKind::TooLarge,
                    format!(
                        "line {}: longer than the {} limit for a line",
                        self.number,
                        mib(self.max_line as u64)
                    ),
                ))
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "line {}: truncated (the data ends in the middle of a line)",
                        self.number
                    ),
                ))
            }
        }
        Ok(Some((self.number, &self.line)))
    }

    fn read_error(&self, e: io::Error) -> Error {
        let at = self.number + 1;
        match self.compression {
            Compression::None => {
                Error::with_source(ErrorKind::Io, format!("line {at}: cannot read: {e}"), e)
            }
            c => {
                let text = if e.kind() == io::ErrorKind::UnexpectedEof {
                    "truncated stream".to_owned()
                } else {
                    e.to_string().to_lowercase()
                };
                let message = format!("{}: {text} (at line {at})", c.name());
                Error::with_source(ErrorKind::Compression, message, e)
            }
        }
    }
}

/// `bytes` in MiB (or bytes, below one MiB), for limits in messages.
pub(crate) fn mib(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes}-byte")
    }
}
