//! Per-request memory limits in an async service (ClickHouse-style): each
//! request runs in its own scope with a live-bytes budget; one that blows its
//! budget is cancelled cooperatively and answered with an error, while the
//! others complete. A hard-limited scope shows `try_reserve` failing instead.
//!
//! Run with `cargo run --release --example request_limits`.

use std::time::Duration;

use heapwise::{Scope, KIB, MIB};

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

/// A request handler: builds a response of `rows` rows, yielding between
/// batches as a real handler would while waiting on I/O.
async fn handle(rows: usize) -> usize {
    let mut out: Vec<String> = Vec::new();
    for i in 0..rows {
        out.push(format!("row {i:>8}: {}", "x".repeat(40)));
        if i % 256 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    out.iter().map(String::len).sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    assert!(heapwise::installed());
    let server = Scope::new().name("server");

    let mut tasks = Vec::new();
    for (id, rows) in [(1, 1_000), (2, 200_000), (3, 5_000)] {
        let req = server
            .child()
            .name(format!("request-{id}"))
            .limit_live_bytes(4 * MIB);
        tasks.push(tokio::spawn(async move {
            let result = req.limit(handle(rows)).await;
            (id, result, req.usage())
        }));
    }
    for task in tasks {
        let (id, result, usage) = task.await.unwrap();
        match result {
            Ok(bytes) => println!(
                "request-{id}: ok, {bytes} bytes of response; peak {} KiB in {} allocs",
                usage.peak_bytes / KIB,
                usage.allocs
            ),
            Err(e) => println!(
                "request-{id}: cancelled ({e}); peak {} KiB",
                usage.peak_bytes / KIB
            ),
        }
    }
    let s = server.usage();
    println!(
        "server: {} allocs, {} KiB allocated, {} KiB live after all requests",
        s.allocs,
        s.bytes / KIB,
        s.live_bytes / KIB
    );

    // A hard limit refuses the allocation instead: fallible code sees Err.
    let strict = Scope::new().name("strict").limit_bytes(MIB).hard();
    strict.run(|_| {
        let mut buf: Vec<u8> = Vec::new();
        let small = buf.try_reserve(512 * KIB as usize);
        let big = buf.try_reserve(4 * MIB as usize);
        println!(
            "strict: 512 KiB reserve {small:?}, 4 MiB reserve {}",
            big.map_or_else(|e| format!("Err({e})"), |_| "Ok".into())
        );
    });
    println!(
        "strict: {}",
        strict
            .exceeded()
            .map_or("within limits".into(), |e| e.to_string())
    );
}
