//! Reading profile files, with size limits and errors that name the file.
//!
//! A profile file is read whole, up to [`MAX_FILE_SIZE`] bytes, and
//! decoded by heapwise-pprof, which accepts gzipped or raw protobuf, takes
//! at most [`MAX_MEMORY`] for the decoded profile (checking gzipped input
//! while it decompresses), and rejects corrupt input with an error rather
//! than a panic: `big.pb.gz: profile too large: decoding would take more
//! than the 256 MiB memory limit (3627507 samples in the first 7255014
//! bytes)`. Every error message starts with the
//! file's name: `heap.pb.gz: not a pprof profile: gzip: truncated stream`.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use heapwise_pprof::{DecodeOptions, ErrorKind, Profile, DEFAULT_MAX_DECOMPRESSED_SIZE};

/// The largest profile file read, compressed or not: 256 MiB. Go's heap
/// profiles of large services are a few megabytes.
pub const MAX_FILE_SIZE: u64 = 256 << 20;

/// The most memory decoding one profile may take, its decompressed
/// protobuf included, unless `--max-memory` says otherwise: 256 MiB
/// (heapwise-pprof's default).
pub const MAX_MEMORY: u64 = heapwise_pprof::DEFAULT_MAX_MEMORY;

/// An I/O error as a short lowercase phrase, without the `(os error N)`
/// suffix: `no such file or directory`.
pub(crate) fn describe_io(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Reads at most [`MAX_FILE_SIZE`] bytes from `path`, or from standard
/// input if `path` is `-`.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let name = path.display();
    let limit = MAX_FILE_SIZE;
    let mut data = Vec::new();
    let read = if path.as_os_str() == "-" {
        io::stdin().lock().take(limit + 1).read_to_end(&mut data)
    } else {
        let file = File::open(path).map_err(|e| anyhow!("{name}: {}", describe_io(&e)))?;
        file.take(limit + 1).read_to_end(&mut data)
    };
    read.map_err(|e| anyhow!("{name}: cannot read: {}", describe_io(&e)))?;
    if data.len() as u64 > limit {
        bail!(
            "{name}: file is larger than the {} MiB limit for a profile",
            limit >> 20
        );
    }
    Ok(data)
}

/// Decodes a profile read from `name` (used in error messages).
pub fn decode_profile(name: &str, data: &[u8]) -> Result<Profile> {
    decode_profile_within(name, data, MAX_MEMORY)
}

/// [`decode_profile`] within `max_memory` bytes (see
/// [`DecodeOptions::max_memory`]).
fn decode_profile_within(name: &str, data: &[u8], max_memory: u64) -> Result<Profile> {
    if data.is_empty() {
        bail!("{name}: empty file, not a pprof profile");
    }
    // The decompressed bytes are held in memory, within the budget: the
    // budget raises their limit too, so that `--max-memory` is the one
    // knob the error names.
    let options = DecodeOptions::new()
        .max_memory(max_memory)
        .max_decompressed_size(max_memory.max(DEFAULT_MAX_DECOMPRESSED_SIZE));
    let profile = Profile::decode_with(data, &options).map_err(|e| match e.kind() {
        ErrorKind::TooLarge => anyhow::Error::new(TooLarge(format!(
            "{name}: profile too large: {e} (--max-memory raises it)"
        ))),
        _ => anyhow!("{name}: not a pprof profile: {e}{}", other_format(data)),
    })?;
    if profile.sample_type.is_empty() {
        bail!("{name}: not a pprof profile: it has no sample types");
    }
    Ok(profile)
}

/// A profile refused for the memory limit: the one error that the limit
/// the files given together share explains.
#[derive(Debug)]
pub(crate) struct TooLarge(String);

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TooLarge {}

/// What another of heapwise's inputs looks like, for the error on a file
/// that is not a profile: `; it looks like …`, or nothing.
fn other_format(data: &[u8]) -> &'static str {
    let text = data.trim_ascii_start();
    if text.starts_with(b"{") {
        "; it looks like JSON: a .heapsnapshot is read by heapwise snapshot"
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || data.starts_with(b"v ") {
        "; it looks like a heaptrack recording: heapwise import heaptrack FILE converts it"
    } else if [
        &b"heap profile:"[..],
        b"goroutine profile:",
        b"--- contention:",
        b"--- mutex:",
        b"threadcreate profile:",
    ]
    .iter()
    .any(|p| text.starts_with(p))
    {
        "; it looks like Go's text format (written with debug=1): write it with debug=0, or convert it with go tool pprof -proto FILE"
    } else {
        ""
    }
}

/// Reads and decodes the profile at `path` (`-` for standard input).
pub fn read_profile(path: &Path) -> Result<Profile> {
    read_profile_within(path, MAX_MEMORY)
}

/// [`read_profile`] within `max_memory` bytes.
pub(crate) fn read_profile_within(path: &Path, max_memory: u64) -> Result<Profile> {
    let data = read_file(path)?;
    decode_profile_within(&path.display().to_string(), &data, max_memory)
}
