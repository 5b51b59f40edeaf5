//! Typed tracepoints: everything of the `heapwise-probe` crate, plus
//! [`profile`](fn@profile), which aggregates the stacks at which an event fired into a
//! pprof profile.
//!
//! # Event profiles
//!
//! [`profile(event)`](fn@profile) attaches a probe to any event (yours, a
//! library's, or heapwise's own [`events`](crate::events)) that walks the
//! firing thread's stack and counts the stack; [`EventProfile::finish`]
//! detaches it and returns a symbolized [`Profile`](crate::pprof::Profile) that `go tool pprof`,
//! `heapwise top` and `heapwise flame` read. It answers "who fires this
//! event, how often": who misses the cache, who takes the slow path, who
//! crosses a limit.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! heapwise::probe::declare! {
//!     /// The cache did not have `key`.
//!     pub fn cache_miss(key: u64);
//! }
//!
//! #[inline(never)]
//! fn lookup(key: u64) {
//!     if key % 3 == 0 {
//!         cache_miss(key);
//!     }
//! }
//!
//! let prof = heapwise::probe::profile(cache_miss::event());
//! (0..30).for_each(lookup);
//! let p = prof.finish(); // detached: later misses are not counted
//! assert_eq!(p.total(0), 10);
//! std::fs::write(std::env::temp_dir().join("misses.pb.gz"), p.encode_gzip()).unwrap();
//! // $ go tool pprof -top misses.pb.gz      (the leaf, `lookup`, fired 10 events)
//! ```
//!
//! ## What a profile holds
//!
//! | field | value |
//! |---|---|
//! | sample type | `events/count`: how many times the event fired at that stack |
//! | period type, period | `events/count`, 1 (every event is counted: nothing is sampled) |
//! | label `event` | the event's path (`crate::module::name`), so profiles of several events can be merged and told apart with `pprof -tagfocus=event=...` |
//! | time, duration | when the profile started, and how long it ran (until it was stopped, or the snapshot) |
//! | comment | the event's declaration (`crate::module:name(arg: type) at file:line`) |
//!
//! This follows Go's naming for its counting profiles (`goroutine/count`,
//! `threadcreate/count`, `contentions/count`), so `go tool pprof` reports
//! `Type: events`.
//!
//! ## Stacks
//!
//! Each event walks the firing thread's stack, as the heap profiler does
//! (see [`profile`](crate::profile#stacks-and-symbols) and
//! [`set_unwinder`](crate::profile::set_unwinder)), up to
//! [`max_depth`](EventProfileOptions::max_depth) frames above the function
//! that fired the event. The probe machinery (`heapwise-probe`'s firing
//! path, this profiler's probe, the walk) is trimmed from the leaf when the
//! profile is built, and so is the event function itself (it is inlined
//! into its caller): **the leaf of every stack is the function that fired
//! the event**. For heapwise's own allocation events that function is
//! heapwise's allocator; the allocation site is further down the stack.
//!
//! **Tail calls**: a function whose last act is firing an event keeps its
//! frame: `declare!` puts a no-op the optimiser must keep after the call to
//! the firing path, so an optimised build cannot turn it into a tail jump
//! (which frame-pointer walks, Go's and perf's included, could not see).
//! It costs nothing while no probe is attached (the not-taken branch is
//! unchanged: load, test, branch, return) and five instructions per event
//! when one is (a frame for the call; `bench-probe/results/`).
//!
//! Symbols are resolved when a profile is built, as for heap profiles
//! (names, files, lines, inlined frames), never on the firing path.
//!
//! ## Cost and limits
//!
//! Each event then costs the firing path a stack walk (about 1 ns a frame)
//! and a short critical section on the profile's own lock (hash the stack,
//! find it, count it); nothing is symbolized until a profile is built. The
//! lock is private to the profile, and held only by the probe and by
//! [`snapshot`](EventProfile::snapshot)/[`finish`](EventProfile::finish) to
//! copy the counts: no user code runs under it.
//!
//! Memory is bounded: at most [`max_stacks`](EventProfileOptions::max_stacks)
//! distinct stacks ([`DEFAULT_MAX_STACKS`] by default) are kept, each of at most `max_depth`
//! frames plus the trimmed ones. Events at a new stack once the limit is
//! reached are still counted, in one sample whose single frame is
//! `heapwise::probe::max_stacks_reached`, and in
//! [`EventProfile::overflow`].
//!
//! The profile's memory is heapwise's own: neither counted in scopes nor
//! sampled by the heap profiler, like the heap profiler's.
//!
//! ## Probes inside the allocator
//!
//! The probe may run inside the global allocator (heapwise's
//! [`alloc`](fn@crate::events::alloc), [`free`](fn@crate::events::free),
//! [`sample`](fn@crate::events::sample) events): it never panics, never
//! unwinds, and allocates only behind heapwise's reentrancy guard, straight
//! from the inner allocator. Events it causes itself are not delivered (as
//! for any probe: `heapwise-probe` counts them in
//! [`Event::dropped`](heapwise_probe::Event::dropped)).
//!
//! ## Threads
//!
//! [`profile`](fn@profile) counts the event on every thread.
//! [`EventProfileOptions::current_thread`] counts only the events fired on
//! the calling thread (a [`ProbeGroup::current_thread`]
//! group), which keeps tests running in parallel out of each other's
//! profiles.

// Two sources, each named: the tracepoint crate's API, and this crate's
// event profiles built on it.
#[doc(no_inline)]
pub use heapwise_probe::{
    declare, dropped, gate, grace, list, nesting, panicked, setup, synchronize, testing, value,
    Arg, Event, Events, Gate, NewProbe, OwnedValue, Probe, ProbeGroup, Setup, ToValue, Value,
};

mod profile;
pub use profile::{profile, EventProfile, EventProfileOptions, DEFAULT_MAX_STACKS};
