//! [`handle`]: the routes, for the built-in server and for any framework.

use super::message::{Response, HTML, JSON, TEXT};
use super::profiles::{self, Kind, Wait};
use super::query::{decode, truncate, Params};
use super::{json, symbol, Request};
use crate::local::own_work;
use crate::untracked;

/// Answers one request to the endpoint: the framework-free handler.
///
/// Routes (all `GET`, and `HEAD`; the symbol lookup also takes `POST`):
///
/// | path | answer |
/// |---|---|
/// | `/debug/pprof/` | an HTML index of these routes |
/// | `/debug/pprof/heap` | [`profile::heap()`](crate::profile::heap), gzipped `profile.proto` |
/// | `/debug/pprof/allocs` | [`profile::allocs()`](crate::profile::allocs), the same with `alloc_space` as the default view |
/// | `/debug/pprof/symbol` | function names for addresses (`go tool pprof`'s remote symbolization) |
/// | `/debug/heapwise/stats` | [`stats()`](crate::stats()), the profiler's rate and memory, as JSON |
/// | `/debug/heapwise/scopes` | the live named scopes ([`Scope::named`](crate::Scope::named)) with usage and limits, as JSON |
/// | `/debug/heapwise/snapshot` | [`snapshot::take()`](crate::snapshot::take) as Chrome DevTools' `.heapsnapshot` (the process must run with `HEAPWISE_SNAPSHOT=1`: else 501, naming it) |
///
/// `heap` and `allocs` take `?debug=1` (Go's legacy text format),
/// `?seconds=N` (a delta over the next `N` seconds, 1 to 300) and `?gc=N`
/// (accepted, no effect). Any other parameter, a malformed value, `seconds`
/// with `debug`, a malformed percent-escape: 400. An unknown path: 404. A
/// method the path does not take: 405 with `Allow`. Errors are one line of
/// text with the header `X-Go-Pprof: 1`, which `go tool pprof` shows as
/// the server's message.
///
/// `HEAD` is answered as `GET` (body included; the server, or your
/// framework, leaves it out of the response).
///
/// # Blocking
///
/// This function blocks: building a profile symbolizes it (tens to hundreds
/// of milliseconds; profile builds and symbol lookups are serialized
/// process-wide), and `?seconds=N` sleeps `N` seconds, holding one of the
/// 4 process-wide delta slots even if your client goes away meanwhile
/// (`handle` sees no connection; the built-in server ends a delta whose
/// client leaves). From async code, call it on a blocking thread
/// (`tokio::task::spawn_blocking`).
///
/// Everything it does is heapwise's own work: no scope around your
/// framework's handler is charged for it (not even a hard-limited one), no
/// profile shows it, and no process figure but
/// [`Stats::heapwise_bytes`](crate::Stats::heapwise_bytes) counts it. Only
/// the returned [`Response`] is your memory: counted in the process
/// figures, in no scope, never sampled, freed wherever you drop it.
pub fn handle(request: &Request) -> Response {
    own_work(
        || respond(request, &profiles::sleep),
        |r| untracked(|| r.clone()),
    )
}

/// [`handle`], with `wait` waiting out a delta's window (the built-in
/// server's watches the connection). Run it as heapwise's own work.
pub(crate) fn respond(request: &Request, wait: Wait<'_>) -> Response {
    route(request, wait)
}

/// Which methods a route takes.
const GET: &[&str] = &["GET", "HEAD"];
const GET_POST: &[&str] = &["GET", "HEAD", "POST"];

fn route(req: &Request, wait: Wait<'_>) -> Response {
    let path = match decode(&req.path, false) {
        Ok(p) => p,
        Err(e) => return Response::error(400, format!("bad path: {e}")),
    };
    type Serve = fn(&Request, &Params, Wait<'_>) -> Response;
    let (methods, serve): (&[&str], Serve) = match path.as_str() {
        "/debug/pprof" | "/debug/pprof/" => (GET, |_, q, _| no_params(q, index)),
        "/debug/pprof/heap" => (GET, |_, q, w| profiles::serve(Kind::Heap, q, w)),
        "/debug/pprof/allocs" => (GET, |_, q, w| profiles::serve(Kind::Allocs, q, w)),
        "/debug/pprof/symbol" => (GET_POST, |r, _, _| symbol_route(r)),
        "/debug/heapwise/stats" => (GET, |_, q, _| {
            no_params(q, || Response::ok(JSON, json::stats_json().into_bytes()))
        }),
        "/debug/heapwise/scopes" => (GET, |_, q, _| {
            no_params(q, || Response::ok(JSON, json::scopes_json().into_bytes()))
        }),
        "/debug/heapwise/snapshot" => (GET, |_, q, _| no_params(q, snapshot_route)),
        #[cfg(feature = "metrics")]
        // Query parameters ignored, as exporters do: a scrape config's
        // `params:` (set for every target of a job) must not fail the scrape.
        "/metrics" => (GET, |_, _, _| {
            Response::ok(
                super::metrics::CONTENT_TYPE,
                super::metrics::text().into_bytes(),
            )
        }),
        _ => return not_found(&path),
    };
    if !methods.contains(&req.method.as_str()) {
        return Response::error(
            405,
            format!(
                "method {} not allowed on {path} (use {})",
                truncate(&req.method),
                methods.join(" or ")
            ),
        )
        .with_header("Allow", methods.join(", "));
    }
    // The symbol route's query is its address list, not parameters.
    let params = if path == "/debug/pprof/symbol" {
        Params::default()
    } else {
        match Params::parse(&req.query) {
            Ok(p) => p,
            Err(e) => return Response::error(400, format!("bad query: {e}")),
        }
    };
    serve(req, &params, wait)
}

/// Answers `f()` if the request has no parameters, else 400.
fn no_params(params: &Params, f: impl FnOnce() -> Response) -> Response {
    match params.allow(&[]) {
        Ok(()) => f(),
        Err(e) => Response::error(400, e),
    }
}

fn not_found(path: &str) -> Response {
    let message = match path.strip_prefix("/debug/pprof/") {
        Some(name) if !name.contains('/') => format!(
            "unknown profile {:?}: heapwise serves heap and allocs (see /debug/pprof/)",
            truncate(name)
        ),
        _ => format!(
            "404 page not found: {} (heapwise serves /debug/pprof/ and /debug/heapwise/)",
            truncate(path)
        ),
    };
    Response::error(404, message)
}

fn symbol_route(req: &Request) -> Response {
    let input: &[u8] = if req.method == "POST" {
        &req.body
    } else {
        req.query.as_bytes()
    };
    let body = if input.is_empty() {
        symbol::lookup(b"")
    } else {
        let _g = profiles::build_lock();
        symbol::lookup(input)
    };
    Response::ok(TEXT, body.into_bytes())
}

/// The routes, for the index page: path, description.
const ROUTES: [(&str, &str); 9] = [
    (
        "/debug/pprof/heap",
        "A sampling of memory allocations of live objects (the default view is inuse_space).",
    ),
    (
        "/debug/pprof/allocs",
        "A sampling of all past memory allocations (the default view is alloc_space).",
    ),
    (
        "/debug/pprof/heap?debug=1",
        "The heap profile in Go's legacy text format, with a heapwise stats trailer.",
    ),
    (
        "/debug/pprof/heap?seconds=30",
        "A delta: allocations during the next 30 seconds; in-use figures as at the end.",
    ),
    (
        "/debug/pprof/allocs?seconds=30",
        "The same delta, with alloc_space as the default view.",
    ),
    (
        "/debug/pprof/symbol",
        "Function names for addresses (used by go tool pprof).",
    ),
    (
        "/debug/heapwise/stats",
        "Process-wide heap figures and the profiler's rate and memory, as JSON.",
    ),
    (
        "/debug/heapwise/scopes",
        "Live named scopes with their usage, limits and exceeded state, as JSON.",
    ),
    (
        "/debug/heapwise/snapshot",
        "A heap snapshot (every live block, what points to what) for Chrome DevTools' Memory tab or heapwise snapshot; needs HEAPWISE_SNAPSHOT=1.",
    ),
];

/// A heap snapshot, one at a time (each holds the graph in memory).
fn snapshot_route() -> Response {
    let _one = profiles::build_lock();
    let snapshot = match crate::snapshot::take() {
        Ok(s) => s,
        Err(e) if e.kind() == crate::snapshot::ErrorKind::NotTracking => {
            return Response::error(501, e.to_string())
        }
        Err(e) => return Response::error(500, e.to_string()),
    };
    let mut body = Vec::new();
    match snapshot.write(&mut body) {
        Ok(()) => Response::ok(JSON, body).with_header(
            "Content-Disposition",
            "attachment; filename=\"heap.heapsnapshot\"",
        ),
        Err(e) => Response::error(500, e.to_string()),
    }
}

fn index() -> Response {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>/debug/pprof/</title></head>\n<body>\n\
         <h1>/debug/pprof/</h1>\n<p>heapwise heap profiling. Try <code>go tool pprof \
         http://HOST:PORT/debug/pprof/heap</code>.</p>\n<table>\n",
    );
    for (path, what) in ROUTES {
        html.push_str(&format!(
            "<tr><td><a href=\"{href}\">{name}</a></td><td>{what}</td></tr>\n",
            href = path,
            name = path.trim_start_matches("/debug/pprof/"),
        ));
    }
    html.push_str("</table>\n</body>\n</html>\n");
    Response::ok(HTML, html.into_bytes())
}
