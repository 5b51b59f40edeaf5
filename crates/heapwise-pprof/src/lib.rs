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
//! the bytes that remain, decompression is capped
//! ([`DecodeOptions::max_decompressed_size`]), and corrupt or hostile input
//! yields an [`Error`], never a panic. The decoded model can hold at most a
//! small constant factor (under 40×) more memory than the raw protobuf it
//! came from.
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
//! gzipped form `go tool pprof` expects in a file:
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
//! # Merging and diffing
//!
//! [`Profile::merge`] sums profiles of the same type;
//! [`Profile::diff_base`] subtracts a base profile. Both require identical
//! sample types and period type and say which differ otherwise.
//!
//! # Layout
//!
//! One concept per module: `protobuf` (wire primitives), `profile` (the
//! model), `encode` and `decode`, `validate`, `merge`, `builder`, `gzip` and
//! `error`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod builder;
mod decode;
mod encode;
mod error;
mod gzip;
mod merge;
mod profile;
mod protobuf;
mod validate;

pub use builder::ProfileBuilder;
pub use decode::{DecodeOptions, DEFAULT_MAX_DECOMPRESSED_SIZE};
pub use error::{Error, ErrorKind, Result};
pub use gzip::{is_gzip, GZIP_MAGIC};
pub use profile::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
