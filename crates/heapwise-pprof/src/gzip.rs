//! Gzip framing: pprof files on disk are gzipped protobuf.
//!
//! Reading is transparent (input starting with the `1f 8b` magic is
//! decompressed, anything else is taken as raw protobuf) and bounded by a
//! size limit, so a gzip bomb is an error rather than an out-of-memory
//! abort. Writing uses a fixed header (no timestamp or file name), so the
//! same profile always compresses to the same bytes.

use std::io::{self, Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::{Error, ErrorKind, Result};

/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True if `data` starts with the gzip magic.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

fn gzip_error(e: &io::Error) -> Error {
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
/// with [`ErrorKind::TooLarge`] once the output would exceed `limit` bytes.
pub(crate) fn decompress(data: &[u8], limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut reader = MultiGzDecoder::new(data).take(limit.saturating_add(1));
    reader.read_to_end(&mut out).map_err(|e| gzip_error(&e))?;
    if out.len() as u64 > limit {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("gzip: decompressed size exceeds the limit of {limit} bytes"),
        ));
    }
    Ok(out)
}

/// Gzips `raw` into `w`.
pub(crate) fn compress_to<W: Write>(raw: &[u8], w: W) -> Result<()> {
    let mut enc = GzEncoder::new(w, Compression::default());
    enc.write_all(raw)
        .and_then(|()| enc.try_finish())
        .map_err(|e| Error::io(format!("writing gzip output: {e}"), e))
}

/// Gzips `raw` into a new buffer.
pub(crate) fn compress(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = GzEncoder::new(&mut out, Compression::default());
    // Writing to a Vec cannot fail; if it somehow did, the output would be
    // short and fail to decode, which is reported there.
    let _ = enc.write_all(raw).and_then(|()| enc.try_finish());
    drop(enc);
    out
}
