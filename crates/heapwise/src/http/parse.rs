//! A small, strict HTTP/1.x request parser with size limits: what the
//! built-in server needs and nothing more.
//!
//! The head (request line and headers) is scanned incrementally as bytes
//! arrive, so a client sending one byte at a time costs O(1) per byte, and
//! it is refused as soon as a limit is crossed: a request line longer than
//! [`Limits::line`] is a 414, a head longer than [`Limits::head`] or with
//! more than [`Limits::headers`] fields a 431, a body longer than
//! [`Limits::body`] a 413. Chunked bodies are not supported (501): the only
//! body the endpoint takes is `POST /debug/pprof/symbol`, and `go tool
//! pprof` sends it with a `Content-Length`.

/// Size limits on a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Bytes of the request line, line ending included.
    pub(crate) line: usize,
    /// Bytes of the whole head: request line, headers, the empty line.
    pub(crate) head: usize,
    /// Header fields.
    pub(crate) headers: usize,
    /// Bytes of the body.
    pub(crate) body: usize,
}

/// The server's limits: an 8 KiB request line, a 32 KiB head of at most
/// 100 fields, and a 1 MiB body (about 70,000 addresses for the symbol
/// lookup; `go tool pprof` sends every unsymbolized address of a mapping in
/// one request).
pub(crate) const LIMITS: Limits = Limits {
    line: 8 << 10,
    head: 32 << 10,
    headers: 100,
    body: 1 << 20,
};

/// Why a request is refused: the status and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

/// Finds the end of the head as bytes arrive.
#[derive(Debug, Default)]
pub(crate) struct HeadScanner {
    /// Bytes already looked at.
    pos: usize,
    /// Start of the line being scanned.
    line_start: usize,
    /// Has the request line ended?
    past_request_line: bool,
}

impl HeadScanner {
    /// Looks at what `buf` (everything received so far) adds; `Ok(Some(n))`
    /// when the head is complete and is `buf[..n]`, `Ok(None)` when more is
    /// needed.
    pub(crate) fn scan(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, Refusal> {
        while self.pos < buf.len() {
            let b = buf[self.pos];
            self.pos += 1;
            if b != b'\n' {
                continue;
            }
            let line = &buf[self.line_start..self.pos];
            self.line_start = self.pos;
            if !self.past_request_line {
                if line.len() > limits.line {
                    return Err(too_long_line(limits));
                }
                // Empty lines before the request line are ignored (RFC 9112 2.2).
                if line != b"\n" && line != b"\r\n" {
                    self.past_request_line = true;
                }
            } else if line == b"\n" || line == b"\r\n" {
                if self.pos > limits.head {
                    return Err(too_large_head(limits));
                }
                return Ok(Some(self.pos));
            }
        }
        if !self.past_request_line && buf.len() - self.line_start > limits.line {
            return Err(too_long_line(limits));
        }
        if buf.len() > limits.head {
            return Err(too_large_head(limits));
        }
        Ok(None)
    }
}

fn too_long_line(limits: &Limits) -> Refusal {
    refuse(
        414,
        format!("request line longer than {} bytes", limits.line),
    )
}

fn too_large_head(limits: &Limits) -> Refusal {
    refuse(
        431,
        format!("request header larger than {} bytes", limits.head),
    )
}

/// The parsed head of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) method: String,
    /// The origin-form target: path and query (an absolute-form target's
    /// scheme and authority are removed).
    pub(crate) target: String,
    /// Body length from `Content-Length` (0 without one).
    pub(crate) content_length: usize,
    /// `Expect: 100-continue` was sent.
    pub(crate) expect_continue: bool,
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().copied().all(is_token_byte)
}

/// Parses a complete head (as delimited by [`HeadScanner`]).
pub(crate) fn parse_head(head: &[u8], limits: &Limits) -> Result<Head, Refusal> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty());
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(
            400,
            "malformed request line: expected METHOD SP target SP HTTP/1.1",
        ));
    };
    if !is_token(method) {
        return Err(refuse(400, "malformed request line: invalid method"));
    }
    match version {
        b"HTTP/1.1" | b"HTTP/1.0" => {}
        v if v.len() == 8
            && v.starts_with(b"HTTP/")
            && v[5].is_ascii_digit()
            && v[6] == b'.'
            && v[7].is_ascii_digit() =>
        {
            return Err(refuse(505, "only HTTP/1.0 and HTTP/1.1 are supported"));
        }
        _ => return Err(refuse(400, "malformed request line: invalid HTTP version")),
    }
    if target.is_empty() || !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(refuse(400, "malformed request target"));
    }
    // Only ASCII from here (checked above).
    let target = String::from_utf8_lossy(target).into_owned();
    let target = origin_form(&target).ok_or_else(|| {
        refuse(
            400,
            "malformed request target: expected a path such as /debug/pprof/heap",
        )
    })?;

    let mut content_length: Option<usize> = None;
    let mut expect_continue = false;
    let mut count = 0;
    for line in lines {
        if line.is_empty() {
            break;
        }
        count += 1;
        if count > limits.headers {
            return Err(refuse(
                431,
                format!("more than {} header fields", limits.headers),
            ));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(refuse(400, "obsolete header line folding is not accepted"));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(refuse(400, "malformed header field: no colon"));
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if !is_token(name) {
            return Err(refuse(400, "malformed header field name"));
        }
        if value.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(refuse(400, "malformed header field value"));
        }
        let value = value.trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| refuse(400, "invalid Content-Length"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(refuse(400, "conflicting Content-Length fields"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(refuse(
                501,
                "Transfer-Encoding is not supported: send the body with a Content-Length",
            ));
        } else if name.eq_ignore_ascii_case(b"expect") {
            if value.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err(refuse(417, "only Expect: 100-continue is supported"));
            }
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > limits.body {
        return Err(refuse(
            413,
            format!("request body larger than {} bytes", limits.body),
        ));
    }
    Ok(Head {
        method: String::from_utf8_lossy(method).into_owned(),
        target,
        content_length,
        expect_continue,
    })
}

/// `/path?query` from an origin-form or absolute-form target.
fn origin_form(target: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(target.to_owned());
    }
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return None;
    };
    match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => Some(rest[i..].to_owned()),
        Some(i) => Some(format!("/{}", &rest[i..])),
        None => Some("/".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &[u8]) -> Result<Head, Refusal> {
        let mut s = HeadScanner::default();
        match s.scan(text, &LIMITS)? {
            Some(n) => parse_head(&text[..n], &LIMITS),
            None => Err(refuse(0, "incomplete")),
        }
    }

    #[test]
    fn parses_a_request() {
        let h = head(b"\r\nPOST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nExpect: 100-Continue\r\n\r\nbody").unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.target, "/debug/pprof/symbol");
        assert_eq!(h.content_length, 12);
        assert!(h.expect_continue);
        let h = head(b"GET http://127.0.0.1:6060/debug/pprof/heap?debug=1 HTTP/1.0\n\n").unwrap();
        assert_eq!(h.target, "/debug/pprof/heap?debug=1");
        assert_eq!(head(b"GET http://h?x HTTP/1.1\n\n").unwrap().target, "/?x");
        assert_eq!(head(b"GET HTTPS://h HTTP/1.1\n\n").unwrap().target, "/");
    }

    #[test]
    fn refuses_what_it_does_not_take() {
        let status = |t: &[u8]| head(t).map(|_| 200).unwrap_or_else(|r| r.status);
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTX/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\r\n\r\n"), 400);
        assert_eq!(status(b"GET  / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"G(T / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET * HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\x01 HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nBad Name: b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n"),
            413
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nExpect: teapot\r\n\r\n"), 417);
        let many: Vec<u8> = [
            &b"GET / HTTP/1.1\r\n"[..],
            &b"A: b\r\n".repeat(101),
            b"\r\n",
        ]
        .concat();
        assert_eq!(status(&many), 431);
    }

    #[test]
    fn limits_are_enforced_while_scanning() {
        let mut s = HeadScanner::default();
        let line = [b"GET /".as_slice(), &[b'a'; 9000]].concat();
        assert_eq!(s.scan(&line, &LIMITS).unwrap_err().status, 414);
        let mut s = HeadScanner::default();
        let head = [
            b"GET / HTTP/1.1\r\n".as_slice(),
            &b"X-Long: aaaaaaaaaaaaaaaa\r\n".repeat(2000),
        ]
        .concat();
        assert_eq!(s.scan(&head, &LIMITS).unwrap_err().status, 431);
        // Byte by byte, as a slow client sends it.
        let text = b"GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\nextra";
        let mut s = HeadScanner::default();
        let mut end = None;
        for n in 1..=text.len() {
            if let Some(e) = s.scan(&text[..n], &LIMITS).unwrap() {
                end = Some(e);
                break;
            }
        }
        assert_eq!(end, Some(text.len() - 5));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            let len = (x % 300) as usize;
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(match x % 8 {
                    0 => b'\n',
                    1 => b'\r',
                    2 => b' ',
                    3 => b':',
                    _ => (x >> 8) as u8,
                });
            }
            let _ = head(&buf);
            let _ = head(&[b"GET / HTTP/1.1\r\n".as_slice(), &buf, b"\r\n\r\n"].concat());
        }
    }
}
