//! Text from a profile made safe for an SVG (XML 1.0) document.
//!
//! XML 1.0 allows only tab, newline, carriage return, `U+0020`–`U+D7FF`,
//! `U+E000`–`U+FFFD` and `U+10000`–`U+10FFFF` in a document; a single
//! other character makes the whole file unreadable to a browser. Function
//! names, sample types and titles come from the profile or the command
//! line, so before they reach the flame graph every control character
//! (`U+0000`–`U+001F` and `U+007F`, the tab and line breaks too, which
//! would split or blur the one-line folded stacks) is written as a visible
//! escape, `\x00`, and the non-characters `U+FFFE` and `U+FFFF` as
//! `\u{fffe}` and `\u{ffff}`. Escaping `&`, `<` and `>` is left to the
//! SVG writer.

use std::borrow::Cow;
use std::fmt::Write;

/// True if `c` is written as an escape.
fn needs_escape(c: char) -> bool {
    c.is_ascii_control() || c == '\u{fffe}' || c == '\u{ffff}'
}

/// `text` with every character XML 1.0 forbids (and every other control
/// character) replaced by a visible escape: `"a\u{0}b"` becomes
/// `a\x00b`. Borrows `text` when nothing needs replacing.
pub(crate) fn xml_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_ascii_control() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_become_visible_escapes() {
        assert_eq!(xml_safe("\x00\x01"), "\\x00\\x01");
        assert_eq!(xml_safe("a\tb\nc\rd\x7f"), "a\\x09b\\x0ac\\x0dd\\x7f");
        assert_eq!(xml_safe("x\u{fffe}\u{ffff}"), "x\\u{fffe}\\u{ffff}");
    }

    #[test]
    fn allowed_text_is_borrowed_unchanged() {
        for text in [
            "app::main",
            "Vec<u8> & co",
            "é\u{fffd}\u{10000}\u{e000}",
            "",
        ] {
            assert!(matches!(xml_safe(text), Cow::Borrowed(t) if t == text));
        }
    }
}
