//! Percent-decoding and query parameters, strictly: a malformed escape, an
//! unknown parameter or a repeated one is an error the caller turns into a
//! 400, so a typo (`?second=30`) is reported instead of silently ignored.

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set, as in a
/// query); the result must be UTF-8.
pub(crate) fn decode(raw: &str, plus: bool) -> Result<String, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let pair = bytes
                    .get(i + 1)
                    .copied()
                    .and_then(hex)
                    .zip(bytes.get(i + 2).copied().and_then(hex));
                let Some((hi, lo)) = pair else {
                    return Err(format!("invalid percent-encoding in {:?}", truncate(raw)));
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{:?} does not decode to UTF-8", truncate(raw)))
}

/// At most 64 characters of `s`, for error messages.
pub(crate) fn truncate(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// The decoded `name=value` pairs of a query string, in order.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query (`a=1&b=2`); empty pieces are skipped, a name
    /// without `=` has the value `""`.
    pub(crate) fn parse(raw: &str) -> Result<Params, String> {
        let mut out = Vec::new();
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            out.push((decode(name, true)?, decode(value, true)?));
        }
        Ok(Params(out))
    }

    /// Checks that every parameter is one of `known`, and none repeats.
    pub(crate) fn allow(&self, known: &[&str]) -> Result<(), String> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                return Err(if known.is_empty() {
                    format!(
                        "unknown parameter {:?}: this path takes none",
                        truncate(name)
                    )
                } else {
                    format!(
                        "unknown parameter {:?} (this path takes: {})",
                        truncate(name),
                        known.join(", ")
                    )
                });
            }
            if self.0[..i].iter().any(|(n, _)| n == name) {
                return Err(format!("parameter {name:?} given more than once"));
            }
        }
        Ok(())
    }

    /// The value of `name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_rejects_bad_ones() {
        assert_eq!(decode("/debug%2Fpprof", false).unwrap(), "/debug/pprof");
        assert_eq!(decode("a+b", false).unwrap(), "a+b");
        assert_eq!(decode("a+b%20c", true).unwrap(), "a b c");
        assert_eq!(decode("%e2%82%ac", false).unwrap(), "\u{20ac}");
        for bad in ["%", "%4", "%zz", "a%g0", "%ff"] {
            assert!(decode(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn parameters_are_checked() {
        let p = Params::parse("seconds=5&&debug=1&gc").unwrap();
        assert_eq!(p.get("seconds"), Some("5"));
        assert_eq!(p.get("gc"), Some(""));
        assert_eq!(p.get("x"), None);
        assert!(p.allow(&["seconds", "debug", "gc"]).is_ok());
        let e = p.allow(&["seconds"]).unwrap_err();
        assert!(e.contains("unknown parameter \"debug\""), "{e}");
        let e = Params::parse("a=1&a=2").unwrap().allow(&["a"]).unwrap_err();
        assert!(e.contains("more than once"), "{e}");
        assert!(Params::parse("").unwrap().allow(&[]).is_ok());
        assert!(Params::parse("x")
            .unwrap()
            .allow(&[])
            .unwrap_err()
            .contains("takes none"));
    }
}
