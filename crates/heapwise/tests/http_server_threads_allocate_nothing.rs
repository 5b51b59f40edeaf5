//! The endpoint's threads allocate nothing counted as the program's: not
//! when they start (std copies a thread's name on the new thread before any
//! code of heapwise's runs there: 18 bytes, flushed into the process
//! figures whenever that thread next flushed, which made
//! `http_serving_is_heapwises_own_work` fail 2 runs in 100 under load), not
//! while serving; and they free nothing as the program's (std frees a
//! connection thread's packet, handle and closure after the closure
//! returns: three blocks a request, 200 bytes, were counted as the
//! program's frees, and 6,000 requests took a server's `live_bytes` to 0).
#![cfg(feature = "http")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod http_support;

use http_support::get;
use std::sync::Mutex;
use std::thread::ThreadId;

static TEST_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Notes a counted call of a thread other than the test's.
fn seen(size: usize, what: &str) {
    let t = std::thread::current();
    if Some(t.id()) != *TEST_THREAD.lock().unwrap() {
        let name = format!("{:?}", t.name());
        SEEN.lock()
            .unwrap()
            .push(format!("{size} bytes {what} on thread {name}"));
    }
}

#[test]
fn no_server_thread_allocates_as_the_program() {
    *TEST_THREAD.lock().unwrap() = Some(std::thread::current().id());
    // Every counted allocation of every other thread (this binary runs this
    // test alone, so they are the server's).
    let probe =
        heapwise::events::alloc::attach(|_ptr, size, _align, _scope| seen(size, "allocated"));
    let server = heapwise::http::serve("127.0.0.1:0").unwrap().stop_on_drop();
    let addr = server.local_addr();
    // Frees from here on: the server threads have started (std frees what
    // `serve` allocated for them, the program's, as they start).
    get(addr, "/nope");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let freed = heapwise::events::free::attach(|_ptr, size, _align, _scope| seen(size, "freed"));
    for target in [
        "/debug/pprof/heap",
        "/debug/pprof/allocs?debug=1",
        "/debug/heapwise/stats",
        "/nope",
    ] {
        get(addr, target);
    }
    // The connection threads have ended: their last frees are made.
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop((probe, freed));
    // (Stopping frees the server threads' handles, made by `serve` on this
    // thread and counted as the program's: their frees are too.)
    drop(server);
    assert_eq!(*SEEN.lock().unwrap(), Vec::<String>::new());
}
