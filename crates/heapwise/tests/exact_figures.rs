//! Exact figures for allocations whose sizes are known: a scope counts the
//! requested `Layout` sizes, one block per allocation, and a realloc as one
//! call that frees the old block and allocates the new one.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;

use common::{figures, Figures};
use heapwise::Scope;

#[test]
fn the_wrapper_is_installed() {
    assert!(heapwise::installed());
}

#[test]
fn vec_of_100_u64_is_800_bytes_in_one_alloc_and_one_call() {
    let scope = Scope::new();
    let v = scope.run(|s| {
        let v = black_box(vec![0u64; 100]);
        // Read on the allocating thread, inside the scope: exact.
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
        v
    });
    // After `run` returns: the same, exact.
    assert_eq!(
        figures(&scope),
        Figures {
            bytes: 800,
            allocs: 1,
            calls: 1,
            live_bytes: 800,
            peak_bytes: 800,
            ..Figures::default()
        }
    );
    scope.run(|_| drop(v));
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
fn track_returns_the_closures_value_and_counts_exactly() {
    let (len, u) = heapwise::track(|s| {
        let v = black_box(vec![0u64; 100]);
        (v.len(), s.usage())
    });
    assert_eq!(len, 100);
    assert_eq!((u.bytes, u.allocs, u.calls, u.frees), (800, 1, 1, 0));
}

#[test]
fn requested_sizes_are_counted_not_size_classes() {
    let scope = Scope::new();
    scope.run(|_| {
        black_box(Box::new([7u8; 3])); // 3 bytes
        black_box(String::with_capacity(13)); // 13 bytes
        black_box(Box::new(1u32)); // 4 bytes
    });
    assert_eq!(
        figures(&scope),
        Figures {
            bytes: 20,
            allocs: 3,
            frees: 3,
            freed_bytes: 20,
            calls: 6,
            live_bytes: 0,
            peak_bytes: 13,
            ..Figures::default()
        }
    );
}

#[test]
fn zero_sized_values_never_reach_the_allocator() {
    let scope = Scope::new();
    scope.run(|_| {
        black_box(Vec::<u8>::new());
        black_box(Vec::<()>::with_capacity(1000));
        black_box(Box::new(()));
        black_box(String::new());
    });
    assert_eq!(figures(&scope), Figures::default());
}

#[test]
fn vec_growth_is_one_alloc_then_reallocs() {
    let scope = Scope::new();
    let v = scope.run(|_| {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..10 {
            v.push(black_box(i));
        }
        v
    });
    // Vec's amortised growth for 8-byte elements: capacity 4, 8, 16.
    assert_eq!(v.capacity(), 16, "Vec's growth strategy changed");
    let f = figures(&scope);
    assert_eq!(
        f,
        Figures {
            bytes: 32 + 64 + 128,
            allocs: 3,
            frees: 2,
            freed_bytes: 32 + 64,
            reallocs: 2,
            calls: 3,
            live_bytes: 128,
            peak_bytes: 128,
        }
    );
    assert_eq!(f.calls, f.allocs + f.frees - f.reallocs);
    drop(v);
}

#[test]
fn reserve_exact_and_shrink_to_fit_are_reallocs() {
    let scope = Scope::new();
    let v = scope.run(|_| {
        let mut v: Vec<u8> = Vec::with_capacity(100);
        v.reserve_exact(400); // realloc 100 -> 400
        v.extend_from_slice(&[1u8; 50]);
        v.shrink_to_fit(); // realloc 400 -> 50
        black_box(v)
    });
    assert_eq!(v.capacity(), 50);
    let f = figures(&scope);
    assert_eq!(
        f,
        Figures {
            bytes: 100 + 400 + 50,
            allocs: 3,
            frees: 2,
            freed_bytes: 100 + 400,
            reallocs: 2,
            calls: 3,
            live_bytes: 50,
            peak_bytes: 400,
        }
    );
    assert_eq!(f.calls, f.allocs + f.frees - f.reallocs);
}

/// Blocks of several GiB among small ones: the figures stay exact for an
/// allocation of each, a realloc that shrinks one to a few bytes (its old
/// size is freed), and small blocks before and after (sizes past 32 bits,
/// which a thread's batch must carry whole). The large blocks are
/// reserved, never written, so they cost no memory.
#[test]
fn blocks_of_a_gib_and_more_are_exact() {
    const GIB: usize = 1 << 30;
    let scope = Scope::new();
    scope.run(|_| {
        let small = black_box(vec![0u8; 100]);
        let mut big: Vec<u8> = black_box(Vec::with_capacity(3 * GIB));
        let huge: Vec<u8> = black_box(Vec::with_capacity(5 * GIB));
        drop(huge);
        big.extend_from_slice(&[7u8; 10]);
        big.shrink_to_fit(); // realloc 3 GiB -> 10
        let other = black_box(vec![0u8; 200]);
        drop(small);
        black_box((big, other))
    });
    let f = figures(&scope);
    assert_eq!(
        f,
        Figures {
            bytes: (100 + 3 * GIB + 5 * GIB + 10 + 200) as u64,
            allocs: 5,
            frees: 3,
            freed_bytes: (5 * GIB + 3 * GIB + 100) as u64,
            reallocs: 1,
            calls: 7,
            // `big` and `other` are dropped outside the scope.
            live_bytes: 210,
            peak_bytes: (100 + 3 * GIB + 5 * GIB) as u64,
        }
    );
}

#[test]
fn peak_is_the_high_water_mark_after_alloc_free_alloc() {
    let scope = Scope::new();
    scope.run(|s| {
        let a = black_box(vec![0u8; 1000]);
        let b = black_box(vec![0u8; 2000]);
        drop(a);
        let c = black_box(vec![0u8; 500]);
        assert_eq!(
            figures(s),
            Figures {
                bytes: 3500,
                allocs: 3,
                frees: 1,
                freed_bytes: 1000,
                calls: 4,
                live_bytes: 2500,
                peak_bytes: 3000,
                ..Figures::default()
            }
        );
        drop(b);
        drop(c);
    });
    assert_eq!(
        figures(&scope),
        Figures {
            bytes: 3500,
            allocs: 3,
            frees: 3,
            freed_bytes: 3500,
            calls: 6,
            live_bytes: 0,
            peak_bytes: 3000,
            ..Figures::default()
        }
    );
}

#[test]
fn peak_survives_flushes_of_many_batches() {
    // 1000 x 1000 bytes allocated and freed: about 2 MB of traffic, so the
    // thread's batch is charged many times over (every 64 KiB).
    let scope = Scope::new();
    scope.run(|_| {
        for _ in 0..1000 {
            black_box(vec![0u8; 1000]);
        }
    });
    assert_eq!(
        figures(&scope),
        Figures {
            bytes: 1_000_000,
            allocs: 1000,
            frees: 1000,
            freed_bytes: 1_000_000,
            calls: 2000,
            live_bytes: 0,
            peak_bytes: 1000,
            ..Figures::default()
        }
    );
}

#[test]
fn live_blocks_across_batches_and_a_large_block() {
    let mut keep: Vec<Vec<u8>> = Vec::with_capacity(101); // outside the scope
    let scope = Scope::new();
    scope.run(|s| {
        for _ in 0..100 {
            keep.push(black_box(vec![0u8; 1000]));
        }
        assert_eq!(s.usage().live_bytes, 100_000);
        keep.push(black_box(vec![0u8; 1 << 20]));
    });
    let total = 100_000 + (1 << 20);
    assert_eq!(
        figures(&scope),
        Figures {
            bytes: total,
            allocs: 101,
            calls: 101,
            live_bytes: total,
            peak_bytes: total,
            ..Figures::default()
        }
    );
    // Freed outside the scope (default mode): not charged to it.
    drop(keep);
    assert_eq!(figures(&scope).live_bytes, total);
    assert_eq!(figures(&scope).frees, 0);
}

#[test]
fn usage_difference_between_two_readings() {
    let scope = Scope::new();
    scope.run(|s| {
        let a = black_box(vec![0u8; 100]);
        let before = s.usage();
        let b = black_box(vec![0u8; 300]);
        drop(a);
        let d = s.usage() - before;
        assert_eq!(
            (d.bytes, d.allocs, d.frees, d.freed_bytes, d.calls),
            (300, 1, 1, 100, 2)
        );
        // live and peak are the later reading's.
        assert_eq!((d.live_bytes, d.peak_bytes), (300, 400));
        drop(b);
    });
}

#[test]
fn alloc_zeroed_and_alloc_count_alike() {
    let scope = Scope::new();
    scope.run(|_| {
        black_box(vec![0u8; 256]); // alloc_zeroed
        black_box(vec![1u8; 256]); // alloc
    });
    let f = figures(&scope);
    assert_eq!((f.bytes, f.allocs, f.frees, f.calls), (512, 2, 2, 4));
}

#[test]
fn scopes_on_parallel_threads_do_not_mix() {
    let handles: Vec<_> = (1..=4u64)
        .map(|i| {
            std::thread::spawn(move || {
                let scope = Scope::new();
                scope.run(|_| {
                    for _ in 0..100 {
                        black_box(vec![0u8; (i * 100) as usize]);
                    }
                });
                (i, figures(&scope))
            })
        })
        .collect();
    for h in handles {
        let (i, f) = h.join().unwrap();
        assert_eq!(
            f,
            Figures {
                bytes: i * 100 * 100,
                allocs: 100,
                frees: 100,
                freed_bytes: i * 100 * 100,
                calls: 200,
                live_bytes: 0,
                peak_bytes: i * 100,
                ..Figures::default()
            },
            "thread {i}"
        );
    }
}
