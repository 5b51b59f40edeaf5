//! `Scope::cancelled()`: resolves at the first crossing of a limit on the
//! scope's chain, for a thread blocked in `wait()` and for an async task; never
//! for a scope with no limit.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{safety_net, wait_until};
use heapwise::{LimitKind, Scope, KIB};

#[test]
fn a_blocked_thread_is_woken_when_another_thread_crosses() {
    let scope = Scope::new().name("job").limit_bytes(10 * KIB);
    let waiting = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (scope, waiting) = (scope.clone(), waiting.clone());
        thread::spawn(move || {
            let cancelled = scope.cancelled();
            waiting.store(true, Ordering::SeqCst);
            cancelled.wait_timeout(safety_net())
        })
    };
    wait_until("the waiter to start", || waiting.load(Ordering::SeqCst));
    // Give the waiter a moment to block (not required for correctness: a
    // crossing before it registers is seen by its first poll).
    thread::sleep(Duration::from_millis(20));
    assert!(scope.exceeded().is_none());
    let worker = {
        let scope = scope.clone();
        thread::spawn(move || scope.run(|_| black_box(vec![0u8; 20 * 1024]).len()))
    };
    assert_eq!(worker.join().unwrap(), 20 * 1024);
    let e = waiter
        .join()
        .unwrap()
        .expect("the waiter was not woken within the safety net");
    assert_eq!(
        (e.kind(), e.limit(), e.used(), e.scope_name()),
        (LimitKind::Bytes, 10 * KIB, 20 * KIB, Some("job"))
    );
}

#[test]
fn wait_blocks_until_the_crossing() {
    let scope = Scope::new().limit_allocs(100);
    let worker = {
        let scope = scope.clone();
        thread::spawn(move || {
            scope.run(|s| {
                // Allocate until cancelled, checking at a safe point.
                let mut n = 0u64;
                while s.check().is_ok() {
                    black_box(Box::new(n));
                    n += 1;
                }
                n
            })
        })
    };
    let e = scope
        .cancelled()
        .wait_timeout(safety_net())
        .expect("cancelled within the safety net");
    assert_eq!(
        (e.kind(), e.limit(), e.used()),
        (LimitKind::Allocs, 100, 101)
    );
    assert_eq!(worker.join().unwrap(), 101);
}

#[test]
fn a_waiter_on_a_child_is_woken_when_the_parent_crosses() {
    let parent = Scope::new().name("parent").limit_live_bytes(4 * KIB);
    let child = parent.child();
    let other_child = parent.child();
    let waiter = {
        let child = child.clone();
        thread::spawn(move || child.cancelled().wait_timeout(safety_net()))
    };
    thread::sleep(Duration::from_millis(20));
    let v = other_child.run(|_| black_box(vec![0u8; 8 * 1024]));
    let e = waiter
        .join()
        .unwrap()
        .expect("woken by the parent's crossing");
    assert_eq!(e.scope(), &parent);
    assert_eq!((e.kind(), e.used()), (LimitKind::LiveBytes, 8 * KIB));
    drop(v);
}

#[test]
fn several_waiters_are_all_woken() {
    let scope = Scope::new().limit_calls(10);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let scope = scope.clone();
            thread::spawn(move || scope.cancelled().wait_timeout(safety_net()))
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    scope.run(|_| {
        for _ in 0..20 {
            black_box(Box::new(0u8));
        }
    });
    for w in waiters {
        let e = w.join().unwrap().expect("every waiter is woken");
        assert_eq!((e.kind(), e.limit(), e.used()), (LimitKind::Calls, 10, 11));
    }
}

#[test]
fn an_exceeded_scope_resolves_at_once() {
    let scope = Scope::new().limit_bytes(1);
    scope.run(|_| black_box(vec![0u8; 2]).len());
    let e = scope.cancelled().wait_timeout(safety_net()).unwrap();
    assert_eq!(e.used(), 2);
    let e = scope.cancelled().wait();
    assert_eq!(e.used(), 2);
}

#[test]
fn a_scope_without_limits_is_never_cancelled() {
    let scope = Scope::new();
    scope.run(|_| black_box(vec![0u8; 1 << 20]).len());
    assert!(scope
        .cancelled()
        .wait_timeout(Duration::from_millis(50))
        .is_none());
    // A limit on an ancestor is enough.
    let parent = Scope::new().limit_bytes(100);
    let child = parent.child();
    child.run(|_| black_box(vec![0u8; 200]).len());
    assert!(child.cancelled().wait_timeout(safety_net()).is_some());
}

#[test]
fn a_timed_out_waiter_unregisters_cleanly() {
    let scope = Scope::new().limit_bytes(1000);
    assert!(scope
        .cancelled()
        .wait_timeout(Duration::from_millis(10))
        .is_none());
    scope.run(|_| black_box(vec![0u8; 2000]).len());
    assert!(scope.cancelled().wait_timeout(safety_net()).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_task_awaiting_cancelled_is_woken() {
    let scope = Scope::new().name("async").limit_bytes(16 * KIB);
    let waiter = {
        let scope = scope.clone();
        tokio::spawn(async move { scope.cancelled().await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished());
    let crosser = tokio::spawn(scope.instrument(async { black_box(vec![0u8; 32 * 1024]).len() }));
    assert_eq!(crosser.await.unwrap(), 32 * 1024);
    let e = tokio::time::timeout(safety_net(), waiter)
        .await
        .expect("the awaiting task was not woken")
        .unwrap();
    assert_eq!(
        (e.kind(), e.limit(), e.used(), e.scope_name()),
        (LimitKind::Bytes, 16 * KIB, 32 * KIB, Some("async"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_waiter_is_woken_by_a_crossing_on_a_plain_thread() {
    let scope = Scope::new().limit_live_bytes(1024);
    let crosser = {
        let scope = scope.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            scope.run(|_| black_box(vec![0u8; 2048]).len())
        })
    };
    let e = tokio::time::timeout(safety_net(), scope.cancelled())
        .await
        .expect("woken by the other thread's crossing");
    assert_eq!((e.kind(), e.used()), (LimitKind::LiveBytes, 2048));
    crosser.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_cancelled_future_does_not_disturb_later_waiters() {
    let scope = Scope::new().limit_bytes(1000);
    // Polled (so registered), then dropped by the timeout.
    assert!(
        tokio::time::timeout(Duration::from_millis(10), scope.cancelled())
            .await
            .is_err()
    );
    let s = scope.clone();
    tokio::task::spawn_blocking(move || s.run(|_| black_box(vec![0u8; 1001]).len()))
        .await
        .unwrap();
    let e = tokio::time::timeout(safety_net(), scope.cancelled())
        .await
        .unwrap();
    assert_eq!(e.used(), 1001);
}
