//! Layer `local`: what every allocator call touches. The per-thread block
//! (countdown, pending batch, reentrancy guard, sampler countdown; where it
//! lives: `storage.rs`), the
//! sampler's draws, the page filter the free path reads, and the process
//! counters a batch is charged to.
//!
//! Nothing here knows scopes: a scope is an opaque pointer to this layer,
//! and the scope layer installs the function that charges a batch to it
//! ([`hooks`]).

mod block;
pub(crate) mod filter;
pub(crate) mod hooks;
#[cfg(feature = "http")]
mod own_thread;
mod panic_window;
pub(crate) mod process;
pub(crate) mod sampler;
mod storage;
pub(crate) mod usage;

pub(crate) use block::*;
#[cfg(feature = "http")]
pub(crate) use own_thread::spawn_own_thread;
pub(crate) use panic_window::open_panic_window;
