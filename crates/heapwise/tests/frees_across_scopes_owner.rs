//! Owner tracking: a free is charged to the scope that allocated the block,
//! wherever and whenever it is freed, even after the scope's last handle is
//! dropped; a realloc frees the old block to its owner and allocates the new
//! one in the current scope. The allocator *call* is charged where it is made:
//! a scope that frees another scope's block is charged exactly one call and
//! nothing else.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

mod common;

use std::hint::black_box;
use std::thread;

use common::{figures, Figures};
use heapwise::Scope;

/// A's figures once its 4000-byte block was freed by a call made elsewhere:
/// the free is A's, the call (one) is not.
const ALLOCATED_HERE_FREED_ELSEWHERE: Figures = Figures {
    bytes: 4000,
    allocs: 1,
    frees: 1,
    freed_bytes: 4000,
    reallocs: 0,
    calls: 1,
    live_bytes: 0,
    peak_bytes: 4000,
};

/// The figures of a scope that freed another scope's block: the call only.
const ONE_FOREIGN_FREE: Figures = Figures {
    bytes: 0,
    allocs: 0,
    frees: 0,
    freed_bytes: 0,
    reallocs: 0,
    calls: 1,
    live_bytes: 0,
    peak_bytes: 0,
};

#[test]
fn figures_exclude_the_owner_trailer() {
    let scope = Scope::new();
    scope.run(|s| {
        let v = black_box(vec![0u64; 100]);
        assert_eq!(
            figures(s),
            Figures {
                bytes: 800,
                allocs: 1,
                calls: 1,
                live_bytes: 800,
                peak_bytes: 800,
                ..Figures::default()
            }
        );
        drop(v);
    });
    assert_eq!(
        figures(&scope),
        Figures {
            bytes: 800,
            allocs: 1,
            frees: 1,
            freed_bytes: 800,
            calls: 2,
            live_bytes: 0,
            peak_bytes: 800,
            ..Figures::default()
        }
    );
}

#[test]
fn a_block_freed_in_scope_b_on_another_thread_is_charged_to_its_owner() {
    let a = Scope::new().name("A");
    let b = Scope::new().name("B");
    let v = a.run(|_| black_box(vec![0u8; 4000]));
    let in_b = b.clone();
    thread::spawn(move || in_b.run(|_| drop(v))).join().unwrap();
    assert_eq!(figures(&a), ALLOCATED_HERE_FREED_ELSEWHERE);
    assert_eq!(figures(&b), ONE_FOREIGN_FREE, "B is charged the call only");
}

#[test]
fn a_block_freed_outside_any_scope_on_another_thread_is_charged_to_its_owner() {
    let a = Scope::new();
    let v = a.run(|_| black_box(vec![0u8; 4000]));
    thread::spawn(move || drop(v)).join().unwrap();
    assert_eq!(figures(&a), ALLOCATED_HERE_FREED_ELSEWHERE);
}

#[test]
fn a_block_freed_on_the_same_thread_after_the_scope_ended_is_charged_to_its_owner() {
    let a = Scope::new();
    let v = a.run(|_| black_box(vec![0u8; 4000]));
    drop(v);
    assert_eq!(figures(&a), ALLOCATED_HERE_FREED_ELSEWHERE);
    heapwise::untracked(|| {
        let w = a.run(|_| black_box(vec![0u8; 4000]));
        drop(w);
    });
    assert_eq!(figures(&a).live_bytes, 0);
    assert_eq!(figures(&a).frees, 2);
}

#[test]
fn a_free_in_a_child_scope_is_charged_to_the_owner_not_the_child() {
    let parent = Scope::new().name("parent");
    let child = parent.child().name("child");
    let v = parent.run(|_| black_box(vec![0u8; 4000]));
    child.run(|_| drop(v));
    // The free is the parent's; the call was made in the child, and so also
    // counts in the parent, which contains it.
    assert_eq!(
        figures(&parent),
        Figures {
            calls: 2,
            ..ALLOCATED_HERE_FREED_ELSEWHERE
        }
    );
    assert_eq!(figures(&child), ONE_FOREIGN_FREE);
    // And a block allocated in the child is freed to the child and its parent.
    let w = child.run(|_| black_box(vec![0u8; 500]));
    thread::spawn(move || drop(w)).join().unwrap();
    assert_eq!(figures(&child).live_bytes, 0);
    assert_eq!(figures(&child).frees, 1);
    assert_eq!(figures(&parent).frees, 2);
    assert_eq!(figures(&parent).live_bytes, 0);
}

#[test]
fn a_block_allocated_outside_every_scope_is_not_charged_when_freed_in_one() {
    let v = black_box(vec![0u8; 4000]);
    let b = Scope::new();
    b.run(|_| drop(v));
    assert_eq!(figures(&b), ONE_FOREIGN_FREE, "only the call is B's");
}

#[test]
fn a_realloc_in_another_scope_frees_to_the_owner_and_allocates_in_the_current_scope() {
    let a = Scope::new().name("A");
    let b = Scope::new().name("B");
    let mut v: Vec<u8> = a.run(|_| Vec::with_capacity(100));
    let in_b = b.clone();
    v = thread::spawn(move || {
        in_b.run(|_| v.reserve_exact(300)); // realloc 100 -> 300, in B
        v
    })
    .join()
    .unwrap();
    assert_eq!(v.capacity(), 300);
    let fa = figures(&a);
    let fb = figures(&b);
    assert_eq!(
        (
            fa.bytes,
            fa.allocs,
            fa.frees,
            fa.freed_bytes,
            fa.reallocs,
            fa.live_bytes
        ),
        (100, 1, 1, 100, 0, 0),
        "A: the old block is freed to its owner"
    );
    assert_eq!(
        (
            fb.bytes,
            fb.allocs,
            fb.frees,
            fb.freed_bytes,
            fb.reallocs,
            fb.live_bytes
        ),
        (300, 1, 0, 0, 1, 300),
        "B: the new block is B's"
    );
    // The realloc is one call, charged to B where it happened.
    assert_eq!(fb.calls, 1);
    assert_eq!(fa.calls + fb.calls, 2);
    // The new block now belongs to B: freeing it anywhere charges B.
    drop(v);
    assert_eq!(figures(&b).live_bytes, 0);
    assert_eq!(figures(&b).frees, 1);
    assert_eq!(figures(&a), fa);
}

#[test]
fn a_realloc_in_the_owning_scope_is_an_ordinary_realloc() {
    let a = Scope::new();
    let v = a.run(|_| {
        let mut v: Vec<u8> = Vec::with_capacity(100);
        v.reserve_exact(300);
        v
    });
    assert_eq!(
        figures(&a),
        Figures {
            bytes: 400,
            allocs: 2,
            frees: 1,
            freed_bytes: 100,
            reallocs: 1,
            calls: 2,
            live_bytes: 300,
            peak_bytes: 300,
        }
    );
    // A realloc outside every scope of A's block: freed to A, the new block
    // belongs to no scope.
    let mut v = v;
    v.reserve_exact(1000);
    assert_eq!(figures(&a).live_bytes, 0);
    drop(v);
    assert_eq!(figures(&a).frees, 2);
}

#[test]
fn the_owner_outlives_its_last_handle_until_its_last_block_is_freed() {
    let parent = Scope::new().name("parent");
    let child = parent.child().name("child");
    let v = child.run(|_| black_box(vec![0u8; 5000]));
    drop(child); // the block still references the child scope
    thread::spawn(move || drop(v)).join().unwrap();
    // The free reached the parent through the handle-less child (the call was
    // made outside every scope).
    assert_eq!(
        figures(&parent),
        Figures {
            bytes: 5000,
            allocs: 1,
            frees: 1,
            freed_bytes: 5000,
            calls: 1,
            live_bytes: 0,
            peak_bytes: 5000,
            ..Figures::default()
        }
    );
}

#[test]
fn many_blocks_outlive_a_dropped_scope_and_are_freed_on_many_threads() {
    let parent = Scope::new();
    let blocks: Vec<Vec<u8>> = {
        let s = parent.child();
        s.run(|_| (0..64).map(|i| black_box(vec![0u8; 100 + i])).collect())
    };
    let mut blocks = blocks.into_iter();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let mine: Vec<Vec<u8>> = blocks.by_ref().take(16).collect();
            thread::spawn(move || drop(mine))
        })
        .collect();
    drop(blocks); // the outer Vec's buffer, also allocated in the child
    for w in workers {
        w.join().unwrap();
    }
    let f = figures(&parent);
    assert_eq!(f.live_bytes, 0, "{f:?}");
    assert_eq!(f.frees, f.allocs, "{f:?}");
}
