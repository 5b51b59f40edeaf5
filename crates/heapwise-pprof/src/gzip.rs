//! Gzip framing: pprof files on disk are gzipped protobuf.
//!
//! Reading is transparent (input starting with the `1f 8b` magic is
//! decompressed, anything else is taken as raw protobuf) and bounded by a
//! size limit and the decode's memory budget, both checked while the input
//! streams (see `scan`), so a gzip bomb is an error rather than an
//! out-of-memory abort. Writing uses a fixed header (no timestamp or file name), so the
//! same profile always compresses to the same bytes.

use std::io::{self, Read, Write};

use flate2::read::{GzDecoder, MultiGzDecoder};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::budget::Budget;
use crate::error::{Error, ErrorKind, Result};
use crate::scan;

/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True if `data` starts with the gzip magic.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

pub(crate) fn gzip_error(e: &io::Error) -> Error {
    let text = e.to_string().to_lowercase();
    let message = if e.kind() == io::ErrorKind::UnexpectedEof {
        "gzip: truncated stream".to_owned()
    } else if text.contains("header") {
        "gzip: invalid header".to_owned()
    } else {
        format!("gzip: {text}")
    };
    Error::new(ErrorKind::Gzip, message)
}

/// Decompresses a gzip stream (or several concatenated members), failing
/// with [`ErrorKind::TooLarge`] once the output would exceed `limit` bytes
/// or, with the top-level items it holds, what `budget` has left. The
/// stream is read twice: once to learn its size without keeping it, then
/// into a buffer of exactly that size, which is charged to `budget`.
pub(crate) fn decompress(data: &[u8], limit: u64, budget: &mut Budget) -> Result<Vec<u8>> {
    let len = scan::decompressed_len(MultiGzDecoder::new(data), limit, budget)
        .map_err(|e| explain(e, data, limit, budget))?;
    budget.charge(len as u64, || "the decompressed protobuf".to_owned())?;
    let mut out = vec![0u8; len];
    let mut reader = MultiGzDecoder::new(data);
    reader.read_exact(&mut out).map_err(|e| gzip_error(&e))?;
    // The end of the stream, which also checks the last member's trailer.
    let mut more = [0u8; 1];
    match reader.read(&mut more) {
        Ok(0) => Ok(out),
        Ok(_) => Err(Error::new(
            ErrorKind::Gzip,
            "gzip: the stream changed between two reads",
        )),
        Err(e) => Err(gzip_error(&e)),
    }
}

/// `e`, from reading `data`, in the terms of two common mistakes: bytes
/// appended to a gzip file (they fail as a truncated stream or a bad
/// header: said when the first member alone reads) and a profile gzipped
/// twice (its decompressed bytes, gzip's magic, are no protobuf: field 3
/// of wire type 7).
fn explain(e: Error, data: &[u8], limit: u64, budget: &Budget) -> Error {
    if e.kind() == ErrorKind::Gzip {
        if scan::decompressed_len(GzDecoder::new(data), limit, budget).is_ok() {
            return Error::new(
                ErrorKind::Gzip,
                "gzip: bytes after the end of the compressed data are not gzip",
            );
        }
        return e;
    }
    let mut first = [0u8; 2];
    if MultiGzDecoder::new(data).read_exact(&mut first).is_ok() && first == GZIP_MAGIC {
        return Error::new(
            ErrorKind::Gzip,
            "gzip: the decompressed data is gzip again (compressed twice: gunzip it once)",
        );
    }
    e
}

/// Gzips `raw` into `w`, at gzip's fastest level, as Go's `runtime/pprof`
/// writes profiles (`gzip.BestSpeed`): a full profile's exit spent more
/// time compressing at the default level than building it.
pub(crate) fn compress_to<W: Write>(raw: &[u8], w: W) -> Result<()> {
    let mut enc = GzEncoder::new(w, Compression::fast());
    enc.write_all(raw)
        .and_then(|()| enc.try_finish())
        .map_err(|e| Error::io(format!("writing gzip output: {e}"), e))
}

/// Gzips `raw` into a new buffer.
pub(crate) fn compress(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = GzEncoder::new(&mut out, Compression::fast());
    // Writing to a Vec cannot fail; if it somehow did, the output would be
    // short and fail to decode, which is reported there.
    let _ = enc.write_all(raw).and_then(|()| enc.try_finish());
    drop(enc);
    out
}
