//! Cooperative limits: each kind trips at the first unit over the limit
//! (strictly greater), the crossing is seen at the crossing call on its thread,
//! `LimitExceeded` names the scope, kind, limit and usage, children see their
//! ancestors' crossings, and `remaining` is the minimum over the chain.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;

use heapwise::{LimitExceeded, LimitKind, Scope, KIB};

/// (kind, limit, used, name of the scope that crossed)
fn describe(e: &LimitExceeded) -> (LimitKind, u64, u64, Option<String>) {
    (
        e.kind(),
        e.limit(),
        e.used(),
        e.scope_name().map(str::to_owned),
    )
}

#[test]
fn bytes_limit_trips_on_the_first_byte_over() {
    let scope = Scope::new().name("bytes").limit_bytes(1000);
    let (at_limit, over, kept) = scope.run(|s| {
        let a = black_box(vec![0u8; 1000]);
        s.usage(); // charge everything: exactly at the limit
        let at_limit = s.exceeded().is_some();
        let b = black_box(vec![0u8; 1]);
        // No flush here: the crossing call itself must have been detected.
        let over = s.exceeded();
        (at_limit, over, (a, b))
    });
    assert!(!at_limit, "usage equal to the limit is not exceeded");
    let e = over.expect("the 1001st byte crosses the limit");
    assert_eq!(
        describe(&e),
        (LimitKind::Bytes, 1000, 1001, Some("bytes".into()))
    );
    assert_eq!(e.scope(), &scope);
    assert!(scope.check().is_err());
    let msg = e.to_string();
    for part in ["bytes", "1001", "1000"] {
        assert!(msg.contains(part), "{msg:?} should mention {part:?}");
    }
    drop(kept);
}

#[test]
fn live_bytes_limit_counts_what_is_still_allocated() {
    let scope = Scope::new().name("live").limit_live_bytes(1000);
    let (before, over, kept) = scope.run(|s| {
        let a = black_box(vec![0u8; 600]);
        drop(a);
        let b = black_box(vec![0u8; 600]); // 1200 bytes allocated, 600 live
        let c = black_box(vec![0u8; 400]); // 1000 live: at the limit
        s.usage();
        let before = s.exceeded().is_some();
        let d = black_box(vec![0u8; 1]); // 1001 live
        (before, s.exceeded(), (b, c, d))
    });
    assert!(!before);
    let e = over.expect("1001 live bytes cross the limit");
    assert_eq!(
        describe(&e),
        (LimitKind::LiveBytes, 1000, 1001, Some("live".into()))
    );
    drop(kept);
}

#[test]
fn allocs_limit_trips_on_the_first_block_over() {
    let scope = Scope::new().name("allocs").limit_allocs(3);
    let (before, over, kept) = scope.run(|s| {
        let a = black_box(Box::new(1u64));
        let b = black_box(Box::new(2u64));
        let c = black_box(Box::new(3u64));
        s.usage();
        let before = s.exceeded().is_some();
        let d = black_box(Box::new(4u64));
        (before, s.exceeded(), (a, b, c, d))
    });
    assert!(!before);
    let e = over.expect("the 4th block crosses the limit");
    assert_eq!(
        describe(&e),
        (LimitKind::Allocs, 3, 4, Some("allocs".into()))
    );
    drop(kept);
}

#[test]
fn calls_limit_counts_frees_too() {
    let scope = Scope::new().name("calls").limit_calls(4);
    let (before, over, kept) = scope.run(|s| {
        let a = black_box(Box::new(1u64));
        let b = black_box(Box::new(2u64));
        drop(a);
        drop(b); // 4 calls
        s.usage();
        let before = s.exceeded().is_some();
        let c = black_box(Box::new(3u64)); // 5th call
        (before, s.exceeded(), c)
    });
    assert!(!before);
    let e = over.expect("the 5th call crosses the limit");
    assert_eq!(describe(&e), (LimitKind::Calls, 4, 5, Some("calls".into())));
    drop(kept);
}

#[test]
fn a_realloc_is_one_call() {
    let scope = Scope::new().limit_calls(2);
    let v = scope.run(|s| {
        let mut v: Vec<u8> = Vec::with_capacity(8); // call 1
        v.reserve_exact(100); // call 2: one realloc
        assert_eq!(s.usage().calls, 2);
        assert_eq!(s.usage().reallocs, 1);
        v
    });
    assert!(scope.exceeded().is_none());
    assert_eq!(scope.check().ok(), Some(()));
    drop(v);
}

#[test]
fn only_the_first_crossing_is_recorded() {
    let scope = Scope::new().limit_bytes(100).limit_allocs(2);
    scope.run(|_| {
        black_box(vec![0u8; 101]); // bytes crossed at the first block
        black_box(vec![0u8; 1]);
        black_box(vec![0u8; 1]); // allocs crossed later
    });
    let e = scope.exceeded().unwrap();
    assert_eq!(
        (e.kind(), e.limit(), e.used()),
        (LimitKind::Bytes, 100, 101)
    );
}

#[test]
fn a_child_is_exceeded_when_its_parent_is() {
    let parent = Scope::new().name("parent").limit_bytes(1000);
    let child = parent.child().name("child");
    let sibling = parent.child();
    child.run(|_| black_box(vec![0u8; 2000]).len());
    for s in [&child, &parent, &sibling] {
        let e = s.exceeded().expect("the parent crossed its limit");
        assert_eq!(
            describe(&e),
            (LimitKind::Bytes, 1000, 2000, Some("parent".into()))
        );
        assert_eq!(e.scope(), &parent);
        assert!(s.check().is_err());
    }
    // A grandchild created afterwards is exceeded from the start.
    let grandchild = child.child();
    assert_eq!(grandchild.exceeded().unwrap().scope(), &parent);
}

#[test]
fn a_childs_own_crossing_does_not_exceed_the_parent() {
    let parent = Scope::new().name("parent").limit_bytes(10 * KIB);
    let child = parent.child().name("child").limit_bytes(500);
    child.run(|_| black_box(vec![0u8; 600]).len());
    let e = child.exceeded().expect("the child crossed its own limit");
    assert_eq!(
        describe(&e),
        (LimitKind::Bytes, 500, 600, Some("child".into()))
    );
    assert_eq!(e.scope(), &child);
    assert!(parent.exceeded().is_none());
    assert!(parent.check().is_ok());
}

#[test]
fn the_nearest_own_crossing_wins_over_an_ancestors() {
    let parent = Scope::new().name("parent").limit_bytes(1000);
    let child = parent.child().name("child").limit_bytes(100);
    child.run(|_| black_box(vec![0u8; 5000]).len());
    assert_eq!(child.exceeded().unwrap().scope(), &child);
    assert_eq!(parent.exceeded().unwrap().scope(), &parent);
}

#[test]
fn remaining_is_the_minimum_over_the_scope_and_its_ancestors() {
    let parent = Scope::new().limit_bytes(4 * KIB).limit_allocs(100);
    let child = parent
        .child()
        .limit_bytes(10 * KIB)
        .limit_allocs(3)
        .limit_live_bytes(2000);
    let fresh = child.remaining();
    assert_eq!(
        (fresh.bytes, fresh.live_bytes, fresh.allocs, fresh.calls),
        (Some(4096), Some(2000), Some(3), None)
    );
    let kept = child.run(|s| {
        let a = black_box(vec![0u8; 1000]);
        black_box(vec![0u8; 500]);
        // Read on the allocating thread: exact.
        let r = s.remaining();
        assert_eq!(r.bytes, Some(4096 - 1500)); // the parent's is smaller
        assert_eq!(r.allocs, Some(3 - 2)); // the child's is smaller
        assert_eq!(r.live_bytes, Some(2000 - 1000)); // only the child's
        assert_eq!(r.calls, None); // nobody limits calls
        a
    });
    let r = child.remaining();
    assert_eq!(
        (r.bytes, r.live_bytes, r.allocs, r.calls),
        (Some(2596), Some(1000), Some(1), None)
    );
    assert_eq!(r.get(LimitKind::Bytes), Some(2596));
    assert_eq!(r.get(LimitKind::Calls), None);
    let p = parent.remaining();
    assert_eq!(
        (p.bytes, p.live_bytes, p.allocs, p.calls),
        (Some(2596), None, Some(98), None)
    );
    // A child limit of 10 KiB under a parent limit of 4 KiB: 4 KiB rules.
    let loose = parent.child().limit_bytes(10 * KIB);
    assert_eq!(loose.remaining().bytes, Some(2596));
    drop(kept);
}

#[test]
fn remaining_saturates_at_zero_once_crossed() {
    let scope = Scope::new().limit_bytes(100);
    scope.run(|_| black_box(vec![0u8; 300]).len());
    assert_eq!(scope.remaining().bytes, Some(0));
    assert_eq!(Scope::new().remaining(), heapwise::Remaining::default());
}

#[test]
fn a_crossed_live_bytes_limit_has_nothing_left_after_the_bytes_are_freed() {
    let scope = Scope::new().limit_live_bytes(1000).limit_bytes(100_000);
    scope.run(|_| drop(black_box(vec![0u8; 5000])));
    assert_eq!(scope.usage().live_bytes, 0);
    assert!(scope.check().is_err(), "a crossing is final");
    let r = scope.remaining();
    assert_eq!(r.live_bytes, Some(0), "crossed: nothing left");
    assert_eq!(r.bytes, Some(95_000), "the other limit is not crossed");
    let child = scope.child();
    assert_eq!(
        child.remaining().live_bytes,
        Some(0),
        "an ancestor's crossing"
    );
}

#[test]
fn cooperative_limits_never_fail_an_allocation() {
    let scope = Scope::new().limit_bytes(10);
    let v = scope.run(|_| black_box(vec![0u8; 100_000]));
    assert_eq!(v.len(), 100_000);
    assert_eq!(scope.usage().bytes, 100_000);
    assert_eq!(scope.exceeded().unwrap().used(), 100_000);
}

#[test]
fn limit_exceeded_is_an_error() {
    fn guarded(scope: &Scope) -> Result<(), Box<dyn std::error::Error>> {
        scope.check()?;
        Ok(())
    }
    let scope = Scope::new().limit_allocs(0);
    assert!(guarded(&scope).is_ok());
    scope.run(|_| black_box(Box::new(0u8)));
    let err = guarded(&scope).unwrap_err();
    let e = err
        .downcast_ref::<LimitExceeded>()
        .expect("a LimitExceeded");
    assert_eq!((e.kind(), e.limit(), e.used()), (LimitKind::Allocs, 0, 1));
    assert_eq!(e.scope_name(), None);
    assert!(std::error::Error::source(e).is_none());
    assert_eq!(e.refused(), None);
    assert_eq!(
        e.to_string(),
        format!(
            "scope #{} exceeded its allocs limit: 1 block allocated, limit 0",
            scope.id()
        )
    );
    assert!(!format!("{e:?}").is_empty());
}

#[test]
fn a_crossing_on_another_thread_is_seen_after_it_leaves_the_scope() {
    let scope = Scope::new().name("shared").limit_bytes(64 * KIB);
    let s = scope.clone();
    std::thread::spawn(move || {
        s.run(|_| {
            for _ in 0..100 {
                black_box(vec![0u8; KIB as usize]);
            }
        })
    })
    .join()
    .unwrap();
    let e = scope.exceeded().expect("100 KiB allocated");
    assert_eq!(e.kind(), LimitKind::Bytes);
    assert_eq!(e.used(), 64 * KIB + 1024, "crossed at the 65th KiB");
}
