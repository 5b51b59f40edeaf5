//! Peer: stats_alloc::StatsAlloc over the system allocator (process-wide atomics).
use std::alloc::System;

use stats_alloc::StatsAlloc;

#[global_allocator]
static ALLOC: StatsAlloc<System> = StatsAlloc::system();

fn main() {
    let cfg = heapwise_bench::Plain {
        modes: &["global"],
        count: || Some(ALLOC.stats().allocations as u64),
    };
    heapwise_bench::main("stats_alloc", &cfg);
}
