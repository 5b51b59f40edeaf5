//! The profiling endpoint on its own port: `heapwise::http::serve` on a
//! background thread while the program works.
//!
//! ```sh
//! cargo run --release --features http --example http_serve
//! # in another terminal, while it runs:
//! go tool pprof -top http://127.0.0.1:6060/debug/pprof/heap
//! go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/allocs?seconds=5'
//! curl -s 127.0.0.1:6060/debug/heapwise/scopes
//! ```
//!
//! With `--features metrics` it also serves `/metrics` for Prometheus.
//!
//! With `--self-test` it serves on a free port, fetches every route once,
//! prints what it got, and exits (CI runs it so).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use heapwise::{Scope, KIB, MIB};

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

/// Something the program keeps: a 1 MiB cache.
#[inline(never)]
fn load_cache() -> Vec<Vec<u8>> {
    (0..16).map(|i| vec![i as u8; 64 * 1024]).collect()
}

/// A request's work, in a named scope with a budget: builds rows and drops
/// them. Every seventh request builds too many and is cancelled.
#[inline(never)]
fn handle_request(id: u64) -> Result<usize, heapwise::LimitExceeded> {
    let scope = Scope::new()
        .name(if id % 7 == 0 { "report" } else { "request" })
        .limit_bytes(256 * KIB);
    scope.run(|s| {
        let rows = if id % 7 == 0 { 10_000 } else { 1_000 };
        let mut out = Vec::new();
        for i in 0..rows {
            out.push(format!("row {i}: {}", "x".repeat(16)));
            s.check()?;
        }
        Ok(out.len())
    })
}

/// `GET path` over a fresh connection: (status, body).
fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no end of header"))?;
    let status = std::str::from_utf8(&reply[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("no status"))?;
    Ok((status, reply[end + 4..].to_vec()))
}

fn self_test(addr: SocketAddr) -> io::Result<()> {
    let metrics: &[&str] = if cfg!(feature = "metrics") {
        &["/metrics"]
    } else {
        &[]
    };
    let paths = [
        "/debug/pprof/",
        "/debug/pprof/heap",
        "/debug/pprof/allocs",
        "/debug/pprof/heap?debug=1",
        "/debug/pprof/heap?seconds=1",
        "/debug/pprof/symbol",
        "/debug/heapwise/stats",
        "/debug/heapwise/scopes",
        "/debug/pprof/heap?seconds=0",
        "/debug/pprof/goroutine",
    ];
    for &path in paths.iter().chain(metrics) {
        let (status, body) = get(addr, path)?;
        println!("GET {path} -> {status}, {} bytes", body.len());
        let expected = if path.ends_with("=0") {
            400
        } else if path.ends_with("goroutine") {
            404
        } else {
            200
        };
        if status != expected {
            return Err(io::Error::other(format!(
                "{path}: status {status}, expected {expected}"
            )));
        }
        if body.starts_with(&[0x1f, 0x8b]) {
            let p = heapwise::pprof::Profile::decode(&body).map_err(io::Error::other)?;
            println!(
                "    profile.proto: {} samples, period {}",
                p.sample.len(),
                p.period
            );
        } else {
            for line in String::from_utf8_lossy(&body).lines().take(4) {
                let cut: String = line.chars().take(160).collect();
                println!("    {cut}");
            }
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    assert!(heapwise::installed());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let testing = args.iter().any(|a| a == "--self-test");
    let addr = args.iter().find(|a| !a.starts_with("--")).map_or(
        if testing {
            "127.0.0.1:0"
        } else {
            "127.0.0.1:6060"
        },
        |a| a.as_str(),
    );
    // Sample often so a short run shows something (the default is 512 KiB).
    heapwise::profile::set_rate(64 * KIB);

    let server = heapwise::http::serve(addr)?;
    println!("serving http://{}/debug/pprof/", server.local_addr());
    println!("try: go tool pprof -top {}", server.heap_url());

    let cache = load_cache();
    // A long-lived named scope with a limit, for /debug/heapwise/scopes.
    let session = Scope::new().name("session").limit_live_bytes(2 * MIB);
    let kept = session.run(|_| vec![0u8; 100 * 1024]);
    // And one that crossed its limit.
    let import = Scope::new().name("import").limit_bytes(64 * KIB);
    let staged = import.run(|_| vec![0u8; 80 * 1024]);

    let mut id = 0;
    let rounds = if testing { 50 } else { u64::MAX };
    while id < rounds {
        id += 1;
        if let Err(e) = handle_request(id) {
            if id < 20 {
                println!("request {id}: {e}");
            }
        }
        if !testing {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if testing {
        self_test(server.local_addr())?;
        server.shutdown();
        println!("self-test ok");
    }
    drop((cache, kept, session, staged, import));
    Ok(())
}
