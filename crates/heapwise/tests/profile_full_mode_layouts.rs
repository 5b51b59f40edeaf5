//! Full mode carries each block's bucket in a trailer (`profile/trailer.rs`):
//! every block must reach the inner allocator's `dealloc` and `realloc` with
//! the very layout it was allocated with, whether it was allocated before,
//! during or after full mode, realloc'd across a rate change, or over-aligned;
//! and the in-use figures must stay exact across the changes. The inner
//! allocator here records each block's layout in a header and counts every
//! call that names another.

#![allow(clippy::vec_box)] // the boxes are the allocations under test

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

/// Wraps `System`, keeping each block's (size, align) in the 16 bytes before
/// the alignment-sized header, and counting calls whose layout differs.
struct Strict;

static MISMATCHES: AtomicUsize = AtomicUsize::new(0);

fn header(align: usize) -> usize {
    align.max(16)
}

// SAFETY: forwards to `System` with a larger layout, consistently.
unsafe impl GlobalAlloc for Strict {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let h = header(layout.align());
        let Ok(outer) = Layout::from_size_align(layout.size() + h, h) else {
            return std::ptr::null_mut();
        };
        // SAFETY: non-zero size.
        let p = unsafe { System.alloc(outer) };
        if p.is_null() {
            return p;
        }
        // SAFETY: the header lies inside the block, 16-aligned.
        unsafe {
            let q = p.add(h);
            q.sub(16)
                .cast::<[usize; 2]>()
                .write([layout.size(), layout.align()]);
            q
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` (the caller's contract).
        let [size, align] = unsafe { ptr.sub(16).cast::<[usize; 2]>().read() };
        if (size, align) != (layout.size(), layout.align()) {
            MISMATCHES.fetch_add(1, Relaxed);
        }
        let h = header(align);
        // SAFETY: the layout `alloc` used, from the header.
        unsafe { System.dealloc(ptr.sub(h), Layout::from_size_align_unchecked(size + h, h)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract.
        let [size, align] = unsafe { ptr.sub(16).cast::<[usize; 2]>().read() };
        if (size, align) != (layout.size(), layout.align()) {
            MISMATCHES.fetch_add(1, Relaxed);
        }
        // SAFETY: a valid layout (the caller's contract).
        let q = unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, align)) };
        if !q.is_null() {
            // SAFETY: both live; copy what both hold.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, q, size.min(new_size));
                self.dealloc(ptr, Layout::from_size_align_unchecked(size, align));
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: heapwise::Alloc<Strict> = heapwise::Alloc::new(Strict);

mod common;

use common::profile::site;
use heapwise::profile;

/// Tests here change the process-wide rate: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[inline(never)]
fn boxes_of_100(n: usize) -> Vec<Box<[u8; 100]>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(Box::new([i as u8; 100])));
    }
    v
}

#[repr(align(4096))]
struct Page([u8; 4096]);

#[inline(never)]
fn aligned_pages(n: usize) -> Vec<Box<Page>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(Box::new(Page([i as u8; 4096]))));
    }
    v
}

#[inline(never)]
fn strings_grown(n: usize, to: usize) -> Vec<String> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = String::new();
        while s.len() < to {
            s.push_str(&i.to_string());
        }
        v.push(s);
    }
    v
}

#[test]
fn blocks_keep_their_layouts_across_rate_changes_and_reallocs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before_mismatches = MISMATCHES.load(Relaxed);
    profile::set_rate(0);
    let old_boxes = boxes_of_100(300);
    let mut old_strings = strings_grown(200, 40);

    profile::set_rate(1);
    let boxes = boxes_of_100(500);
    let pages = aligned_pages(20);
    let mut strings = strings_grown(300, 100);
    // Blocks from before full mode, freed and grown in it.
    drop(old_boxes);
    for s in old_strings.iter_mut() {
        s.push_str(&"x".repeat(500));
    }
    let m = profile::memory();
    assert!(m.carried_bytes >= 8 * (500 + 20 + 300), "{m:?}");
    let p = profile::heap();
    // (The other test's boxes are freed: in use are these alone.)
    assert_eq!(site(&p, "boxes_of_100", Some(100)).inuse_objects, 500);
    assert_eq!(site(&p, "aligned_pages", Some(4096)).inuse_objects, 20);
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page.as_ref() as *const Page as usize % 4096, 0);
        assert_eq!(page.0[4095], i as u8);
    }

    // Out of full mode: carried blocks freed, shrunk and grown.
    profile::set_rate(0);
    for s in strings.iter_mut() {
        s.push_str(&"y".repeat(300));
        assert!(s.ends_with('y'));
    }
    strings.iter_mut().for_each(|s| s.shrink_to(50));
    drop(boxes);
    drop(pages);
    let p = profile::heap();
    assert_eq!(site(&p, "boxes_of_100", Some(100)).inuse_objects, 0);
    assert_eq!(site(&p, "aligned_pages", Some(4096)).inuse_objects, 0);
    // The strings' full-mode blocks were freed by the realloc (no longer
    // sampled, as a sampled block realloc'd outside full mode is): only the
    // vector holding them is in use.
    let s = site(&p, "strings_grown", None);
    assert_eq!((s.inuse_objects, s.inuse_space), (1, 300 * 24));

    // Back in full mode, realloc'd carried blocks are sampled again.
    profile::set_rate(1);
    for s in strings.iter_mut() {
        s.push_str(&"z".repeat(2000));
    }
    drop(strings);
    drop(old_strings);
    profile::set_rate(0);
    assert_eq!(
        MISMATCHES.load(Relaxed),
        before_mismatches,
        "calls with another layout"
    );
}

#[test]
fn full_mode_memory_per_live_block_is_the_trailer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    profile::set_rate(1);
    let before = profile::memory();
    let kept = boxes_of_100(200_000);
    let m = profile::memory();
    profile::set_rate(0);
    let live = m.live_samples - before.live_samples;
    assert!(live >= 200_000, "{m:?}");
    let bytes = m.total_bytes() - before.total_bytes();
    // The goal: <= 24 bytes per live block (the stacks are few).
    assert!(
        bytes <= 24 * live,
        "{bytes} bytes for {live} live blocks: {m:?}"
    );
    drop(kept);
    assert_eq!(MISMATCHES.load(Relaxed), 0);
}

#[test]
fn threads_allocating_while_the_rate_flips_keep_every_layout() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Vec<u8>>>();
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (tx, stop) = (tx.clone(), &stop);
            s.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                let mut kept: Vec<Vec<u8>> = Vec::new();
                while !stop.load(Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mut v = vec![x as u8; 1 + (x % 300) as usize];
                    v.resize(1 + ((x >> 20) % 600) as usize, 1);
                    kept.push(v);
                    if x % 5 == 0 {
                        kept.swap_remove((x >> 8) as usize % kept.len());
                    }
                    if kept.len() > 256 {
                        // Freed on another thread.
                        let _ = tx.send(std::mem::take(&mut kept));
                    }
                }
            });
        }
        drop(tx);
        let receiver = s.spawn(move || rx.into_iter().map(|batch| batch.len()).sum::<usize>());
        for i in 0..200 {
            profile::set_rate(if i % 2 == 0 { 1 } else { [0, 4096][i % 4 / 2] });
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        stop.store(true, Relaxed);
        receiver.join().unwrap();
    });
    profile::set_rate(0);
    assert_eq!(MISMATCHES.load(Relaxed), 0, "calls with another layout");
}
