//! Events fired from inside a `#[global_allocator]`: probes that allocate
//! do not recurse (nested events are counted as dropped), a probe that
//! panics inside the allocator does not unwind out of it, and events work
//! before `main` and during thread exit. Its own process: it installs its
//! own global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};

heapwise_probe::declare! {
    fn alloc(size: usize);
    fn dealloc(size: usize);
}

struct Traced;

// SAFETY: forwards every call to System unchanged; the events only read
// their arguments.
unsafe impl GlobalAlloc for Traced {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        dealloc(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Traced = Traced;

/// Tests in this file attach allocator probes: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn a_probe_that_allocates_inside_allocator_events_does_not_recurse() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let group = heapwise_probe::ProbeGroup::current_thread();
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = sizes.clone();
    // Allocates (Vec growth, format!) on every event.
    alloc::attach_in(&group, move |size| {
        s.lock().unwrap().push(format!("{size}"));
    });
    let before = alloc::event().dropped();
    let v: Vec<u64> = Vec::with_capacity(1000);
    drop(v);
    drop(group);
    let seen = sizes.lock().unwrap().clone();
    assert!(seen.contains(&"8000".to_string()), "{seen:?}");
    // The probe's own allocations were nested events: dropped, counted.
    assert!(alloc::event().dropped() > before);
}

#[test]
fn a_probe_that_panics_inside_the_allocator_is_caught() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let group = heapwise_probe::ProbeGroup::current_thread();
    alloc::attach_in(&group, |size| {
        if size == 12345 {
            panic!("probe panicked inside alloc");
        }
    });
    let v: Vec<u8> = Vec::with_capacity(12345); // panics inside GlobalAlloc::alloc: caught
    assert_eq!(v.capacity(), 12345);
    drop(v);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(group)));
    assert!(r.is_err(), "the panic is resumed when the group is dropped");
}

thread_local! {
    static ALLOCATES_ON_EXIT: OnExit = const { OnExit };
}
struct OnExit;
impl Drop for OnExit {
    fn drop(&mut self) {
        // Runs during thread exit, after other thread-locals may be gone.
        let v = vec![0u8; 4242];
        std::hint::black_box(&v);
    }
}

#[test]
fn events_fire_during_thread_exit() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let p = alloc::attach(move |size| {
        if size == 4242 {
            h.fetch_add(1, SeqCst);
        }
    });
    std::thread::spawn(|| ALLOCATES_ON_EXIT.with(|_| ()))
        .join()
        .unwrap();
    drop(p);
    assert_eq!(hits.load(SeqCst), 1);
}

/// Before main: attach, allocate, detach from an ELF constructor.
#[cfg(target_os = "linux")]
mod before_main {
    use super::*;

    pub(super) static HITS: AtomicU64 = AtomicU64::new(0);

    extern "C" fn ctor() {
        let p = alloc::attach(|size| {
            if size == 777 {
                HITS.fetch_add(1, SeqCst);
            }
        });
        let v = vec![0u8; 777];
        drop(v);
        drop(p);
    }

    #[used]
    #[link_section = ".init_array"]
    static CTOR: extern "C" fn() = ctor;
}

#[cfg(target_os = "linux")]
#[test]
fn events_and_probes_work_before_main() {
    assert_eq!(before_main::HITS.load(SeqCst), 1);
}
