//! A first pass over gzipped input, as it decompresses, that keeps nothing.
//!
//! Before gzipped input is decompressed into memory, its decompressed
//! stream is read once and its top-level fields are counted without being
//! kept. The scan stops at the first byte that shows the input cannot be
//! decoded: a malformed key or varint (a gzip of zeros fails at byte 0), a
//! decompressed size over the configured limit, or top-level items that,
//! with the decompressed protobuf itself, would not fit the memory budget
//! (a gzip of empty samples fails after a few megabytes). Only then is the
//! input decompressed again, into a buffer of exactly the size the scan
//! found.

use std::io::{self, BufRead, BufReader, Read};

use crate::budget::{human, Budget, TopLevel};
use crate::error::{Error, ErrorKind, Result};
use crate::gzip::gzip_error;
use crate::wire::{decode_varint, parse_key, WireType};

/// The stream's read buffer.
const BUFFER: usize = 32 << 10;

/// The decompressed stream with its position.
struct Stream<R> {
    inner: BufReader<R>,
    pos: usize,
    /// The read error that ended the stream early, if any.
    error: Option<io::Error>,
}

impl<R: Read> Stream<R> {
    /// The buffered bytes, refilled if empty; empty at the end of the
    /// stream or on a read error (kept in `error`).
    fn fill(&mut self) -> &[u8] {
        loop {
            match self.inner.fill_buf() {
                // Re-borrowed below: returning `buf` from inside the loop
                // would keep `self.inner` borrowed for the error arm.
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e);
                    return &[];
                }
            }
        }
        self.inner.buffer()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = *self.fill().first()?;
        self.inner.consume(1);
        self.pos += 1;
        Some(b)
    }

    /// Discards up to `n` bytes and returns how many there were.
    fn skip(&mut self, n: u64) -> u64 {
        let mut left = n;
        while left > 0 {
            let available = self.fill().len();
            if available == 0 {
                break;
            }
            let take = usize::try_from(left).map_or(available, |l| l.min(available));
            self.inner.consume(take);
            self.pos += take;
            left -= take as u64;
        }
        n - left
    }

    /// A read error, if one ended the stream, in place of `result`.
    fn or_read_error<T>(&mut self, result: Result<T>) -> Result<T> {
        match self.error.take() {
            Some(e) => Err(gzip_error(&e)),
            None => result,
        }
    }

    fn read_varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let v = decode_varint(|| self.next_byte(), start);
        self.or_read_error(v)
    }

    fn at_end(&mut self) -> Result<bool> {
        let end = self.fill().is_empty();
        self.or_read_error(Ok(end))
    }
}

/// How far the stream is read past a protobuf error to see whether the
/// gzip stream itself is corrupt (which is then the error reported): a
/// damaged deflate stream yields garbage before its checksum fails.
const CORRUPTION_LOOKAHEAD: u64 = 1 << 20;

/// Reads the whole decompressed stream `input` once, keeping nothing, and
/// returns its length. Fails as soon as the stream is malformed at the top
/// level, longer than `limit` bytes, or too large for what `budget` has
/// left (the decompressed bytes plus the top-level items they hold); a
/// gzip error within [`CORRUPTION_LOOKAHEAD`] bytes after such a failure
/// is reported instead.
pub(crate) fn decompressed_len(input: impl Read, limit: u64, budget: &Budget) -> Result<usize> {
    let mut s = Stream {
        inner: BufReader::with_capacity(BUFFER, input),
        pos: 0,
        error: None,
    };
    match scan(&mut s, limit, budget) {
        Ok(()) => Ok(s.pos),
        Err(e) if e.kind() == ErrorKind::Gzip => Err(e),
        Err(e) => {
            s.skip(CORRUPTION_LOOKAHEAD);
            s.or_read_error(Err(e))
        }
    }
}

/// The top-level walk of [`decompressed_len`].
fn scan<R: Read>(s: &mut Stream<R>, limit: u64, budget: &Budget) -> Result<()> {
    let mut top = TopLevel::default();
    while !s.at_end()? {
        let at = s.pos;
        let (field, wire) = parse_key(s.read_varint()?, at)?;
        let end = match wire {
            WireType::Varint => {
                s.read_varint()?;
                if field == 13 {
                    top.comments += 1;
                }
                s.pos as u64
            }
            WireType::Len => {
                let len_at = s.pos;
                let len = s.read_varint()?;
                top.count_len_field(field, usize::try_from(len).unwrap_or(usize::MAX));
                // Checked before the bytes are read, so a huge declared
                // length is rejected without decompressing past the limit;
                // but first the bytes up to the limit are read (and
                // dropped), so that a length the stream does not hold is
                // reported as such, as in raw input, not as too large.
                let end = (s.pos as u64).saturating_add(len);
                if let Err(too_large) = check(end, limit, budget, &top) {
                    let room = limit
                        .saturating_sub(s.pos as u64)
                        .saturating_add(1)
                        .min(len);
                    let skipped = s.skip(room);
                    s.or_read_error(Ok(()))?;
                    if skipped < room {
                        return Err(Error::malformed(format!(
                            "length {len} at byte {len_at} exceeds the {skipped} bytes remaining"
                        )));
                    }
                    return Err(too_large);
                }
                let skipped = s.skip(len);
                s.or_read_error(Ok(()))?;
                if skipped < len {
                    return Err(Error::malformed(format!(
                        "length {len} at byte {len_at} exceeds the {skipped} bytes remaining"
                    )));
                }
                end
            }
            WireType::Fixed64 | WireType::Fixed32 => {
                let (n, what) = if wire == WireType::Fixed64 {
                    (8, "fixed64")
                } else {
                    (4, "fixed32")
                };
                let start = s.pos;
                let skipped = s.skip(n);
                s.or_read_error(Ok(()))?;
                if skipped < n {
                    return Err(Error::malformed(format!(
                        "truncated {what} at byte {start}"
                    )));
                }
                s.pos as u64
            }
        };
        check(end, limit, budget, &top)?;
    }
    Ok(())
}

/// Fails if `raw` decompressed bytes exceed `limit`, or if they and the
/// items `top` counted in them do not fit `budget`.
fn check(raw: u64, limit: u64, budget: &Budget, top: &TopLevel) -> Result<()> {
    if raw > limit {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("gzip: decompressed size exceeds the limit of {limit} bytes"),
        ));
    }
    if budget.fits(raw.saturating_add(top.bytes())) {
        return Ok(());
    }
    let detail = match top.largest(raw) {
        Some(items) => format!("{items} in the first {raw} bytes"),
        None => format!("{} of decompressed protobuf", human(raw)),
    };
    Err(budget.exceeded(&detail))
}
