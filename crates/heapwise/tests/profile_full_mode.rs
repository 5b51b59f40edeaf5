//! Full mode (rate 1): every allocation is a sample, so a profile's figures
//! are exact and can be checked against the allocations the test makes.

#![allow(clippy::vec_box)] // the boxes are the allocations under test

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;

use common::profile::{label_str, samples, site, Site};
use heapwise::{profile, Scope};

fn full_mode() {
    profile::set_rate(1);
}

#[inline(never)]
fn hundred_byte_boxes(n: usize) -> Vec<Box<[u8; 100]>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(Box::new([i as u8; 100])));
    }
    v
}

#[inline(never)]
fn caller_of_boxes(n: usize) -> Vec<Box<[u8; 100]>> {
    black_box(hundred_byte_boxes(n))
}

#[test]
fn every_allocation_is_counted_exactly_and_frees_update_inuse() {
    full_mode();
    let mut kept = caller_of_boxes(1000);
    kept.truncate(400);
    let p = profile::heap();
    let s = site(&p, "hundred_byte_boxes", Some(100));
    assert_eq!(
        s,
        Site {
            alloc_objects: 1000,
            alloc_space: 100_000,
            inuse_objects: 400,
            inuse_space: 40_000,
        }
    );
    // The Vec's own buffer is the same site with another size.
    let buf = site(&p, "hundred_byte_boxes", Some(8000));
    assert_eq!((buf.alloc_objects, buf.inuse_objects), (1, 1));
    // The caller is on the stack; the allocator's frames are not.
    let sample = samples(&p, "hundred_byte_boxes")[0];
    let names = p.stack_function_names(sample);
    assert!(
        names.iter().any(|n| n.ends_with("caller_of_boxes")),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.contains("heapwise::alloc") || n.starts_with("__rust")),
        "{names:?}"
    );
    drop(kept);
    let p = profile::heap();
    assert_eq!(site(&p, "hundred_byte_boxes", Some(100)).inuse_objects, 0);
    assert_eq!(
        site(&p, "hundred_byte_boxes", Some(100)).alloc_objects,
        1000
    );
}

#[inline(never)]
fn grown(steps: usize) -> Vec<u8> {
    let mut v: Vec<u8> = Vec::new();
    for i in 1..=steps {
        v.reserve_exact(i * 1000 - v.len());
        v.resize(i * 1000, 0);
    }
    v
}

#[test]
fn realloc_moves_the_sample_to_the_new_block() {
    full_mode();
    let v = black_box(grown(5));
    let p = profile::heap();
    let s = site(&p, "grown", None);
    // Five blocks (1000, 2000, ... 5000 bytes): one alloc and four reallocs.
    assert_eq!(s.alloc_objects, 5);
    assert_eq!(s.alloc_space, 15_000);
    assert_eq!((s.inuse_objects, s.inuse_space), (1, 5000));
    drop(v);
    let s = site(&profile::heap(), "grown", None);
    assert_eq!((s.inuse_objects, s.inuse_space), (0, 0));
}

#[inline(never)]
fn made_here_freed_elsewhere(n: usize) -> Vec<String> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box("0123456789".repeat(5 + i % 2)));
    }
    v
}

#[test]
fn a_free_on_another_thread_is_seen() {
    full_mode();
    let strings = made_here_freed_elsewhere(300);
    let s = site(&profile::heap(), "made_here_freed_elsewhere", Some(60));
    assert_eq!((s.alloc_objects, s.inuse_objects), (150, 150));
    std::thread::spawn(move || drop(strings)).join().unwrap();
    let p = profile::heap();
    for size in [50, 60] {
        let s = site(&p, "made_here_freed_elsewhere", Some(size));
        assert_eq!((s.alloc_objects, s.inuse_objects), (150, 0));
    }
}

#[inline(never)]
fn in_a_named_scope() -> Vec<u8> {
    black_box(vec![7u8; 4321])
}

#[test]
fn samples_carry_the_innermost_scope_name() {
    full_mode();
    let outer = Scope::new().name("request");
    let inner = outer.child();
    let v = inner.run(|_| in_a_named_scope());
    let p = profile::heap();
    let found = samples(&p, "in_a_named_scope");
    assert_eq!(found.len(), 1);
    assert_eq!(label_str(&p, found[0], "scope"), Some("request"));
    drop(v);
}

#[test]
fn the_profile_is_a_go_heap_profile() {
    full_mode();
    let p = profile::heap();
    let types: Vec<_> = p.sample_types();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
            ("peak_objects", "count"),
            ("peak_space", "bytes"),
            ("temporary_objects", "count"),
            ("temporary_space", "bytes"),
        ]
    );
    assert_eq!(p.period_type_names(), Some(("space", "bytes")));
    assert_eq!(p.period, 1);
    assert_eq!(p.string(p.default_sample_type), "inuse_space");
    p.validate().unwrap();
    let a = profile::allocs();
    assert_eq!(a.string(a.default_sample_type), "alloc_space");
    // Mappings: the test binary first, with a build ID and symbols.
    let main = &p.mapping[0];
    let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
    assert_eq!(p.string(main.filename), exe.to_str().unwrap());
    assert_eq!(p.string(main.build_id).len(), 40, "a GNU build ID in hex");
    assert!(main.has_functions);
}

#[test]
fn building_a_profile_is_counted_but_not_sampled() {
    full_mode();
    let scope = heapwise::Scope::new();
    let p = scope.run(|_| {
        profile::heap();
        profile::heap()
    });
    assert!(
        scope.usage().bytes > 0,
        "the model is the caller's memory, counted"
    );
    for s in &p.sample {
        let names = p.stack_function_names(s);
        assert!(
            !names.iter().any(|n| n.contains("heapwise::profile::")),
            "the profiler profiled itself: {names:?}"
        );
    }
}
