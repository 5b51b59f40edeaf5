//! Peer: cap::Cap over the system allocator with a large limit (one atomic).
use std::alloc::System;

use cap::Cap;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, 1 << 40);

fn main() {
    assert_eq!(ALLOC.limit(), 1 << 40);
    // Cap counts bytes, not blocks: no allocation count to check.
    let cfg = heapwise_bench::Plain {
        modes: &["global"],
        count: || None,
    };
    heapwise_bench::main("cap", &cfg);
}
