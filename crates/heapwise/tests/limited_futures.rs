//! `Scope::limit(fut)`: the future runs inside the scope and is dropped (inside
//! the scope) once the scope or an ancestor exceeds a limit, at its next poll
//! or as soon as the crossing wakes it, on a multi-threaded runtime.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{safety_net, DropFlag, YieldOnce};
use heapwise::{LimitKind, Scope, KIB};

/// Records, when dropped, the id of the scope current at that moment.
struct RecordsScopeOnDrop(Arc<AtomicU64>);

impl Drop for RecordsScopeOnDrop {
    fn drop(&mut self) {
        let id = Scope::current().map_or(0, |s| s.id());
        self.0.store(id, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocating_loop_is_dropped_once_the_limit_is_crossed() {
    let scope = Scope::new().name("loop").limit_bytes(64 * KIB);
    let dropped = Arc::new(AtomicBool::new(false));
    let dropped_in = Arc::new(AtomicU64::new(u64::MAX));
    let steps = Arc::new(AtomicU64::new(0));
    let fut = {
        let (dropped, dropped_in, steps) = (dropped.clone(), dropped_in.clone(), steps.clone());
        async move {
            let _flag = DropFlag(dropped);
            let _where = RecordsScopeOnDrop(dropped_in);
            let mut keep: Vec<Vec<u8>> = Vec::new();
            loop {
                keep.push(black_box(vec![0u8; 1024]));
                steps.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }
    };
    let task = tokio::spawn(scope.limit(fut));
    let res = tokio::time::timeout(safety_net(), task)
        .await
        .expect("the loop was not stopped")
        .unwrap();
    let e = res.expect_err("the loop never completes");
    assert_eq!(
        (e.kind(), e.limit(), e.scope_name()),
        (LimitKind::Bytes, 64 * KIB, Some("loop"))
    );
    assert!(e.used() > 64 * KIB);
    assert!(dropped.load(Ordering::SeqCst), "the future was not dropped");
    assert_eq!(
        dropped_in.load(Ordering::SeqCst),
        scope.id(),
        "the future is dropped inside its scope"
    );
    // Every step allocates 1 KiB more: at most 64 steps fit in 64 KiB, and
    // the future is not polled again after the crossing.
    let steps = steps.load(Ordering::SeqCst);
    assert!((1..=64).contains(&steps), "{steps} steps");
    // Its blocks were freed when it was dropped, inside the scope. (Not
    // `live_bytes == 0`: tokio's `yield_now` may grow the worker's deferred
    // waker list while the scope is entered, and keeps that buffer.)
    let u = scope.usage();
    assert!(u.frees >= steps && u.freed_bytes >= steps * 1024, "{u:?}");
    assert!(u.live_bytes < 1024, "{u:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_waiting_forever_is_dropped_when_another_task_crosses() {
    let scope = Scope::new().name("shared").limit_bytes(16 * KIB);
    let dropped = Arc::new(AtomicBool::new(false));
    let (_never_sent, never) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let waiting = {
        let dropped = dropped.clone();
        tokio::spawn(scope.limit(async move {
            let _flag = DropFlag(dropped);
            let _ = started_tx.send(());
            let _ = never.await; // pending until dropped
            "completed"
        }))
    };
    started.await.unwrap();
    // Let the waiting future return Pending and register (not needed for
    // correctness: a crossing before registration is seen when it registers).
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!dropped.load(Ordering::SeqCst));
    let crosser = tokio::spawn(scope.instrument(async { black_box(vec![0u8; 32 * 1024]).len() }));
    assert_eq!(crosser.await.unwrap(), 32 * 1024);
    let res = tokio::time::timeout(safety_net(), waiting)
        .await
        .expect("the waiting future was not woken and dropped")
        .unwrap();
    let e = res.expect_err("the scope crossed its limit");
    assert_eq!(
        (e.kind(), e.limit(), e.used(), e.scope_name()),
        (LimitKind::Bytes, 16 * KIB, 32 * KIB, Some("shared"))
    );
    assert!(dropped.load(Ordering::SeqCst), "the future was not dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_waiting_in_a_child_is_dropped_when_the_parent_crosses() {
    let parent = Scope::new().name("parent").limit_live_bytes(8 * KIB);
    let child = parent.child().name("child");
    let dropped = Arc::new(AtomicBool::new(false));
    let waiting = {
        let dropped = dropped.clone();
        tokio::spawn(child.limit(async move {
            let _flag = DropFlag(dropped);
            std::future::pending::<()>().await;
        }))
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let p = parent.clone();
    let kept = tokio::task::spawn_blocking(move || p.run(|_| black_box(vec![0u8; 9 * 1024])))
        .await
        .unwrap();
    let e = tokio::time::timeout(safety_net(), waiting)
        .await
        .expect("woken by the parent's crossing")
        .unwrap()
        .unwrap_err();
    assert_eq!(e.scope(), &parent);
    assert_eq!((e.kind(), e.used()), (LimitKind::LiveBytes, 9 * KIB));
    assert!(dropped.load(Ordering::SeqCst));
    drop(kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_within_its_limit_completes() {
    let scope = Scope::new().limit_bytes(10 * KIB);
    let id = scope.id();
    let out = scope
        .limit(async move {
            let v = black_box(vec![0u8; 1000]);
            tokio::task::yield_now().await;
            assert_eq!(Scope::current().map(|s| s.id()), Some(id));
            v.len()
        })
        .await;
    assert_eq!(out.ok(), Some(1000));
    assert!(scope.exceeded().is_none());
    assert_eq!(scope.usage().bytes, 1000);
    assert_eq!(Scope::current(), None, "left the scope after the await");
}

/// The guide's example: the limit is crossed in the poll that completes
/// the future (it never waits), which returned `Ok` with the over-limit
/// output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_that_crosses_its_limit_as_it_completes_is_an_error() {
    let scope = Scope::new().name("request").limit_live_bytes(64 * KIB);
    let out = scope.limit(async { black_box(vec![0u8; 1 << 20]) }).await;
    let e = out.expect_err("over the limit when it completed");
    assert_eq!((e.kind(), e.used()), (LimitKind::LiveBytes, 1 << 20));
    assert_eq!(
        e.to_string(),
        "scope \"request\" exceeded its live bytes limit: 1048576 live bytes, limit 65536"
    );
    assert_eq!(scope.usage().live_bytes, 0, "the output was dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_on_an_exceeded_scope_is_dropped_without_running() {
    let scope = Scope::new().limit_allocs(0);
    scope.run(|_| black_box(Box::new(1u8)));
    let polled = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let res = {
        let (polled, flag) = (polled.clone(), DropFlag(dropped.clone()));
        scope
            .limit(async move {
                let _flag = flag;
                polled.store(true, Ordering::SeqCst);
            })
            .await
    };
    let e = res.unwrap_err();
    assert_eq!((e.kind(), e.used()), (LimitKind::Allocs, 1));
    assert!(!polled.load(Ordering::SeqCst));
    assert!(dropped.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_future_is_charged_exactly() {
    let scope = Scope::new().limit_bytes(100 * KIB);
    let s = scope.clone();
    let handle = tokio::spawn(s.limit(async {
        let mut total = 0;
        for _ in 0..50 {
            let v = black_box(vec![0u8; 100]);
            YieldOnce(false).await;
            total += v.len();
        }
        total
    }));
    assert_eq!(handle.await.unwrap().ok(), Some(5000));
    let u = scope.usage();
    assert_eq!(
        (u.bytes, u.allocs, u.frees, u.calls, u.live_bytes),
        (5000, 50, 50, 100, 0)
    );
}
