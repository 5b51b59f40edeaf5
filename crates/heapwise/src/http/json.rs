//! `/debug/heapwise/stats` and `/debug/heapwise/scopes`: hand-written JSON
//! (no serde in the library), strings escaped by [`crate::util::json`].

use std::fmt::Write as _;

use crate::scope::limit::LimitKind;
use crate::util::json::Quoted;
use crate::{profile, stats, LimitExceeded, Scope, Usage};

/// Appends `s` as a JSON string literal.
fn string(out: &mut String, s: &str) {
    let _ = write!(out, "{}", Quoted(s));
}

/// A JSON object being written: `{"a": 1, ...}`.
struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, first: true }
    }

    /// Writes the key and returns the buffer for the value.
    fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        string(self.out, key);
        self.out.push_str(": ");
        self.out
    }

    fn num(&mut self, key: &str, n: u64) -> &mut Self {
        let _ = write!(self.key(key), "{n}");
        self
    }

    fn opt(&mut self, key: &str, n: Option<u64>) -> &mut Self {
        match n {
            Some(n) => self.num(key, n),
            None => {
                self.key(key).push_str("null");
                self
            }
        }
    }

    fn boolean(&mut self, key: &str, b: bool) -> &mut Self {
        self.key(key).push_str(if b { "true" } else { "false" });
        self
    }

    fn str(&mut self, key: &str, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => string(self.key(key), s),
            None => self.key(key).push_str("null"),
        }
        self
    }

    fn end(self) {
        self.out.push('}');
    }
}

/// `/debug/heapwise/stats`: [`crate::stats()`], the profiler's rate and
/// depth, and [`profile::memory()`].
pub(crate) fn stats_json() -> String {
    let s = stats();
    let m = profile::memory();
    let mut out = String::with_capacity(768);
    let mut o = Object::new(&mut out);
    o.boolean("installed", crate::installed());
    {
        let mut st = Object::new(o.key("stats"));
        st.num("allocated_bytes", s.allocated_bytes)
            .num("freed_bytes", s.freed_bytes)
            .num("live_bytes", s.live_bytes)
            .num("peak_bytes", s.peak_bytes)
            .num("allocs", s.allocs)
            .num("frees", s.frees)
            .num("reallocs", s.reallocs)
            .num("calls", s.calls);
        st.end();
    }
    {
        let mut p = Object::new(o.key("profiler"));
        p.num("rate", profile::rate())
            .num("max_depth", profile::max_depth() as u64)
            .num("samples", m.samples)
            .num("live_samples", m.live_samples as u64)
            .num("stacks", m.stacks as u64)
            .num("buckets", m.buckets as u64)
            .num("stack_bytes", m.stack_bytes as u64)
            .num("bucket_bytes", m.bucket_bytes as u64)
            .num("live_bytes", m.live_bytes as u64)
            .num("unwind_bytes", m.unwind_bytes as u64)
            .num("carried_bytes", m.carried_bytes as u64)
            .num("bitmap_bytes", m.bitmap_bytes as u64)
            .num("total_bytes", m.total_bytes() as u64);
        p.end();
    }
    o.end();
    out.push('\n');
    out
}

/// The JSON name of a limit kind, as in [`Usage`]'s fields.
fn kind_name(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::Bytes => "bytes",
        LimitKind::LiveBytes => "live_bytes",
        LimitKind::Allocs => "allocs",
        LimitKind::Calls => "calls",
    }
}

fn usage(out: &mut String, u: &Usage) {
    let mut o = Object::new(out);
    o.num("bytes", u.bytes)
        .num("allocs", u.allocs)
        .num("frees", u.frees)
        .num("freed_bytes", u.freed_bytes)
        .num("reallocs", u.reallocs)
        .num("calls", u.calls)
        .num("live_bytes", u.live_bytes)
        .num("peak_bytes", u.peak_bytes);
    o.end();
}

fn exceeded(out: &mut String, e: &LimitExceeded) {
    let mut o = Object::new(out);
    o.num("scope_id", e.scope().id())
        .str("scope", e.scope_name())
        .str("kind", Some(kind_name(e.kind())))
        .num("limit", e.limit())
        .num("used", e.used());
    o.end();
}

fn scope(out: &mut String, s: &Scope) {
    let mut o = Object::new(out);
    o.num("id", s.id()).str("name", s.label());
    o.opt("parent", s.parent().map(|p| p.id()));
    usage(o.key("usage"), &s.usage());
    {
        let mut l = Object::new(o.key("limits"));
        for kind in LimitKind::ALL {
            l.opt(kind_name(kind), s.limit_of(kind));
        }
        l.end();
    }
    o.boolean("hard", s.is_hard());
    match s.exceeded() {
        Some(e) => exceeded(o.key("exceeded"), &e),
        None => o.key("exceeded").push_str("null"),
    }
    o.end();
}

/// `/debug/heapwise/scopes`: the live named scopes ([`Scope::named`]), one
/// object per line inside the array.
pub(crate) fn scopes_json() -> String {
    let scopes = Scope::named();
    let mut out = String::with_capacity(64 + 512 * scopes.len());
    out.push('[');
    for (i, s) in scopes.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        scope(&mut out, s);
    }
    out.push_str(if scopes.is_empty() { "]\n" } else { "\n]\n" });
    out
}

#[cfg(test)]
mod tests {
    use super::Object;

    #[test]
    fn keys_and_strings_are_escaped() {
        let mut s = String::new();
        let mut o = Object::new(&mut s);
        o.str("a\"b", Some("c\\d\ne\u{1}f\u{7f}\u{2028}é"))
            .str("none", None);
        o.end();
        assert_eq!(
            s,
            r#"{"a\"b": "c\\d\ne\u0001f\u007f\u2028é", "none": null}"#
        );
    }
}
