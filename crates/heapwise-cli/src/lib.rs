//! The `heapwise` command-line tool, and the library behind it.
//!
//! `heapwise` reads pprof profiles (Go's heap and CPU profiles, heapwise's
//! own, anything `go tool pprof` reads; gzipped or raw) and shows where the
//! memory went. Its figures agree with `go tool pprof`'s.
//!
//! # Usage
//!
//! ```text
//! heapwise top FILE… [--sample-index TYPE] [--base OLD] [-n N] [--focus REGEX] [--json]
//! heapwise diff OLD NEW [--sample-index TYPE] [-n N] [--json]
//! heapwise flame FILE… [-o OUT.svg] [--sample-index TYPE] [--base OLD] [--title TITLE]
//! heapwise import heaptrack FILE -o OUT.pb.gz [--keep-allocator-frames] [--max-input SIZE] [--max-memory SIZE]
//! heapwise demo [--out-dir DIR] [--requests N] [--rate BYTES] [-n N]
//! heapwise probes [--locations]
//! heapwise snapshot leaks|retained|why|diff|pprof FILE… (see [`snapshot`])
//! heapwise animate FILE.heapsnapshot -o mark.html [--max-nodes N] (see [`animate`])
//! heapwise run [--rate BYTES | --full | --snapshot-at-exit] [--leak-check] [-o heapwise.%p.pb.gz] [--every INTERVAL] [--trace INTERVAL] [--peak] [--no-follow] [--http ADDR] [-n N] -- CMD ARGS...
//! ```
//!
//! `heapwise run` runs any dynamically linked program with heapwise's
//! runtime preloaded (no rebuild; see [`run`]), writes its heap profile and
//! prints a summary line and its top sites on standard error, then exits
//! with the program's status. A C program (the integration test's, `--full`):
//!
//! ```text
//! $ heapwise run --full -- ./sites
//! done
//! heapwise: profile at /tmp/heapwise.22248.pb.gz
//! heapwise: 179 allocations (2.2 MiB), 78 temporary; peak heap 293.0 KiB in 101 blocks; not freed at exit: 5.0 KiB in 2 blocks
//!
//! Top sites by bytes allocated (heapwise top /tmp/heapwise.22248.pb.gz --sample-index alloc_space):
//! Type: alloc_space
//! Showing nodes accounting for 2219.51kB, 100% of 2219.51kB total
//! Showing top 10 nodes out of 13
//!       flat  flat%   sum%        cum   cum%
//!  2050.78kB 92.40% 92.40%  2050.78kB 92.40%  grow
//!    97.67kB  4.40% 96.80%    97.67kB  4.40%  make_table
//!    39.06kB  1.76% 98.56%    39.06kB  1.76%  make_zeroed
//!       28kB  1.26% 99.82%       28kB  1.26%  aligned
//!        4kB  0.18%   100%        4kB  0.18%  _IO_file_doallocate
//! ...
//! ```
//!
//! `heapwise demo` runs a toy key-value service under heapwise and profiles
//! it (see [`demo`]); `heapwise probes` lists the probe events linked into
//! the `heapwise` binary (the runtime's own, `heapwise::events`), as
//! `crate::module:event(arg: type, ...)`. A program lists its own events
//! with `print!("{}", heapwise_probe::list())`: events are registered
//! statically, so the list is complete before any event fires.
//!
//! `--sample-index` picks the value to report: for a heap profile
//! `inuse_space` (bytes live at the time of the profile, the default),
//! `inuse_objects`, `alloc_space` (bytes allocated since the program
//! started) or `alloc_objects`; or a sample type's position from 0.
//! `FILE` may be `-` for standard input.
//!
//! ## `heapwise top`: which functions hold the memory
//!
//! The flat and cumulative table of `go tool pprof -top` ([`top`] explains
//! the columns). On a heap profile written by Go (a real run of the
//! integration test's program, which allocates 2 MiB in `main.allocBig`,
//! 320 KiB in `main.allocMedium` and 500 × 96 bytes in
//! `main.allocSmall`):
//!
//! ```text
//! $ heapwise top heap.pb.gz --sample-index alloc_space
//! Type: alloc_space
//! Showing nodes accounting for 2460.32kB, 100% of 2460.32kB total
//! Showing top 10 nodes out of 14
//!       flat  flat%   sum%        cum   cum%
//!  2048.35kB 83.26% 83.26%  2048.35kB 83.26%  main.allocBig
//!   322.62kB 13.11% 96.37%   322.62kB 13.11%  main.allocMedium
//!    87.88kB  3.57% 99.94%    87.88kB  3.57%  main.allocSmall
//!     1.22kB  0.05%   100%     1.22kB  0.05%  runtime.malg
//!     0.09kB 0.0038%   100%     0.09kB 0.0038%  runtime.acquireSudog
//!     0.09kB 0.0038%   100%  2458.95kB 99.94%  runtime.main
//!     0.06kB 0.0025%   100%     0.16kB 0.0064%  runtime.gcBgMarkWorker
//!          0     0%   100%  2458.85kB 99.94%  main.main
//!          0     0%   100%     0.09kB 0.0038%  runtime.gcMarkDone
//!          0     0%   100%     1.22kB  0.05%  runtime.newproc.func1
//! ```
//!
//! `go tool pprof -top -nodecount=10 -sample_index=alloc_space heap.pb.gz`
//! prints the same lines after its file and time headers (pprof alone
//! also hides functions under 0.5% of the total unless given
//! `-nodefraction=0`). `-n 0` shows every function, `--focus 'main\.'` counts only
//! the samples with a matching function on the stack, `--base old.pb.gz`
//! subtracts an older profile first (pprof's `-base`: negative rows have
//! shrunk), and `--json` prints exact integers. Where pprof shows a
//! profile as written, `top`, `diff` and `flame` leave out the allocation
//! plumbing at the leaf of each stack, as heapwise's own profiles do: in a
//! `jemalloc_pprof` profile every byte was in `prof_backtrace_impl` and
//! is now under the function that allocated it
//! (`--keep-allocator-frames` keeps them; a Go profile has none):
//!
//! ```text
//! $ heapwise top heap.pb.gz --sample-index alloc_space -n 1 --json
//! {
//!   "sample_type": "alloc_space",
//!   "unit": "bytes",
//!   "sample_index": 1,
//!   "total": 2519368,
//!   "shown_flat": 2097512,
//!   "node_count": 14,
//!   "focus": null,
//!   "rows": [
//!     {
//!       "name": "main.allocBig",
//!       "flat": 2097512,
//!       "flat_percent": 83.25548312116372,
//!       "cum": 2097512,
//!       "cum_percent": 83.25548312116372,
//!       "inline": null
//!     }
//!   ]
//! }
//! ```
//!
//! ## `heapwise diff`: what grew and what shrank
//!
//! Compares the flat value of every allocation site of two profiles and
//! lists the changes, largest first ([`diff`] explains the report):
//!
//! ```text
//! $ heapwise diff before.pb.gz after.pb.gz
//! Type: inuse_space
//! Total: 1.10MB -> 1.60MB (+512kB, +45.55%)
//! 2 sites grew, 1 shrank, 1 unchanged
//!        old        new       delta    change
//!      256kB     1.25MB        +1MB  +400.00%  app::cache_fill
//!      768kB          0      -768kB      gone  app::load_config
//!          0      256kB      +256kB       new  app::spawn_worker
//! ```
//!
//! The profiles must have the same sample types; otherwise the error says
//! which each has.
//!
//! ## `heapwise flame`: an interactive flame graph
//!
//! ```text
//! $ heapwise flame heap.pb.gz -o flame.svg          # open flame.svg in a browser
//! $ heapwise flame after.pb.gz --base before.pb.gz -o growth.svg
//! $ heapwise flame heap.pb.gz -o - --title "API server, 14:02" > flame.svg
//! ```
//!
//! The SVG (drawn by inferno) has search, zoom and tooltips. With `--base`
//! it is a differential flame graph: widths from the new profile, red
//! where memory grew and blue where it shrank ([`flame`] explains why
//! heapwise does not draw the subtraction). Without `-o` it goes to
//! `./flame.svg`, and heapwise says so on stderr
//! (`heapwise: wrote ./flame.svg`); a `flame.svg` there that heapwise did
//! not draw is left alone, with an error.
//!
//! ## `heapwise import heaptrack`: a heaptrack recording as a heap profile
//!
//! ```text
//! $ heaptrack ./prog                      # writes heaptrack.prog.1234.zst
//! $ heapwise import heaptrack heaptrack.prog.1234.zst -o heap.pb.gz
//! $ heapwise top heap.pb.gz --sample-index alloc_objects -n 1
//! Type: alloc_objects
//! Showing nodes accounting for 1010, 99.80% of 1012 total
//! Showing top 1 nodes out of 10
//!       flat  flat%   sum%        cum   cum%
//!       1010 99.80% 99.80%       1010 99.80%  leaf
//! ```
//!
//! The profile has heapwise's eight heap sample types (`inuse_*`: what was
//! never freed by the end of the recording; `peak_*`: what was live at the
//! peak, for `--peak`; `temporary_*`: heaptrack's temporary allocations,
//! for `--temporary`; the totals are `heaptrack_print`'s), with heaptrack's functions,
//! files and lines, and the allocation plumbing at the leaf hidden as in
//! heapwise's own profiles; [`heaptrack`] explains the conversion and its
//! limits (`--max-input`, `--max-memory`).
//!
//! ## Exit status and errors
//!
//! 0 on success; 1 on an error, with one line on standard error that names
//! the file and the problem, e.g.
//! `heapwise: error: heap.pb.gz: not a pprof profile: gzip: truncated stream`;
//! 2 for a usage error (clap's message). A failed write names the output:
//! `heapwise: error: writing to stdout: No space left on device (os error
//! 28)`. Writing to a pipe that closed early, as in
//! `heapwise top -n 0 big.pb.gz | head -1`, is not an error: heapwise
//! stops and exits 0. Files over [`input::MAX_FILE_SIZE`] are refused, and
//! so are profiles that would take more than [`input::MAX_MEMORY`] to
//! decode (`big.pb.gz: profile too large: decoding would take more than the
//! 256 MiB memory limit (...) (--max-memory raises it)`), before the memory
//! is taken; the files given to one command share that limit (`top`,
//! `diff` and `flame` take `--max-memory SIZE`). A profile whose stacks
//! expand past 2^26 frames (inlined lines counted), or, for `flame`, whose
//! distinct stacks hold more than 2^21, is refused too; names are printed
//! with their control characters escaped (`\x1b`); no command writes its
//! output over its input. Corrupt input is an error, never a crash.
//!
//! # The library
//!
//! The subcommands are thin over these functions, which other tools (and a
//! future `heapwise demo`) call directly:
//!
//! - [`top_report`] with [`TopOptions`] gives a [`TopReport`]: print it
//!   with `Display` or [`TopReport::write_text`], or [`TopReport::to_json`].
//! - [`diff_report`] with [`DiffOptions`] gives a [`DiffReport`], likewise.
//! - [`write_flamegraph`] (and [`write_diff_flamegraph`]) with
//!   [`FlameOptions`] writes the SVG to any `io::Write`.
//! - [`heaptrack::import`] reads a heaptrack recording into a profile.
//! - [`read_profile`] reads and decodes a file with the CLI's limits and
//!   error messages; [`units`] prints values the way pprof does.
//!
//! ```
//! use heapwise_cli::{top_report, write_flamegraph, FlameOptions, SampleIndex, TopOptions};
//! use heapwise_pprof::ProfileBuilder;
//!
//! let mut b = ProfileBuilder::new();
//! b.sample_type("inuse_objects", "count").sample_type("inuse_space", "bytes");
//! let parse = b.frame("app::parse", "src/parse.rs", 10);
//! let main = b.frame("app::main", "src/main.rs", 3);
//! b.sample(&[parse, main], &[4, 3 << 20], &[]);
//! b.sample(&[main], &[1, 512 << 10], &[]);
//! let profile = b.build();
//!
//! let options = TopOptions { max_rows: 5, ..TopOptions::default() };
//! let report = top_report(&profile, &options)?;
//! print!("{report}");
//! assert_eq!(report.rows[0].name, "app::parse");
//!
//! let objects = TopOptions {
//!     sample_index: SampleIndex::Name("inuse_objects".into()),
//!     ..TopOptions::default()
//! };
//! assert_eq!(top_report(&profile, &objects)?.total, 5);
//!
//! let mut svg = Vec::new();
//! write_flamegraph(&profile, &FlameOptions::default(), &mut svg)?;
//! assert!(svg.starts_with(b"<?xml"));
//! # Ok::<(), anyhow::Error>(())
//! ```

// `deny`, not `forbid`: signals.rs holds the one exception.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod animate;
pub mod cli;
pub mod demo;
pub mod diff;
pub mod flame;
mod frames;
pub mod heaptrack;
pub mod input;
mod output;
pub mod run;
pub mod sample_index;
mod signals;
pub mod snapshot;
mod svg_text;
pub mod top;
pub mod units;

pub use diff::{diff_report, DiffOptions, DiffReport, DiffRow};
pub use flame::{folded_stacks, write_diff_flamegraph, write_flamegraph, FlameOptions};
pub use input::read_profile;
pub use sample_index::{SampleIndex, SampleType};
pub use top::{top_report, Inlining, TopOptions, TopReport, TopRow};
