//! Heap snapshots as graphs.
#![forbid(unsafe_code)]

mod analysis;
mod build;
mod diff;
mod dominators;
mod error;
mod index;
mod leaks;
mod model;
mod site;
mod why;

pub use analysis::{Analysis, Dominator, SiteRetained, Suspect};
pub use build::GraphBuilder;
pub use diff::{diff, SiteDiff, SiteFigures};
pub use error::{Error, ErrorKind, Result};
pub use leaks::{LeakClass, SiteLeaks};
pub use model::{
    Block, BlockId, Edge, Frame, HeapGraph, Holder, Root, RootId, RootKind, SiteId, StackId,
    MAX_ITEMS, MAX_OFFSET,
};
pub use site::{is_allocator_frame, site_frame, ALLOCATOR_PREFIXES, UNKNOWN_SITE};
pub use why::{RetainerPath, Step, Target};
pub mod heapsnapshot;
pub mod pprof;
