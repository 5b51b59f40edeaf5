//! heapwise-probe: typed tracepoints that cost one load when nobody listens,
//! with synchronous probes attached and detached at run time.
//!
//! A Rust take on go123's `tracing` package: a library declares *events*
//! (typed functions it calls at interesting points), and any code, in any
//! crate that can name the event, attaches *probes* (closures) to them while
//! the program runs. With no probe attached, an event is one load and one
//! not-taken branch, so events can sit on the hottest paths, including
//! inside a `#[global_allocator]`. Probes run synchronously, on the firing
//! thread, in attach order, and pause it until they return, which makes
//! them usable for counting, recording and *synchronous tracing* in tests
//! (checking a concurrent system's state at each step).
//!
//! ```
//! heapwise_probe::declare! {
//!     /// A request was accepted.
//!     pub fn request_start(id: u64, path: &str);
//!     pub fn request_done(id: u64, status: u16);
//! }
//!
//! request_start(7, "/users"); // no probe attached: one load, one not-taken branch
//! let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
//! let s = seen.clone();
//! let p = request_start::attach(move |id, path| s.lock().unwrap().push(format!("{id} {path}")));
//! request_start(8, "/orders");
//! drop(p); // detached: not running, never runs again, closure dropped
//! request_start(9, "/gone");
//! assert_eq!(*seen.lock().unwrap(), ["8 /orders"]);
//! ```
//!
//! # The API in brief
//!
//! | call | what it does |
//! |---|---|
//! | [`declare! { pub fn ev(a: A, b: B); }`](macro@declare) | declare events (visibility as written) |
//! | `ev(a, b)` | fire: run the attached probes, if any |
//! | `ev::attach(\|a, b\| ..)` → [`Probe`] | attach for every thread; drop or [`Probe::detach`] to detach |
//! | [`ProbeGroup::new()`], `ev::attach_in(&group, \|a, b\| ..)` | attach several, detach all when the group is dropped |
//! | [`ProbeGroup::current_thread()`] | a group whose probes fire only for this thread's events (tests) |
//! | [`setup(\|s\| ..)`](fn@setup), `ev::probe(..)` → [`NewProbe`] | many changes, published in order, one grace period |
//! | [`list()`](fn@list) | every event in the binary, sorted: `crate::module:ev(a: A, b: B)` |
//! | [`dropped()`](fn@dropped), [`Event::dropped`], [`panicked()`](fn@panicked) | events lost to nesting; probes that panicked |
//! | `ev::event()` → [`Event`] | name, module, file, line, arguments |
//! | [`event.attach_values(\|args\| ..)`](Event::attach_values), `_in`, [`probe_values`](Event::probe_values) | attach to any `&'static Event`, arguments as [`&[Value]`](Value) ([`value`]) |
//! | [`testing::Recorder`], [`testing::Tracer`] | tests: record events and assert on them; pause the traced threads at each event (go123's tracetest) |
//! | [`gate! { static G = [ev, ..]; }`](gate!), [`Gate::mask`] | a word open while any of the events has a probe, to fold into a countdown branch the caller already has ([`gate`](mod@gate)) |
//!
//! Another crate attaches to an event by its path, like any item:
//! `other_crate::events::request_start::attach(..)`. An event is exactly as
//! visible as its declaration says (`pub`, `pub(crate)`, private): a crate
//! that wants to offer events without making them part of its stable API
//! can put them in a `#[doc(hidden)] pub mod __events` or behind a feature.
//!
//! # Guarantees
//!
//! - **Synchronous.** Probes run on the thread that fires the event, inside
//!   the event call, in attach order; the event returns when the last probe
//!   returned. A probe may block (a test pausing the firing thread to inspect
//!   the state, go123's tracetest: [`testing::Tracer`]): the firing thread
//!   waits.
//! - **Attach.** When `attach` returns, every event that starts afterwards
//!   (in happens-before order: on this thread, or on a thread that
//!   synchronised with this one) runs the probe.
//! - **Detach.** When `detach` (or the drop of a [`Probe`] or [`ProbeGroup`])
//!   returns, the probe is not running on any thread and never runs again,
//!   and its closure has been dropped: whatever it captured may be freed.
//!   (Exception: detaching from inside a probe, see
//!   [setup](mod@setup#inside-a-probe-inside-a-setup).)
//! - **No interference.** Attaching or detaching one probe never makes an
//!   event skip, or call twice, another probe: each event walks an
//!   immutable snapshot of its probe list. (go123's linked list can skip the
//!   probes after one detached concurrently, and call a just-detached probe
//!   once more.)
//! - **Batches.** [`setup()`] publishes its changes in order: a thread that
//!   sees a later change of a setup also sees the earlier ones. One grace
//!   period for the whole batch.
//! - **No stale interest.** There is no cached "is anybody listening"
//!   decision anywhere: the attached-probe list is the truth. Parallel tests
//!   never see each other's probes unless they attach for every thread; with
//!   [`ProbeGroup::current_thread`] they see only their own thread's events.
//! - **No recursion.** An event fired on a thread that is already running
//!   probes (a probe that fires events, or that allocates inside the
//!   allocator's events) is not delivered: it is counted in
//!   [`Event::dropped`] and [`dropped()`](fn@dropped).
//! - **The firing path never allocates, takes a lock, or unwinds**, and works
//!   before `main`, during thread exit and after thread-local destructors
//!   ran: it reads only statics and `const`-initialised thread-locals
//!   without destructors.
//!
//! # Panics in probes
//!
//! A panicking probe does not unwind out of the event (events fire inside
//! the global allocator, where that is undefined behaviour). The panic is
//! caught, the probe is disabled (skipped from then on; the others keep
//! running), counted in [`panicked()`](fn@panicked), and resumed on the thread
//! that detaches the probe, when it does, like `JoinHandle::join`: an
//! `assert!` that fails inside a test's probe fails the test. See the
//! [`probe`] module for why. With `panic = "abort"`, it aborts.
//!
//! # Costs
//!
//! With no probe attached, an event is `mov EVENT(%rip),%rax; test; jne` in
//! the caller and nothing else: no stack frame, no thread-local access, no
//! measurable time over an empty call. With probes attached, an event costs
//! a few nanoseconds plus what its probes do; each further probe adds its
//! own call. An attached event's call is followed by a no-op the optimiser
//! must keep, so a function whose last act is firing an event keeps its
//! frame for stack-walking probes (event profiles). An attach plus a detach
//! costs two grace periods (a `membarrier` system call and a scan of the
//! reader slots each, or fences), plus the wait for probes running at that
//! moment. The README's tables give the current figures, side by side with
//! `tracing`; `bench-probe/` measures them.
//!
//! # How it works
//!
//! Each event is a `static` [`Event`] holding an `AtomicPtr` to an
//! immutable array of its probes (null when none). Writers ([`setup()`]) build
//! a new array under one global lock, publish it, and free the old one
//! after a grace period ([`grace`]): a userspace RCU in the style of
//! liburcu's membarrier flavour, where readers (events with probes) write
//! only their own thread's slot and the writer pays for the barrier.
//! Listing uses `linkme` (static registration, no constructor).
//!
//! # Pitfalls
//!
//! - **Arguments must be `Copy`**; they are evaluated even when no probe is
//!   attached (the call is a plain function call), so do not compute
//!   expensive arguments at the call site: fire with what you have, and let
//!   the probe compute.
//! - **Probes that allocate, inside allocator events, lose those nested
//!   events** (by design, counted in [`dropped()`](fn@dropped)); so does a
//!   probe that fires events.
//! - **A probe that blocks blocks the firing thread**, and a detach on
//!   another thread waits for it: don't detach from a thread the paused
//!   probe is waiting for.
//! - **A `setup` closure holds the registry lock**: other threads' attaches
//!   and detaches wait for it; don't make it wait for them.
//! - **`std::mem::forget(probe)`** leaves it attached for good; so does a
//!   thread-scoped group kept after its thread exited (thread numbers are
//!   never reused, so its probes never run again, but they stay attached).
//! - **`fork`**: attach or detach in a child only if no other thread was
//!   running probes (or inside a `setup`) when the parent forked.
//! - Events need native thread-locals (every tier-1 platform); elsewhere the
//!   firing path may drop events (counted) rather than allocate.
//! - The reader slots are per thread: up to 1024 threads running probes at
//!   once use them, more use a shared counter (correct, slower).

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod array;
mod declare;
pub mod gate;
pub mod grace;
mod group;
mod list;
pub mod nesting;
pub mod probe;
pub mod setup;
mod sync;
pub mod testing;
mod tracepoint;
pub mod value;

pub use gate::Gate;
pub use group::ProbeGroup;
pub use list::{dropped, list, Events};
pub use probe::{panicked, NewProbe, Probe};
pub use setup::{setup, synchronize, Setup};
pub use tracepoint::{Arg, Event};
pub use value::{OwnedValue, ToValue, Value};

/// Support for the macros. /!\ Not a stable API /!\: anything here may
/// change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::gate::__GATES as GATES;
    pub use crate::list::__EVENTS as EVENTS;
    pub use crate::probe::__attach as attach;
    pub use crate::tracepoint::fire;
    pub use crate::value::convert::{ProbeValues, ValuesFn, ViaDebug, ViaOpaque, ViaToValue, Wrap};
    pub use linkme;
    pub use std::boxed::Box;

    /// Something after an attached event's call that the optimiser must
    /// keep, so that the call is never turned into a tail jump (which would
    /// drop the caller's frame from stack walks). A non-zero-sized value:
    /// `black_box(())` may compile to nothing.
    #[inline(always)]
    pub fn keep_frame() {
        core::hint::black_box(0u8);
    }
}
