//! Peer: tracking-allocator over the system allocator, with a minimal real
//! tracker: per-group atomic counters (allocs, bytes, frees, freed bytes), one
//! cache line per group. "outside" runs in the root group (tracking on, no
//! group entered), "inside" with a freshly registered group entered on each
//! thread.
use std::alloc::System;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tracking_allocator::{
    AllocationGroupId, AllocationGroupToken, AllocationRegistry, AllocationTracker, Allocator,
};

#[global_allocator]
static ALLOC: Allocator<System> = Allocator::system();

#[repr(align(64))]
struct Slot {
    allocs: AtomicU64,
    bytes: AtomicU64,
    frees: AtomicU64,
    freed_bytes: AtomicU64,
}

const SLOTS: usize = 256;
static GROUPS: [Slot; SLOTS] = [const {
    Slot {
        allocs: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        frees: AtomicU64::new(0),
        freed_bytes: AtomicU64::new(0),
    }
}; SLOTS];

fn slot(id: &AllocationGroupId) -> &'static Slot {
    &GROUPS[id.as_usize().get() % SLOTS]
}

struct Counting;

impl AllocationTracker for Counting {
    fn allocated(
        &self,
        _addr: usize,
        object_size: usize,
        _wrapped: usize,
        group: AllocationGroupId,
    ) {
        let s = slot(&group);
        s.allocs.fetch_add(1, Relaxed);
        s.bytes.fetch_add(object_size as u64, Relaxed);
    }

    fn deallocated(
        &self,
        _addr: usize,
        object_size: usize,
        _wrapped: usize,
        source: AllocationGroupId,
        _current: AllocationGroupId,
    ) {
        let s = slot(&source);
        s.frees.fetch_add(1, Relaxed);
        s.freed_bytes.fetch_add(object_size as u64, Relaxed);
    }
}

struct Tracking;

impl heapwise_bench::Config for Tracking {
    fn modes(&self) -> &'static [&'static str] {
        &["outside", "inside"]
    }

    fn run_in(&self, mode: &str, f: &mut dyn FnMut()) -> Option<u64> {
        match mode {
            "outside" => {
                let s = slot(&AllocationGroupId::ROOT);
                let before = s.allocs.load(Relaxed);
                f();
                Some(s.allocs.load(Relaxed) - before)
            }
            "inside" => {
                let mut token = AllocationGroupToken::register().expect("register group");
                let s = slot(&token.id());
                let before = s.allocs.load(Relaxed);
                {
                    let _guard = token.enter();
                    f();
                }
                Some(s.allocs.load(Relaxed) - before)
            }
            other => panic!("unknown mode {other}"),
        }
    }
}

fn main() {
    AllocationRegistry::set_global_tracker(Counting).expect("no tracker set yet");
    AllocationRegistry::enable_tracking();
    heapwise_bench::main("tracking_allocator", &Tracking);
}
