//! Memory assertions for tests (cargo feature `testing`), as pytest-memray
//! has them for Python: a test states how much memory the code under test
//! may use or leak, and a failure names the allocation sites.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//! use heapwise::testing::{limit_leaks, limit_memory};
//! use heapwise::assert_allocs;
//!
//! // At most 24 MiB live at any moment of the call.
//! let table = limit_memory("24 MiB", || vec![0u8; 1 << 20]);
//! // Nothing allocated in the call is still live after it.
//! limit_leaks(0, || drop(vec![0u8; 4096]));
//! // Exact counts of one expression.
//! assert_allocs!(|| vec![1u64; 512], bytes == 4096, allocs == 1);
//! # drop(table);
//! ```
//!
//! Each call runs in a fresh [`Scope`](crate::Scope) of its own, so the
//! figures are the call's alone even while `cargo test` runs other tests on
//! other threads (a block the call frees that was allocated before it
//! lowers its figures; see "Who is charged for a free" in the guide). That
//! holds for threads and tasks the call starts itself: they run outside its
//! scope, and what they allocate does not count, unless they enter it
//! ([`Scope::current`](crate::Scope::current) and
//! [`Scope::enter`](crate::Scope::enter), or `instrument` for a future).
//! The other way round, a block the call allocates and another thread
//! frees (a `Vec` sent to a worker, the result slot of a thread spawned
//! with `std::thread::spawn`, a multi-threaded runtime's task) is still
//! live as far as the call's scope knows, and `limit_leaks` counts it,
//! unless the allocator tracks owners: in such a test binary install
//! `heapwise::Alloc::system().owner_tracking()`, which charges every free
//! to the scope that allocated the block. A call inside another (both
//! limits of the attribute) counts in both. A
//! failure's sites are those allocated in the call's scope itself: an
//! allocation inside a named scope within the call is counted but labelled
//! with that scope's name, and not listed. The
//! limits are checked when the call returns: `limit_memory` against the
//! call's peak of live bytes, `limit_leaks` against the bytes it allocated
//! and did not free.
//!
//! While a [`limit_memory`] or [`limit_leaks`] call runs, the profiler
//! records every allocation (full mode, [`set_rate`](crate::profile::set_rate)`(1)`,
//! process-wide; the previous rate comes back when the last such call
//! ends), so a failure can name the call's top allocation sites:
//!
//! ```text
//! limit_leaks: 40000 bytes leaked (limit 0 bytes) in 100 blocks; top sites:
//!     40000 bytes in 100 blocks  mycrate::cache::insert (src/cache.rs:42)
//! ```
//!
//! The attribute `#[heapwise::test(limit_memory = "24 MiB", limit_leaks = 0)]`
//! (crate `heapwise-macros`, re-exported here as [`test`]) wraps a
//! `#[test]` function's body in both.

mod assert;
mod full;
mod limits;
mod report;

pub use heapwise_macros::test;
pub use limits::{limit_leaks, limit_memory, measure, ByteLimit};
#[doc(hidden)]
pub use limits::{limit_leaks_unless_err, limit_memory_unless_err};
