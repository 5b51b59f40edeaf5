//! `heapwise probes`: the events linked into the binary, one a line.

mod common;

use common::*;

#[test]
fn lists_the_runtimes_events_sorted() {
    let out = run_ok(&["probes"]);
    assert_eq!(
        out,
        "heapwise::events:alloc(ptr: usize, size: usize, align: usize, scope: u64)\n\
         heapwise::events:free(ptr: usize, size: usize, align: usize, scope: u64)\n\
         heapwise::events:limit_exceeded(scope: u64, name: &str, kind: &str, limit: u64, used: u64)\n\
         heapwise::events:realloc(ptr: usize, old_size: usize, new_ptr: usize, new_size: usize, align: usize, scope: u64)\n\
         heapwise::events:sample(ptr: usize, size: usize, rate: u64, scope: u64)\n\
         heapwise::events:scope_enter(scope: u64, parent: u64, name: &str)\n\
         heapwise::events:scope_exit(scope: u64, name: &str)\n"
    );
    let located = run_ok(&["probes", "--locations"]);
    assert!(
        located
            .lines()
            .all(|l| l.contains(" at ") && l.contains("events.rs:")),
        "{located}"
    );
}
