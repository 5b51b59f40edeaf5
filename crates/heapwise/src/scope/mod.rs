//! Layer `scope`: scopes, the guards that enter them, their chain of
//! ancestors (charging, budgets, limits), cancellation, futures and the
//! registry of named scopes.

pub(crate) mod cancel;
pub(crate) mod future;
mod handle;
mod inner;
pub(crate) mod limit;
mod name;
mod panic_hook;
pub(crate) mod registry;
pub(crate) mod stack;

pub use handle::{track, untracked, Scope, ScopeGuard};
pub(crate) use inner::*;
