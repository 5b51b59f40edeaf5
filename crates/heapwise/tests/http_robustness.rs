//! The server under bad clients: garbage, truncated and oversized requests,
//! a slowloris, idle connections, a client that reads nothing, 24 clients at
//! once, more connections than the cap, and slow clients filling every
//! slot. Every bad request gets a 4xx (or a 5xx for what HTTP says is the
//! server's), nothing panics, and the server keeps answering everyone else.
#![cfg(feature = "http")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod http_support;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use heapwise::http::{ServeOptions, Server};
use http_support::*;

fn server(timeout_ms: u64, max_connections: usize) -> Server {
    ServeOptions::new()
        .timeout(Duration::from_millis(timeout_ms))
        .max_connections(max_connections)
        .serve("127.0.0.1:0")
        .unwrap()
        .stop_on_drop()
}

/// Tests that hold the process-wide delta slots, or make the server build
/// many profiles, run one at a time: builds are serialized process-wide,
/// and under valgrind a long queue of them could outlast a client's read
/// timeout.
static HEAVY: Mutex<()> = Mutex::new(());

/// The server still answers, promptly.
fn assert_alive(addr: SocketAddr) {
    let t = Instant::now();
    let r = get(addr, "/debug/heapwise/stats");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn garbage_and_truncated_requests_get_4xx() {
    let s = server(2000, 16);
    let addr = s.local_addr();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..40 {
        let len = 1 + (round * 37) % 600;
        let mut junk = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk.push(match x % 9 {
                0 => b'\n',
                1 => b'\r',
                2 => b' ',
                _ => (x >> 16) as u8,
            });
        }
        if round % 2 == 0 {
            junk.extend_from_slice(b"\r\n\r\n");
        }
        let r = exchange(addr, &junk);
        assert!(
            (400..=505).contains(&r.status),
            "{}: {}",
            r.status,
            r.text()
        );
        assert_eq!(r.header("x-go-pprof"), Some("1"));
    }
    for (raw, status, message) in [
        (&b"GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n"[..], 400, "incomplete request"),
        (b"GET /debug/pprof/he", 400, "incomplete request"),
        (b"\r\n\r\n\r\n", 400, "incomplete request"),
        (
            b"POST /debug/pprof/symbol HTTP/1.1\r\nContent-Length: 100\r\n\r\n0x1+0x2",
            400,
            "7 of 100 body bytes",
        ),
        (b"GET / HTTP/2.0\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
        (b"GET * HTTP/1.1\r\n\r\n", 400, "request target"),
        (b"GET /debug/pprof/ HTTP/1.1\r\nBad Header\r\n\r\n", 400, "no colon"),
        (
            b"GET /debug/pprof/ HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            400,
            "folding",
        ),
        (
            b"POST /debug/pprof/symbol HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n0x1\r\n0\r\n\r\n",
            501,
            "Transfer-Encoding",
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
            "conflicting Content-Length",
        ),
        (
            b"GET / HTTP/1.1\r\nExpect: something-else\r\n\r\n",
            417,
            "100-continue",
        ),
        (b"GET /\x00\x01 HTTP/1.1\r\n\r\n", 400, "request target"),
    ] {
        assert_error(&exchange(addr, raw), status, message);
    }
    assert_alive(addr);
}

#[test]
fn oversized_requests_are_refused() {
    let s = server(2000, 16);
    let addr = s.local_addr();
    let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(10_000));
    assert_error(
        &exchange(addr, long_line.as_bytes()),
        414,
        "request line longer than 8192 bytes",
    );
    let big_head = format!(
        "GET /debug/pprof/ HTTP/1.1\r\n{}\r\n",
        "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(600)
    );
    assert_error(
        &exchange(addr, big_head.as_bytes()),
        431,
        "request header larger than 32768 bytes",
    );
    let many = format!(
        "GET /debug/pprof/ HTTP/1.1\r\n{}\r\n",
        "A: b\r\n".repeat(150)
    );
    assert_error(
        &exchange(addr, many.as_bytes()),
        431,
        "more than 100 header fields",
    );
    // Refused on the header alone; the body is never read.
    let big_body = b"POST /debug/pprof/symbol HTTP/1.1\r\nContent-Length: 50000000\r\n\r\n0x1+";
    assert_error(
        &exchange(addr, big_body),
        413,
        "request body larger than 1048576 bytes",
    );
    // A symbol lookup just under the limit works.
    let body = "0x1+".repeat(250_000);
    let r = post(addr, "/debug/pprof/symbol", body.as_bytes());
    assert_eq!(r.status, 200);
    assert_alive(addr);
}

#[test]
fn slowloris_and_idle_connections_time_out_while_others_are_served() {
    let s = server(1500, 16);
    let addr = s.local_addr();
    // One byte every 100 ms, never finishing the request.
    let slow = thread::spawn(move || {
        let mut c = connect(addr);
        let start = Instant::now();
        let request = [
            &b"GET /debug/pprof/heap HTTP/1.1\r\nX-Slow: "[..],
            &[b'a'; 1000],
        ]
        .concat();
        for b in request {
            if c.write_all(&[b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
            if start.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        let _ = c.shutdown(Shutdown::Write);
        (parse_reply(&read_all(&c)), start.elapsed())
    });
    // One that sends nothing at all.
    let idle = thread::spawn(move || {
        let c = connect(addr);
        let start = Instant::now();
        (parse_reply(&read_all(&c)), start.elapsed())
    });
    // Meanwhile everyone else is served.
    let until = Instant::now() + Duration::from_millis(1200);
    let mut served = 0;
    while Instant::now() < until {
        assert_alive(addr);
        served += 1;
    }
    assert!(served > 3);
    for (name, handle) in [("slowloris", slow), ("idle", idle)] {
        let (r, elapsed) = handle.join().unwrap();
        assert_error(&r, 408, "request not received within 1.5s");
        assert!(
            elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(4),
            "{name}: {elapsed:?}"
        );
    }
    assert_alive(addr);
}

#[test]
fn a_client_that_reads_nothing_blocks_no_one() {
    let s = server(1000, 16);
    let addr = s.local_addr();
    // Ask for the largest responses and never read them.
    let mut mute = Vec::new();
    for _ in 0..4 {
        let mut c = connect(addr);
        c.write_all(b"GET /debug/pprof/heap?debug=1 HTTP/1.1\r\n\r\n")
            .unwrap();
        mute.push(c);
    }
    for _ in 0..5 {
        assert_alive(addr);
    }
    drop(mute);
    assert_alive(addr);
}

#[test]
fn twenty_four_concurrent_clients() {
    let _serial = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    // Room for every client (and a closing connection each): this is about
    // concurrent requests, not the cap.
    let s = server(10_000, 64);
    let addr = s.local_addr();
    let barrier = Arc::new(Barrier::new(24));
    let clients: Vec<_> = (0..24)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let mut statuses = Vec::new();
                for j in 0..6 {
                    let (target, want) = match (i + j) % 8 {
                        0 => ("/debug/pprof/heap", 200),
                        1 => ("/debug/pprof/allocs?debug=1", 200),
                        2 => ("/debug/heapwise/stats", 200),
                        3 => ("/debug/heapwise/scopes", 200),
                        4 => ("/debug/pprof/", 200),
                        5 => ("/debug/pprof/symbol", 200),
                        6 => ("/debug/pprof/heap?seconds=abc", 400),
                        _ => ("/nowhere", 404),
                    };
                    let r = get(addr, target);
                    statuses.push((target, r.status, want));
                }
                statuses
            })
        })
        .collect();
    for c in clients {
        for (target, got, want) in c.join().unwrap() {
            assert_eq!(got, want, "{target}");
        }
    }
    assert_alive(addr);
}

#[test]
fn connections_beyond_the_cap_get_503() {
    let _serial = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let s = server(3000, 4);
    let addr = s.local_addr();
    // Four connections being served (five-minute deltas) hold every slot:
    // a connection being served is never dropped for a new one.
    let holders = hold_every_delta_slot(addr);
    let r = get(addr, "/debug/heapwise/stats");
    assert_error(&r, 503, "too many connections in progress");
    assert_eq!(r.header("retry-after"), Some("1"));
    // A burst beyond the cap: all answered (503), none hangs.
    let burst: Vec<_> = (0..20)
        .map(|_| thread::spawn(move || get(addr, "/debug/pprof/").status))
        .collect();
    for b in burst {
        assert_eq!(b.join().unwrap(), 503);
    }
    for h in &holders {
        assert!(still_waiting(h), "a delta was dropped");
    }
    // Once the holders leave (their deltas end then), the slots are free
    // again.
    drop(holders);
    // Every slot: the cap's worth of requests at once are all served,
    // promptly. (A connection holds its slot until the server has seen the
    // client close, a moment after the client has its answer; so a round
    // may still meet the previous round's connections, and is retried.)
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let start = Arc::new(Barrier::new(4));
        let round: Vec<_> = (0..4)
            .map(|_| {
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    let t = Instant::now();
                    (get(addr, "/debug/heapwise/stats").status, t.elapsed())
                })
            })
            .collect();
        let round: Vec<_> = round.into_iter().map(|t| t.join().unwrap()).collect();
        if round.iter().all(|&(status, _)| status == 200) {
            for (_, took) in round {
                assert!(took < Duration::from_secs(2), "{took:?}");
            }
            break;
        }
        assert!(Instant::now() < until, "slots never all freed: {round:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A connection that has sent part of a request head and stops there.
fn slow_client(addr: SocketAddr) -> TcpStream {
    let mut c = connect(addr);
    c.write_all(b"GET /debug/pprof/heap HTTP/1.1\r\nX-Slow: a")
        .unwrap();
    c
}

#[test]
fn the_request_head_has_a_deadline_of_its_own() {
    // The defaults: a 10 s timeout, 2 s for the request head.
    let s = ServeOptions::new().serve("127.0.0.1:0").unwrap();
    let addr = s.local_addr();
    // A head that never ends is refused after 2 s, not 10.
    let slow_head = thread::spawn(move || {
        let start = Instant::now();
        let c = slow_client(addr);
        (parse_reply(&read_all(&c)), start.elapsed())
    });
    // A body may take longer: the whole request has the 10 s.
    let slow_body = thread::spawn(move || {
        let mut c = connect(addr);
        c.write_all(b"POST /debug/pprof/symbol HTTP/1.1\r\nContent-Length: 3\r\n\r\n0x")
            .unwrap();
        thread::sleep(Duration::from_millis(2500));
        c.write_all(b"1").unwrap();
        parse_reply(&read_all(&c))
    });
    let (r, elapsed) = slow_head.join().unwrap();
    assert_error(&r, 408, "request not received within 2s");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(8),
        "{elapsed:?}"
    );
    let r = slow_body.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with("num_symbols: 1\n"), "{}", r.text());
}

#[test]
fn sixteen_slow_clients_leave_room_for_new_ones() {
    // The defaults: 16 connections at once.
    let s = ServeOptions::new().serve("127.0.0.1:0").unwrap();
    let addr = s.local_addr();
    let slow: Vec<TcpStream> = (0..16).map(|_| slow_client(addr)).collect();
    // Clients whose heads have not come in a quarter of a second.
    thread::sleep(DRIBBLING);
    // Every slot is taken by a slow client, yet new ones are served at
    // once: each in the place of the slow client that has waited longest.
    for _ in 0..4 {
        assert_alive(addr);
    }
    // The slow clients are told, whether dropped for a new one or at their
    // deadline.
    for c in slow {
        assert_eq!(parse_reply(&read_all(&c)).status, 408);
    }
    assert_alive(addr);
}

#[test]
fn the_longest_waiting_unfinished_request_makes_room_never_one_being_served() {
    let _serial = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    // Room for six; request heads may take a minute here, so that only a
    // new connection ends them.
    let s = ServeOptions::new()
        .max_connections(6)
        .head_timeout(Duration::from_secs(60))
        .serve("127.0.0.1:0")
        .unwrap();
    let addr = s.local_addr();
    // Four connections being served (five-minute deltas), then two still
    // sending their request heads, the older first.
    let holders = hold_every_delta_slot(addr);
    let older = slow_client(addr);
    thread::sleep(DRIBBLING);
    let newer = slow_client(addr);
    // Every slot is taken; a new client is served at once, in the older
    // slow client's place (the newer has not waited long enough to be
    // taken for a dribbler).
    assert_alive(addr);
    let r = parse_reply(&read_all(&older));
    assert_error(
        &r,
        408,
        "dropped to make room for a new connection (at most 6 at once)",
    );
    // The rest are untouched.
    assert!(still_waiting(&newer), "the newer slow client was dropped");
    for h in &holders {
        assert!(still_waiting(h), "a delta was dropped");
    }
}

/// How long a connection may wait for its request head before a new one
/// may take its slot (`http/slots.rs`), and a little more.
const DRIBBLING: Duration = Duration::from_millis(300);

#[test]
fn a_burst_of_clients_is_served_or_told_to_retry_never_taken_for_slow() {
    let _serial = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    // The defaults: 16 connections at once.
    let s = ServeOptions::new().serve("127.0.0.1:0").unwrap();
    let addr = s.local_addr();
    let start = Arc::new(Barrier::new(60));
    let clients: Vec<_> = (0..60)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                // The whole request in one write, as any client sends it;
                // profile builds run one at a time, so served connections
                // keep their slots while new ones arrive.
                get(addr, "/debug/pprof/heap").status
            })
        })
        .collect();
    let statuses: Vec<u16> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 503),
        "a client that sent its whole request was dropped: {statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
}
