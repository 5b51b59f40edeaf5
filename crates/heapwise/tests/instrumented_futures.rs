//! `Scope::instrument(fut)`: the scope is entered around every poll, on
//! whichever thread polls, so a task that moves between threads is charged
//! exactly; limits are not enforced.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;

use common::{figures, safety_net, Figures, YieldOnce};
use heapwise::Scope;

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_future_polled_on_three_threads_is_charged_exactly() {
    let scope = Scope::new();
    let id = scope.id();
    let mut fut = Box::pin(scope.instrument(async move {
        assert_eq!(Scope::current().map(|s| s.id()), Some(id));
        let a = black_box(vec![0u8; 100]);
        YieldOnce(false).await;
        // Second poll, on another thread.
        assert_eq!(Scope::current().map(|s| s.id()), Some(id));
        drop(a);
        let b = black_box(vec![0u8; 200]);
        YieldOnce(false).await;
        // Third poll, on a third thread.
        let c = black_box(vec![0u8; 300]);
        drop(b);
        c
    }));
    assert_eq!(fut.scope(), &scope);
    // Each thread is spawned and joined outside the scope.
    fut = thread::spawn(move || {
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(Scope::current(), None, "left the scope after the poll");
        fut
    })
    .join()
    .unwrap();
    assert_eq!(
        figures(&scope),
        Figures {
            bytes: 100,
            allocs: 1,
            calls: 1,
            live_bytes: 100,
            peak_bytes: 100,
            ..Figures::default()
        }
    );
    fut = thread::spawn(move || {
        assert!(poll_once(fut.as_mut()).is_pending());
        fut
    })
    .join()
    .unwrap();
    let c = thread::spawn(move || match poll_once(fut.as_mut()) {
        Poll::Ready(c) => c,
        Poll::Pending => panic!("the future should be done"),
    })
    .join()
    .unwrap();
    assert_eq!(c.len(), 300);
    assert_eq!(
        figures(&scope),
        Figures {
            bytes: 600,
            allocs: 3,
            frees: 2,
            freed_bytes: 300,
            calls: 5,
            live_bytes: 300,
            peak_bytes: 500,
            ..Figures::default()
        }
    );
}

thread_local! {
    static WORKER: Cell<u32> = const { Cell::new(u32::MAX) };
}

#[test]
fn tasks_moving_between_tokio_workers_are_charged_exactly() {
    const TASKS: u64 = 8;
    const STEPS: u64 = 500;
    let next_worker = Arc::new(AtomicU32::new(0));
    let rt = {
        let next_worker = next_worker.clone();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_time()
            .on_thread_start(move || {
                WORKER.set(next_worker.fetch_add(1, Ordering::Relaxed));
            })
            .build()
            .unwrap()
    };
    let scope = Scope::new().name("tasks");
    let moves = Arc::new(AtomicU64::new(0));
    let children: Vec<Scope> = (0..TASKS).map(|_| scope.child()).collect();
    rt.block_on(async {
        let handles: Vec<_> = children
            .iter()
            .enumerate()
            .map(|(i, child)| {
                let moves = moves.clone();
                tokio::spawn(child.instrument(async move {
                    let size = 100 * (i + 1);
                    let mut last = WORKER.get();
                    let mut keep = black_box(vec![0u8; size]);
                    for _ in 0..STEPS {
                        YieldOnce(false).await;
                        let now = WORKER.get();
                        if now != last {
                            moves.fetch_add(1, Ordering::Relaxed);
                            last = now;
                        }
                        // Free on this thread what an earlier poll (maybe on
                        // another thread) allocated.
                        keep = black_box(vec![0u8; size]);
                    }
                    keep.len()
                }))
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let len = tokio::time::timeout(safety_net(), h)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(len, 100 * (i + 1));
        }
    });
    let mut total = 0;
    for (i, child) in children.iter().enumerate() {
        let size = 100 * (i as u64 + 1);
        let n = STEPS + 1;
        assert_eq!(
            figures(child),
            Figures {
                bytes: n * size,
                allocs: n,
                frees: n,
                freed_bytes: n * size,
                calls: 2 * n,
                live_bytes: 0,
                // Each poll allocates the next block before the previous is
                // freed, and one task's polls never overlap: exact.
                peak_bytes: 2 * size,
                ..Figures::default()
            },
            "task {i}"
        );
        total += n * size;
    }
    let u = scope.usage();
    assert_eq!(
        (u.bytes, u.allocs, u.frees, u.freed_bytes, u.live_bytes),
        (total, TASKS * (STEPS + 1), TASKS * (STEPS + 1), total, 0)
    );
    drop(rt);
    // Informational: how often tasks changed worker threads in this run.
    eprintln!(
        "{} worker changes over {} polls",
        moves.load(Ordering::Relaxed),
        TASKS * STEPS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrument_attributes_but_does_not_enforce_limits() {
    let scope = Scope::new().limit_bytes(100);
    let len = tokio::spawn(scope.instrument(async {
        let v = black_box(vec![0u8; 1000]);
        YieldOnce(false).await;
        let w = black_box(vec![0u8; 1000]);
        v.len() + w.len()
    }))
    .await
    .unwrap();
    assert_eq!(len, 2000, "the future ran to completion");
    assert_eq!(scope.exceeded().map(|e| e.used()), Some(1000));
    assert_eq!(scope.usage().bytes, 2000);
}

#[tokio::test(flavor = "current_thread")]
async fn code_between_polls_is_not_charged() {
    let scope = Scope::new();
    let fut = scope.instrument(async {
        YieldOnce(false).await;
        black_box(vec![0u8; 10]).len()
    });
    let outside = black_box(vec![0u8; 5000]);
    assert_eq!(fut.await, 10);
    drop(outside);
    assert_eq!(scope.usage().bytes, 10);
    assert_eq!(Scope::current(), None);
}
