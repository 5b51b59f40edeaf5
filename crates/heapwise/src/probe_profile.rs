//! Stacks at which an event fired, as a pprof profile (placeholder).
