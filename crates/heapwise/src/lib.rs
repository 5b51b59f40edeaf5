//! heapwise: see where your heap goes, and keep it bounded.
//!
//! heapwise is a `#[global_allocator]` wrapper that counts every allocator
//! call for the **scope** it happens in: the heap bytes, blocks and allocator
//! calls made inside any region of code (a closure, a thread, an async task),
//! with nested scopes charged to their parents, live and peak bytes, and limits
//! that cancel the work cooperatively or refuse the allocation. It is Go's
//! [gotcha] (and its `context.Context`) done properly for Rust: stable Rust, no
//! runtime patching, a fast path of a few instructions.
//!
//! [gotcha]: https://github.com/1pkg/gotcha
//!
//! # Setup
//!
//! ```toml
//! [dependencies]
//! heapwise = "0.1"
//! ```
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
//! The `gotcha` example (`cargo run --release --example gotcha`) mirrors
//! gotcha's README: a scope limited to 1 KiB, a nested scope, and the limit
//! cancelling the work. It prints (figures from a real run; the stdout buffer
//! is allocated inside the scope, which is what crosses the limit first):
//!
//! ```text
//! initial allocation       800 bytes     1 allocs     1 calls   live     800  peak     800
//! derived allocation     40000 bytes     1 allocs     2 calls   live   39200  peak   40000
//! total allocations      41824 bytes     3 allocs     4 calls   live   41024  peak   41824
//! cancelled: scope "request" exceeded its bytes limit: 1824 bytes allocated, limit 1024
//! len(v) = 5000
//! job stopped after 16 chunks: scope "job" exceeded its live bytes limit: 262528 live bytes, limit 262144
//! ```
//!
//! # The API in brief
//!
//! | call | what it does |
//! |---|---|
//! | [`track(\|s\| ..)`](track) | run a closure in a new scope nested under the current one (gotcha's `Trace`) |
//! | [`Scope::new()`]`.name("req").limit_bytes(64 * KIB)` | build a scope (child of the current one); [`Scope::detached`], [`Scope::child`] |
//! | [`scope.run(\|s\| ..)`](Scope::run), [`scope.enter()`](Scope::enter) | run inside it (closure, or RAII guard) |
//! | [`scope.usage()`](Scope::usage) | [`Usage`]: bytes, allocs, frees, freed_bytes, reallocs, calls, live_bytes, peak_bytes |
//! | [`scope.exceeded()`](Scope::exceeded), [`scope.check()`](Scope::check) | has it (or an ancestor) crossed a limit? [`LimitExceeded`] |
//! | [`scope.remaining()`](Scope::remaining) | what is left of each limit, minimum over all ancestors |
//! | [`scope.cancelled()`](Scope::cancelled) | a future (or [`Cancelled::wait`]) resolving at the first crossing (gotcha's `Done()`) |
//! | [`scope.limit(fut)`](Scope::limit) | run a future in the scope; drop it and return `Err` once a limit is crossed |
//! | [`scope.instrument(fut)`](Scope::instrument) | charge a future to the scope on every poll |
//! | [`Scope::current()`], [`untracked(\|\| ..)`](untracked) | the thread's scope; run outside every scope |
//! | [`stats()`], [`installed()`] | process-wide figures (Go's MemStats); is the wrapper the global allocator? |
//! | [`profile::heap()`], [`profile::write_heap`] | the heap profile (Go's `profile.proto`); [`profile::set_rate`] |
//! | [`Scope::named()`] | the live named scopes |
//! | [`events`]`::scope_enter::attach(..)` | probes on heapwise's own events: allocator calls (`alloc`, `free`, `realloc`), scope entry/exit, limit crossings, profiler samples |
//! | [`record::Recorder::new()`](record::Recorder)`.start()` … `.finish().save("trace.json")` | a Chrome/Perfetto trace: scopes as slices, limit crossings, live-bytes counters, your events |
//! | [`probe::profile(ev::event())`](probe::profile)`.finish()` | the stacks an event fired at, as a pprof profile (`events/count`) |
//! | [`probe::declare!`](probe::declare), [`probe::testing`] | your own events; record and pause them in tests (go123's tracetest) |
//!
//! # What is counted
//!
//! Every call the program makes to the global allocator, with the requested
//! size (`Layout::size()`):
//!
//! - [`Usage::bytes`] and [`Usage::allocs`]: bytes and blocks allocated
//!   (`alloc`, `alloc_zeroed`, and the new block of a `realloc`). Monotonic,
//!   like gotcha's bytes.
//! - [`Usage::frees`] and [`Usage::freed_bytes`]: blocks and bytes freed
//!   (`dealloc`, and the old block of a `realloc`).
//! - [`Usage::reallocs`]: successful `realloc` calls. A realloc is **one call,
//!   one realloc, a free of the old block and an allocation of the new one**.
//! - [`Usage::calls`]: allocator entries made in the scope (`alloc`,
//!   `alloc_zeroed`, `realloc`, `dealloc`), so `calls = allocs + frees -
//!   reallocs` (with owner tracking, per scope only for blocks freed where they
//!   were allocated: a free is charged to the block's owner, the call to the
//!   scope that made it).
//! - [`Usage::live_bytes`] (`bytes - freed_bytes`, never below zero) and
//!   [`Usage::peak_bytes`], its high-water mark.
//!
//! gotcha's "objects" are element counts (`make([]int, 100)` is 100 objects),
//! read from Go's type descriptors. Rust's allocator sees a `Layout`, never a
//! type, so heapwise counts **blocks**: `vec![0u64; 100]` is 800 bytes and 1
//! alloc. Failed calls (null) count nothing. Zero-sized types never reach the
//! allocator. Memory that bypasses the global allocator (`mmap`, C `malloc`
//! from a `-sys` crate, thread stacks) is not seen.
//!
//! # Nesting, threads and tasks
//!
//! A scope's figures include all its descendants'. Entering a scope pushes it
//! on the thread's stack of entered scopes; leaving removes it, also when a
//! panic unwinds through [`Scope::run`], so the parent keeps being charged
//! after a nested scope ends (gotcha loses track of it). Guards may be
//! dropped in any order: the thread ends up where it started. Entering costs
//! the same at any depth; a batch is charged to every level of the chain.
//!
//! Propagation is explicit, as in gotcha: a spawned thread or task is charged
//! to a scope only while it runs inside [`Scope::run`]/[`Scope::enter`], or as a
//! future wrapped by [`Scope::instrument`]/[`Scope::limit`], which re-enter the
//! scope on every poll, on whichever worker thread polls it. [`Scope`] is
//! `Clone + Send + Sync`: hand a clone over.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! let scope = heapwise::Scope::new().name("batch");
//! let worker = {
//!     let scope = scope.clone();
//!     std::thread::spawn(move || scope.run(|_| vec![1u8; 4096]))
//! };
//! let v = worker.join().unwrap();
//! assert_eq!(scope.usage().bytes, 4096);
//! # drop(v);
//! ```
//!
//! # Accuracy: per-thread batching
//!
//! Each thread batches its activity and charges it to the scope chain when 64
//! KiB of traffic (bytes allocated plus freed) has accumulated, when it enters
//! or leaves a scope, when it reads [`Scope::usage`] or [`stats`], and when it
//! exits. Hence:
//!
//! - after [`Scope::run`]/[`track`] returns, and for `usage()` read on the
//!   thread that allocated, the counts are **exact**;
//! - a thread still running inside the scope may be missing from another
//!   thread's reading by up to **64 KiB of traffic** (or, near a limit, the
//!   distance to the limit; see below), so the worst-case lag is 64 KiB times
//!   the number of such threads;
//! - `peak_bytes` is exact for a single thread; with several threads in one
//!   scope it is assembled from batches and may be off by the batch size.
//!
//! # Limits
//!
//! [`Scope::limit_bytes`], [`Scope::limit_live_bytes`],
//! [`Scope::limit_allocs`] and [`Scope::limit_calls`] bound the matching
//! figure. A scope is exceeded when a figure becomes **greater** than its
//! limit, and a child is exceeded when any ancestor is. [`Scope::remaining`] is
//! the minimum over the scope and all its ancestors (gotcha consults only the
//! scope). [`LimitExceeded`] names the scope that crossed, the kind, the limit
//! and the usage seen, and is a `std::error::Error`.
//!
//! Near a limit, a thread's batch shrinks to the distance left, so the call
//! that crosses a limit is detected **at that call** on its thread; other
//! threads in the scope detect it at their next flush.
//!
//! **Cooperative** (the default): nothing fails. The scope is marked,
//! [`Scope::cancelled`] resolves, [`Scope::check`] returns `Err`, and
//! [`Scope::limit`] drops its future at the next poll, or as soon as it is
//! woken by the crossing. The allocator never wakes anything itself (waking
//! can allocate and lock): it hands the scope to a background thread,
//! `heapwise-notify`, started by the first waiter.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! # async fn serve() -> Vec<u8> { vec![0u8; 1 << 20] }
//! # async fn example() {
//! let req = heapwise::Scope::new().name("request").limit_live_bytes(64 * heapwise::KIB);
//! match req.limit(serve()).await {
//!     Ok(body) => { /* ... */ }
//!     Err(e) => eprintln!("{e}"), // scope "request" exceeded its live bytes limit: ...
//! }
//! # }
//! ```
//!
//! **Hard** ([`Scope::hard`]): the allocation (or growing realloc) that would
//! cross a limit fails by returning null, and the scope is marked as above.
//! `Vec::try_reserve`, `Box::try_new` and friends return `Err`; an infallible
//! allocation calls [`std::alloc::handle_alloc_error`], which **aborts the
//! process**: a global allocator must never unwind, so heapwise never panics.
//! Use hard limits around code that allocates fallibly. A thread that is
//! panicking is never refused: the panic hook (its message, a backtrace
//! under `RUST_BACKTRACE=1`) and the drops of unwinding allocate, and a
//! refusal there would abort the process or deadlock on the backtrace lock;
//! they are charged as usual and mark the scope exceeded when they cross.
//! A refused call's [`LimitExceeded`] says so, with the bytes it asked for
//! ([`LimitExceeded::refused`]). With several threads
//! in one hard-limited scope, a thread at its slow path charges its own batch
//! first, then checks the call against the scope's charged figures, so the
//! scope can overshoot by at most the other threads' batches not yet charged,
//! each bounded by 64 KiB and by the distance to the limit when it started
//! (they shrink as the limit nears). Two threads filling a hard 100 KiB scope
//! with 1 KiB blocks stay within 164 KiB (`tests/hard_limits.rs`).
//!
//! # Who is charged for a free
//!
//! By default a free is charged to the scope current **on the freeing thread
//! when it frees** (possibly none). This costs nothing extra, and is exact
//! whenever memory is freed where it was allocated. When a block allocated in
//! scope A is freed in scope B, B's `frees`/`freed_bytes` grow and its
//! `live_bytes` drops (never below zero), while A's `live_bytes` stays up.
//!
//! With [`Alloc::owner_tracking`], every block carries an 8-byte trailer naming
//! the scope that allocated it, and a free is charged to that **owner**,
//! wherever and whenever it happens, even after the owner's last handle is
//! dropped (the scope's counters live until its last block is freed). Per-scope
//! `live_bytes` is then exact. The allocator *call* stays with the scope that
//! made it: a scope freeing another's block is charged one call and nothing
//! else, so `limit_calls` still bounds the work of a region's own code. The
//! cost: 8 bytes per block, and a free outside the owning scope takes the slow
//! path (a few atomic adds per ancestor).
//!
//! ```
//! #[global_allocator]
//! static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();
//! # fn main() {
//! let cache = heapwise::Scope::new().name("cache");
//! let v = cache.run(|_| vec![0u8; 1000]);
//! heapwise::untracked(|| drop(v)); // freed elsewhere, still charged to `cache`
//! assert_eq!(cache.usage().live_bytes, 0);
//! # }
//! ```
//!
//! # Heap profiles
//!
//! The same allocator samples allocations with their stacks, as Go's runtime
//! does, and [`profile::heap`] returns Go's heap profile, which `go tool
//! pprof`, Pyroscope, Parca and the `heapwise` command read:
//!
//! ```no_run
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! # fn main() -> std::io::Result<()> {
//! heapwise::profile::write_heap("heap.pb.gz")?; // gzipped profile.proto
//! let p = heapwise::profile::heap();            // or the model: heapwise::pprof::Profile
//! # Ok(()) }
//! ```
//!
//! ```text
//! $ go tool pprof -top heap.pb.gz          # or: heapwise top heap.pb.gz
//! Showing nodes accounting for 5384.77kB, 100% of 5384.77kB total
//!       flat  flat%   sum%        cum   cum%
//!  3186.96kB 59.18% 59.18%  3186.96kB 59.18%  heapwise_cli::demo::Service::login
//!  2099.76kB 38.99% 98.18%  2197.77kB 40.81%  heapwise_cli::demo::Service::put
//! ```
//!
//! - **Sampling**: each thread counts down bytes to its next sample, drawn
//!   from an exponential distribution with mean R (default 512 KiB, Go's
//!   `MemProfileRate`); a sample is just another reason to leave the fast
//!   path, so the countdown costs nothing extra. [`profile::set_rate`] or
//!   `HEAPWISE_PROFILE_RATE=512KiB` (also `1MiB`, `1` = every allocation,
//!   `0` = off; a bad value is reported on stderr and the default kept).
//!   Estimates are unbiased per (stack, size) bucket as Go's
//!   `scaleHeapSample` does; a site that allocated `B` bytes in small
//!   blocks is off by `√(R/B)` (one standard deviation: ±8.8% at 64 MiB and
//!   the default rate; see [`profile`]); in-use figures are exact for the
//!   sampled blocks at the time of the call.
//! - **Sample types** in Go's order: `alloc_objects`, `alloc_space`,
//!   `inuse_objects`, `inuse_space`; the `bytes` label is the block size and
//!   the `scope` label the innermost named [`Scope`], so `pprof
//!   -tagfocus=scope=request` shows one kind of work.
//! - **Stacks** come from a frame-pointer walk bounded by the thread's stack
//!   (64 frames by default, [`profile::set_max_depth`]). Symbols (demangled
//!   names, files, lines, inlined frames) are resolved when a profile is
//!   built, never on the allocation path; every mapping carries its GNU build
//!   ID, and [`profile::ProfileOptions::addresses_only`] leaves symbolization
//!   to pprof.
//! - **The `heapwise` command** (crate `heapwise-cli`): `heapwise top FILE`
//!   (the figures of `go tool pprof -top`), `heapwise diff OLD NEW`,
//!   `heapwise flame FILE -o flame.svg`, and `heapwise demo`.
//! - **The endpoint** (cargo feature `http`): `heapwise::http::serve` serves
//!   `/debug/pprof/heap` and friends, so `go tool pprof
//!   http://127.0.0.1:6060/debug/pprof/heap` works on a live process.
//! - **The stats line**: `HEAPWISE_TRACE=1s` (also `500ms`, `2m`; `0` or `off`
//!   for none) prints one line per interval to stderr from a background
//!   thread, like `GODEBUG=gctrace=1`. From a real run
//!   (`HEAPWISE_TRACE=200ms heapwise demo --requests 300000 --rate 524288`,
//!   whose scans copy gigabytes a second):
//!
//! ```text
//! heapwise 3 @0.60s: live 48.4MiB peak 48.8MiB | alloc 14.9GiB/s 1.54M/s | free 14.8GiB/s 1.39M/s | prof 512KiB 25.4k/s 587KiB | cost ~2.9%
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `heapwise 3` | the line's number, from 1 |
//! | `@0.60s` | seconds since the trace started (at program load) |
//! | `live 48.4MiB` | heap bytes allocated and not freed ([`Stats::live_bytes`]) |
//! | `peak 48.8MiB` | the high-water mark of `live` ([`Stats::peak_bytes`]) |
//! | `alloc 14.9GiB/s 1.54M/s` | bytes and blocks allocated per second over the interval |
//! | `free 14.8GiB/s 1.39M/s` | bytes and blocks freed per second over the interval |
//! | `prof 512KiB 25.4k/s 587KiB` | the profiler: its rate (`off` when 0), samples taken per second, and the memory it holds ([`profile::memory`]) |
//! | `cost ~2.9%` | an estimate of heapwise's CPU time as a share of one core: allocator calls × 1.5 ns plus samples × 1 µs (the measured per-call and per-sample costs) |
//!
//! Figures lag by at most 64 KiB of traffic per running thread; units are
//! 1024-based (`k` in blocks/s is 1000). A bad value is reported on stderr
//! in one line and no trace runs.
//!
//! Pitfalls of profiling:
//!
//! - **Frame pointers**: build with `-C force-frame-pointers=yes` (in
//!   `.cargo/config.toml`: `[build] rustflags = ["-C",
//!   "force-frame-pointers=yes"]`). Without them stacks end early or skip
//!   callers (the walk stays safe: it never reads outside the thread's
//!   stack). The standard library already keeps them.
//! - **Debug info**: names and lines need it in the binary (`debug = 1` or
//!   more in the release profile; `debug = "line-tables-only"` is enough).
//!   Stripped binaries give function names from the symbol table only.
//! - **Symbolization memory**: building a symbolized profile loads the
//!   binary's debug info (about 15 MB for a 30 MB binary, 60 ms), released
//!   afterwards and never counted in scopes or sampled.
//! - **Set the rate once, early**: samples keep the rate they were taken at,
//!   but a profile can state only one `period`.
//!
//! # Events, traces and event profiles
//!
//! heapwise fires its own [`events`] through the `heapwise-probe` crate
//! (re-exported as [`probe`]): every allocator call (`alloc`, `free`,
//! `realloc`: pointer, size, alignment, scope), scope entry and exit, the
//! first crossing of a limit, profiler samples. Attach a closure and it runs
//! synchronously on the thread that made the call, inside the allocator,
//! behind the reentrancy guard (what it allocates there is neither counted
//! nor reported):
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
//! static BIG: AtomicU64 = AtomicU64::new(0);
//! let p = heapwise::events::alloc::attach(|_ptr, size, _align, _scope| {
//!     if size >= 1 << 20 {
//!         BIG.fetch_add(1, Relaxed);
//!     }
//! });
//! let v = std::hint::black_box(vec![0u8; 2 << 20]);
//! drop(p); // detached: never runs again
//! assert!(BIG.load(Relaxed) >= 1);
//! # drop(v);
//! ```
//!
//! Three tools are built on events:
//!
//! - [`record`]: a recorder writing Chrome Trace Event JSON (open it in
//!   <https://ui.perfetto.dev> or `chrome://tracing`): scopes as slices on
//!   their threads, limit crossings as instants, live bytes per named scope
//!   and process-wide as counter tracks, any event of yours as instants with
//!   its arguments; per-thread buffers under a memory budget, 12 to 22 ns per
//!   recorded event. `heapwise demo --trace trace.json` shows one.
//! - [`probe::profile`]: where an event fires, as a pprof profile that
//!   `go tool pprof` and `heapwise top` read.
//! - [`probe::testing`]: record chosen events per thread and assert on their
//!   order and arguments, or pause the firing thread at each event while the
//!   test inspects the state.
//!
//! Costs: an event with no probe is one load and a not-taken branch. The
//! allocation events cost the allocator's fast path 2 instructions per call
//! while nothing is attached (a load and an `or` folded into the countdown's
//! one branch; +1.4% instructions on a 64-byte churn over glibc, +3.5% over
//! mimalloc, wall clock within the machine's noise:
//! `bench/results/2026-11-22-3a8e00c-vs-4c05b5d.md`); build without the
//! default `alloc-events` feature to remove them. With a trivial probe
//! attached, every call takes the slow path: +14 ns per call
//! (`bench/results/2026-11-22-45aa303-alloc-events.md`).
//!
//! # Guarantees of the allocator path
//!
//! Nothing reachable from `GlobalAlloc` panics or unwinds, and the fast path
//! neither allocates nor locks. The slow path takes a sample or looks a
//! freed sampled block up under the profiler's own locks (the stack depot,
//! the live-block table), behind the reentrancy guard: they are never held
//! while code of the program runs, never poisoned, and the thread that calls
//! `fork` takes every one of them first (`pthread_atfork`), so a child never
//! inherits one held by a thread it does not have. (In a forked child the
//! background threads, `heapwise-notify` and the `HEAPWISE_TRACE` line, do
//! not run.) The fast path is one `const` thread-local block with no destructor,
//! one countdown, one branch, and one `#[cold]` exit; an allocation is
//! counted once the inner allocator returned a block, a free before it is
//! freed. It works before `main`,
//! during thread exit (a thread's last batch is charged by a thread-local
//! destructor, after which every call is charged at once) and after
//! thread-local teardown. The one operation that may allocate (registering that
//! destructor) runs behind a reentrancy guard, under which heapwise's own
//! memory goes straight to the inner allocator, uncounted.
//!
//! # Pitfalls
//!
//! - If [`Alloc`] is not the `#[global_allocator]`, nothing is counted and no
//!   limit trips. Assert [`installed()`] at start-up and in tests.
//! - Allocation counts in tests: run each heap-count test in its own test file
//!   (its own process) if it reads process-wide [`stats`]; scope figures are
//!   per scope and safe across parallel tests.
//! - The stdout buffer, thread-local initialisation and lazy statics allocate
//!   the first time they are used: inside a scope, that is charged to it.
//! - A scope must be configured (name, limits) before it is cloned or entered;
//!   the builder methods panic otherwise.
//! - `cancelled()` never resolves for a scope with no limit on its chain.
//!
//! # Overhead
//!
//! Measured side by side in one run against the bare inner allocator (2-core
//! VM, glibc 2.36, 2026-11-22; the README has the full table with the peers,
//! `bench/results/` the method and raw figures). Inside and outside a scope
//! cost the same.
//!
//! | workload | over System | over mimalloc | instructions |
//! |---|---|---|---|
//! | 64-byte `Box` alloc+free churn (zeroed) | 1.08x | 1.07x | +22 per pair |
//! | the same through plain `alloc` | 1.13x | 1.10x | +21 per pair |
//! | churn on 2 threads in 2 scopes | 1.03x | 1.08x | nothing shared written per call |
//! | `HashMap<String, Vec<u64>>`, 200k keys | 1.00x | 1.05x | +6.6% |
//! | serde_json round trip, ~20 MB | 0.98x | 1.09x | +3.8% |
//! | owner tracking, churn | 1.12x | 1.20x | +25 to +34 per pair, 8 bytes per block |
//!
//! For comparison, dhat (heap profiling) costs 16x to 200x, and process-wide
//! atomic counters (stats_alloc, cap) cost 2x to 15x once two threads allocate.
//!
//! The heap profiler, against the same program with [`profile::set_rate`]`(0)`
//! (2026-11-22, `a763c50`; the table above predates it: the free path's
//! live-block filter check since adds 2 instructions per pair):
//!
//! | rate | mixed workload | serde round trip | instructions | memory |
//! |---|---|---|---|---|
//! | 512 KiB (default) | 1.02x (System), 1.01x (mimalloc) | 1.01x | +0.1% to +0.4%; ~1.1k per sample | ~70-90 KB + 320 KiB static |
//! | 1 (every allocation) | 2.2x the bare allocator | - | ~765 per allocation | ~56 bytes per live block, ~190 per stack |
//!
//! Full mode is 1.7x faster than heaptrack, 4.6x faster than dhat and 18x
//! faster than jemalloc at `lg_prof_sample:0` on the same workload;
//! jemalloc's own profiler at 512 KiB costs 1.05x there.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod alloc;
mod cancel;
mod depot;
mod env;
pub mod events;
mod future;
#[cfg(feature = "http")]
pub mod http;
mod limit;
mod live;
mod local;
pub mod probe;
mod probe_profile;
pub mod profile;
mod profiler;
pub mod record;
mod registry;
mod sampler;
mod scope;
mod scope_stack;
mod stack;
mod stats;
mod symbolize;
mod sys;
mod trace;
mod units;
mod usage;
mod util;

pub use crate::alloc::Alloc;
pub use crate::cancel::Cancelled;
pub use crate::future::{Instrumented, Limited};
pub use crate::limit::{LimitExceeded, LimitKind, Remaining};
pub use crate::scope::{track, untracked, Scope, ScopeGuard};
pub use crate::stats::{installed, stats, Stats};
pub use crate::units::{GIB, KIB, MIB, TIB};
pub use crate::usage::Usage;
/// The `profile.proto` model heap profiles are returned in (the
/// `heapwise-pprof` crate): decode, merge, diff and encode profiles.
pub use heapwise_pprof as pprof;
