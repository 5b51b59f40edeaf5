//! Concurrency stress in the default mode (frees charged where they happen):
//! threads allocate in their own scopes, hand blocks to each other through a
//! shared pool, free and grow blocks from other scopes, and drop their scope
//! handles early. Every scope must satisfy `calls = allocs + frees - reallocs`
//! exactly, the parent must be charged exactly the sum of its children, and
//! the parent's live bytes must equal exactly the bytes left in the pool,
//! which are the only blocks of its subtree not freed inside it.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use common::stress::run_workers;

fn consistent(name: &str, u: heapwise::Usage) {
    assert_eq!(u.calls, u.allocs + u.frees - u.reallocs, "{name}: {u:?}");
    assert!(u.allocs > 0 && u.frees > 0, "{name} counted nothing: {u:?}");
}

#[test]
fn every_scope_stays_consistent_under_cross_thread_frees_and_reallocs() {
    assert!(heapwise::installed());
    let root = heapwise::Scope::detached().name("root");
    let (children, pool) = run_workers(&root);
    let (left, left_bytes) = {
        let pool = pool.lock().unwrap();
        (
            pool.len(),
            pool.iter().map(|v| v.capacity() as u64).sum::<u64>(),
        )
    };
    assert!(left > 0, "the test should leave blocks behind");
    for (i, child) in children.iter().enumerate() {
        consistent(&format!("worker-{i}"), child.usage());
    }
    let r = root.usage();
    consistent("root", r);
    let sum = |f: fn(heapwise::Usage) -> u64| children.iter().map(|c| f(c.usage())).sum::<u64>();
    assert_eq!(
        r.bytes,
        sum(|u| u.bytes),
        "the parent is charged what its children were"
    );
    assert_eq!(r.frees, sum(|u| u.frees));
    assert_eq!(r.calls, sum(|u| u.calls));
    assert_eq!(
        r.live_bytes, left_bytes,
        "live in the subtree = bytes left in the pool"
    );
    assert_eq!(r.bytes - r.freed_bytes, left_bytes);
    heapwise::untracked(|| pool.lock().unwrap().clear());
    assert_eq!(
        root.usage(),
        r,
        "frees outside every scope are charged to none"
    );
    let st = heapwise::stats();
    assert_eq!(st.calls, st.allocs + st.frees - st.reallocs, "{st:?}");
}
