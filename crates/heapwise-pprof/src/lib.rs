//! The pprof `profile.proto` format, read and written by hand.
//!
//! `heapwise-pprof` is heapwise's model of Go's
//! [pprof](https://github.com/google/pprof) profile format
//! (`perftools.profiles.Profile`), with a hand-written protobuf encoder and
//! decoder, transparent gzip, validation of every cross-reference, and
//! merging and diffing of profiles (`pprof -base` semantics). It reads the
//! heap and CPU profiles Go's `runtime/pprof` writes as well as its own, and
//! what it writes `go tool pprof` reads.
//!
//! Decoding is built for untrusted input: every length is checked against
//! the bytes that remain, and corrupt or hostile input yields an [`Error`],
//! never a panic. Memory is bounded: a decode allocates at most
//! [`DecodeOptions::max_memory`] (default 256 MiB) for the decoded profile
//! and the decompressed protobuf together, counting what each item will
//! take before allocating it, and gzipped input is checked while it
//! streams, so a half-megabyte gzip of 250 million empty samples fails
//! after a few megabytes instead of asking for 18 GB:
//!
//! ```text
//! decoding would take more than the 256 MiB memory limit (3627507 samples in the first 7255014 bytes)
//! ```
//!
//! # Decoding
//!
//! [`Profile::decode`] takes gzipped or raw bytes:
//!
//! ```
//! use heapwise_pprof::Profile;
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/go_heap.pb.gz");
//! let bytes = std::fs::read(path)?;
//! let profile = Profile::decode(&bytes)?;
//! for (ty, unit) in profile.sample_types() {
//!     println!("{ty} ({unit})");
//! }
//! let inuse = profile.sample_type_index("inuse_space").expect("a heap profile");
//! println!("in use: {} bytes", profile.total(inuse));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Building and encoding
//!
//! [`ProfileBuilder`] interns strings, functions and locations;
//! [`Profile::encode`] writes raw protobuf and [`Profile::write_gzip`] the
//! gzipped form `go tool pprof` expects in a file (at gzip's fastest level,
//! as Go's `runtime/pprof` writes its profiles):
//!
//! ```
//! use heapwise_pprof::{Profile, ProfileBuilder};
//!
//! let mut b = ProfileBuilder::new();
//! b.sample_type("alloc_objects", "count")
//!     .sample_type("alloc_space", "bytes")
//!     .period("space", "bytes", 1);
//! let leaf = b.frame("app::load", "src/load.rs", 12);
//! let root = b.frame("app::main", "src/main.rs", 3);
//! b.sample(&[leaf, root], &[2, 8192], &[]);
//! let profile = b.build();
//!
//! let raw = profile.encode();
//! assert_eq!(Profile::decode(&raw)?, profile);
//!
//! let mut file = Vec::new(); // or a std::fs::File
//! profile.write_gzip(&mut file)?;
//! assert_eq!(Profile::decode(&file)?, profile);
//! # Ok::<(), heapwise_pprof::Error>(())
//! ```
//!
//! A profile that is only written need not hold its samples as
//! [`Sample`]s: after [`ProfileBuilder::stream_samples`], each sample is
//! encoded as it is added, and [`ProfileBuilder::encode_gzip`] writes the
//! same bytes the built profile would (a full heap profile of a C++ compile:
//! 3.7 MB of samples encoded, ~15 MB as `Sample`s).
//!
//! # Merging and diffing
//!
//! [`Profile::merge`] sums profiles of the same type;
//! [`Profile::diff_base`] subtracts a base profile. Both require identical
//! sample types and period type and say which differ otherwise.
//!
//! # Layout
//!
//! One concept per module: [`wire`] (the protobuf wire format, public for
//! other hand-written encoders), `profile` (the model), `encode` and `decode`, `budget` (the memory a decode may take),
//! `scan` (the first pass over gzipped input), `validate`, `merge`,
//! `builder`, `gzip`, `error`, `heap` (the columns of heapwise's heap
//! profiles), `hide` (the plumbing left out of others' profiles), `plumbing` (which frames are the
//! allocator's, shared by every heapwise output) and `printable` (names
//! safe for a terminal, for every text report). `fuzz/` holds the cargo-fuzz target; its
//! `README.md` gives the command (with an RSS limit).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod budget;
mod builder;
mod decode;
mod encode;
mod error;
mod gzip;
mod heap;
mod hide;
mod merge;
mod plumbing;
mod printable;
mod profile;
mod scan;
mod validate;
pub mod wire;

pub use builder::ProfileBuilder;
pub use decode::{DecodeOptions, DEFAULT_MAX_DECOMPRESSED_SIZE, DEFAULT_MAX_MEMORY};
pub use error::{Error, ErrorKind, Result};
pub use gzip::{is_gzip, GZIP_MAGIC};
pub use heap::{HeapSampleType, HEAP_SAMPLE_TYPES};
pub use plumbing::is_allocator_frame;
pub use printable::printable;
pub use profile::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
