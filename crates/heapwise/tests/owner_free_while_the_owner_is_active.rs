//! Owner tracking: a block is freed on another thread while the thread that
//! allocated it is still inside the owning scope (its batch, holding the
//! allocation, not yet charged). The free must be charged to the owner, and
//! the owner must stay alive: it still has a handle and a thread inside it.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::{figures, wait_until, Figures};
use heapwise::Scope;

type Slot = Arc<Mutex<Option<Vec<u8>>>>;

/// A thread, started outside every scope, that frees every block handed to
/// it (inside `free_in`, if given). No channel: blocking channels allocate
/// waiter lists. Handing over and waiting neither allocates nor switches
/// scopes, so the handing thread's batch is not charged meanwhile.
struct Freer {
    slot: Slot,
    freed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Freer {
    fn start(free_in: Option<Scope>) -> Freer {
        assert_eq!(Scope::current(), None);
        let slot: Slot = Arc::new(Mutex::new(None));
        let freed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (slot, freed, stop) = (slot.clone(), freed.clone(), stop.clone());
            thread::spawn(move || loop {
                let v = slot.lock().unwrap().take();
                match v {
                    Some(v) => {
                        match &free_in {
                            Some(s) => s.run(|_| drop(v)),
                            None => drop(v),
                        }
                        freed.fetch_add(1, Ordering::SeqCst);
                    }
                    None if stop.load(Ordering::SeqCst) => return,
                    None => thread::yield_now(),
                }
            })
        };
        Freer {
            slot,
            freed,
            stop,
            thread: Some(thread),
        }
    }

    /// Hands `v` over and waits until it is freed.
    fn free(&self, v: Vec<u8>) {
        let before = self.freed.load(Ordering::SeqCst);
        *self.slot.lock().unwrap() = Some(v);
        wait_until("the free", || self.freed.load(Ordering::SeqCst) > before);
    }
}

impl Drop for Freer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// 4000 bytes allocated in A and freed elsewhere, then 1000 bytes allocated
/// and still live. (`peak_bytes` is left out: with the free charged by
/// another thread before this thread's batch, it is approximate, as
/// documented for several threads.)
const EXPECTED: Figures = Figures {
    bytes: 5000,
    allocs: 2,
    frees: 1,
    freed_bytes: 4000,
    reallocs: 0,
    calls: 3,
    live_bytes: 1000,
    peak_bytes: 0,
};

fn without_peak(f: Figures) -> Figures {
    Figures { peak_bytes: 0, ..f }
}

#[test]
fn freed_elsewhere_while_the_owner_is_entered_on_the_allocating_thread() {
    let freer = Freer::start(None);
    let a = Scope::new().name("A");
    let seen = a.run(|s| {
        let v = black_box(vec![0u8; 4000]);
        freer.free(v);
        // Still inside A, with A's handle alive.
        let w = black_box(vec![0u8; 1000]);
        let seen = figures(s);
        drop(w);
        seen
    });
    // The free is A's; the call was made outside every scope.
    assert_eq!(
        without_peak(seen),
        Figures {
            calls: 2,
            ..EXPECTED
        }
    );
    assert_eq!(figures(&a).live_bytes, 0);
    assert_eq!(figures(&a).frees, 2);
    assert_eq!(a.label(), Some("A"));
}

#[test]
fn freed_in_another_scope_while_the_owner_is_entered() {
    let a = Scope::new().name("A");
    let b = Scope::new().name("B");
    let freer = Freer::start(Some(b.clone()));
    a.run(|_| {
        for _ in 0..10 {
            let v = black_box(vec![0u8; 100]);
            freer.free(v);
        }
    });
    drop(freer);
    assert_eq!(
        without_peak(figures(&a)),
        Figures {
            bytes: 1000,
            allocs: 10,
            frees: 10,
            freed_bytes: 1000,
            calls: 10,
            live_bytes: 0,
            ..Figures::default()
        }
    );
    // B made the ten free calls, and is charged those calls only.
    assert_eq!(
        figures(&b),
        Figures {
            calls: 10,
            ..Figures::default()
        }
    );
}

#[test]
fn freed_inside_the_owner_by_a_thread_that_then_drops_its_handle() {
    // Two handles on A: this thread's, and the freer's clone. The freer frees
    // the block inside A (an ordinary batched free), leaves, and drops its
    // clone while this thread is still inside A with its own handle.
    let a = Scope::new().name("A");
    let seen = {
        let freer = Freer::start(Some(a.clone()));
        a.run(|s| {
            let v = black_box(vec![0u8; 4000]);
            freer.free(v);
            // The freer thread ends, dropping its handle on A. (Untracked: the
            // test's own thread handle and Arcs, freed here, are not A's calls.)
            heapwise::untracked(|| drop(freer));
            let w = black_box(vec![0u8; 1000]);
            let seen = figures(s);
            drop(w);
            seen
        })
    };
    assert_eq!(without_peak(seen), EXPECTED);
    assert_eq!(figures(&a).live_bytes, 0);
    assert_eq!(a.label(), Some("A"));
}
