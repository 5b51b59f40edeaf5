//! heapwise for programs that were not built with it: an `LD_PRELOAD`
//! library (`libheapwise_preload.so`) that interposes the C allocator's
//! entry points and runs heapwise's runtime, [`heapwise::Alloc`], for every
//! call. `heapwise run -- CMD` sets it up; its environment is the runtime's
//! (`HEAPWISE_PROFILE_RATE`, `HEAPWISE_PROFILE_AT_EXIT`,
//! `HEAPWISE_PROFILE_EVERY`, `HEAPWISE_TRACE`, read by the runtime's
//! load-time constructor, which runs before the program's own).
//! Programs the process execs inherit the environment, and so the preload,
//! unless `HEAPWISE_NO_FOLLOW=1` (`heapwise run --no-follow`): then the
//! library takes itself out of `LD_PRELOAD` as it loads, except in the
//! command `heapwise run` started, which stays profiled through its execs
//! (`no_follow.rs`).
//! With `HEAPWISE_HTTP=ADDR` (`heapwise run --http ADDR`) it serves the
//! runtime's endpoint, `/debug/pprof/heap` and the rest of
//! `heapwise::http`, on that loopback address (`http.rs`).
//!
//! # What is interposed
//!
//! `malloc`, `free`, `calloc`, `realloc`, `reallocarray`,
//! `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc` and
//! `malloc_usable_size` (`entry.rs`); C++'s `operator new` and `delete`
//! reach them through libstdc++. Each is a thin shell over one
//! `GlobalAlloc` call on a `heapwise::Alloc` whose inner allocator is the
//! next definition of the same functions (`next.rs`: `dlsym(RTLD_NEXT)`,
//! resolved once, with a static bootstrap arena for what `dlsym` allocates
//! meanwhile). So the sampler, full mode's trailers, the CFI unwinder, the
//! live-block table, peak and at-exit profiles and the stats line all run
//! as they do in a Rust program that installs `heapwise::Alloc`, with no
//! second implementation of any of them.
//!
//! # Sizes: a 16-byte header
//!
//! `free` has no size, and the runtime needs the layout a block was
//! allocated with (full mode finds its bucket after the block's bytes; the
//! live bytes subtract what was added). Each block therefore starts 16 bytes
//! (or its alignment, when larger) after the block the next allocator
//! returned, and those 16 bytes hold the requested size and a tag
//! (`header.rs`). The other option, the next allocator's
//! `malloc_usable_size` on both sides, was not taken: the runtime fixes a
//! block's layout before the inner allocator chooses its size class, full
//! mode's trailer moves blocks into larger classes, and heaptrack (the
//! figure these profiles are checked against) counts requested sizes. The
//! cost is 16 bytes per block; `malloc_usable_size` returns the requested
//! size, so no program writes over full mode's trailer.
//!
//! The tag makes a block the preload did not allocate (one made by the
//! next allocator before the preload was in place) recognisable: it goes
//! straight to the next `free`, uncounted.
//!
//! # The allocator path
//!
//! No entry point allocates (other than through the next allocator),
//! locks, or panics: errors are a null return and `errno`, as C expects,
//! and an `extern "C"` function aborts rather than unwinds in any case.
//! Resolution uses one atomic state, so `fork` cannot leave a lock held.
//! A `malloc` from a signal handler is counted like any other, unless it
//! interrupted the runtime's own slow path: then the reentrancy guard
//! sends it straight to the next allocator, uncounted.
//!
//! The entry points are inlined shells (the layout check of `malloc` is one
//! compare, a header of `malloc`'s alignment is recognised with one more,
//! and `free` of such a block saves no register and ends in a jump),
//! the next allocator's functions are called through slots that always hold
//! one (a bootstrap function until resolved: no test per call), no entry
//! point tests whether the preload stood down (below), the runtime is
//! built [`without_events`](heapwise::Alloc::without_events) (nothing in
//! a preloaded program attaches probes to allocator calls, so `malloc`
//! reads no event gate), and the runtime's
//! per-thread block is in initial-exec TLS (heapwise's feature
//! `initial-exec-tls`): no `__tls_get_addr` call per `malloc` and `free`.
//! Such a library must be loaded with the program, as `LD_PRELOAD` does; a
//! `dlopen` of it may fail. On a malloc/free loop the preload adds 67
//! instructions per pair to glibc's 155 (`bench/preload_callgrind.sh`).
//!
//! # A program that installs `heapwise::Alloc` itself
//!
//! Its runtime's memory (its profiles' symbolization, say) would reach the
//! preload's `malloc` and be counted a second time. Its load-time
//! constructor, which runs after the preload's, looks for
//! [`heapwise_preload_stand_down`](stand_down::heapwise_preload_stand_down)
//! and calls it: from then on the preload's runtime samples nothing and
//! writes no profile nor trace line (it still counts each call, where no
//! one reads it: cheaper than a test in every entry point), and the
//! program's own runtime, which reads the same settings, counts and writes
//! them. What the preload counted before (the C runtime's start-up) is
//! dropped. Its endpoint (`--http`) closes with a line saying so: the
//! program's figures are in the program's runtime, which serves them with
//! `heapwise::http::serve` if the program asks it to.
#![deny(missing_docs)]

mod arena;
// Exported to C by name (`#[no_mangle]`), not to Rust.
#[allow(unreachable_pub)]
mod entry;
mod header;
mod http;
mod next;
mod no_follow;
mod own;
pub mod stand_down;

/// The runtime every entry point drives, over the next allocator.
static ALLOC: heapwise::Alloc<next::Next> = heapwise::Alloc::new(next::Next).without_events();

/// Runs as the library loads: its frames in profiles (the entry points and
/// the runtime, all hidden as allocator frames) are named from its symbol
/// table, without opening its DWARF at every profile written.
#[used]
#[link_section = ".init_array"]
static SYMBOLS_ONLY: extern "C" fn() = symbols_only;

extern "C" fn symbols_only() {
    heapwise::profile::__preload_symbols_only(symbols_only as *const ());
    // Every block is the preload's, from the first: a heap snapshot of a
    // program that never calls malloc is empty, not refused.
    heapwise::snapshot::__preload_loaded();
}

/// This library's own Rust allocations (the runtime's tables, reading the
/// settings, writing the profile) go to the next allocator directly: they
/// are not the program's, and count as heapwise's own memory (`own.rs`).
#[global_allocator]
static OWN: own::Counted = own::Counted;
