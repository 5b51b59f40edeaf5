//! `heapwise::testing` (feature `testing`): limits checked per call, by
//! scope, with the sites named on failure; `assert_allocs!`; and the
//! `#[heapwise::test]` attribute.
#![cfg(feature = "testing")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};

use heapwise::testing::{limit_leaks, limit_memory, measure};
use heapwise::{assert_allocs, KIB, MIB};

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let e = catch_unwind(AssertUnwindSafe(f)).expect_err("it was to panic");
    match e.downcast::<String>() {
        Ok(s) => *s,
        Err(e) => e.downcast::<&str>().map(|s| s.to_string()).unwrap(),
    }
}

#[inline(never)]
fn build_big_table() -> usize {
    let v: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
    black_box(&v).len()
}

#[inline(never)]
fn leak_cache_entries(n: usize) {
    for i in 0..n {
        std::mem::forget(black_box(Box::new([i as u8; 400])));
    }
}

#[test]
fn limit_memory_checks_the_calls_peak_and_names_its_sites() {
    // 4 MiB at the peak: within 8 MiB, not within 1 MiB.
    assert_eq!(limit_memory("8 MiB", build_big_table), 64);
    let msg = panic_message(|| {
        limit_memory(MIB, build_big_table);
    });
    assert!(msg.starts_with("limit_memory: peak of 419"), "{msg}");
    assert!(msg.contains("(limit 1048576 bytes)"), "{msg}");
    assert!(msg.contains("testing::build_big_table"), "{msg}");
    assert!(
        msg.contains("4194304 bytes in 64 blocks  testing::build_big_table"),
        "{msg}"
    );
}

#[test]
fn limit_leaks_counts_what_the_call_left_and_names_the_site() {
    limit_leaks(0, || drop(black_box(vec![0u8; 100_000])));
    let msg = panic_message(|| limit_leaks(0, || leak_cache_entries(10)));
    assert!(
        msg.starts_with("limit_leaks: 4000 bytes leaked (limit 0 bytes) in 10 blocks; top sites:"),
        "{msg}"
    );
    assert!(
        msg.contains("4000 bytes in 10 blocks  testing::leak_cache_entries (")
            && msg.contains("tests/testing.rs:"),
        "{msg}"
    );
    // Within an allowance: no panic.
    limit_leaks("4 KiB", || leak_cache_entries(10));
}

#[test]
fn other_threads_do_not_count() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noisy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                kept.push(vec![0u8; 64 * 1024]);
                if kept.len() > 256 {
                    kept.clear();
                }
            }
        })
    };
    for _ in 0..20 {
        limit_memory(64 * KIB, || black_box(vec![0u8; 1000]).len());
        limit_leaks(0, || drop(black_box(vec![0u8; 1000])));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    noisy.join().unwrap();
}

#[inline(never)]
fn leak_boxes(n: usize) {
    for _ in 0..n {
        std::mem::forget(black_box(Box::new([9u8; 400])));
    }
}

#[test]
fn a_call_beside_another_names_its_sites() {
    // A first call holds full mode on; this thread, which has allocated
    // at the default rate, starts a second: it took up full mode only
    // after 64 KiB of its own traffic, and named no site.
    let (inside, done) = (
        std::sync::Arc::new(std::sync::Barrier::new(2)),
        std::sync::Arc::new(std::sync::Barrier::new(2)),
    );
    let (a, b) = (inside.clone(), done.clone());
    let first = std::thread::spawn(move || {
        limit_memory("1 GiB", || {
            a.wait();
            b.wait();
        })
    });
    black_box((0..10).map(|_| vec![0u8; 100]).collect::<Vec<_>>());
    inside.wait();
    let msg = panic_message(|| limit_leaks(0, || leak_boxes(10)));
    done.wait();
    first.join().unwrap();
    assert!(
        msg.contains("4000 bytes in 10 blocks  testing::leak_boxes"),
        "{msg}"
    );
}

#[test]
fn assert_allocs_checks_exact_figures() {
    let v = assert_allocs!(|| vec![1u64; 512], bytes == 4096, allocs == 1, frees == 0);
    assert_eq!(v.len(), 512);
    assert_allocs!(
        || drop(black_box(vec![0u8; 10])),
        live_bytes == 0,
        calls == 2
    );
    let msg = panic_message(|| {
        assert_allocs!(|| black_box(String::from("hello")), allocs <= 0);
    });
    assert!(
        msg.starts_with("assert_allocs!: allocs <= 0 failed: it was 1\n  Usage { bytes: 5,"),
        "{msg}"
    );
    let ((), u) = measure(|| drop(black_box(Box::new(7u32))));
    assert_eq!((u.allocs, u.frees, u.bytes), (1, 1, 4));
}

#[heapwise::test(limit_memory = "1 MiB", limit_leaks = 0)]
fn the_attribute_passes_a_test_within_its_limits() {
    let v = vec![0u8; 512 * 1024];
    assert_eq!(v.len(), 512 * 1024);
}

#[heapwise::test(limit_leaks = 0)]
#[should_panic(expected = "limit_leaks: 4000 bytes leaked")]
fn the_attribute_fails_a_test_that_leaks() {
    leak_cache_entries(10);
}

/// Both limits: the call in `limit_memory` is inside the one in
/// `limit_leaks`, and its leak is the outer call's too (it was not: the
/// inner call's scope was no child of the outer one, which saw 11 bytes).
#[heapwise::test(limit_leaks = 0, limit_memory = "1 MiB")]
#[should_panic(
    expected = "limit_leaks: 4000 bytes leaked (limit 0 bytes) in 10 blocks; top sites:\n    4000 bytes in 10 blocks  testing::leak_cache_entries"
)]
fn the_attribute_with_both_limits_fails_a_test_that_leaks() {
    leak_cache_entries(10);
}

#[test]
fn a_call_inside_another_is_counted_by_both() {
    let message = panic_message(|| {
        limit_leaks(0, || limit_memory("1 MiB", || leak_cache_entries(3)));
    });
    assert!(
        message.starts_with("limit_leaks: 1200 bytes leaked (limit 0 bytes) in 3 blocks"),
        "{message}"
    );
    let message = panic_message(|| {
        limit_memory(KIB, || limit_leaks(MIB, build_big_table));
    });
    assert!(
        message.starts_with("limit_memory: peak of 4195840 bytes live (limit 1024 bytes)"),
        "{message}"
    );
    assert!(message.contains("testing::build_big_table"), "{message}");
}

/// A test's `Err` is its failure, not the error's own bytes leaked.
#[test]
fn an_err_from_a_result_test_is_returned_unchecked() {
    let r: Result<(), String> =
        heapwise::testing::limit_leaks_unless_err(0, || Err("the parser said no".repeat(2)));
    assert_eq!(r.unwrap_err(), "the parser said nothe parser said no");
    let r: Result<(), String> =
        heapwise::testing::limit_memory_unless_err(0, || Err("x".repeat(100)));
    assert_eq!(r.unwrap_err().len(), 100);
    let message = panic_message(|| {
        let _ = heapwise::testing::limit_leaks_unless_err(0, || {
            leak_cache_entries(1);
            Ok::<(), String>(())
        });
    });
    assert!(
        message.starts_with("limit_leaks: 400 bytes leaked"),
        "{message}"
    );
}

#[heapwise::test(limit_leaks = 0)]
fn the_attribute_passes_an_ok_result_test() -> Result<(), std::io::Error> {
    let v = black_box(vec![1u8; 100]);
    assert_eq!(v.len(), 100);
    Ok(())
}

/// Byte limits go past the profiler rate's 1 TiB cap.
#[test]
fn a_limit_string_may_be_terabytes() {
    assert_eq!(heapwise::testing::ByteLimit::from("2 TiB").0, 2 << 40);
    assert_eq!(heapwise::testing::ByteLimit::from("4096").0, 4096);
    let message = panic_message(|| {
        let _ = heapwise::testing::ByteLimit::from("99999999 TiB");
    });
    assert_eq!(
        message,
        "heapwise::testing: \"99999999 TiB\" is not a byte count: number too large"
    );
}

/// The test's body is a function of its own, named as the test, so the
/// site is named after it, in release builds too (its closure was inlined
/// into heapwise's frames, and the site was libtest's).
#[heapwise::test(limit_leaks = 0)]
#[should_panic(
    expected = "3333 bytes in 1 block  testing::the_attribute_names_the_test_as_the_site::the_attribute_names_the_test_as_the_site"
)]
fn the_attribute_names_the_test_as_the_site() {
    std::mem::forget(black_box(vec![7u8; 3333]));
}

#[heapwise::test(limit_memory = "64 KiB")]
fn the_attribute_keeps_a_result_test() -> Result<(), String> {
    let s: String = "x".repeat(100);
    if s.len() == 100 {
        Ok(())
    } else {
        Err(s)
    }
}

#[test]
#[should_panic(
    expected = "heapwise::testing: \"lots\" is not a byte count: expected bytes such as \"24 MiB\", \"512KiB\" or 4096"
)]
fn a_bad_limit_string_is_one_line() {
    limit_memory("lots", || ());
}

/// libtest captures a test's output in a buffer it frees after the test:
/// the buffer's growth inside the test's scope is not the test's leak.
#[heapwise::test(limit_leaks = 0)]
fn a_test_that_prints_leaks_nothing() {
    println!("a line of output, captured by libtest unless --nocapture");
    eprintln!("and one on stderr");
}
