//! Concurrency stress in owner mode: threads allocate in their own scopes,
//! hand blocks to each other through a shared pool, free and grow blocks from
//! other scopes, and drop their scope handles while blocks are still alive.
//! Once every block is freed, every scope must balance exactly: each free was
//! charged to the block's owner, so bytes == freed_bytes, allocs == frees and
//! live_bytes == 0, for every child and for their common parent.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

mod common;

use common::stress::run_workers;

fn balanced(name: &str, u: heapwise::Usage) {
    assert_eq!(u.live_bytes, 0, "{name}: {u:?}");
    assert_eq!(u.bytes, u.freed_bytes, "{name}: {u:?}");
    assert_eq!(u.allocs, u.frees, "{name}: {u:?}");
    assert!(u.allocs > 0, "{name} counted nothing: {u:?}");
}

#[test]
fn every_scope_balances_after_cross_thread_frees_and_reallocs() {
    assert!(heapwise::installed());
    let root = heapwise::Scope::detached().name("root");
    let (children, pool) = run_workers(&root);
    let left = pool.lock().unwrap().len();
    assert!(
        left > 0,
        "the test should leave blocks behind for the owners to outlive"
    );
    // Free the rest outside every scope: still charged to their owners.
    heapwise::untracked(|| pool.lock().unwrap().clear());
    for (i, child) in children.iter().enumerate() {
        balanced(&format!("worker-{i}"), child.usage());
    }
    let r = root.usage();
    balanced("root", r);
    let sum = |f: fn(heapwise::Usage) -> u64| children.iter().map(|c| f(c.usage())).sum::<u64>();
    assert_eq!(
        r.bytes,
        sum(|u| u.bytes),
        "the parent is charged what its children were"
    );
    assert_eq!(r.calls, sum(|u| u.calls));
    assert_eq!(r.reallocs, sum(|u| u.reallocs));
    // Calls are charged where they are made: inside the workers, every call
    // but the frees made outside every scope at the end.
    assert_eq!(r.calls + left as u64, r.allocs + r.frees - r.reallocs);
    // Process-wide, every counted call is charged exactly once.
    let st = heapwise::stats();
    assert_eq!(st.calls, st.allocs + st.frees - st.reallocs, "{st:?}");
}
