//! Concurrency stress in owner mode: threads allocate in their own scopes,
//! hand blocks to each other through a shared pool, free and grow blocks from
//! other scopes, and drop their scope handles while blocks are still alive.
//! Once every block is freed, every scope must balance exactly: each free was
//! charged to the block's owner, so bytes == freed_bytes, allocs == frees and
//! live_bytes == 0, for every child and for their common parent.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

const THREADS: usize = 4;
const OPS: usize = 20_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn balanced(name: &str, u: heapwise::Usage) {
    assert_eq!(u.live_bytes, 0, "{name}: {u:?}");
    assert_eq!(u.bytes, u.freed_bytes, "{name}: {u:?}");
    assert_eq!(u.allocs, u.frees, "{name}: {u:?}");
    assert!(u.allocs > 0, "{name} counted nothing: {u:?}");
}

#[test]
fn every_scope_balances_after_cross_thread_frees_and_reallocs() {
    assert!(heapwise::installed());
    let root = heapwise::Scope::detached().name("root");
    // The pool's own buffer is allocated outside every scope.
    let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::with_capacity(OPS * THREADS)));
    let start = Arc::new(Barrier::new(THREADS));
    let children: Vec<heapwise::Scope> = (0..THREADS)
        .map(|i| root.child().name(format!("worker-{i}")))
        .collect();
    let handles: Vec<_> = children
        .iter()
        .enumerate()
        .map(|(i, scope)| {
            let (scope, pool, start) = (scope.clone(), pool.clone(), start.clone());
            thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
                let mut mine: Vec<Vec<u8>> = Vec::new();
                start.wait();
                scope.run(|_| {
                    for _ in 0..OPS {
                        match rng.next() % 6 {
                            0 | 1 => mine.push(vec![i as u8; 1 + (rng.next() % 2000) as usize]),
                            2 => {
                                if let Some(v) = mine.pop() {
                                    pool.lock().unwrap().push(v);
                                }
                            }
                            3 => {
                                // Free a block from any scope, here.
                                let v = pool.lock().unwrap().pop();
                                drop(black_box(v));
                            }
                            4 => {
                                // Grow a block from any scope: freed to its owner,
                                // reallocated in this one.
                                let v = pool.lock().unwrap().pop();
                                if let Some(mut v) = v {
                                    v.reserve_exact(1 + (rng.next() % 3000) as usize);
                                    mine.push(v);
                                }
                            }
                            _ => drop(mine.pop()),
                        }
                    }
                    // Leave some of this scope's blocks in the pool.
                    pool.lock().unwrap().extend(mine.drain(..));
                    drop(mine);
                });
                // The handle goes away while its blocks may still be alive.
                drop(scope);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let left = pool.lock().unwrap().len();
    assert!(
        left > 0,
        "the test should leave blocks behind for the owners to outlive"
    );
    // Free the rest outside every scope: still charged to their owners.
    heapwise::untracked(|| pool.lock().unwrap().clear());
    for (i, child) in children.iter().enumerate() {
        balanced(&format!("worker-{i}"), child.usage());
    }
    let r = root.usage();
    balanced("root", r);
    let sum = |f: fn(heapwise::Usage) -> u64| children.iter().map(|c| f(c.usage())).sum::<u64>();
    assert_eq!(
        r.bytes,
        sum(|u| u.bytes),
        "the parent is charged what its children were"
    );
    assert_eq!(r.calls, sum(|u| u.calls));
    assert_eq!(r.reallocs, sum(|u| u.reallocs));
    // Calls are charged where they are made: inside the workers, every call
    // but the frees made outside every scope at the end.
    assert_eq!(r.calls + left as u64, r.allocs + r.frees - r.reallocs);
    // Process-wide, every counted call is charged exactly once.
    let st = heapwise::stats();
    assert_eq!(st.calls, st.allocs + st.frees - st.reallocs, "{st:?}");
}
