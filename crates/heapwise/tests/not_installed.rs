//! Without `#[global_allocator]` set to heapwise, nothing is counted, no limit
//! trips, and `installed()` says so.

use std::hint::black_box;

use heapwise::{Scope, Stats, Usage};

#[test]
fn installed_is_false() {
    black_box(vec![0u8; 100]);
    assert!(!heapwise::installed());
}

#[test]
fn scopes_count_nothing() {
    let u = heapwise::track(|s| {
        black_box(vec![0u64; 100]);
        s.usage()
    });
    assert_eq!(u, Usage::default());
    let scope = Scope::new();
    let v = scope.run(|_| black_box(vec![0u8; 1000]));
    assert_eq!(scope.usage(), Usage::default());
    drop(v);
}

#[test]
fn stats_are_zero() {
    black_box(vec![0u8; 1000]);
    assert_eq!(heapwise::stats(), Stats::default());
}

#[test]
fn limits_never_trip() {
    let scope = Scope::new().limit_bytes(10).limit_allocs(0).hard();
    let ok = scope.run(|_| {
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(1000).is_ok()
    });
    assert!(ok, "a hard limit cannot refuse what it does not see");
    assert!(scope.exceeded().is_none());
    assert_eq!(scope.remaining().bytes, Some(10));
    assert!(scope
        .cancelled()
        .wait_timeout(std::time::Duration::from_millis(20))
        .is_none());
}

#[test]
fn scope_structure_still_works() {
    let outer = Scope::new().name("outer");
    outer.run(|o| {
        assert_eq!(Scope::current().as_ref(), Some(o));
        heapwise::track(|t| assert_eq!(t.parent().as_ref(), Some(o)));
    });
    assert_eq!(Scope::current(), None);
    assert_eq!(outer.label(), Some("outer"));
}

/// The testing limits would pass whatever the code did: they refuse to run.
#[cfg(feature = "testing")]
#[test]
fn testing_limits_say_heapwise_is_not_installed() {
    for f in [
        (|| heapwise::testing::limit_leaks(0, || std::mem::forget(vec![0u8; 1 << 20]))) as fn(),
        || {
            drop(heapwise::testing::limit_memory(10, || {
                black_box(vec![0u8; 1 << 20])
            }))
        },
        || {
            heapwise::testing::measure(|| ());
        },
    ] {
        let e = std::panic::catch_unwind(f).expect_err("it was to panic");
        let message = match e.downcast::<String>() {
            Ok(s) => *s,
            Err(e) => e
                .downcast::<&str>()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        };
        assert!(
            message.starts_with("heapwise::testing: heapwise::Alloc is not this program's global allocator, so nothing is counted"),
            "{message}"
        );
    }
}
