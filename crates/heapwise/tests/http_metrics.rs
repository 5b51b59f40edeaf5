//! `/metrics` (feature `metrics`): the process's and each scope name's
//! figures in Prometheus' text format, exact, with counters that keep what
//! ended scopes did; and a real Prometheus scraping it (ignored: needs
//! prometheus).
#![cfg(feature = "metrics")]

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod http_support;

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use heapwise::http::{serve, Server};
use heapwise::Scope;
use http_support::*;

fn start() -> Server {
    serve("127.0.0.1:0")
        .expect("serve on loopback")
        .stop_on_drop()
}

/// `name{labels}`'s value on the page (`None` if absent).
fn metric(page: &str, series: &str) -> Option<u64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// Runs `n` scopes named `name` with a 1000-byte limit; every fourth
/// allocates 2000 bytes (and exceeds it), the others 600. Returns the bytes.
fn requests(name: &'static str, n: usize) -> u64 {
    let mut bytes = 0;
    for i in 0..n {
        let size = if i % 4 == 3 { 2000 } else { 600 };
        Scope::new()
            .name(name)
            .limit_bytes(1000)
            .run(|_| black_box(vec![0u8; size]));
        bytes += size as u64;
    }
    bytes
}

#[test]
fn metrics_has_the_process_and_each_scope_name() {
    let server = start();
    // 40 ended scopes: the registry prunes them on the way (at 32), so
    // some totals come from pruned scopes and some from listed ones.
    let ended = requests("login", 40);
    let live = Scope::new().name("login").limit_live_bytes(1 << 20);
    let kept = live.run(|_| black_box(vec![1u8; 5000]));

    let r = get(server.local_addr(), "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let page = r.text();
    for family in [
        "# TYPE heapwise_live_bytes gauge",
        "# TYPE heapwise_allocated_bytes_total counter",
        "# TYPE heapwise_scope_allocated_bytes_total counter",
        "# HELP heapwise_scope_live_bytes ",
    ] {
        assert!(page.contains(family), "{family}\n{page}");
    }
    // Every line is a comment or `name[{labels}] value`.
    for line in page.lines() {
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(series.starts_with("heapwise_"), "{line}");
        value.parse::<u64>().unwrap_or_else(|_| panic!("{line}"));
    }
    assert!(metric(&page, "heapwise_live_bytes").unwrap() >= 5000);
    assert!(metric(&page, "heapwise_allocations_total").unwrap() >= 41);
    let s = |name: &str| metric(&page, &format!("{name}{{scope=\"login\"}}"));
    assert_eq!(s("heapwise_scopes"), Some(1));
    assert_eq!(s("heapwise_scope_live_bytes"), Some(5000));
    assert_eq!(
        s("heapwise_scope_allocated_bytes_total"),
        Some(ended + 5000)
    );
    assert_eq!(s("heapwise_scope_allocations_total"), Some(41));
    assert_eq!(s("heapwise_scope_limit_exceeded_total"), Some(10));
    assert_eq!(
        metric(
            &page,
            "heapwise_scope_limit_bytes{scope=\"login\",kind=\"live_bytes\"}"
        ),
        Some(1 << 20)
    );

    // Counters never go down: more scopes end and are pruned.
    drop(kept);
    drop(live);
    let more = requests("login", 100);
    let page = get(server.local_addr(), "/metrics").text();
    let s = |name: &str| metric(&page, &format!("{name}{{scope=\"login\"}}"));
    assert_eq!(s("heapwise_scopes"), Some(0));
    assert_eq!(
        s("heapwise_scope_allocated_bytes_total"),
        Some(ended + 5000 + more)
    );
    assert_eq!(s("heapwise_scope_allocations_total"), Some(141));
    assert_eq!(s("heapwise_scope_limit_exceeded_total"), Some(35));

    // Parameters are ignored, as exporters ignore them (a scrape config's
    // `params:` go to every target of a job; a 400 failed the scrape); a
    // name with quotes is escaped.
    let with_params = get(server.local_addr(), "/metrics?module=x&x=1");
    assert_eq!(with_params.status, 200);
    assert!(with_params.text().contains("heapwise_scopes{"));
    Scope::new().name("a \"b\"\n").run(|_| ());
    let page = get(server.local_addr(), "/metrics").text();
    assert!(
        page.contains("heapwise_scopes{scope=\"a \\\"b\\\"\\n\"} 0"),
        "{page}"
    );
}

/// A recursive function in scopes of one name, each level allocating
/// 1000 bytes and holding them while it recurses.
fn recurse(depth: usize) -> usize {
    Scope::new().name("visit").run(|_| {
        let here = black_box(vec![0u8; 1000]);
        here.len() + if depth > 1 { recurse(depth - 1) } else { 0 }
    })
}

#[test]
fn nested_scopes_of_one_name_are_counted_once() {
    let server = start();
    assert_eq!(recurse(5), 5000);
    // Two levels, the inner one still held with its block.
    let outer = Scope::new().name("nest");
    let (inner, kept) = outer.run(|_| {
        let inner = Scope::new().name("nest");
        let kept = inner.run(|_| black_box(vec![1u8; 1000]));
        (inner, kept)
    });
    let page = get(server.local_addr(), "/metrics").text();
    let s = |name: &str, scope: &str| metric(&page, &format!("{name}{{scope=\"{scope}\"}}"));
    // Each level's bytes are in every enclosing level's figures: summed
    // per name they were 15000 and 2000.
    assert_eq!(
        s("heapwise_scope_allocated_bytes_total", "visit"),
        Some(5000),
        "{page}"
    );
    assert_eq!(s("heapwise_scope_allocations_total", "visit"), Some(5));
    assert_eq!(
        s("heapwise_scope_allocated_bytes_total", "nest"),
        Some(1000),
        "{page}"
    );
    assert_eq!(s("heapwise_scope_live_bytes", "nest"), Some(1000));
    assert_eq!(s("heapwise_scopes", "nest"), Some(2));
    drop((kept, inner, outer));
}

/// A real Prometheus scraping the endpoint every second.
struct Prometheus {
    child: Child,
    api: SocketAddr,
    _dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn prometheus(target: SocketAddr) -> Prometheus {
    let bin = heapwise_test_support::prometheus();
    let dir = std::env::temp_dir().join(format!("heapwise-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: heapwise\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={api}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus");
    Prometheus {
        child,
        api,
        _dir: dir,
    }
}

/// Prometheus' answer to an instant query: the first result's value.
fn query(p: &Prometheus, promql: &str) -> Option<f64> {
    let q: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    // HTTP/1.0: the server closes the connection and sends no chunks.
    let mut s = std::net::TcpStream::connect(p.api).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET /api/v1/query?query={q} HTTP/1.0\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let v: serde_json::Value = serde_json::from_slice(&raw[at + 4..]).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
#[ignore = "needs prometheus"]
fn a_real_prometheus_scrapes_the_scope_series() {
    let server = start();
    let bytes = requests("checkout", 8);
    let p = prometheus(server.local_addr());
    let deadline = Instant::now() + Duration::from_secs(60);
    let series = "heapwise_scope_allocated_bytes_total{scope=\"checkout\"}";
    loop {
        if query(&p, "up{job=\"heapwise\"}") == Some(1.0) {
            if let Some(v) = query(&p, series) {
                assert_eq!(v, bytes as f64);
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped {series}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        query(
            &p,
            "heapwise_scope_limit_exceeded_total{scope=\"checkout\"}"
        ),
        Some(2.0)
    );
    assert!(query(&p, "heapwise_live_bytes").unwrap() > 0.0);
}
