//! Owner tracking: a scope whose last handle is dropped while its blocks are
//! alive is kept until its last block is freed, on another thread; nothing
//! crashes and the process-wide figures stay consistent.
//!
//! The only test in this file (process-wide figures).

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

use std::hint::black_box;
use std::thread;

use heapwise::Scope;

const BLOCK: usize = 777_777;

#[test]
fn blocks_freed_after_their_scope_lost_every_handle() {
    assert!(heapwise::installed());
    let before = heapwise::stats();
    let parent = Scope::new().name("parent");
    let blocks: Vec<Vec<u8>> = {
        let a = parent.child().name("a");
        let b = a.child().name("b");
        let blocks = b.run(|_| vec![black_box(vec![1u8; BLOCK]), black_box(vec![2u8; BLOCK])]);
        drop(b);
        drop(a);
        blocks
    };
    // Both child scopes now live only through their blocks; free them on
    // two other threads, one inside an unrelated scope.
    let mut it = blocks.into_iter();
    let (first, second) = (it.next().unwrap(), it.next().unwrap());
    drop(it);
    let other = Scope::new().name("other");
    let t1 = thread::spawn(move || drop(first));
    let t2 = {
        let other = other.clone();
        thread::spawn(move || other.run(|_| drop(second)))
    };
    t1.join().unwrap();
    t2.join().unwrap();

    let p = parent.usage();
    assert_eq!(p.live_bytes, 0, "{p:?}");
    assert_eq!(p.frees, p.allocs, "{p:?}");
    assert!(p.freed_bytes >= 2 * BLOCK as u64, "{p:?}");
    // `other` made one free call of a block it does not own: the call only.
    let o = other.usage();
    assert_eq!(
        (
            o.bytes,
            o.allocs,
            o.frees,
            o.freed_bytes,
            o.live_bytes,
            o.calls
        ),
        (0, 0, 0, 0, 0, 1),
        "{o:?}"
    );

    // Process-wide: the blocks are counted exactly once each way, and live
    // bytes equal allocated minus freed.
    let after = heapwise::stats();
    assert!(after.allocated_bytes - before.allocated_bytes >= 2 * BLOCK as u64);
    assert!(after.freed_bytes - before.freed_bytes >= 2 * BLOCK as u64);
    assert_eq!(
        after.live_bytes,
        after.allocated_bytes - after.freed_bytes,
        "{after:?}"
    );
    assert!(
        after.live_bytes < BLOCK as u64,
        "the blocks are no longer live: {after:?}"
    );
    assert!(after.peak_bytes >= 2 * BLOCK as u64);
}
