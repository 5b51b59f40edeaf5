//! The shared workload of the stress tests (`stress_*_mode.rs`), which run it
//! under different global allocators and check different invariants.

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use heapwise::Scope;

pub(crate) const THREADS: usize = 4;
pub(crate) const OPS: usize = 20_000;

/// Blocks handed between threads; its own buffer is allocated outside every scope.
pub(crate) type Pool = Arc<Mutex<Vec<Vec<u8>>>>;

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

/// Runs `THREADS` threads, each in its own child scope of `root`, that
/// allocate, hand blocks over through the pool, free and grow blocks from
/// other scopes, and drop their scope handles when done (blocks may outlive
/// them). Returns the child scopes and the pool with the blocks left in it.
pub(crate) fn run_workers(root: &Scope) -> (Vec<Scope>, Pool) {
    // The pool's own buffer is allocated outside every scope.
    let pool: Pool = Arc::new(Mutex::new(Vec::with_capacity(OPS * THREADS)));
    let start = Arc::new(Barrier::new(THREADS));
    let children: Vec<Scope> = (0..THREADS)
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
    (children, pool)
}
