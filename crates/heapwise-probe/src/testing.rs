//! Recording events in tests, and *synchronous tracing*: pausing the traced
//! threads at each event while the test inspects the state (go123's
//! `tracetest`).
//!
//! Two tools, both attached to a chosen set of events by their
//! `&'static Event` (erased probes, [`value`](crate::value)):
//!
//! - a [`Recorder`] captures every occurrence, with its thread and its
//!   arguments, and hands back a [`Log`] to assert on:
//!
//! ```
//! heapwise_probe::declare! {
//!     fn queue_push(item: u64);
//!     fn queue_pop(item: u64);
//! }
//! use heapwise_probe::testing::Recorder;
//!
//! let rec = Recorder::new().event(queue_push::event()).event(queue_pop::event()).start();
//! std::thread::Builder::new()
//!     .name("producer".into())
//!     .spawn(|| { queue_push(1); queue_push(2); })
//!     .unwrap()
//!     .join()
//!     .unwrap();
//! queue_pop(1);
//! let log = rec.finish();
//! assert_eq!(log.thread_named("producer").lines(), ["producer: queue_push(item=1)", "producer: queue_push(item=2)"]);
//! assert_eq!(log.calls(), ["queue_push(item=1)", "queue_push(item=2)", "queue_pop(item=1)"]);
//! assert_eq!(log[2].arg("item").as_u64(), Some(1));
//! ```
//!
//! - a [`Tracer`] *pauses* the thread that fired each event until the test
//!   has looked at it: [`Tracer::next`] waits for the next event and
//!   returns it as a [`Step`]; while the step is held, the firing thread is
//!   blocked inside the event, so whatever it would do next has not
//!   happened yet; dropping the step (or the next `next()`) resumes it. See
//!   `examples/producer_consumer.rs` for a whole test.
//!
//! ```
//! heapwise_probe::declare! { fn stage(n: u64); }
//! use heapwise_probe::testing::Tracer;
//! use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
//! static DONE: AtomicU64 = AtomicU64::new(0);
//!
//! let t = Tracer::start(&[stage::event()]);
//! let worker = std::thread::spawn(|| {
//!     for n in 1..=3 {
//!         stage(n);
//!         DONE.store(n, SeqCst);
//!     }
//! });
//! for n in 1..=3 {
//!     let step = t.expect(&format!("stage(n={n})"));
//!     // The worker is paused inside `stage(n)`: it has not stored n yet.
//!     assert_eq!(DONE.load(SeqCst), n - 1);
//!     drop(step); // resumes it
//! }
//! worker.join().unwrap();
//! ```
//!
//! # How the tracer works
//!
//! Its probe runs on the firing thread (probes are synchronous, see the
//! [crate docs](crate#guarantees)): it builds the [`Record`], then, under the
//! tracer's mutex, waits for its turn (one event in flight at a time), hands
//! the record over, and waits on a condition variable until the test
//! releases it. Events that fire on several threads at once are thus
//! *serialised*: the test sees one at a time, in the order they got their
//! turn, and each further thread waits inside its event until the previous
//! one was released. Closing the tracer (drop or [`Tracer::finish`])
//! releases the thread in flight and every waiting one first (they return
//! from their event without pausing), then detaches the probes, so it never
//! deadlocks on its own threads.
//!
//! # Guarantees
//!
//! - **Order.** Records of one thread are in that thread's firing order;
//!   a [`Log`] orders all threads' records consistently with that, in the
//!   order the recorder's probe took its lock. The tracer hands events over
//!   one at a time.
//! - **Paused.** While a [`Step`] is held (until it is dropped, or
//!   [`Tracer::next`] or [`Tracer::resume`] is called), the thread that
//!   fired it is blocked inside that event, and every other traced event
//!   waits its turn: state changed only by traced threads after their events
//!   cannot change.
//! - **Start and finish.** Every event that starts after `start` returned
//!   is seen; none after `finish` (or drop) returned, and no thread is left
//!   paused.
//! - **Timeouts.** [`Tracer::next`] panics with the events it was waiting
//!   for after 10 s (see [`Tracer::timeout`]), instead of hanging the test.
//!
//! # Pitfalls
//!
//! - **Don't fire a traced event from the thread that waits in
//!   [`Tracer::next`]**: it would wait for itself. Events fired on the
//!   thread that started the tracer are therefore not traced at all (they
//!   are counted in [`Tracer::skipped`]); if another thread drives the
//!   tracer, the same rule applies to it.
//! - **Don't lock what the paused thread holds.** A thread paused inside an
//!   event fired under a mutex still holds that mutex: inspect state it
//!   does not lock (atomics, or `try_lock`, which then fails), or fire the
//!   event outside the lock (then another thread may change the state
//!   between the unlock and the event).
//! - **A tracer attached for every thread sees every thread's events**,
//!   including other tests' in the same process if they fire the same
//!   events: give each test its own events, or record with
//!   [`Recorder::current_thread`].
//! - **Probes allocate** (records own their values): inside the allocator's
//!   events their own allocations are not delivered (counted in
//!   [`dropped`](crate::dropped())), as for any probe. On a thread not
//!   started by `std::thread`, the first event recorded calls
//!   `std::thread::current()`, which must not itself be what fired the event
//!   (an allocator event inside std's first `current()` aborts).
//! - Events fired while a thread exits, after its thread-locals were
//!   destroyed, are not recorded; they are counted in [`Log::missed`] and
//!   [`Tracer::missed`].

mod record;
mod recorder;
mod tracer;

pub use crate::value::OwnedValue;
pub use record::{Log, Record};
pub use recorder::{Recorder, Recording};
pub use tracer::{Step, Tracer};
