//! A loom model of the grace period (`src/grace.rs`): detach against firing.
//!
//! The model replays grace.rs's protocol with its exact memory orderings,
//! in fence mode (loom cannot model `membarrier`): a firing thread enters a
//! read section through its slot (`slot = GP`, `fence(SeqCst)`, load the
//! probe array, run it, `slot = 0`), another through the shared counters
//! (the fallback without a slot); the detaching thread publishes the new
//! array, runs `synchronize` (`GP += 1`, `fence(SeqCst)`, wait on the slot
//! and on the old period's counter, `fence(SeqCst)`) and then frees the old
//! array. The array's contents are a loom `UnsafeCell`: a reader touching it
//! after the free is a data race loom reports, and the reader also asserts
//! it never sees a freed array. loom explores every interleaving up to the
//! preemption bound (`LOOM_MAX_PREEMPTIONS`, 3 in `.ci/run`).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p heapwise-probe --release --test loom_grace`.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering::*};
use loom::sync::Arc;
use loom::thread;

const LIVE: u64 = 1;
const FREED: u64 = 0xdead;

struct Grace {
    /// The grace-period counter `GP` (starts at 1; 0 in a slot is "idle").
    gp: AtomicU64,
    /// One reader slot's epoch.
    slot: AtomicU64,
    /// The shared counters of the two parities (`OVERFLOW`).
    overflow: [AtomicU64; 2],
    /// The event's published probe array: an index into `arrays`.
    head: AtomicUsize,
    /// Two probe arrays: the old one (0) and the one after detach (1).
    arrays: [UnsafeCell<u64>; 2],
}

impl Grace {
    fn new() -> Grace {
        Grace {
            gp: AtomicU64::new(1),
            slot: AtomicU64::new(0),
            overflow: [AtomicU64::new(0), AtomicU64::new(0)],
            head: AtomicUsize::new(0),
            arrays: [UnsafeCell::new(LIVE), UnsafeCell::new(LIVE)],
        }
    }

    /// Runs the probes of the array the event publishes now.
    fn run_probes(&self) {
        let a = self.head.load(Acquire);
        let v = self.arrays[a].with(|p| unsafe { *p });
        assert_eq!(v, LIVE, "a firing thread ran a freed probe array");
    }

    /// `enter_slot` .. `Reader::drop`, fence mode.
    fn fire_with_slot(&self) {
        self.slot.store(self.gp.load(Acquire), Release);
        fence(SeqCst);
        self.run_probes();
        self.slot.store(0, Release);
    }

    /// `shared_lock` .. its release: the fallback without a slot.
    fn fire_shared(&self) {
        let count = loop {
            let e = self.gp.load(SeqCst);
            let count = &self.overflow[(e & 1) as usize];
            count.fetch_add(1, SeqCst);
            fence(SeqCst);
            if self.gp.load(SeqCst) == e {
                break count;
            }
            count.fetch_sub(1, Release);
        };
        self.run_probes();
        count.fetch_sub(1, Release);
    }

    /// `synchronize`, fence mode (one slot, one pair of counters).
    fn synchronize(&self) {
        let target = self.gp.fetch_add(1, SeqCst) + 1;
        fence(SeqCst);
        loop {
            let e = self.slot.load(Acquire);
            if !(e != 0 && e < target) {
                break;
            }
            thread::yield_now();
        }
        let old = &self.overflow[((target - 1) & 1) as usize];
        while old.load(SeqCst) != 0 {
            thread::yield_now();
        }
        fence(SeqCst);
    }

    /// Detach: publish the array without the probe, wait, free the old one.
    fn detach(&self) {
        let old = self.head.swap(1, AcqRel);
        self.synchronize();
        self.arrays[old].with_mut(|p| unsafe { *p = FREED });
    }
}

#[test]
fn a_detached_probe_array_is_freed_only_after_every_reader_left() {
    loom::model(|| {
        let g = Arc::new(Grace::new());
        let slot_reader = {
            let g = g.clone();
            thread::spawn(move || {
                g.fire_with_slot();
                g.fire_with_slot();
            })
        };
        let shared_reader = {
            let g = g.clone();
            thread::spawn(move || g.fire_shared())
        };
        g.detach();
        slot_reader.join().unwrap();
        shared_reader.join().unwrap();
    });
}

#[test]
fn a_reader_without_a_slot_against_a_detach() {
    loom::model(|| {
        let g = Arc::new(Grace::new());
        let reader = {
            let g = g.clone();
            thread::spawn(move || {
                g.fire_shared();
                g.fire_shared();
            })
        };
        g.detach();
        reader.join().unwrap();
    });
}

#[test]
fn two_detaches_in_a_row_against_a_reader() {
    loom::model(|| {
        let g = Arc::new(Grace::new());
        let reader = {
            let g = g.clone();
            thread::spawn(move || g.fire_with_slot())
        };
        // The second grace period must also wait for a reader of the first.
        g.detach();
        g.synchronize();
        reader.join().unwrap();
    });
}
