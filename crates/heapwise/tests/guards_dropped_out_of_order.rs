//! Scope guards dropped in any order (two tasks on one thread holding
//! `enter()` guards across `.await`, or plain out-of-order drops) leave the
//! thread where it started; nesting is cheap at any depth.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;

use heapwise::{Scope, KIB, MIB};

#[test]
fn guards_dropped_out_of_order_restore_the_starting_scope() {
    let (a, b, c) = (Scope::new(), Scope::new(), Scope::new());
    let ga = a.enter();
    let gb = b.enter();
    let gc = c.enter();
    drop(gb); // out of order: `c` stays current
    assert_eq!(Scope::current().as_ref(), Some(&c));
    drop(ga);
    assert_eq!(Scope::current().as_ref(), Some(&c));
    black_box(vec![0u8; 100]);
    drop(gc);
    assert_eq!(Scope::current(), None, "back where the thread started");
    assert_eq!(c.usage().bytes, 100);
    assert_eq!((a.usage().bytes, b.usage().bytes), (0, 0));
}

#[test]
fn two_tasks_holding_guards_across_await_leave_the_thread_outside_every_scope() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let hard = Scope::new().name("first").limit_bytes(64 * KIB).hard();
    let other = Scope::new().name("second");
    local.block_on(&rt, async {
        let (tx1, rx1) = tokio::sync::oneshot::channel::<()>();
        let (tx2, rx2) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let hard = hard.clone();
            tokio::task::spawn_local(async move {
                let _g = hard.enter(); // held across the await: a mistake, survived
                let _ = rx1.await;
            })
        };
        let second = {
            let other = other.clone();
            tokio::task::spawn_local(async move {
                let _g = other.enter();
                let _ = rx2.await;
            })
        };
        tokio::task::yield_now().await; // both tasks entered and wait
        tx1.send(()).unwrap();
        first.await.unwrap(); // the first guard is dropped first
        tx2.send(()).unwrap();
        second.await.unwrap();
    });
    assert_eq!(Scope::current(), None, "no scope is left entered");
    // An unrelated 2 MiB allocation on this thread is not refused by `first`'s hard limit.
    let mut v: Vec<u8> = Vec::new();
    assert!(v.try_reserve(2 * MIB as usize).is_ok());
}

#[test]
fn a_guard_inside_untracked_and_panics_unwinding_through_guards() {
    let a = Scope::new();
    let r = std::panic::catch_unwind(|| {
        let _ga = a.enter();
        heapwise::untracked(|| {
            let b = Scope::new();
            let _gb = b.enter();
            panic!("unwinds through both");
        })
    });
    assert!(r.is_err());
    assert_eq!(Scope::current(), None);
}

/// Entering costs the same at any depth: 100,000 nested scopes (which took
/// time quadratic in the depth, and overflowed the stack freeing the chain).
#[test]
fn deep_nesting() {
    const DEPTH: usize = 100_000;
    let mut chain = vec![Scope::new().name("root").limit_bytes(10 * MIB)];
    for _ in 1..DEPTH {
        let child = chain.last().unwrap().child();
        chain.push(child);
    }
    let guards: Vec<_> = chain.iter().map(|s| s.enter()).collect();
    black_box(vec![0u8; 1000]);
    assert_eq!(chain[DEPTH - 1].remaining().bytes, Some(10 * MIB - 1000));
    drop(guards);
    assert_eq!(chain[0].usage().bytes, 1000);
    assert_eq!(Scope::current(), None);
    drop(chain); // frees 100,000 scopes, leaf last
}
