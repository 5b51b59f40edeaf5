//! One integration binary for every guarantee that does not need its own
//! process (the allocator, listing and producer/consumer scenarios have
//! their own files: a global allocator, a binary where no event has fired,
//! a tracer attached for every thread).
//!
//! Tests run in parallel: each uses its own events, or thread-scoped
//! groups, so that they never see each other's probes.

mod attach_detach;
mod cross_module;
mod groups;
mod nesting;
mod panics;
mod producer_consumer;
mod setup_batches;
mod stress;
mod synchronous;
mod testing;
mod values;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts the drops of the values cloned from it: captured by a probe, it
/// shows when the probe's closure was dropped.
#[derive(Clone, Default, Debug)]
pub(crate) struct DropCounter(Arc<AtomicUsize>);

#[derive(Debug)]
pub(crate) struct Token(Arc<AtomicUsize>);

impl DropCounter {
    pub(crate) fn token(&self) -> Token {
        Token(self.0.clone())
    }
    pub(crate) fn dropped(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
