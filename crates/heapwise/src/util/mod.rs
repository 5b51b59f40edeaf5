//! Shared helpers with no heapwise state.

pub(crate) mod json;
