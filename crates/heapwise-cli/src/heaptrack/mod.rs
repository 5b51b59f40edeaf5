//! `heapwise import heaptrack`: a [heaptrack](https://github.com/KDE/heaptrack)
//! data file as a Go heap profile, for `heapwise top`, `diff`, `flame` and
//! `go tool pprof`.
//!
//! heaptrack records every allocation of a process (`heaptrack ./prog`
//! writes `heaptrack.prog.PID.zst`); [`import`] reads such a file (zstd,
//! gzip or uncompressed, told by its first bytes) and sums it into a
//! profile with the sample types of heapwise's own heap profiles:
//!
//! | sample type | unit | meaning |
//! |---|---|---|
//! | `alloc_objects` | count | blocks allocated during the recording |
//! | `alloc_space` | bytes | bytes allocated during the recording |
//! | `inuse_objects` | count | blocks never freed by the end of the recording |
//! | `inuse_space` | bytes | bytes never freed by the end of the recording |
//! | `peak_objects` | count | blocks live at the peak |
//! | `peak_space` | bytes | bytes live at the peak |
//! | `temporary_objects` | count | blocks freed right after they were allocated |
//! | `temporary_space` | bytes | their bytes |
//!
//! The first four are Go's heap profile's; `default_sample_type` is
//! `inuse_space`. The **peak** is the first moment the live bytes were
//! highest during the recording (a comment says how many bytes), and a
//! free is **temporary** when nothing was allocated or freed between it
//! and the allocation: both as heaptrack's analysis finds them, so the
//! totals are `heaptrack_print`'s "peak heap memory consumption" and
//! "temporary memory allocations" (`replay` has the rules, including
//! where they differ from heapwise's own count: heaptrack compares
//! allocation infos, a size at a stack, not blocks, and threads are one
//! sequence). `heapwise top --peak` and `--temporary` show them.
//!
//! One sample per allocation info (a block size at a stack), labelled
//! `bytes` with the block size; `period` is 1 (every allocation counted,
//! as heapwise at rate 1). Functions, files, lines and inlined frames are
//! heaptrack's, with Rust names demangled without their hash; each module
//! is a mapping. As in heapwise's profiles, the allocation plumbing at the
//! leaf of a stack (Rust's allocator shims and `GlobalAlloc` wrappers, the
//! standard library's allocation paths, C++'s `operator new`) is left out,
//! so the leaf is the code that asked for the memory; keep it with
//! [`ImportOptions::keep_allocator_frames`]. Comments record heaptrack's
//! version, the command and the peak resident set size; `duration_nanos`
//! is the recording's length.
//!
//! ```
//! use heapwise_cli::heaptrack::{import, ImportOptions};
//!
//! let data = "v 10400 3\n\
//!             s 4 main\n\
//!             s 9 app::load\n\
//!             i 401000 0 1\n\
//!             i 401100 0 2\n\
//!             t 1 0\n\
//!             t 2 1\n\
//!             a 40 2\n\
//!             + 0\n\
//!             + 0\n\
//!             - 0\n";
//! let profile = import(data.as_bytes(), &ImportOptions::new())?;
//! let inuse = profile.sample_type_index("inuse_space").unwrap();
//! assert_eq!(profile.total(inuse), 0x40);
//! assert_eq!(profile.total(0), 2); // alloc_objects
//! # Ok::<(), heapwise_cli::heaptrack::Error>(())
//! ```
//!
//! # Hostile input
//!
//! Every line is checked (see `recording` for the format): an unknown
//! record, a field that is not hexadecimal, an index that refers to
//! nothing defined before it, a free without an allocation, or a count
//! that overflows is an [`Error`] naming the line, never a panic. The
//! decompressed input is read as a stream and capped
//! ([`ImportOptions::max_input`], so a zstd or gzip bomb stops there), a
//! line is at most [`MAX_LINE`] bytes, and the memory the recording and
//! the profile take is counted before it is taken and capped
//! ([`ImportOptions::max_memory`]).

mod convert;
mod error;
mod lines;
mod names;
mod recording;
mod replay;

use std::io::Read;

use heapwise_pprof::Profile;

pub use error::{Error, ErrorKind, Result};

/// The default cap on the decompressed input: 16 GiB (a recording of a
/// million allocations is about 10 MB).
pub const DEFAULT_MAX_INPUT: u64 = 16 << 30;

/// The default cap on the memory an import takes: 1 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;

/// The longest line read: 16 MiB (heaptrack's longest are function names).
pub const MAX_LINE: usize = 16 << 20;

/// How to import: limits, and which frames to keep.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    max_input: u64,
    max_memory: u64,
    keep_allocator_frames: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions::new()
    }
}

impl ImportOptions {
    /// The default limits, allocation plumbing hidden.
    pub fn new() -> ImportOptions {
        ImportOptions {
            max_input: DEFAULT_MAX_INPUT,
            max_memory: DEFAULT_MAX_MEMORY,
            keep_allocator_frames: false,
        }
    }

    /// Fails with [`ErrorKind::TooLarge`] once the input decompresses to
    /// more than `bytes` (default [`DEFAULT_MAX_INPUT`]).
    pub fn max_input(mut self, bytes: u64) -> ImportOptions {
        self.max_input = bytes;
        self
    }

    /// Fails with [`ErrorKind::TooLarge`] before the recording and the
    /// profile built from it would take more than `bytes` of memory
    /// (default [`DEFAULT_MAX_MEMORY`]; lines are read one at a time and
    /// not counted).
    pub fn max_memory(mut self, bytes: u64) -> ImportOptions {
        self.max_memory = bytes;
        self
    }

    /// Keeps the allocation plumbing at the leaf of each stack.
    pub fn keep_allocator_frames(mut self, keep: bool) -> ImportOptions {
        self.keep_allocator_frames = keep;
        self
    }
}

/// Reads heaptrack data (zstd, gzip or uncompressed) from `input` and
/// returns it as a heap profile.
pub fn import(input: impl Read, options: &ImportOptions) -> Result<Profile> {
    let mut lines = lines::Lines::new(input, options.max_input, MAX_LINE)?;
    let mut budget = recording::Budget::new(options.max_memory);
    let recording = recording::read(&mut lines, &mut budget)?;
    convert::to_profile(&recording, options.keep_allocator_frames, &mut budget)
}
