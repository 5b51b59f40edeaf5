//! JSON string literals: one escaper for every JSON heapwise writes (the
//! http endpoint's routes, the recorder's Chrome trace).
//!
//! A string is written between quotes with `"` and `\` escaped, `\n`, `\r`
//! and `\t` in their short forms, and every other character JSON or
//! JavaScript cannot take as is in `\uXXXX` form: the control characters
//! below U+0020 (RFC 8259 requires it), DEL (U+007F, which some tools
//! mangle), and the line and paragraph separators U+2028 and U+2029 (legal
//! in JSON but line ends in JavaScript before ES2019, so pasting the JSON
//! into a script would break it). Everything else is written as is: the
//! output is UTF-8 like the input.

use std::fmt;

/// Writes `s` as a JSON string literal, quotes included, as pieces handed
/// to `put` in order (runs of `s` that need no escape, and escapes). The
/// one escaper: [`Quoted`] displays through it, and a writer that is not
/// a formatter (an `io::Write`) can call it directly.
pub(crate) fn quote<E>(s: &str, mut put: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
    put("\"")?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\0'..='\u{1f}' | '\u{7f}' | '\u{2028}' | '\u{2029}' => "",
            _ => continue,
        };
        put(&s[start..i])?;
        if short.is_empty() {
            let mut buf = [0u8; 6];
            put(unicode_escape(c, &mut buf))?;
        } else {
            put(short)?;
        }
        start = i + c.len_utf8();
    }
    put(&s[start..])?;
    put("\"")
}

/// `\uXXXX` (lowercase hex) for a character of the Basic Multilingual
/// Plane, in `buf`.
fn unicode_escape(c: char, buf: &mut [u8; 6]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = c as u32;
    debug_assert!(n <= 0xffff, "{c:?} is outside the BMP");
    buf[0] = b'\\';
    buf[1] = b'u';
    for (i, shift) in [12, 8, 4, 0].into_iter().enumerate() {
        buf[2 + i] = HEX[(n >> shift) as usize & 0xf];
    }
    // ASCII only.
    std::str::from_utf8(buf).unwrap_or_default()
}

/// `s` as a JSON string literal, quotes included, when displayed:
/// `format!("{}", Quoted("a\"b"))` is `"a\"b"`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        quote(self.0, |piece| f.write_str(piece))
    }
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    fn quoted(s: &str) -> String {
        Quoted(s).to_string()
    }

    #[test]
    fn quotes_and_backslashes() {
        assert_eq!(quoted(r#"a"b"#), r#""a\"b""#);
        assert_eq!(quoted(r"a\b"), r#""a\\b""#);
        assert_eq!(quoted(r#"\""#), r#""\\\"""#);
    }

    #[test]
    fn newline_return_and_tab_have_short_forms() {
        assert_eq!(quoted("a\nb\rc\td"), r#""a\nb\rc\td""#);
    }

    #[test]
    fn other_control_characters_are_unicode_escapes() {
        assert_eq!(quoted("\0"), r#""\u0000""#);
        assert_eq!(quoted("\u{1}"), r#""\u0001""#);
        assert_eq!(quoted("\u{8}\u{c}"), r#""\u0008\u000c""#);
        assert_eq!(quoted("\u{1f}"), r#""\u001f""#);
        assert_eq!(quoted(" "), r#"" ""#);
    }

    #[test]
    fn del_is_escaped() {
        assert_eq!(quoted("a\u{7f}b"), r#""a\u007fb""#);
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        assert_eq!(quoted("a\u{2028}b"), r#""a\u2028b""#);
        assert_eq!(quoted("\u{2029}"), r#""\u2029""#);
        // Their neighbours are not.
        assert_eq!(quoted("\u{2027}\u{202a}"), "\"\u{2027}\u{202a}\"");
    }

    #[test]
    fn everything_else_is_as_is() {
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(quoted("plain / text"), r#""plain / text""#);
        assert_eq!(quoted("é€😀\u{80}\u{ffff}"), "\"é€😀\u{80}\u{ffff}\"");
    }

    #[test]
    fn every_character_round_trips_through_a_json_parser() {
        let all: String = (0..0x3000u32)
            .chain([0xfeff, 0xffff, 0x1_0000, 0x10_ffff])
            .filter_map(char::from_u32)
            .collect();
        let json = quoted(&all);
        assert!(
            !json[1..json.len() - 1]
                .chars()
                .any(|c| c < ' ' || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}'),
            "a character left unescaped"
        );
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, all);
    }
}
