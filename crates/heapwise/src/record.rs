//! Recording heapwise's events to Chrome trace files (placeholder).
