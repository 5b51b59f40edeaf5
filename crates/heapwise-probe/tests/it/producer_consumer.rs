//! `examples/producer_consumer.rs` as a test: the workspace test command
//! builds examples but does not run them.
//!
//! One test function: the tracer attaches for every thread, so two runs in
//! parallel would see each other's events.

#[path = "../../examples/producer_consumer.rs"]
#[allow(dead_code, unreachable_pub)]
mod example;

#[test]
fn producer_consumer_traced_step_by_step() {
    for (n, capacity) in [(8, 3), (50, 1), (40, 64)] {
        let transcript = example::run(n, capacity);
        assert_eq!(transcript.len() as u64, 2 * n);
    }
}
