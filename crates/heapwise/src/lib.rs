//! heapwise: see where your heap goes, and keep it bounded.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod alloc;
mod cancel;
mod future;
mod limit;
mod local;
mod scope;
mod stats;
mod units;
mod usage;

pub use crate::alloc::Alloc;
pub use crate::cancel::Cancelled;
pub use crate::future::{Instrumented, Limited};
pub use crate::limit::{LimitExceeded, LimitKind, Remaining};
pub use crate::scope::{track, untracked, Scope, ScopeGuard};
pub use crate::stats::{installed, stats, Stats};
pub use crate::units::{GIB, KIB, MIB, TIB};
pub use crate::usage::Usage;
