//! A panic inside a hard-limited scope: the panic machinery (the message, a
//! backtrace under `RUST_BACKTRACE=1`, the drops of unwinding) is never
//! refused, so a caught panic neither hangs nor aborts the process. Each
//! case runs in a child process of its own (a panic hook and
//! `RUST_BACKTRACE` are process-wide).

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::child;
use heapwise::{Scope, KIB, MIB};

/// Far above what a child needs (a backtrace symbolizes in about a second).
const HANG: Duration = Duration::from_secs(120);

#[test]
fn a_caught_panic_in_a_hard_scope_does_not_hang_with_backtraces() {
    let name = "a_caught_panic_in_a_hard_scope_does_not_hang_with_backtraces";
    if child::role().is_some() {
        let s = Scope::new().limit_bytes(64 * KIB).hard();
        let caught = catch_unwind(AssertUnwindSafe(|| s.run(|_| panic!("boom"))));
        assert!(caught.is_err());
        // The limit holds again once the panic is over.
        let refused = s.run(|_| Vec::<u8>::new().try_reserve(MIB as usize).is_err());
        assert!(refused, "a hard limit refuses again after the panic");
        println!("survived");
        return;
    }
    for out in child::run_with_each_backtrace(name, "survived", HANG) {
        assert!(
            out.stderr.contains("boom"),
            "the panic message was printed: {}",
            out.stderr
        );
    }
}

#[test]
fn a_panic_hook_may_allocate_past_a_hard_limit_and_is_not_charged() {
    let name = "a_panic_hook_may_allocate_past_a_hard_limit_and_is_not_charged";
    if child::role().is_some() {
        std::panic::set_hook(Box::new(|info| {
            // Far over the scope's limit: allowed while panicking, and the
            // process's, not the scope's.
            let report = black_box(vec![b'x'; 4 * MIB as usize]);
            eprintln!("hook: {info} ({} bytes of report)", report.len());
        }));
        let s = Scope::new().limit_bytes(64 * KIB).hard();
        let before = heapwise::stats().allocs;
        let caught = catch_unwind(AssertUnwindSafe(|| {
            s.run(|_| {
                let _kept = black_box(vec![0u8; 32 * KIB as usize]);
                panic!("boom")
            })
        }));
        assert!(caught.is_err());
        drop(caught);
        assert!(s.exceeded().is_none(), "{:?}", s.exceeded());
        let u = s.usage();
        assert_eq!(
            (u.bytes, u.live_bytes, u.allocs, u.frees),
            (32 * KIB, 0, 1, 1),
            "the scope has its own block only: {u:?}"
        );
        assert!(
            heapwise::stats().allocs >= before + 2,
            "the process counts the hook's allocation"
        );
        println!("survived");
        return;
    }
    let out = child::run(name, "hook", &[("RUST_BACKTRACE", "0")], HANG);
    out.assert_success();
    assert!(out.stdout.contains("survived"), "{}", out.stdout);
    assert!(
        out.stderr.contains("4194304 bytes of report"),
        "{}",
        out.stderr
    );
}

/// std's first backtrace loads the program's debug info into a cache it
/// keeps for the process's life (tens of MB): charged to the scope, it
/// left a hard-limited scope full, and the next allocation made in it
/// after the panic was caught aborted the process.
#[test]
fn a_caught_panic_with_a_backtrace_leaves_a_hard_scope_as_it_was() {
    let name = "a_caught_panic_with_a_backtrace_leaves_a_hard_scope_as_it_was";
    if child::role().is_some() {
        let s = Scope::new().limit_live_bytes(64 * KIB).hard();
        s.run(|_| {
            let held = black_box(vec![1u8; 16 * KIB as usize]);
            let caught = catch_unwind(|| {
                let _dropped = black_box(vec![2u8; 8 * KIB as usize]);
                panic!("handled error")
            });
            assert!(caught.is_err());
            let u = s.usage();
            assert_eq!(u.live_bytes, 16 * KIB, "{u:?}");
            assert!(s.exceeded().is_none(), "{:?}", s.exceeded());
            // The payload, made while panicking: the process's block, freed
            // here, in the scope (see the docs on `Scope::hard`).
            drop(caught);
            // An infallible allocation in the scope after the panic.
            let more = black_box(vec![3u8; 16]);
            println!("survived {} {}", held.len(), more.len());
        });
        return;
    }
    child::run_with_each_backtrace(name, "survived 16384 16", HANG);
}
