//! A JSON scanner for the heap snapshot reader: no recursion, no value
//! tree, every error one line with its byte offset.

use crate::error::{Error, Result};

/// The deepest nesting skipped or read.
pub(crate) const MAX_DEPTH: usize = 4096;

pub(crate) struct Json<'a> {
    s: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Json<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Json { s, pos: 0 }
    }

    pub(crate) fn error(&self, what: &str) -> Error {
        if self.pos >= self.s.len() && !self.s.is_empty() {
            // Not "expected ',' at byte 3123" of a 3123-byte file.
            return Error::malformed(format!(
                "the file ends early, at byte {} (truncated?): {what}",
                self.s.len()
            ));
        }
        Error::malformed(format!("{what} at byte {}", self.pos))
    }

    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    pub(crate) fn expect(&mut self, c: u8) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", c as char)))
        }
    }

    /// After a value in an array or object: consumes a ',' and returns
    /// true, or sees (without consuming) the closing `close` and returns
    /// false.
    pub(crate) fn more(&mut self, close: u8) -> Result<bool> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => Ok(false),
            _ => Err(self.error(&format!("expected ',' or '{}'", close as char))),
        }
    }

    /// `[` then whether the array is empty (consuming `]` if so).
    pub(crate) fn open_array(&mut self) -> Result<bool> {
        self.expect(b'[')?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// A non-negative integer (a fraction of zeros is accepted).
    pub(crate) fn uint(&mut self) -> Result<u64> {
        self.ws();
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.s.get(self.pos) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or_else(|| self.error("integer too large"))?;
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a non-negative integer"));
        }
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            while let Some(b'0') = self.s.get(self.pos) {
                self.pos += 1;
            }
        }
        if let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'-' | b'+') = self.s.get(self.pos) {
            return Err(self.error("expected a non-negative integer"));
        }
        Ok(v)
    }

    /// A string, unescaped.
    pub(crate) fn string(&mut self) -> Result<String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(self.error("unterminated string"));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(self.error("unterminated string"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp)
                                && self.s.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                            let mut buf = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.error("bad escape in string")),
                    }
                }
                c if c < 0x20 => return Err(self.error("control character in string")),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("string is not UTF-8"))
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("truncated \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("bad \\u escape"))?;
        let v = u32::from_str_radix(text, 16).map_err(|_| self.error("bad \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    /// Skips one value of any kind, iteratively.
    pub(crate) fn skip(&mut self) -> Result<()> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                Some(b'{' | b'[') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(self.error("nesting too deep"));
                    }
                    self.pos += 1;
                    if let Some(b'}' | b']') = self.peek() {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                    if self.peek() == Some(b':') {
                        self.pos += 1;
                        continue;
                    }
                }
                Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                    while let Some(b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E') =
                        self.s.get(self.pos)
                    {
                        self.pos += 1;
                    }
                }
                _ => return Err(self.error("expected a value")),
            }
            // After a complete value: close containers, or go on after ','.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b'}' | b']') => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    _ => return Err(self.error("expected ',' or a closing bracket")),
                }
            }
        }
    }

    /// The end of input (whitespace only).
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }
}
