//! Allocation sites: the innermost frame of a stack outside the allocator.

use crate::model::Frame;

pub use heapwise_pprof::is_allocator_frame;

/// The site name of an empty stack.
pub const UNKNOWN_SITE: &str = "(unknown)";

/// The site of a stack (innermost frame first): the innermost frame that is
/// not an allocator frame; the innermost frame if all are; `None` for an
/// empty stack.
pub fn site_frame(frames: &[Frame]) -> Option<&Frame> {
    frames
        .iter()
        .find(|f| !is_allocator_frame(&f.function))
        .or_else(|| frames.first())
}
