//! Baseline: the system allocator (glibc malloc), nothing counted.
use std::alloc::System;

#[global_allocator]
static ALLOC: System = System;

fn main() {
    let cfg = heapwise_bench::Plain {
        modes: &["bare"],
        count: || None,
    };
    heapwise_bench::main("base_system", &cfg);
}
