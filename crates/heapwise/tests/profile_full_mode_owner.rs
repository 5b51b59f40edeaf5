//! Full mode with owner tracking: a block carries the owner's trailer and,
//! after it, its profile bucket's. Frees and reallocs anywhere (another
//! scope, another thread) charge the owner and the profile exactly.

#![allow(clippy::vec_box)] // the boxes are the allocations under test

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

mod common;

use std::hint::black_box;

use common::profile::site;
use heapwise::{profile, Scope};

#[inline(never)]
fn boxes_of_100(n: usize) -> Vec<Box<[u8; 100]>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(Box::new([i as u8; 100])));
    }
    v
}

#[test]
fn owner_and_bucket_trailers_share_the_block() {
    profile::set_rate(1);
    let scope = Scope::new();
    let (boxes, mut strings) = scope.run(|_| {
        let strings: Vec<String> = (0..100).map(|i| format!("string number {i}")).collect();
        (boxes_of_100(1000), strings)
    });
    assert_eq!(
        scope.usage().live_bytes,
        1000 * 100 + 1000 * 8 + strings.iter().map(|s| s.capacity() as u64).sum::<u64>() + 100 * 24
    );
    // Frees and reallocs outside the owning scope, and on another thread.
    for s in strings.iter_mut() {
        s.push_str(&"x".repeat(300));
    }
    std::thread::spawn(move || drop(boxes)).join().unwrap();
    // Left in the scope: the strings' vector.
    assert_eq!(scope.usage().live_bytes, 100 * 24);
    let p = profile::heap();
    let s = site(&p, "boxes_of_100", Some(100));
    assert_eq!((s.alloc_objects, s.inuse_objects), (1000, 0));
    drop(strings);
    assert_eq!(scope.usage().live_bytes, 0);
    profile::set_rate(0);
}
