//! A caught panic inside a hard-limited scope with owner tracking: what the
//! panic allocates (the message, std's backtrace cache under
//! `RUST_BACKTRACE=1`, the payload) is the process's, to the block, so the
//! scope's figures after the panic are what they were before it less what
//! unwinding dropped, whoever frees the panic's blocks later. Each case
//! runs in a child process of its own (`RUST_BACKTRACE` is process-wide).

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

mod common;

use std::hint::black_box;
use std::panic::catch_unwind;
use std::time::Duration;

use common::child;
use heapwise::{Scope, KIB};

/// Far above what a child needs (a backtrace symbolizes in about a second).
const HANG: Duration = Duration::from_secs(120);

#[test]
fn a_caught_panic_leaves_an_owner_tracked_scope_as_it_was() {
    let name = "a_caught_panic_leaves_an_owner_tracked_scope_as_it_was";
    if child::role().is_some() {
        let s = Scope::new().limit_live_bytes(64 * KIB).hard();
        s.run(|_| {
            let held = black_box(vec![1u8; 16 * KIB as usize]);
            let caught = catch_unwind(|| {
                let mut grown = black_box(Vec::<u8>::with_capacity(1));
                grown.extend_from_slice(&[2u8; 8 * KIB as usize]);
                panic!("handled error: {}", grown.len())
            });
            assert!(caught.is_err());
            // The payload is the process's block: freeing it here leaves the
            // scope's figures alone.
            drop(caught);
            let u = s.usage();
            assert_eq!(u.live_bytes, 16 * KIB, "{u:?}");
            assert!(s.exceeded().is_none(), "{:?}", s.exceeded());
            let more = black_box(vec![3u8; 16]);
            println!("survived {} {}", held.len(), more.len());
        });
        return;
    }
    child::run_with_each_backtrace(name, "survived 16384 16", HANG);
}
