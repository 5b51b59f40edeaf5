//! A minimal HTTP/1.1 client for the `http_*` tests: raw bytes in, status,
//! headers and body out. Declares no global allocator: each test file
//! chooses its own.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A parsed response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses a whole response (skipping `100 Continue`); panics on anything
/// that is not one, showing it.
pub(crate) fn parse_reply(mut raw: &[u8]) -> Reply {
    loop {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of header in {:?}", String::from_utf8_lossy(raw)));
        let head = std::str::from_utf8(&raw[..end]).expect("header is UTF-8");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
        let status: u16 = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("bad header {l:?}"));
                (n.to_owned(), v.to_owned())
            })
            .collect();
        let rest = &raw[end + 4..];
        if status == 100 {
            raw = rest;
            continue;
        }
        let reply = Reply {
            status,
            headers,
            body: rest.to_vec(),
        };
        if let Some(len) = reply.header("content-length") {
            assert_eq!(
                len.parse::<usize>().unwrap(),
                reply.body.len(),
                "Content-Length"
            );
        }
        assert_eq!(reply.header("connection"), Some("close"));
        return reply;
    }
}

/// Connects with generous timeouts.
pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads until the server closes.
pub(crate) fn read_all(mut s: &TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the response: {e} (got {} bytes)", out.len()),
        }
    }
}

/// Sends `raw` (tolerating a server that answers before reading it all),
/// half-closes (so a truncated request ends), and reads the whole response.
pub(crate) fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut s = connect(addr);
    let _ = s.write_all(raw);
    let _ = s.shutdown(Shutdown::Write);
    parse_reply(&read_all(&s))
}

/// `METHOD target` with an optional body, sent as curl and Go's client
/// send it: the whole request, then reading the response without closing
/// the sending half (the server takes a half-close while it works on a
/// delta as the client going away).
pub(crate) fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Reply {
    let mut raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: heapwise-test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    let mut s = connect(addr);
    s.write_all(&raw).expect("sending the request");
    parse_reply(&read_all(&s))
}

pub(crate) fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target, b"")
}

pub(crate) fn post(addr: SocketAddr, target: &str, body: &[u8]) -> Reply {
    request(addr, "POST", target, body)
}

/// Asserts an error reply: status, Go's header, a text message containing
/// `needle`.
pub(crate) fn assert_error(r: &Reply, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("x-go-pprof"), Some("1"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(
        r.text().contains(needle),
        "{needle:?} not in {:?}",
        r.text()
    );
    assert!(r.text().ends_with('\n'));
}

/// Whether `s` has had neither an answer nor a close yet (without waiting).
pub(crate) fn still_waiting(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let waiting =
        matches!(s.peek(&mut [0u8]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    waiting
}

/// Four connections to `addr` whose five-minute deltas hold every delta
/// slot (process-wide, 4): they are being served, and stay so until they
/// close. Waits for the deltas of earlier tests to end first (the caller
/// keeps other tests from starting new ones); panics if the slots are not
/// all theirs within two minutes.
pub(crate) fn hold_every_delta_slot(addr: SocketAddr) -> Vec<TcpStream> {
    use heapwise::http::__private::deltas_in_progress;
    let until = Instant::now() + Duration::from_secs(120);
    while deltas_in_progress() > 0 {
        assert!(Instant::now() < until, "earlier deltas never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    let holders: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut c = connect(addr);
            c.write_all(b"GET /debug/pprof/heap?seconds=300 HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    while deltas_in_progress() < 4 {
        assert!(Instant::now() < until, "the delta slots never filled");
        std::thread::sleep(Duration::from_millis(10));
    }
    holders
}
