//! The profiling endpoint mounted in an axum app: `heapwise::http::handle`
//! behind one catch-all route, next to the app's own routes, on the app's
//! port.
//!
//! ```sh
//! cargo run --release --features http --example http_axum
//! # in another terminal:
//! curl -s 127.0.0.1:3000/hello
//! go tool pprof -top http://127.0.0.1:3000/debug/pprof/heap
//! ```
//!
//! With `--self-test` it serves on a free port, fetches a few routes, and
//! exits (CI runs it so).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

/// The whole mount: axum's request in, heapwise's response out.
async fn pprof(method: Method, uri: Uri, body: Bytes) -> Response {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = heapwise::http::Request::new(method.as_str(), target, body.to_vec());
    // handle() blocks (symbolization; ?seconds=N sleeps): not on the async workers.
    let Ok(r) = tokio::task::spawn_blocking(move || heapwise::http::handle(&request)).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "profiling handler failed",
        )
            .into_response();
    };
    let mut response = Response::builder()
        .status(r.status)
        .header(header::CONTENT_TYPE, r.content_type);
    for (name, value) in &r.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response
        .body(Body::from(r.body))
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

/// The app's own route: each request in a named, limited scope.
async fn hello() -> String {
    let scope = heapwise::Scope::new()
        .name("hello")
        .limit_live_bytes(64 * heapwise::KIB);
    scope
        .instrument(async {
            let words: Vec<String> = (0..100).map(|i| format!("hello {i}")).collect();
            words.join(" ").len().to_string()
        })
        .await
}

/// `GET path` over a fresh connection (a blocking std client, for the
/// self-test): (status, body).
fn fetch(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    let status = std::str::from_utf8(reply.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = match reply.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => reply[end + 4..].to_vec(),
        None => Vec::new(),
    };
    Ok((status, body))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    assert!(heapwise::installed());
    let testing = std::env::args().any(|a| a == "--self-test");
    heapwise::profile::set_rate(64 * heapwise::KIB);
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/debug/{*path}", any(pprof));
    let listener = tokio::net::TcpListener::bind(if testing {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    })
    .await?;
    let addr = listener.local_addr()?;
    println!("serving http://{addr}/hello and http://{addr}/debug/pprof/");
    if !testing {
        return axum::serve(listener, app).await;
    }
    tokio::spawn(async move { axum::serve(listener, app).await });
    let results = tokio::task::spawn_blocking(move || {
        [
            ("/hello", 200),
            ("/debug/pprof/heap", 200),
            ("/debug/pprof/heap?debug=1", 200),
            ("/debug/heapwise/scopes", 200),
            ("/debug/pprof/heap?seconds=x", 400),
            ("/debug/nothing", 404),
        ]
        .map(|(path, want)| (path, want, fetch(addr, path)))
    })
    .await?;
    for (path, want, got) in results {
        let (status, body) = got?;
        println!("GET {path} -> {status}, {} bytes", body.len());
        if status != want {
            return Err(std::io::Error::other(format!(
                "{path}: status {status}, expected {want}"
            )));
        }
        if path.ends_with("/heap") {
            let p = heapwise::pprof::Profile::decode(&body).map_err(std::io::Error::other)?;
            println!("    profile.proto: {} samples", p.sample.len());
        }
    }
    println!("self-test ok");
    Ok(())
}
