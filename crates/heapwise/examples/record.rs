//! Records a small workload to a Chrome trace: `cargo run --example record
//! [trace.json]`, then open the file in https://ui.perfetto.dev or
//! chrome://tracing.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::hint::black_box;

use heapwise::{Scope, KIB};

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "trace.json".into());
    let rec = heapwise::record::Recorder::new().start();
    let workers: Vec<_> = (0..2)
        .map(|w| {
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || {
                    let batch = Scope::new().name("batch");
                    batch.run(|_| {
                        let mut kept = Vec::new();
                        for i in 0..200 {
                            // Every 50th request keeps its memory past its 64 KiB limit.
                            let req = Scope::new().name("request").limit_live_bytes(64 * KIB);
                            req.run(|req| {
                                let size = if i % 50 == 49 { 100 * KIB } else { 4 * KIB };
                                let v = black_box(vec![0u8; size as usize]);
                                if req.check().is_err() {
                                    kept.push(v);
                                }
                            });
                            std::thread::sleep(std::time::Duration::from_micros(200));
                        }
                        kept.len()
                    })
                })
                .expect("spawning a worker")
        })
        .collect();
    for w in workers {
        w.join().expect("a worker panicked");
    }
    let trace = rec.finish();
    trace.save(&path)?;
    println!(
        "wrote {path}: {} events on {} threads, {} counter samples, {} dropped; open it in https://ui.perfetto.dev",
        trace.events(),
        trace.threads(),
        trace.counter_samples(),
        trace.dropped()
    );
    Ok(())
}
