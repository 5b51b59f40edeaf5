//! The framework-free handler, called directly as an axum or hyper app
//! would: the same routes, and none of its work charged to the caller's
//! scope, not even inside a hard-limited one.
#![cfg(feature = "http")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::hint::black_box;

use heapwise::http::{handle, Request};
use heapwise::pprof::Profile;
use heapwise::{profile, Scope};

#[inline(never)]
fn handler_site() -> Vec<u8> {
    black_box(vec![7u8; 12_345])
}

#[test]
fn routes_answer_through_handle() {
    profile::set_rate(1);
    let kept = handler_site();
    let r = handle(&Request::get("/debug/pprof/heap"));
    assert_eq!((r.status, r.reason()), (200, "OK"));
    assert_eq!(r.content_type, "application/octet-stream");
    assert_eq!(
        r.header("Content-Disposition"),
        Some("attachment; filename=\"heap\"")
    );
    let p = Profile::decode(&r.body).unwrap();
    assert!(p.sample.iter().any(|s| p
        .stack_function_names(s)
        .contains(&"http_handler::handler_site")));

    let r = handle(&Request::get("/debug/pprof/allocs?debug=1"));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).starts_with("heap profile: "));

    let r = handle(&Request::new(
        "POST",
        "/debug/pprof/symbol",
        b"0x1".to_vec(),
    ));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).starts_with("num_symbols: 1\n"));

    let r = handle(&Request::new("HEAD", "/debug/heapwise/stats", Vec::new()));
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/json");

    let r = handle(&Request::get("/debug/pprof/profile"));
    assert_eq!((r.status, r.reason()), (404, "Not Found"));
    assert_eq!(r.header("x-go-pprof"), Some("1"));
    let r = handle(&Request::new("PUT", "/debug/pprof/heap", Vec::new()));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    let r = handle(&Request::get("/debug/pprof/heap?seconds=1&debug=1"));
    assert_eq!(r.status, 400);
    assert_eq!(r.body, b"seconds and debug params are incompatible\n");
    drop(kept);
}

#[test]
fn the_handler_is_never_charged_to_the_callers_scope() {
    profile::set_rate(1);
    // A hard 16 KiB budget: a profile build charged here would be refused
    // (and abort the process).
    let scope = Scope::new()
        .name("app-request")
        .limit_bytes(16 << 10)
        .hard();
    scope.run(|s| {
        for target in [
            "/debug/pprof/heap",
            "/debug/pprof/heap?debug=1",
            "/debug/heapwise/stats",
            "/debug/heapwise/scopes",
            "/debug/pprof/",
            "/nope",
        ] {
            let request = Request::get(target);
            let before = s.usage();
            let response = handle(&request);
            let after = s.usage();
            assert!(response.status == 200 || response.status == 404);
            assert_eq!(after.bytes, before.bytes, "{target}");
            assert_eq!(after.allocs, before.allocs, "{target}");
            drop(response);
        }
        assert!(s.exceeded().is_none());
    });
}
