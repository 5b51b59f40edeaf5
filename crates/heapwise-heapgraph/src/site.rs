//! Allocation sites: the innermost frame of a stack outside the allocator.

use crate::model::Frame;

/// Function-name prefixes of allocator frames: the global allocator and
/// its wrappers (heapwise itself), `alloc`'s collections and smart
/// pointers, and the C allocator. A stack's *site* is its innermost frame
/// whose function starts with none of these.
pub const ALLOCATOR_PREFIXES: &[&str] = &[
    "alloc::",
    "<alloc::",
    "core::alloc::",
    "<core::alloc::",
    "std::alloc::",
    "<std::alloc::",
    "__rust_",
    "__rdl_",
    "__rg_",
    "heapwise::",
    "<heapwise::",
    "malloc",
    "calloc",
    "realloc",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
];

/// The site name of an empty stack.
pub const UNKNOWN_SITE: &str = "(unknown)";

/// Whether `function` is an allocator frame ([`ALLOCATOR_PREFIXES`]).
pub fn is_allocator_frame(function: &str) -> bool {
    ALLOCATOR_PREFIXES.iter().any(|p| function.starts_with(p))
}

/// The site of a stack (innermost frame first): the innermost frame that is
/// not an allocator frame; the innermost frame if all are; `None` for an
/// empty stack.
pub fn site_frame(frames: &[Frame]) -> Option<&Frame> {
    frames
        .iter()
        .find(|f| !is_allocator_frame(&f.function))
        .or_else(|| frames.first())
}
