//! The endpoint's routes over a real TCP connection: profiles that decode
//! and hold this test's allocation sites, Go's legacy text, the symbol
//! lookup, the JSON routes, the index, and the status of every kind of bad
//! request.
#![cfg(feature = "http")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod http_support;

use std::hint::black_box;
use std::net::SocketAddr;

use heapwise::http::{serve, ServeOptions, Server};
use heapwise::pprof::Profile;
use heapwise::{profile, Scope};
use http_support::*;
use serde_json::Value;

fn start() -> Server {
    profile::set_rate(1);
    serve("127.0.0.1:0")
        .expect("serve on loopback")
        .stop_on_drop()
}

#[inline(never)]
fn build_parser_tables() -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(50);
    for i in 0..50 {
        v.push(black_box(vec![i as u8; 4000]));
    }
    v
}

#[inline(never)]
fn build_legacy_index() -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(30);
    for i in 0..30 {
        v.push(black_box(vec![i as u8; 7000]));
    }
    v
}

#[inline(never)]
fn build_symbol_site() -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(3);
    for i in 0..3 {
        v.push(black_box(vec![i as u8; 900]));
    }
    v
}

/// Sum of `index` over the samples whose stack names `function`.
fn site(p: &Profile, function: &str, index: &str) -> i64 {
    let i = p.sample_type_index(index).unwrap();
    p.sample
        .iter()
        .filter(|s| p.stack_function_names(s).contains(&function))
        .map(|s| s.value[i])
        .sum()
}

#[test]
fn heap_and_allocs_are_gzipped_profiles_with_our_sites() {
    let server = start();
    let kept = build_parser_tables();
    let addr = server.local_addr();

    let r = get(addr, "/debug/pprof/heap");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"heap\"")
    );
    assert_eq!(&r.body[..2], &[0x1f, 0x8b], "gzip");
    let p = Profile::decode(&r.body).unwrap();
    assert_eq!(p.string(p.default_sample_type), "inuse_space");
    assert_eq!(p.period, 1);
    let f = "http_routes::build_parser_tables";
    // 50 blocks and the Vec holding them.
    assert_eq!(site(&p, f, "inuse_space"), 50 * 4000 + 50 * 24);
    assert_eq!(site(&p, f, "inuse_objects"), 51);
    assert!(site(&p, f, "alloc_space") >= 50 * 4000 + 50 * 24);
    // The endpoint's own work is never sampled.
    for s in &p.sample {
        let names = p.stack_function_names(s);
        assert!(
            !names.iter().any(|n| n.contains("heapwise::http")),
            "{names:?}"
        );
    }

    let r = get(addr, "/debug/pprof/allocs");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"allocs\"")
    );
    let p = Profile::decode(&r.body).unwrap();
    assert_eq!(p.string(p.default_sample_type), "alloc_space");
    assert_eq!(site(&p, f, "inuse_space"), 50 * 4000 + 50 * 24);

    // The peak: the same figures, the peak the default view.
    let r = get(addr, "/debug/pprof/heap?peak=1");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"peak\"")
    );
    let p = Profile::decode(&r.body).unwrap();
    assert_eq!(p.string(p.default_sample_type), "peak_space");
    // (What was live at the peak depends on the other tests of this
    // process: `profile_peak_temporary_exit.rs` checks the figures.)
    let i = p.sample_type_index("peak_space").unwrap();
    assert!(p.sample.iter().map(|s| s.value[i]).sum::<i64>() > 0);
    for (query, error) in [
        ("heap?peak=2", "invalid value for \"peak\": \"2\""),
        (
            "heap?peak=1&debug=1",
            "peak and debug params are incompatible",
        ),
        ("allocs?peak=1", "peak"),
    ] {
        let r = get(addr, &format!("/debug/pprof/{query}"));
        assert_eq!(r.status, 400, "{query}");
        let body = String::from_utf8_lossy(&r.body);
        assert!(body.contains(error), "{query}: {body}");
    }

    // HEAD: the same header, no body.
    let mut s = connect(addr);
    std::io::Write::write_all(&mut s, b"HEAD /debug/heapwise/stats HTTP/1.1\r\n\r\n").unwrap();
    let raw = read_all(&s);
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "no body: {text}");
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(len > 100, "the GET body's length: {text}");
    drop(kept);
}

#[test]
fn debug_1_is_gos_legacy_text_with_raw_counts() {
    let server = start();
    let kept = build_legacy_index();
    let r = get(server.local_addr(), "/debug/pprof/heap?debug=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let text = r.text();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    // heap profile: I: IB [A: AB] @ heap/<2*rate>
    let nums: Vec<u64> = header
        .strip_prefix("heap profile: ")
        .and_then(|h| h.strip_suffix(" @ heap/2"))
        .unwrap_or_else(|| panic!("{header}"))
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 4, "{header}");
    assert!(nums[1] >= 30 * 7000 && nums[3] > nums[1], "{header}");

    // Records: sorted by in-use bytes, addresses, then # frame lines.
    let mut records = Vec::new();
    let mut current: Option<(u64, u64, u64, u64, Vec<String>)> = None;
    for line in text.lines().skip(1) {
        if let Some(rest) = line.strip_prefix('#') {
            if let Some(c) = current.as_mut() {
                c.4.push(rest.to_owned());
            }
            continue;
        }
        if let Some((values, addrs)) = line.split_once(" @ ") {
            let v: Vec<u64> = values
                .split(|c: char| !c.is_ascii_digit())
                .filter(|w| !w.is_empty())
                .map(|w| w.parse().unwrap())
                .collect();
            assert_eq!(v.len(), 4, "{line}");
            assert!(addrs.split(' ').all(|a| a.starts_with("0x")), "{line}");
            if let Some(c) = current.take() {
                records.push(c);
            }
            current = Some((v[0], v[1], v[2], v[3], Vec::new()));
        }
    }
    records.extend(current);
    assert!(
        records.windows(2).all(|w| w[0].1 >= w[1].1),
        "sorted by in-use bytes"
    );
    let ours: Vec<_> = records
        .iter()
        .filter(|r| {
            r.4.iter()
                .any(|l| l.contains("http_routes::build_legacy_index"))
        })
        .collect();
    // Rate 1: the raw counts are the exact figures (30 blocks and the Vec
    // holding them, in one record per call site).
    let objects: u64 = ours.iter().map(|r| r.0).sum();
    let bytes: u64 = ours.iter().map(|r| r.1).sum();
    assert_eq!((objects, bytes), (31, 30 * 7000 + 30 * 24), "{text}");
    assert!(ours[0].4[0].starts_with("\t0x"), "{:?}", ours[0].4);
    assert!(ours[0].4.iter().any(|l| l.contains("http_routes.rs:")));

    assert!(text.contains("\n# heapwise stats\n"), "{text}");
    for field in [
        "allocated_bytes",
        "live_bytes",
        "profile_rate",
        "profiler_bytes",
    ] {
        assert!(text.contains(&format!("\n# {field} = ")), "{field}");
    }
    assert!(text.contains("\n# profile_rate = 1\n"));

    let r = get(server.local_addr(), "/debug/pprof/allocs?debug=1");
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("heap profile: "));
    drop(kept);
}

#[test]
fn symbol_lookup_names_our_functions() {
    let server = start();
    let addr = server.local_addr();
    let r = get(addr, "/debug/pprof/symbol");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "num_symbols: 1\n");

    // An address inside this test's site, from a profile.
    let kept = build_symbol_site();
    let p = profile::heap();
    let f = "http_routes::build_symbol_site";
    let sample = p
        .sample
        .iter()
        .find(|s| p.stack_function_names(s).contains(&f))
        .unwrap();
    let pc = p.location_by_id(sample.location_id[0]).unwrap().address;
    // And a function's entry address.
    let entry = index_lists_the_routes as fn() as usize as u64;

    let body = format!("{pc:#x}+garbage+0x0+{entry:#x}");
    let r = post(addr, "/debug/pprof/symbol", body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.starts_with("num_symbols: 1\n"), "{text}");
    let line = format!("{pc:#x} {f}\n");
    assert!(text.contains(&line), "{line:?} not in {text:?}");
    let entry_line = format!("{entry:#x} http_routes::index_lists_the_routes\n");
    assert!(text.contains(&entry_line), "{entry_line:?} not in {text:?}");
    assert_eq!(text.lines().count(), 3, "{text}");

    // GET with the addresses as the query, as Go also takes them.
    let r = get(addr, &format!("/debug/pprof/symbol?{pc:#x}"));
    assert!(r.text().contains(&line), "{}", r.text());

    // POST with Expect: 100-continue (curl sends it for larger bodies): the
    // body goes once the server says so.
    let head = format!(
        "POST /debug/pprof/symbol HTTP/1.1\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    let mut s = connect(addr);
    std::io::Write::write_all(&mut s, head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    std::io::Read::read_exact(&mut s, &mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    std::io::Write::write_all(&mut s, body.as_bytes()).unwrap();
    let reply = parse_reply(&read_all(&s));
    assert!(reply.text().contains(&line), "{}", reply.text());
    drop(kept);
}

#[test]
fn stats_is_json_with_the_profiler() {
    let server = start();
    let r = get(server.local_addr(), "/debug/heapwise/stats");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).expect("valid JSON");
    assert_eq!(v["installed"], Value::Bool(true));
    let st = &v["stats"];
    for key in [
        "allocated_bytes",
        "freed_bytes",
        "live_bytes",
        "peak_bytes",
        "allocs",
        "frees",
        "reallocs",
        "calls",
    ] {
        assert!(st[key].is_u64(), "{key}: {v}");
    }
    assert!(st["allocated_bytes"].as_u64().unwrap() > 0);
    assert!(st["peak_bytes"].as_u64() >= st["live_bytes"].as_u64());
    let p = &v["profiler"];
    assert_eq!(p["rate"], 1);
    assert_eq!(p["max_depth"], profile::max_depth() as u64);
    for key in [
        "samples",
        "live_samples",
        "stacks",
        "buckets",
        "stack_bytes",
        "bucket_bytes",
        "live_bytes",
        "unwind_bytes",
        "total_bytes",
    ] {
        assert!(p[key].is_u64(), "{key}: {v}");
    }
}

fn scope_json(scopes: &Value, id: u64) -> &Value {
    scopes
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("scope {id} not in {scopes}"))
}

#[test]
fn scopes_lists_live_named_scopes_with_limits() {
    let server = start();
    let name = "tricky \"name\"\\ with\nnewline, tab\t, \u{1} and é";
    let parent = Scope::new().name(name).limit_bytes(1000);
    // A named scope is listed once a thread has entered it.
    parent.run(|_| ());
    let child = parent
        .child()
        .name("child")
        .limit_live_bytes(1 << 20)
        .limit_calls(1_000_000)
        .hard();
    let kept = child.run(|_| vec![1u8; 2000]);
    assert!(parent.exceeded().is_some());
    let quiet = Scope::new().name("quiet");
    quiet.run(|_| ());

    let r = get(server.local_addr(), "/debug/heapwise/scopes");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).expect("valid JSON");

    let p = scope_json(&v, parent.id());
    assert_eq!(p["name"], name);
    assert_eq!(p["parent"], Value::Null);
    assert_eq!(p["usage"]["bytes"], 2000);
    assert_eq!(p["usage"]["live_bytes"], 2000);
    assert_eq!(p["limits"]["bytes"], 1000);
    assert_eq!(p["limits"]["live_bytes"], Value::Null);
    assert_eq!(p["limits"]["allocs"], Value::Null);
    assert_eq!(p["hard"], false);
    assert_eq!(p["exceeded"]["kind"], "bytes");
    assert_eq!(p["exceeded"]["limit"], 1000);
    assert_eq!(p["exceeded"]["used"], 2000);
    assert_eq!(p["exceeded"]["scope_id"], parent.id());

    let c = scope_json(&v, child.id());
    assert_eq!(c["name"], "child");
    assert_eq!(c["parent"], parent.id());
    assert_eq!(c["limits"]["live_bytes"], 1 << 20);
    assert_eq!(c["limits"]["calls"], 1_000_000);
    assert_eq!(c["hard"], true);
    // Exceeded through its parent: the crossing names the parent.
    assert_eq!(c["exceeded"]["scope"], name);
    assert_eq!(c["exceeded"]["scope_id"], parent.id());

    let q = scope_json(&v, quiet.id());
    assert_eq!(q["exceeded"], Value::Null);
    assert_eq!(q["usage"]["bytes"], 0);
    drop(kept);
}

#[test]
fn index_lists_the_routes() {
    let server = start();
    for path in ["/debug/pprof/", "/debug/pprof"] {
        let r = get(server.local_addr(), path);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let text = r.text();
        for route in [
            "/debug/pprof/heap",
            "/debug/pprof/allocs",
            "/debug/pprof/heap?debug=1",
            "/debug/pprof/heap?seconds=30",
            "/debug/pprof/symbol",
            "/debug/heapwise/stats",
            "/debug/heapwise/scopes",
            "/debug/heapwise/snapshot",
        ] {
            assert!(text.contains(&format!("href=\"{route}\"")), "{route}");
        }
    }
}

#[test]
fn bad_requests_get_a_4xx_with_a_message() {
    let server = start();
    let addr: SocketAddr = server.local_addr();
    assert_error(&get(addr, "/nope"), 404, "404 page not found: /nope");
    // This process did not start with HEAPWISE_SNAPSHOT=1.
    assert_error(
        &get(addr, "/debug/heapwise/snapshot"),
        501,
        "start the process with HEAPWISE_SNAPSHOT=1",
    );
    assert_error(
        &get(addr, "/debug/pprof/goroutine"),
        404,
        "unknown profile \"goroutine\"",
    );
    assert_error(&get(addr, "/debug/pprof/heap/x"), 404, "page not found");

    let r = post(addr, "/debug/pprof/heap", b"");
    assert_error(&r, 405, "method POST not allowed on /debug/pprof/heap");
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = request(addr, "DELETE", "/debug/pprof/symbol", b"");
    assert_error(&r, 405, "not allowed");
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
    assert_error(
        &request(addr, "get", "/debug/heapwise/stats", b""),
        405,
        "not allowed",
    );

    for (target, message) in [
        (
            "/debug/pprof/heap?seconds=0",
            "invalid value for \"seconds\": \"0\"",
        ),
        (
            "/debug/pprof/heap?seconds=-1",
            "invalid value for \"seconds\"",
        ),
        (
            "/debug/pprof/heap?seconds=abc",
            "invalid value for \"seconds\"",
        ),
        (
            "/debug/pprof/heap?seconds=1.5",
            "invalid value for \"seconds\"",
        ),
        ("/debug/pprof/heap?seconds=301", "1 to 300"),
        (
            "/debug/pprof/heap?seconds=99999999999999999999999",
            "invalid value",
        ),
        (
            "/debug/pprof/allocs?seconds=",
            "invalid value for \"seconds\"",
        ),
        (
            "/debug/pprof/heap?seconds=5&debug=1",
            "seconds and debug params are incompatible",
        ),
        ("/debug/pprof/heap?debug=x", "invalid value for \"debug\""),
        ("/debug/pprof/heap?gc=yes", "invalid value for \"gc\""),
        (
            "/debug/pprof/heap?second=30",
            "unknown parameter \"second\"",
        ),
        ("/debug/pprof/heap?debug=1&debug=1", "more than once"),
        ("/debug/pprof/heap?debug=%zz", "invalid percent-encoding"),
        ("/debug/pprof/%zz", "bad path"),
        ("/debug/heapwise/stats?x=1", "takes none"),
        ("/debug/heapwise/scopes?verbose", "takes none"),
        ("/debug/pprof/?a=b", "takes none"),
    ] {
        assert_error(&get(addr, target), 400, message);
    }
    // Percent-encoded paths and parameters are decoded.
    assert_eq!(get(addr, "/debug/pprof/%68eap?%64ebug=1").status, 200);
    assert_eq!(get(addr, "/debug/pprof/heap?gc=1&debug=1").status, 200);
    assert_eq!(get(addr, "/debug/pprof/heap?debug=0").status, 200);
    // Absolute-form targets, as a proxy sends them.
    let r = get(addr, &format!("http://{addr}/debug/heapwise/stats"));
    assert_eq!(r.status, 200);
}

#[test]
fn only_loopback_unless_allowed() {
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:6060"] {
        let e = serve(addr).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("not a loopback address"), "{e}");
        assert!(e.to_string().contains("allow_remote(true)"), "{e}");
    }
    let e = serve("no-such-host.invalid:80");
    assert!(e.is_err());

    let local = serve("localhost:0").expect("localhost is loopback");
    assert!(local.local_addr().ip().is_loopback());
    drop(local);

    // Allowed explicitly: bound on every interface, reached over loopback.
    let any = ServeOptions::new()
        .allow_remote(true)
        .serve("0.0.0.0:0")
        .unwrap();
    assert!(any.local_addr().ip().is_unspecified());
    let port = any.local_addr().port();
    let r = get(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "/debug/heapwise/stats",
    );
    assert_eq!(r.status, 200);
    any.shutdown();
}

#[test]
fn shutdown_and_stop_on_drop_close_the_listener_and_detach_keeps_it() {
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    assert!(server.heap_url().ends_with("/debug/pprof/heap"));
    server.shutdown();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );

    let server = serve("127.0.0.1:0").unwrap().stop_on_drop();
    let addr = server.local_addr();
    drop(server);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );

    let server = serve("127.0.0.1:0").unwrap().stop_on_drop();
    let addr = server.local_addr();
    server.detach();
    assert_eq!(get(addr, "/debug/heapwise/stats").status, 200);

    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    drop(server);
    assert_eq!(get(addr, "/debug/heapwise/stats").status, 200);
}

#[test]
fn a_server_whose_handle_is_dropped_keeps_serving() {
    // A free port: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The one-liner people write: the handle is dropped at once.
    let _ = serve(("127.0.0.1", port));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(get(addr, "/debug/heapwise/stats").status, 200);
    assert_eq!(get(addr, "/debug/pprof/").status, 200);
}

#[cfg(target_os = "linux")]
#[test]
fn the_accept_loop_is_a_named_thread() {
    let comms = || -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let server = start();
    assert!(
        comms().iter().any(|c| c == "heapwise-http"),
        "{:?}",
        comms()
    );
    assert!(
        comms().iter().any(|c| c == "heapwise-http-b"),
        "the 503 thread"
    );
    drop(server);
}

/// What Parca and Grafana Alloy's `pyroscope.scrape` send for a Go memory
/// profile (their default path is `/debug/pprof/allocs`, not a delta): a
/// Go client's request with the Prometheus scrape headers.
#[test]
fn fleet_scrapers_requests_are_answered() {
    let server = start();
    for path in [
        "/debug/pprof/allocs",
        "/debug/pprof/heap",
        "/debug/pprof/allocs?seconds=1",
    ] {
        let raw = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Alloy/v1.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\nConnection: close\r\n\r\n",
            server.local_addr()
        );
        // Sent whole, the connection left open as a Go client leaves it.
        let mut c = connect(server.local_addr());
        std::io::Write::write_all(&mut c, raw.as_bytes()).unwrap();
        let r = parse_reply(&read_all(&c));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let p = Profile::decode(&r.body).unwrap();
        p.validate().unwrap();
        assert_eq!(p.sample_type_index("alloc_space"), Some(1), "{path}");
    }
}
