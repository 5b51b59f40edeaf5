//! Hard limits: the allocation (or growing realloc) that would cross fails
//! with null, so fallible APIs such as `Vec::try_reserve` return `Err`; the
//! scope is marked exceeded; a smaller request within the limit still succeeds.
//!
//! Inside a hard-limited scope nothing may allocate infallibly past the limit
//! (that would abort the process), so the tests collect results inside and
//! assert outside.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use common::{figures, safety_net, Figures};
use heapwise::{LimitKind, Scope};

#[test]
fn try_reserve_over_a_hard_byte_limit_fails_and_a_smaller_one_succeeds() {
    let scope = Scope::new().name("hard").limit_bytes(1000).hard();
    let (big, crossing, small, after_small, kept) = scope.run(|s| {
        let mut big: Vec<u8> = Vec::new();
        let big_ok = big.try_reserve_exact(2000).is_ok();
        let crossing = s.exceeded().map(|e| (e.kind(), e.limit(), e.used()));
        let after_big = s.usage();
        let mut small: Vec<u8> = Vec::new();
        let small_ok = small.try_reserve_exact(600).is_ok();
        (big_ok, crossing, small_ok, (after_big, s.usage()), small)
    });
    assert!(!big, "2000 bytes under a hard 1000-byte limit must fail");
    assert_eq!(crossing, Some((LimitKind::Bytes, 1000, 2000)));
    assert!(small, "600 bytes fit in the limit");
    assert_eq!(kept.capacity(), 600);
    let (after_big, after_small) = after_small;
    // The refused call counts nothing.
    assert_eq!(Figures::from(after_big), Figures::default());
    assert_eq!(
        Figures::from(after_small),
        Figures {
            bytes: 600,
            allocs: 1,
            calls: 1,
            live_bytes: 600,
            peak_bytes: 600,
            ..Figures::default()
        }
    );
    let e = scope.exceeded().unwrap();
    assert_eq!(e.scope_name(), Some("hard"));
    assert_eq!(e.scope(), &scope);
}

#[test]
fn a_hard_limit_allows_exactly_the_limit() {
    let scope = Scope::new().limit_bytes(1000).hard();
    let (over, exact, kept) = scope.run(|_| {
        let mut a: Vec<u8> = Vec::new();
        let mut b: Vec<u8> = Vec::new();
        let mut c: Vec<u8> = Vec::new();
        let first = a.try_reserve_exact(600).is_ok();
        let over = b.try_reserve_exact(401).is_ok(); // 1001
        let exact = c.try_reserve_exact(400).is_ok(); // 1000
        assert!(first);
        (over, exact, (a, b, c))
    });
    assert!(!over, "1001 bytes cross a 1000-byte hard limit");
    assert!(exact, "1000 bytes do not cross a 1000-byte limit");
    assert_eq!(figures(&scope).bytes, 1000);
    assert_eq!(scope.exceeded().unwrap().used(), 1001);
    drop(kept);
}

#[test]
fn a_growing_realloc_over_a_hard_live_limit_fails_and_keeps_the_block() {
    let scope = Scope::new().limit_live_bytes(1000).hard();
    let (grew, v, later) = scope.run(|_| {
        let mut v: Vec<u8> = Vec::new();
        let first = v.try_reserve_exact(800).is_ok();
        v.extend_from_slice(&[7u8; 800]);
        let grew = v.try_reserve_exact(400).is_ok(); // realloc 800 -> 1200
        assert!(first);
        // Free the block, and the same amount fits again.
        let contents_ok = v.iter().all(|&b| b == 7);
        drop(v);
        let mut w: Vec<u8> = Vec::new();
        let later = w.try_reserve_exact(1000).is_ok();
        (grew, contents_ok, later)
    });
    assert!(!grew, "growing to 1200 live bytes must fail");
    assert!(v, "a refused realloc leaves the block intact");
    assert!(later, "live bytes went back to 0");
    let e = scope.exceeded().unwrap();
    assert_eq!(
        (e.kind(), e.limit(), e.used()),
        (LimitKind::LiveBytes, 1000, 1200)
    );
    let f = figures(&scope);
    assert_eq!(
        (f.bytes, f.allocs, f.reallocs, f.live_bytes),
        (1800, 2, 0, 0)
    );
}

#[test]
fn a_hard_allocs_limit_refuses_the_extra_block() {
    let scope = Scope::new().limit_allocs(2).hard();
    let results = scope.run(|_| {
        let mut vs: [Vec<u8>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        let oks = [
            vs[0].try_reserve_exact(1).is_ok(),
            vs[1].try_reserve_exact(1).is_ok(),
            vs[2].try_reserve_exact(1).is_ok(),
        ];
        (oks, vs)
    });
    assert_eq!(results.0, [true, true, false]);
    let e = scope.exceeded().unwrap();
    assert_eq!((e.kind(), e.limit(), e.used()), (LimitKind::Allocs, 2, 3));
    assert_eq!(figures(&scope).allocs, 2);
}

#[test]
fn a_hard_limit_on_the_parent_refuses_in_the_child() {
    let parent = Scope::new().name("parent").limit_bytes(1000).hard();
    let child = parent.child().name("child");
    let (ok, kept) = child.run(|_| {
        let mut v: Vec<u8> = Vec::new();
        (v.try_reserve_exact(2000).is_ok(), v)
    });
    assert!(!ok);
    let e = child.exceeded().expect("the parent refused");
    assert_eq!(e.scope(), &parent);
    assert_eq!(e.scope_name(), Some("parent"));
    assert_eq!(figures(&child), Figures::default());
    drop(kept);
}

#[test]
fn a_hard_refusal_also_cancels() {
    let scope = Scope::new().limit_bytes(10).hard();
    scope.run(|_| {
        let mut v: Vec<u8> = Vec::new();
        assert!(v.try_reserve_exact(11).is_err());
    });
    let e = scope
        .cancelled()
        .wait_timeout(safety_net())
        .expect("already exceeded: resolves at once");
    assert_eq!((e.kind(), e.limit(), e.used()), (LimitKind::Bytes, 10, 11));
}

#[test]
fn a_hard_limit_checks_across_threads_after_flushes() {
    // Two threads share a hard 100 KiB budget, each allocating 1 KiB blocks
    // fallibly until refused: together they never get more than the limit
    // plus what the other thread had not yet flushed (each batch shrinks to
    // the distance left near the limit).
    let scope = Scope::new().limit_bytes(100 * 1024).hard();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let s = scope.clone();
            std::thread::spawn(move || {
                s.run(|_| {
                    let mut keep: Vec<Vec<u8>> = Vec::new();
                    if keep.try_reserve_exact(200).is_err() {
                        return 0;
                    }
                    loop {
                        let mut v: Vec<u8> = Vec::new();
                        if v.try_reserve_exact(1024).is_err() {
                            break;
                        }
                        keep.push(v);
                    }
                    keep.len()
                })
            })
        })
        .collect();
    let blocks: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let f = figures(&scope);
    assert!(scope.exceeded().is_some());
    assert!(blocks >= 90, "only {blocks} blocks granted");
    assert!(
        f.bytes <= 100 * 1024 + 64 * 1024,
        "overshoot beyond one batch: {f:?}"
    );
}

#[test]
fn a_refused_call_says_it_was_refused_and_how_much_was_asked() {
    let scope = Scope::new().name("small").limit_bytes(10 * 1024).hard();
    let refused = scope.run(|_| Vec::<u8>::new().try_reserve_exact(1 << 46).is_err());
    assert!(refused);
    let e = scope.exceeded().expect("marked exceeded");
    assert_eq!(e.refused(), Some(1 << 46));
    assert_eq!(e.used(), 1 << 46, "the figure the call would have reached");
    assert_eq!(
        e.to_string(),
        "scope \"small\" refused an allocation of 70368744177664 bytes: it would reach 70368744177664 bytes allocated, limit 10240"
    );
    assert_eq!(scope.usage().bytes, 0, "nothing was allocated");
}
