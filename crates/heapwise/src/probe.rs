//! Typed tracepoints: everything of the `heapwise-probe` crate, plus
//! [`profile`], which aggregates the stacks at which an event fired into a
//! pprof profile.

pub use heapwise_probe::*;

pub use crate::probe_profile::*;
