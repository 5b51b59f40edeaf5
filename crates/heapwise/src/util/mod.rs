//! Shared helpers with no heapwise state.

pub(crate) mod bytes;
pub(crate) mod count;
pub(crate) mod json;
pub(crate) mod say;
pub(crate) mod units;
