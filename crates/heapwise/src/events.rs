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
//! # Allocation events
//!
//! [`alloc`](fn@alloc), [`free`](fn@free) and [`realloc`](fn@realloc) fire
//! for every call the program makes to the allocator, with the block's
//! address, size, alignment and the scope current on the calling thread.
//! While no probe is attached to any of them an allocation pays one load
//! and one `or`, and no branch: it subtracts `size | ALLOC_GATE.mask()`
//! from the thread's countdown (see [`ALLOC_GATE`], a
//! [`Gate`](heapwise_probe::Gate)), and while a probe is attached the mask
//! makes the countdown go negative, so every allocation takes the slow
//! path, which fires the event. Frees and reallocs pay nothing: attaching
//! to them sets a bit in every byte of the page filter their fast path
//! already reads ([`FREE_GATE`]). Built without the
//! default feature `alloc-events`, the fast path is exactly as before and
//! these three events are declared but never fire; an allocator made with
//! [`Alloc::without_events`](crate::Alloc::without_events) fires none of
//! them for its own calls and drops the load and `or`. The attach
//! guarantee holds for them like for any event: every call that starts
//! after `attach` returned reaches the probe, on every thread.
//!
//! Not reported: heapwise's own bookkeeping, and calls made while a probe
//! runs inside the allocator (the reentrancy guard sends them straight to
//! the inner allocator). Failed calls (null) are not reported either; a
//! call a hard limit refuses fires [`limit_exceeded`](fn@limit_exceeded).
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! use std::sync::Arc;
//!
//! // The sizes this thread allocates while the group is attached.
//! let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
//! let s = sizes.clone();
//! let group = heapwise_probe::ProbeGroup::current_thread();
//! heapwise::events::alloc::attach_in(&group, move |_ptr, size, _align, _scope| {
//!     s.lock().unwrap().push(size); // allocates: behind the guard, not reported
//! });
//! let v = std::hint::black_box(vec![0u8; 1000]);
//! drop(group);
//! assert!(sizes.lock().unwrap().contains(&1000));
//! # drop(v);
//! ```

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

    /// The program allocated `size` bytes aligned to `align` at `ptr` (a
    /// successful `alloc` or `alloc_zeroed`), in scope `scope` (0 for none).
    /// Fired on the allocating thread, inside the allocator, after the call
    /// was counted. See [Allocation events](self#allocation-events).
    pub fn alloc(ptr: usize, size: usize, align: usize, scope: u64);

    /// The program is freeing the block of `size` bytes at `ptr`, in scope
    /// `scope` (the scope current on the freeing thread). Fired inside the
    /// allocator *before* the block goes back to the inner allocator, so the
    /// probe may still read it.
    pub fn free(ptr: usize, size: usize, align: usize, scope: u64);

    /// The program resized the block of `old_size` bytes at `ptr` to
    /// `new_size` bytes, now at `new_ptr` (which may equal `ptr`), in scope
    /// `scope`. Fired after the call succeeded: `ptr` is no longer valid
    /// unless it equals `new_ptr`.
    pub fn realloc(ptr: usize, old_size: usize, new_ptr: usize, new_size: usize, align: usize, scope: u64);
}

heapwise_probe::gate! {
    /// Open while a probe is attached to [`alloc`](fn@alloc): the
    /// allocator's fast path ORs its mask into the size it takes off the
    /// countdown, so every allocation takes the slow path (which fires the
    /// event) exactly while one is attached.
    pub static ALLOC_GATE = [alloc];

    /// Open while a probe is attached to [`free`](fn@free) or
    /// [`realloc`](fn@realloc). Frees and reallocs already read a byte of
    /// the profiler's page filter on their fast path; while this gate is
    /// open every byte of it has a second bit set, so they take the slow
    /// path without loading the gate at all.
    pub static FREE_GATE = [free, realloc] => crate::local::filter::set_free_events;
}
