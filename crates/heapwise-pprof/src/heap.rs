//! The sample types of a heapwise heap profile, in order: Go's four, then
//! the high-water mark and the temporaries. Every heapwise writer of a heap
//! profile (the runtime, the heaptrack importer) and every reader that
//! treats the columns differently (the endpoint's `?seconds=N` deltas) uses
//! this one table.

/// One column of a heap profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapSampleType {
    /// The sample type's name, as `go tool pprof -sample_index` takes it.
    pub name: &'static str,
    /// Its unit: `count` or `bytes`.
    pub unit: &'static str,
    /// Whether it counts over the profile's time (allocations, temporaries:
    /// a delta of two profiles subtracts it) rather than being a state at
    /// one moment (in use, at the peak: a delta keeps the later value).
    pub cumulative: bool,
}

const fn column(name: &'static str, unit: &'static str, cumulative: bool) -> HeapSampleType {
    HeapSampleType {
        name,
        unit,
        cumulative,
    }
}

/// The columns of a heapwise heap profile, in order.
pub const HEAP_SAMPLE_TYPES: [HeapSampleType; 8] = [
    column("alloc_objects", "count", true),
    column("alloc_space", "bytes", true),
    column("inuse_objects", "count", false),
    column("inuse_space", "bytes", false),
    column("peak_objects", "count", false),
    column("peak_space", "bytes", false),
    column("temporary_objects", "count", true),
    column("temporary_space", "bytes", true),
];
