//! Serving the endpoint is heapwise's own work: the process figures move
//! by exactly what the client's own code allocated, nothing of the server's
//! (building, encoding and writing the profile); `handle()` adds only the
//! response it returns.
#![cfg(feature = "http")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod http_support;

use heapwise::http::{Request, ServeOptions};
use heapwise::Scope;
use http_support::get;

/// The process figures' allocations and bytes during `f`, and the same
/// figures of a scope `f` ran in: equal when nothing else was counted.
fn counted(f: impl FnOnce()) -> ((u64, u64), (u64, u64)) {
    let client = Scope::new().name("client");
    let before = heapwise::stats();
    client.run(|_| f());
    let after = heapwise::stats();
    let u = client.usage();
    (
        (
            after.allocs - before.allocs,
            after.allocated_bytes - before.allocated_bytes,
        ),
        (u.allocs, u.bytes),
    )
}

#[test]
fn serving_moves_no_process_figure() {
    assert!(heapwise::installed());
    let server = ServeOptions::default()
        .serve("127.0.0.1:0")
        .unwrap()
        .stop_on_drop();
    let addr = server.local_addr();
    get(addr, "/debug/pprof/heap"); // warm up (the debug info is mapped once)
    for target in [
        "/debug/pprof/heap",
        "/debug/pprof/allocs?debug=1",
        "/debug/heapwise/stats",
    ] {
        let (process, client) = counted(|| {
            let r = get(addr, target);
            assert_eq!(r.status, 200, "{target}");
        });
        assert_eq!(
            process, client,
            "{target}: only the client's own allocations"
        );
    }
    // handle() allocates exactly one copy of its response, the caller's.
    let request = Request::get("/debug/pprof/heap");
    let before = heapwise::stats();
    let response = heapwise::http::handle(&request);
    let handled = heapwise::stats();
    let copy = heapwise::untracked(|| response.clone());
    let copied = heapwise::stats();
    assert_eq!(response.status, 200);
    assert_eq!(
        (
            handled.allocs - before.allocs,
            handled.allocated_bytes - before.allocated_bytes
        ),
        (
            copied.allocs - handled.allocs,
            copied.allocated_bytes - handled.allocated_bytes
        ),
        "handle(): only the response it returns"
    );
    drop((response, copy));
}
