//! The framework-free request and response: what [`handle`](super::handle)
//! takes and returns, and what the built-in server reads from and writes to
//! the socket.

/// A request to the endpoint: method, raw path, raw query and body.
///
/// Build one with [`Request::new`] from whatever your HTTP framework hands
/// you; the path and query are taken raw (percent-encoded, as on the wire)
/// and decoded by [`handle`](super::handle).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The method, as sent (`"GET"`, `"HEAD"`, `"POST"`, ...; case-sensitive).
    pub method: String,
    /// The path, percent-encoded as in the request line, e.g.
    /// `"/debug/pprof/heap"`.
    pub path: String,
    /// The query string without the `?`, percent-encoded, e.g.
    /// `"seconds=30"`; empty if there is none.
    pub query: String,
    /// The request body (only `POST /debug/pprof/symbol` reads it).
    pub body: Vec<u8>,
}

impl Request {
    /// A request for `target`, a path with an optional query
    /// (`"/debug/pprof/heap?debug=1"`): what axum's `Uri::path_and_query`
    /// or hyper's `uri().path_and_query()` give.
    pub fn new(method: impl Into<String>, target: &str, body: impl Into<Vec<u8>>) -> Request {
        let target = target.split_once('#').map_or(target, |(t, _)| t);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.into(),
            path: path.to_owned(),
            query: query.to_owned(),
            body: body.into(),
        }
    }

    /// A `GET` of `target`, with no body.
    pub fn get(target: &str) -> Request {
        Request::new("GET", target, Vec::new())
    }
}

/// The endpoint's answer: status, content type, extra headers and body.
///
/// Write it out as is: the built-in server adds `Content-Length` and
/// `Connection: close`; a framework adds its own framing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The HTTP status code: 200, or 4xx/5xx with a one-line message as the
    /// body.
    pub status: u16,
    /// The `Content-Type` header's value.
    pub content_type: &'static str,
    /// Other headers, such as `Content-Disposition` for profiles, `Allow`
    /// for a 405, and `X-Go-Pprof: 1` on errors (it tells `go tool pprof`
    /// to show the body as the server's message).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Content types the endpoint answers with.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
pub(crate) const HTML: &str = "text/html; charset=utf-8";
pub(crate) const JSON: &str = "application/json";
pub(crate) const BINARY: &str = "application/octet-stream";

impl Response {
    /// A 200 response.
    pub(crate) fn ok(content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status: 200,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// An error: `message` as text, with Go's `X-Go-Pprof: 1` header.
    pub(crate) fn error(status: u16, message: impl Into<String>) -> Response {
        let mut body = message.into().into_bytes();
        body.push(b'\n');
        Response {
            status,
            content_type: TEXT,
            headers: vec![
                ("X-Go-Pprof".to_owned(), "1".to_owned()),
                ("X-Content-Type-Options".to_owned(), "nosniff".to_owned()),
            ],
            body,
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The standard reason phrase of [`Response::status`] (`"OK"`, `"Not
    /// Found"`, ...).
    pub fn reason(&self) -> &'static str {
        reason(self.status)
    }

    /// The value of the header `name` (case-insensitive) among
    /// [`Response::headers`], or `Content-Type`.
    pub fn header(&self, name: &str) -> Option<&str> {
        if name.eq_ignore_ascii_case("content-type") {
            return Some(self.content_type);
        }
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The reason phrase of the statuses the endpoint uses.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        // nginx's, for a client that left before its answer: never sent.
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_splits_into_path_and_query() {
        let r = Request::new("GET", "/debug/pprof/heap?debug=1#x", b"".to_vec());
        assert_eq!(
            (r.path.as_str(), r.query.as_str()),
            ("/debug/pprof/heap", "debug=1")
        );
        let r = Request::get("/a");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/a", ""));
        let e = Response::error(404, "no");
        assert_eq!(e.header("x-go-pprof"), Some("1"));
        assert_eq!(e.header("Content-Type"), Some(TEXT));
        assert_eq!(e.reason(), "Not Found");
        assert_eq!(e.body, b"no\n");
    }
}
