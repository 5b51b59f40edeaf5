//! Names safe to print on a terminal. Function and file names come from
//! files: in a hostile one they could hold escape sequences that set the
//! terminal's title or clear it, or a newline that forges a report's row.
//! Every heapwise text report (the CLI's tables, the snapshot graph's leak
//! reports and paths) prints names through [`printable`]; JSON, SVG and
//! HTML escape them their own ways.

use std::borrow::Cow;

/// `name` with its control characters (C0 but tab, DEL, C1) written as
/// `\x1b`-style escapes; borrowed when it has none.
///
/// ```
/// use heapwise_pprof::printable;
/// assert_eq!(printable("app::main"), "app::main");
/// assert_eq!(printable("evil\x1b]0;title\x07\nrow"), "evil\\x1b]0;title\\x07\\x0arow");
/// ```
pub fn printable(name: &str) -> Cow<'_, str> {
    let control = |c: char| c.is_control() && c != '\t';
    if !name.chars().any(control) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if control(c) {
            // Every control character is below U+0100.
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
