//! gotcha's README example, in Rust: nested scopes, and a limit that cancels.
//!
//! Run with `cargo run --release --example gotcha`.

use std::time::Duration;

use heapwise::{Scope, KIB};

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

fn report(what: &str, u: heapwise::Usage) {
    println!(
        "{what:<20} {:>7} bytes {:>5} allocs {:>5} calls   live {:>7}  peak {:>7}",
        u.bytes, u.allocs, u.calls, u.live_bytes, u.peak_bytes
    );
}

fn main() {
    assert!(
        heapwise::installed(),
        "heapwise::Alloc is not the global allocator"
    );

    // A scope limited to 1 KiB of allocation, like gotcha.ContextWithLimitBytes(gotcha.KiB).
    let request = Scope::new().name("request").limit_bytes(KIB);
    let v = request.run(|s| {
        let mut v = vec![0i64; 100];
        report("initial allocation", s.usage()); // 800 bytes, 1 alloc

        heapwise::track(|child| {
            v = vec![0i64; 5000];
            report("derived allocation", child.usage()); // 40000 bytes, 1 alloc
        });

        // The child's 40 KB were charged to `request` too, so its 1 KiB limit is
        // crossed: `cancelled()` (gotcha's Done()) has already resolved.
        match s.cancelled().wait_timeout(Duration::from_secs(1)) {
            Some(e) => {
                report("total allocations", s.usage());
                println!("cancelled: {e}");
            }
            None => unreachable!("the limit was crossed"),
        }
        v
    });
    println!("len(v) = {}", v.len());

    // Cooperative cancellation of a worker thread: it checks its scope at a safe
    // point, as a Go function would select on ctx.Done().
    let job = Scope::new().name("job").limit_live_bytes(256 * KIB);
    let worker = {
        let job = job.clone();
        std::thread::spawn(move || {
            job.run(|s| {
                let mut chunks: Vec<Vec<u8>> = Vec::new();
                while s.check().is_ok() {
                    chunks.push(vec![1u8; 16 * KIB as usize]);
                }
                chunks.len()
            })
        })
    };
    let why = job.cancelled().wait();
    let chunks = worker.join().unwrap();
    println!("job stopped after {chunks} chunks: {why}");
    report("job", job.usage());

    let st = heapwise::stats();
    println!(
        "process: {} bytes allocated in {} blocks, {} live, peak {}",
        st.allocated_bytes, st.allocs, st.live_bytes, st.peak_bytes
    );
}
