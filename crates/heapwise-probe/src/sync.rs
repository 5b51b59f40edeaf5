//! The atomics and the lock of the grace period ([`grace`](mod@crate::grace)):
//! std's, or loom's in the loom model.
//!
//! `tests/loom_grace.rs` compiles `grace.rs` and this file into its own test
//! crate (`#[path]` modules) with `--cfg loom`, where `cfg(all(loom, test))`
//! holds and these names are loom's, so that loom explores every
//! interleaving of readers and writers. The library itself is never built
//! with `test` for that test, so it always uses std's: a crate that depends
//! on heapwise-probe and builds with `--cfg loom` for models of its own gets
//! the real grace period.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p heapwise-probe --release --test loom_grace
//! ```

#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize},
    Mutex,
};

#[cfg(all(loom, test))]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize},
    Mutex,
};
