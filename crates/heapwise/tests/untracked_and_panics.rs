//! `untracked` charges no scope (the process still counts it); a panic that
//! unwinds through `run`, `track` or an `enter` guard restores the previous
//! scope, which keeps being charged.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};

use common::{figures, Figures};
use heapwise::Scope;

#[test]
fn untracked_charges_no_scope_but_the_process_counts_it() {
    let outer = Scope::new();
    let inner = outer.child();
    let before = heapwise::stats();
    let v = inner.run(|s| {
        let a = black_box(vec![0u8; 100]);
        let v = heapwise::untracked(|| {
            assert_eq!(Scope::current(), None);
            let v = black_box(vec![0u8; 5000]);
            black_box(vec![0u8; 7000]);
            v
        });
        assert_eq!(
            Scope::current().as_ref(),
            Some(s),
            "restored after untracked"
        );
        let b = black_box(vec![0u8; 200]);
        drop((a, b));
        v
    });
    let expected = Figures {
        bytes: 300,
        allocs: 2,
        frees: 2,
        freed_bytes: 300,
        calls: 4,
        live_bytes: 0,
        peak_bytes: 300,
        ..Figures::default()
    };
    assert_eq!(figures(&inner), expected);
    assert_eq!(figures(&outer), expected);
    // Process-wide counters only grow; other tests run in parallel, so only
    // lower bounds hold.
    let after = heapwise::stats();
    assert!(after.allocated_bytes >= before.allocated_bytes + 12_300);
    assert!(after.allocs >= before.allocs + 4);
    assert!(after.freed_bytes >= before.freed_bytes + 7_300);
    // Freed outside too (untracked): no scope charged.
    heapwise::untracked(|| inner.run(|_| heapwise::untracked(|| drop(v))));
    assert_eq!(figures(&inner), expected);
}

#[test]
fn untracked_outside_any_scope_is_harmless() {
    assert_eq!(heapwise::untracked(|| black_box(vec![1u8; 10]).len()), 10);
    assert_eq!(Scope::current(), None);
}

#[test]
fn a_panic_inside_run_restores_the_previous_scope() {
    let outer = Scope::new().name("outer");
    let inner = outer.child().name("inner");
    outer.run(|o| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            inner.run(|_| {
                let _v = black_box(vec![0u8; 100]);
                panic!("boom inside the inner scope");
            })
        }));
        assert!(r.is_err());
        assert_eq!(Scope::current().as_ref(), Some(o), "outer is current again");
        // The inner scope recorded what it did before the panic.
        let at_panic = inner.usage();
        assert!(
            at_panic.bytes >= 100 && at_panic.allocs >= 1,
            "{at_panic:?}"
        );
        assert!(
            at_panic.freed_bytes >= 100,
            "the unwind dropped the vec inside: {at_panic:?}"
        );
        drop(r);
        // After the panic, allocations go to outer, not inner.
        let before_outer = o.usage();
        let w = black_box(vec![0u8; 1000]);
        let d = o.usage() - before_outer;
        assert_eq!((d.bytes, d.allocs), (1000, 1));
        assert_eq!(inner.usage(), at_panic);
        drop(w);
    });
    assert_eq!(Scope::current(), None);
}

#[test]
fn a_panic_inside_track_restores_no_scope() {
    let r = catch_unwind(|| {
        heapwise::track(|_| {
            heapwise::track(|_| panic!("boom inside nested track"));
        })
    });
    assert!(r.is_err());
    assert_eq!(Scope::current(), None);
    let s = Scope::new();
    assert_eq!(
        s.parent(),
        None,
        "no dangling current scope after the panic"
    );
    s.run(|_| black_box(vec![0u8; 10]).len());
    assert_eq!(figures(&s).bytes, 10);
}

#[test]
fn a_panic_with_an_enter_guard_restores_the_previous_scope() {
    let a = Scope::new();
    let b = a.child();
    let _ga = a.enter();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _gb = b.enter();
        panic!("boom with a guard");
    }));
    assert!(r.is_err());
    assert_eq!(Scope::current().as_ref(), Some(&a));
}

#[test]
fn a_panicking_thread_inside_a_scope_still_charges_it() {
    let scope = Scope::new();
    let s = scope.clone();
    let r = std::thread::spawn(move || {
        s.run(|_| {
            let _v = black_box(vec![0u8; 3000]);
            panic!("boom on another thread");
        })
    })
    .join();
    assert!(r.is_err());
    let u = scope.usage();
    assert!(u.bytes >= 3000 && u.freed_bytes >= 3000, "{u:?}");
}
