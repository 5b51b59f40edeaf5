//! Allocation before `main`: a function in `.init_array` (run by the loader
//! before Rust's runtime starts) allocates; the wrapper must serve it, count
//! it, and report itself installed.
//!
//! The only test in this file (process-wide figures).
#![cfg(target_os = "linux")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Distinctive, and over the 64 KiB batch.
const BEFORE_MAIN: usize = 64 * 1024 * 1024 + 13;

static RAN: AtomicBool = AtomicBool::new(false);
static ALLOCATED_SEEN_BEFORE_MAIN: AtomicU64 = AtomicU64::new(0);
static INSTALLED_BEFORE_MAIN: AtomicBool = AtomicBool::new(false);

extern "C" fn before_main() {
    let v: Vec<u8> = Vec::with_capacity(BEFORE_MAIN);
    black_box(&v);
    drop(v);
    let s = heapwise::stats();
    ALLOCATED_SEEN_BEFORE_MAIN.store(s.allocated_bytes, Ordering::SeqCst);
    INSTALLED_BEFORE_MAIN.store(heapwise::installed(), Ordering::SeqCst);
    RAN.store(true, Ordering::SeqCst);
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = before_main;

#[test]
fn an_allocation_before_main_is_counted() {
    assert!(
        RAN.load(Ordering::SeqCst),
        ".init_array function did not run"
    );
    assert!(INSTALLED_BEFORE_MAIN.load(Ordering::SeqCst));
    assert!(ALLOCATED_SEEN_BEFORE_MAIN.load(Ordering::SeqCst) >= BEFORE_MAIN as u64);
    assert!(heapwise::installed());
    let s = heapwise::stats();
    assert!(s.allocs >= 1 && s.frees >= 1);
    assert!(s.allocated_bytes >= BEFORE_MAIN as u64);
    assert!(s.freed_bytes >= BEFORE_MAIN as u64);
    assert!(s.peak_bytes >= BEFORE_MAIN as u64);
}
