//! heapwise: see where your heap goes, and keep it bounded.
//!
//! heapwise is a `#[global_allocator]` wrapper that counts every allocator
//! call for the **scope** it happens in: the bytes, blocks and calls of any
//! region of code (a closure, a thread, an async task), nested scopes
//! charged to their parents, live and peak bytes, and limits that cancel
//! the work or refuse the allocation (Go's [gotcha], done for Rust). The
//! same allocator samples heap profiles in Go's `profile.proto`, fires
//! typed events, and records traces.
//!
//! [gotcha]: https://github.com/1pkg/gotcha
//!
//! ```
//! #[global_allocator]
//! static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! // or wrap another allocator: heapwise::Alloc::new(mimalloc::MiMalloc)
//!
//! fn main() {
//!     assert!(heapwise::installed());
//!     let v = heapwise::track(|scope| {
//!         let v = vec![0u64; 100];
//!         let u = scope.usage();
//!         assert_eq!((u.bytes, u.allocs, u.calls), (800, 1, 1));
//!         heapwise::track(|_child| {
//!             let _w = vec![0u8; 5000]; // charged to the child and to `scope`
//!         });
//!         assert_eq!(scope.usage().bytes, 5800);
//!         v
//!     });
//!     assert_eq!(v.len(), 100);
//! }
//! ```
//!
//! # Where to look
//!
//! | you want | read |
//! |---|---|
//! | every call on one page | [`guide::tour`] |
//! | what is counted, threads and tasks, exactness, who pays for a free | [`Scope`], [`guide::counting`] |
//! | limits that cancel work or refuse allocations | [`guide::limits`] |
//! | heap profiles, `go tool pprof`, the stats line | [`profile`], [`guide::profiles`] |
//! | every live block, leaks, retained size, `.heapsnapshot` | [`snapshot`] |
//! | probes on heapwise's events, traces, event profiles | [`events`], [`record`], [`probe`], [`guide::events`] |
//! | `/debug/pprof/heap` on a live process (feature `http`) | `http` |
//! | what the allocator path promises; pitfalls | [`guide::guarantees`] |
//!
//! # Module map
//!
//! The runtime is built in layers; each imports only the layers above it
//! in this list (`docs/architecture.md` in the repository draws them).
//!
//! | layer | what it holds |
//! |---|---|
//! | `sys`, `util` | platform code (mappings, stack bounds, fork-safe locks, counters updated unlocked while one thread writes them); byte formatting, JSON escaping |
//! | `local` | what every allocator call touches: the per-thread block, the sampler, the page filter, the process counters |
//! | [`events`] | heapwise's tracepoints, declared low because every layer fires them |
//! | `scope` | [`Scope`], guards, the chain of ancestors, limits, cancellation, futures, named scopes |
//! | [`profile`] | the allocator's sampling hook, stack walk, depot, live-block table and full mode's bucket trailers, symbolization, export |
//! | [`snapshot`] | heap snapshots: the fork, roots, the scan, leaks |
//! | `stats` | the periodic stats line and the settings read at start |
//! | [`probe`] | `heapwise-probe` re-exported, and event profiles |
//! | `alloc`, [`record`] | the [`Alloc`] wrapper, which composes the layers below on each call; the trace recorder |
//! | `http` | the endpoint (feature `http`) |
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

// The layers: see the module map above; .ci/layers.py checks that each
// imports only the layers below it.
mod alloc;
pub mod events;
pub mod guide;
#[cfg(feature = "http")]
pub mod http;
mod local;
pub mod probe;
pub mod profile;
pub mod record;
mod scope;
pub mod snapshot;
mod stats;
mod sys;
#[cfg(feature = "testing")]
pub mod testing;
mod util;

pub use crate::alloc::Alloc;
#[doc(hidden)]
pub use crate::local::process::__preload_own;
/// A line on standard error in one write (`util/say.rs`), for the preload
/// library's messages.
#[doc(hidden)]
pub fn __say(args: std::fmt::Arguments<'_>) {
    util::say::line(args);
}
/// Parses an interval as `HEAPWISE_TRACE` takes it (`None`: off), for
/// `heapwise run --trace`; the error is a one-line message.
#[doc(hidden)]
pub fn __parse_trace_interval(text: &str) -> Result<Option<std::time::Duration>, String> {
    stats::line::parse_interval(text)
}
pub use crate::local::process::{installed, stats, Stats};
pub use crate::local::usage::Usage;
pub use crate::scope::cancel::Cancelled;
pub use crate::scope::future::{Instrumented, Limited};
pub use crate::scope::limit::{LimitExceeded, LimitKind, Remaining};
pub use crate::scope::{track, untracked, Scope, ScopeGuard};
#[doc(hidden)]
pub use crate::stats::settings::__preload_stand_down;
pub use crate::util::bytes::Bytes;
pub use crate::util::units::{GIB, KIB, MIB, TIB};
/// `#[heapwise::test(limit_memory = "24 MiB", limit_leaks = 0)]`: see [`testing`].
#[cfg(feature = "testing")]
pub use heapwise_macros::test;
/// The `profile.proto` model heap profiles are returned in (the
/// `heapwise-pprof` crate): decode, merge, diff and encode profiles.
pub use heapwise_pprof as pprof;
