//! Default mode: a free is charged to the scope current on the freeing thread
//! when it frees (possibly none), not to the scope that allocated the block.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::{figures, wait_until, Figures};
use heapwise::Scope;

const ALLOCATED_IN_A: Figures = Figures {
    bytes: 4000,
    allocs: 1,
    frees: 0,
    freed_bytes: 0,
    reallocs: 0,
    calls: 1,
    live_bytes: 4000,
    peak_bytes: 4000,
};

#[test]
fn a_block_freed_in_scope_b_on_another_thread_is_charged_to_b() {
    let a = Scope::new().name("A");
    let b = Scope::new().name("B");
    let v = a.run(|_| black_box(vec![0u8; 4000]));
    let in_b = b.clone();
    thread::spawn(move || in_b.run(|_| drop(v))).join().unwrap();
    assert_eq!(figures(&a), ALLOCATED_IN_A, "A keeps its live bytes");
    assert_eq!(
        figures(&b),
        Figures {
            frees: 1,
            freed_bytes: 4000,
            calls: 1,
            live_bytes: 0, // never below zero
            ..Figures::default()
        }
    );
}

#[test]
fn a_block_freed_outside_any_scope_on_another_thread_is_charged_to_nobody() {
    let a = Scope::new();
    let v = a.run(|_| black_box(vec![0u8; 4000]));
    let before = heapwise::stats();
    thread::spawn(move || drop(v)).join().unwrap();
    assert_eq!(figures(&a), ALLOCATED_IN_A);
    // The process still counts the free (other tests run in parallel, so
    // only a lower bound holds).
    let after = heapwise::stats();
    assert!(after.frees > before.frees);
    assert!(after.freed_bytes >= before.freed_bytes + 4000);
}

#[test]
fn a_block_freed_on_the_same_thread_after_the_scope_ended_is_not_charged() {
    let a = Scope::new();
    let v = a.run(|_| black_box(vec![0u8; 4000]));
    drop(v);
    assert_eq!(figures(&a), ALLOCATED_IN_A);
}

#[test]
fn a_block_freed_while_the_allocating_scope_is_active_elsewhere() {
    // The allocating thread is still inside A while another thread frees the
    // block inside B. (Hand-over through a mutex and flags: blocking channels
    // allocate waiter lists, which would be charged to A.)
    let a = Scope::new().name("A");
    let b = Scope::new().name("B");
    let slot: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
    let freed = Arc::new(AtomicBool::new(false));
    let freer = {
        let (b, slot, freed) = (b.clone(), slot.clone(), freed.clone());
        thread::spawn(move || {
            wait_until("the block", || slot.lock().unwrap().is_some());
            let v = slot.lock().unwrap().take();
            b.run(|_| drop(v));
            freed.store(true, Ordering::SeqCst);
        })
    };
    a.run(|s| {
        let v = black_box(vec![0u8; 4000]);
        *slot.lock().unwrap() = Some(v);
        wait_until("the free", || freed.load(Ordering::SeqCst));
        let w = black_box(vec![0u8; 1000]);
        assert_eq!(s.usage().bytes, 5000);
        assert_eq!(s.usage().frees, 0);
        drop(w);
    });
    freer.join().unwrap();
    assert_eq!(
        (figures(&a).bytes, figures(&a).frees, figures(&a).live_bytes),
        (5000, 1, 4000)
    );
    assert_eq!((figures(&b).frees, figures(&b).freed_bytes), (1, 4000));
}

#[test]
fn a_free_in_a_child_scope_is_charged_to_the_child_and_its_ancestors() {
    let parent = Scope::new().name("parent");
    let child = parent.child().name("child");
    let v = parent.run(|_| black_box(vec![0u8; 4000]));
    child.run(|_| drop(v));
    assert_eq!(
        figures(&parent),
        Figures {
            bytes: 4000,
            allocs: 1,
            frees: 1,
            freed_bytes: 4000,
            calls: 2,
            live_bytes: 0,
            peak_bytes: 4000,
            ..Figures::default()
        }
    );
    assert_eq!(
        figures(&child),
        Figures {
            frees: 1,
            freed_bytes: 4000,
            calls: 1,
            ..Figures::default()
        }
    );
}

#[test]
fn a_realloc_of_a_foreign_block_is_charged_to_the_current_scope() {
    let a = Scope::new().name("A");
    let b = Scope::new().name("B");
    let mut v: Vec<u8> = a.run(|_| Vec::with_capacity(100));
    b.run(|_| v.reserve_exact(300)); // realloc 100 -> 300, in B
    assert_eq!(v.capacity(), 300);
    assert_eq!(
        figures(&a),
        Figures {
            bytes: 100,
            allocs: 1,
            calls: 1,
            live_bytes: 100,
            peak_bytes: 100,
            ..Figures::default()
        }
    );
    assert_eq!(
        figures(&b),
        Figures {
            bytes: 300,
            allocs: 1,
            frees: 1,
            freed_bytes: 100,
            reallocs: 1,
            calls: 1,
            live_bytes: 200,
            peak_bytes: 200,
        }
    );
    drop(v);
}
