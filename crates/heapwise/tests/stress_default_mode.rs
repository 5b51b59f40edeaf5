//! Concurrency stress in the default mode (frees charged where they happen):
//! threads allocate in their own scopes, hand blocks to each other through a
//! shared pool, free and grow blocks from other scopes, and drop their scope
//! handles early. Every scope must satisfy `calls = allocs + frees - reallocs`
//! exactly, the parent must be charged exactly the sum of its children, and
//! the parent's live bytes must equal exactly the bytes left in the pool,
//! which are the only blocks of its subtree not freed inside it.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

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

fn consistent(name: &str, u: heapwise::Usage) {
    assert_eq!(u.calls, u.allocs + u.frees - u.reallocs, "{name}: {u:?}");
    assert!(u.allocs > 0 && u.frees > 0, "{name} counted nothing: {u:?}");
}

#[test]
fn every_scope_stays_consistent_under_cross_thread_frees_and_reallocs() {
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
    let (left, left_bytes) = {
        let pool = pool.lock().unwrap();
        (
            pool.len(),
            pool.iter().map(|v| v.capacity() as u64).sum::<u64>(),
        )
    };
    assert!(left > 0, "the test should leave blocks behind");
    for (i, child) in children.iter().enumerate() {
        consistent(&format!("worker-{i}"), child.usage());
    }
    let r = root.usage();
    consistent("root", r);
    let sum = |f: fn(heapwise::Usage) -> u64| children.iter().map(|c| f(c.usage())).sum::<u64>();
    assert_eq!(
        r.bytes,
        sum(|u| u.bytes),
        "the parent is charged what its children were"
    );
    assert_eq!(r.frees, sum(|u| u.frees));
    assert_eq!(r.calls, sum(|u| u.calls));
    assert_eq!(
        r.live_bytes, left_bytes,
        "live in the subtree = bytes left in the pool"
    );
    assert_eq!(r.bytes - r.freed_bytes, left_bytes);
    heapwise::untracked(|| pool.lock().unwrap().clear());
    assert_eq!(
        root.usage(),
        r,
        "frees outside every scope are charged to none"
    );
    let st = heapwise::stats();
    assert_eq!(st.calls, st.allocs + st.frees - st.reallocs, "{st:?}");
}
