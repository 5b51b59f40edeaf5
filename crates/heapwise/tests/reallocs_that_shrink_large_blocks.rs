//! Reallocs that shrink large blocks to a few bytes, thousands in a row.
//! A realloc takes the fast path when its new size fits the thread's
//! countdown, and puts both sizes, the old one freed and the new one
//! allocated, into the thread's batch: 2,100 shrinks of 2 MiB blocks pile
//! 4.2 GiB of freed bytes into one batch, more than a 32-bit half of a
//! packed batch word holds (a design tried in
//! `bench/results/2026-12-07-5448408-packed-batch.md`, which failed this).
//! The profiler is off (rate 0), so no page filter byte sends a free to the
//! slow path; the blocks are mapped, never written.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::hint::black_box;

use heapwise::Scope;

#[test]
fn thousands_of_shrinking_reallocs_are_counted_exactly() {
    const N: u64 = 2_100;
    const BLOCK: usize = 2 << 20;
    heapwise::profile::set_rate(0);
    let mut blocks: Vec<Vec<u8>> = (0..N).map(|_| Vec::with_capacity(BLOCK)).collect();
    let scope = Scope::new();
    scope.run(|_| {
        for v in &mut blocks {
            v.push(1);
            v.shrink_to_fit(); // realloc BLOCK -> 1
        }
    });
    black_box(&blocks);
    let u = scope.usage();
    assert_eq!(
        (u.reallocs, u.allocs, u.frees, u.calls),
        (N, N, N, N),
        "{u:?}"
    );
    assert_eq!(u.bytes, N, "{u:?}");
    assert_eq!(u.freed_bytes, N * BLOCK as u64, "{u:?}");
}
