//! heapwise's own events, as `heapwise-probe` tracepoints: attach probes to
//! them to watch scopes, limits and the profiler from outside.
//!
//! Each event costs one load and a not-taken branch while nothing is
//! attached, and none sits on the allocator's fast path: scope entry and
//! exit run in user code, a limit crossing and a profiler sample on the
//! allocator's slow path. Probes run synchronously on the thread that fired
//! the event; inside the allocator (a crossing found while charging a
//! batch, a sample) they run behind the reentrancy guard, so what a probe
//! allocates there is neither counted nor sampled, and an allocation-event
//! probe cannot recurse (`heapwise-probe` counts such nested events as
//! dropped).
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! use std::sync::{Arc, Mutex};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let s = seen.clone();
//! // Only this thread's events (parallel tests do not see each other's).
//! let group = heapwise_probe::ProbeGroup::current_thread();
//! heapwise::events::scope_enter::attach_in(&group, move |_id, _parent, name| {
//!     s.lock().unwrap().push(name.to_string())
//! });
//! heapwise::Scope::new().name("parse").run(|_| ());
//! drop(group);
//! assert_eq!(*seen.lock().unwrap(), ["parse"]);
//! ```
//!
//! Per-call allocation events (alloc, free, realloc) are not offered yet:
//! firing them costs the fast path a load and a branch even when nothing is
//! attached, and routing them through the slow path cannot guarantee that
//! every later call on another thread reaches a just-attached probe.

heapwise_probe::declare! {
    /// A thread entered scope `scope` (its [`Scope::id`](crate::Scope::id)),
    /// nested under `parent` (0 for none); `name` is `""` for an unnamed
    /// scope. Fired by [`Scope::enter`](crate::Scope::enter) and everything
    /// built on it (`run`, `track`, instrumented futures on every poll).
    pub fn scope_enter(scope: u64, parent: u64, name: &str);

    /// A thread left scope `scope` (the guard of the matching
    /// `scope_enter` was dropped), after its batch was charged to it.
    pub fn scope_exit(scope: u64, name: &str);

    /// Scope `scope` crossed its `kind` limit (`"bytes"`, `"live_bytes"`,
    /// `"allocs"` or `"calls"`) for the first time: `used` is the figure
    /// seen, `limit` the limit. Fired once per scope, on the thread that
    /// found the crossing, before waiters are woken.
    pub fn limit_exceeded(scope: u64, name: &str, kind: &str, limit: u64, used: u64);

    /// The heap profiler sampled the block `ptr` of `size` bytes at `rate`,
    /// allocated in scope `scope` (0 for none). Fired on the allocating
    /// thread, inside the allocator, after the sample was recorded.
    pub fn sample(ptr: usize, size: usize, rate: u64, scope: u64);
}
