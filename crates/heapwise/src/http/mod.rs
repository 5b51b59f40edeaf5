//! The profiling endpoint (cargo feature `http`): Go's `net/http/pprof` for
//! heapwise, so `go tool pprof http://127.0.0.1:6060/debug/pprof/heap`
//! works against a running Rust program.
//!
//! ```toml
//! [dependencies]
//! heapwise = { version = "0.1", features = ["http"] }
//! ```
//!
//! The feature adds no dependency: the server is `std::net` and a small
//! HTTP/1.1 parser.
//!
//! # Two ways to serve it
//!
//! **On its own port**, with the built-in server on a background thread:
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//!
//! fn main() -> std::io::Result<()> {
//!     // Serves for the life of the process (Server::shutdown stops it).
//!     let server = heapwise::http::serve("127.0.0.1:6060")?;
//!     eprintln!("go tool pprof {}", server.heap_url());
//!     // ... the program's work ...
//!     # Ok(())
//! }
//! ```
//!
//! **Mounted in your own HTTP server** through the framework-free
//! [`handle`]: build a [`Request`] from the method, the path and query, and
//! the body, and write out the [`Response`]. With axum (the
//! `http_axum` example has the whole program):
//!
//! ```no_run
//! # use axum::{body::Bytes, http::{Method, Uri}, routing::any, Router};
//! async fn pprof(method: Method, uri: Uri, body: Bytes) -> axum::response::Response {
//!     let target = uri.path_and_query().map_or("/", |p| p.as_str());
//!     let request = heapwise::http::Request::new(method.as_str(), target, body.to_vec());
//!     // handle() blocks (symbolization, ?seconds=N): keep it off the async workers.
//!     let r = tokio::task::spawn_blocking(move || heapwise::http::handle(&request)).await.unwrap();
//!     let mut response = axum::response::Response::builder()
//!         .status(r.status)
//!         .header("content-type", r.content_type);
//!     for (name, value) in &r.headers {
//!         response = response.header(name.as_str(), value.as_str());
//!     }
//!     response.body(r.body.into()).unwrap()
//! }
//! let app = Router::new().route("/debug/{*path}", any(pprof));
//! # let _: &Router = &app;
//! ```
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `/debug/pprof/` | an HTML index of the routes |
//! | `/debug/pprof/heap` | [`profile::heap()`](crate::profile::heap) as gzipped `profile.proto` (`Content-Disposition: attachment; filename="heap"`) |
//! | `/debug/pprof/allocs` | [`profile::allocs()`](crate::profile::allocs): the same figures, `alloc_space` as the default view |
//! | `…/heap?peak=1` | [`profile::peak()`](crate::profile::peak): the same figures, `peak_space` (what was live at the high-water mark) as the default view; `filename="peak"` |
//! | `…/heap?seconds=N`, `…/allocs?seconds=N` | a delta profile: `alloc_*` (and `temporary_*`) allocated during the next `N` seconds (1 to 300), `inuse_*` and `peak_*` as at the end (godeltaprof's semantics); `filename="heap-delta"` |
//! | `…/heap?debug=1`, `…/allocs?debug=1` | Go's legacy text format, with the raw sampled counts and a `# heapwise stats` trailer |
//! | `/debug/pprof/symbol` | `GET`: `num_symbols: 1`; `POST` of `0xaddr+0xaddr…` (or `GET` with it as the query): one `0xaddr function` line per address |
//! | `/debug/heapwise/stats` | JSON: [`stats()`](crate::stats()), the profiler's rate and depth, [`profile::memory()`](crate::profile::memory) |
//! | `/metrics` (feature `metrics`) | Prometheus' text format: the process's figures and, per scope name, live scopes, live bytes, allocated bytes and blocks, limits and limit crossings (counters keep ended scopes); query parameters are ignored, as exporters ignore them |
//! | `/debug/heapwise/scopes` | JSON array of the live named scopes ([`Scope::named`](crate::Scope::named)): id, name, parent id, usage, limits (`null` when unset), hard, exceeded (`null`, or kind, limit, used and the scope that crossed) |
//!
//! Samples (a real run of the `http_serve` example; `#` lines are
//! tab-separated, long lines cut here):
//!
//! ```text
//! $ curl -s '127.0.0.1:6060/debug/pprof/heap?debug=1'
//! heap profile: 12: 839680 [977: 14471248] @ heap/131072
//! 9: 589824 [9: 589824] @ 0x56052dca1db6 0x56052dc9a959 0x56052dca400b ...
//! #  0x56052dca1db5  http_serve::load_cache::{{closure}}  /work/wt-unwind/crates/heapwise/examples/http_serve.rs:27
//! #  0x56052dc9a958  core::iter::adapters::map::map_fold::{{closure}}  /rustc/.../library/core/src/iter/adapters/map.rs:88
//! ...
//!
//! # heapwise stats
//! # allocated_bytes = 71091487
//! # freed_bytes = 69854939
//! # live_bytes = 1236548
//! ...
//! # profile_rate = 65536
//! # profile_samples = 991
//! # profile_live_samples = 12
//! # profiler_bytes = 897808
//!
//! $ curl -s 127.0.0.1:6060/debug/heapwise/stats
//! {"installed": true, "stats": {"allocated_bytes": 71193443, "freed_bytes": 69957095, "live_bytes": 1236348, "peak_bytes": 1387450, "allocs": 1846172, "frees": 1846148, "reallocs": 618150, "calls": 3074170}, "profiler": {"rate": 65536, "max_depth": 64, "samples": 992, "live_samples": 12, "stacks": 8, "buckets": 28, "stack_bytes": 2320, "bucket_bytes": 2604, "live_bytes": 61440, "unwind_bytes": 831444, "carried_bytes": 0, "bitmap_bytes": 0, "total_bytes": 897808}}
//!
//! $ curl -s 127.0.0.1:6060/debug/heapwise/scopes
//! [
//!   {"id": 1, "name": "session", "parent": null, "usage": {"bytes": 102400, "allocs": 1, "frees": 0, "freed_bytes": 0, "reallocs": 0, "calls": 1, "live_bytes": 102400, "peak_bytes": 102400}, "limits": {"bytes": null, "live_bytes": 2097152, "allocs": null, "calls": null}, "hard": false, "exceeded": null},
//!   {"id": 2, "name": "import", "parent": null, "usage": {"bytes": 81920, "allocs": 1, "frees": 0, "freed_bytes": 0, "reallocs": 0, "calls": 1, "live_bytes": 81920, "peak_bytes": 81920}, "limits": {"bytes": 65536, "live_bytes": null, "allocs": null, "calls": null}, "hard": false, "exceeded": {"scope_id": 2, "scope": "import", "kind": "bytes", "limit": 65536, "used": 81920}}
//! ]
//!
//! $ curl -s -d 0x556c2fe9d215 127.0.0.1:6060/debug/pprof/symbol
//! num_symbols: 1
//! 0x556c2fe9d215 http_serve::load_cache::{{closure}}
//!
//! $ curl -si '127.0.0.1:6060/debug/pprof/heap?seconds=0'
//! HTTP/1.1 400 Bad Request
//! Content-Type: text/plain; charset=utf-8
//! Content-Length: 71
//! Connection: close
//! X-Go-Pprof: 1
//! X-Content-Type-Options: nosniff
//!
//! invalid value for "seconds": "0" (a whole number of seconds, 1 to 300)
//! ```
//!
//! The scopes route lists a named scope once a thread has entered it (see
//! [`Scope::named`](crate::Scope::named)), for as long as something holds
//! it.
//!
//! Errors are one line of text with Go's `X-Go-Pprof: 1` header, which `go
//! tool pprof` shows as the server's message: 400 for an unknown or
//! malformed parameter (parameters are checked strictly, so `?second=30`
//! is an error rather than a silent full profile) and for `seconds` with
//! `debug`, 404 for an unknown path, 405 for a method the path does not
//! take, 408/413/414/431 for requests that are too slow or too large, 503
//! when busy.
//!
//! # Design
//!
//! **Loopback by default.** [`serve`] refuses any address that is not
//! loopback unless [`ServeOptions::allow_remote`] says otherwise. There is
//! no authentication, and a heap profile tells whoever reads it what the
//! program does, the paths and symbols of its binary, and where its code is
//! mapped (which defeats ASLR); a `?seconds=300` request holds a
//! connection for five minutes. Reach it over an SSH tunnel or `kubectl
//! port-forward`, or mount [`handle`] behind your own server's access
//! control.
//!
//! **A thread per connection, with a cap.** Requests are rare (a human or a
//! scraper every few seconds) and mostly slow for reasons of their own:
//! symbolizing a profile takes tens to hundreds of milliseconds, and
//! `?seconds=N` sleeps by design. A short-lived thread per connection keeps
//! each one independent of the others without an async runtime or a
//! dependency, and the accept loop (its own thread, `heapwise-http`) only
//! accepts and hands over, so nothing a client does can stall it. The cap
//! ([`ServeOptions::max_connections`]) bounds the threads and memory the
//! endpoint can take, and a slow client cannot keep others out: when every
//! slot is taken, the connection that has waited longest for the rest of
//! its request, if 250 ms or more, is dropped (with a 408) to make room
//! for the new one; a connection being served (its request in: a profile
//! build, a delta, the response) is never dropped, and when no connection
//! can be, a new one gets a 503 at once. At most 4 delta requests sleep at once, so they cannot
//! take every slot, and a delta whose client goes away (closes,
//! half-closes or resets the connection, as Go's server and hyper see it)
//! ends then, with no answer, freeing both its slots; profile builds and
//! symbol lookups run one at a time process-wide, so concurrent requests
//! do not multiply the debug-info memory a build maps.
//!
//! **Timeouts and limits.** A connection serves one request (`Connection:
//! close`). A client that sends nothing, or one byte at a time, gets a 408
//! and its thread back; one that reads nothing is dropped.
//!
//! | limit | default | beyond it |
//! |---|---|---|
//! | connections at once ([`ServeOptions::max_connections`]) | 16 | the one waiting longest (≥ 250 ms) for its request is dropped (408), else 503 |
//! | the request head, from the accept ([`ServeOptions::head_timeout`]) | 2 s (at most the timeout) | 408 |
//! | the whole request; each write ([`ServeOptions::timeout`]) | 10 s | 408; dropped |
//! | the whole response | 6 × the timeout | dropped |
//! | delta requests at once (process-wide) | 4 | 503 |
//! | request line | 8 KiB | 414 |
//! | request head | 32 KiB, 100 fields | 431 |
//! | body (only `POST /debug/pprof/symbol` has one) | 1 MiB | 413 |
//!
//! **Outside every scope.** The server's threads, and [`handle`] wherever
//! it is called, run under [`untracked`](crate::untracked): building a
//! profile is never charged to your scopes nor trips their limits. Nor is
//! it sampled by the profiler, so profiles do not show the endpoint (its
//! allocations are still in the process-wide [`stats`](crate::stats())).
//!
//! # Go compatibility
//!
//! `go tool pprof URL` fetches `heap` and `allocs` (with `-seconds N` it
//! adds `?seconds=N`), and resolves any address the profile left
//! unsymbolized through `/debug/pprof/symbol`; the legacy `?debug=1` text
//! carries addresses only, so pprof symbolizes it entirely that way when it
//! fetches it over HTTP. pprof simplifies names it did not get from the
//! profile itself as if they were demangled C++ (dropping `<...>`, so
//! `<Vec<T> as Extend<T>>::extend` shows as `::extend`); add
//! `-symbolize=demangle=none` to see them whole. `?gc=N` is accepted and
//! has no effect (in-use figures are always current). Go's other profiles
//! (`goroutine`, `profile`, `block`, ...) are 404s naming the two heapwise
//! serves.

mod json;
mod legacy;
mod message;
#[cfg(feature = "metrics")]
mod metrics;
mod parse;
mod profiles;
mod query;
mod routes;
mod server;
mod slots;
mod symbol;

pub use self::message::{Request, Response};
pub use self::routes::handle;
pub use self::server::{serve, ServeOptions, Server};

/// Entry points for the fuzz targets in `crates/heapwise/fuzz/` and the
/// tests; not API.
#[doc(hidden)]
pub mod __private {
    /// How many `?seconds=N` deltas are running (process-wide).
    pub fn deltas_in_progress() -> usize {
        super::profiles::deltas_in_progress()
    }

    /// Runs the request parsers on hostile bytes: the head scanner over
    /// `data` arriving in two reads (split where its first byte says), the
    /// head parser, and the query-string parser. Panics only on a bug.
    pub fn fuzz_request(data: &[u8]) {
        use super::parse::{parse_head, HeadScanner, LIMITS};
        let split = data
            .first()
            .map_or(0, |&b| b as usize % (data.len().max(1)));
        let mut scanner = HeadScanner::default();
        let first = scanner.scan(&data[..split], &LIMITS);
        let whole = match first {
            Ok(None) => scanner.scan(data, &LIMITS),
            other => other,
        };
        if let Ok(Some(n)) = whole {
            assert!(n <= data.len());
            if let Ok(head) = parse_head(&data[..n], &LIMITS) {
                let query = head.target.split_once('?').map_or("", |(_, q)| q);
                if let Ok(params) = super::query::Params::parse(query) {
                    let _ = params.allow(&["debug", "seconds", "gc"]);
                    let _ = params.get("seconds");
                }
                let _ = super::query::decode(&head.target, false);
            }
        }
        let _ = super::query::Params::parse(&String::from_utf8_lossy(data));
    }
}
