//! `heapwise::testing` over an allocator that tracks owners: a block the
//! call allocates and another thread frees is freed for the call's scope
//! too (without owner tracking it counts as leaked; see the module docs).
#![cfg(feature = "testing")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

use heapwise::testing::limit_leaks;

#[heapwise::test(limit_leaks = 0)]
fn a_test_that_spawns_and_joins_a_thread_leaks_nothing() {
    std::thread::spawn(|| {}).join().unwrap();
}

#[test]
fn blocks_freed_by_a_worker_are_no_leak() {
    limit_leaks(0, || {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let worker = std::thread::spawn(move || rx.iter().map(|v| v.len()).sum::<usize>());
        for i in 0..100 {
            tx.send(vec![i as u8; 1000]).unwrap();
        }
        drop(tx);
        assert_eq!(worker.join().unwrap(), 100_000);
    });
}
