//! `/debug/pprof/symbol`: function names for addresses, as Go's
//! `net/http/pprof` serves them for `go tool pprof`'s remote symbolization
//! (`internal/symbolz`).
//!
//! `GET` without a query answers `num_symbols: 1` (symbols are available).
//! A `POST` whose body (or a `GET` whose query) is addresses joined by `+`
//! (`0x4a2b10+0x4a2c44`) answers `num_symbols: 1` and then one
//! `0x<address> <function>` line per address that resolves; words that are
//! not addresses, and addresses in no function, are skipped, as Go does.
//!
//! An address is taken as is (a code address inside the function, such as
//! the call-site PCs a profile's locations hold). The name is the demangled
//! name of the function the address is in, without the `::h<hash>`
//! suffix; when that function inlined others at the address, it is the
//! outermost one, the function the symbol table names (pprof keeps one name
//! per address). pprof then simplifies names containing `::` as if they
//! were demangled C++, dropping `<...>` and `(...)`: `<Vec<T> as
//! Extend<T>>::extend` shows as `::extend` unless pprof runs with
//! `-symbolize=demangle=none`. (Profiles from `/debug/pprof/heap` carry
//! their own names and are shown whole.)

use std::fmt::Write as _;

use crate::local::without_accounting;
use crate::profile::symbolize::Symbolizer;
use crate::sys;

/// At most this many addresses are resolved per request.
pub(crate) const MAX_ADDRESSES: usize = 100_000;

/// Parses `0x..+0x..` (also decimal, as Go's `ParseUint(word, 0, 64)`).
fn addresses(input: &[u8]) -> Vec<u64> {
    input
        .split(|&b| b == b'+')
        .filter_map(|w| {
            let w = std::str::from_utf8(w).ok()?.trim();
            let n = match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok()?,
                None => w.parse().ok()?,
            };
            (n != 0).then_some(n)
        })
        .take(MAX_ADDRESSES)
        .collect()
}

/// The response body for a lookup of `input` (empty: the availability
/// probe).
pub(crate) fn lookup(input: &[u8]) -> String {
    let mut out = String::from("num_symbols: 1\n");
    let addrs = addresses(input);
    if addrs.is_empty() {
        return out;
    }
    let names: Vec<(u64, String)> = without_accounting(|| {
        let mappings = sys::mappings();
        let mut symbolizer = Symbolizer::new(&mappings);
        let names: Vec<(u64, String)> = addrs
            .iter()
            .filter_map(|&a| {
                let frames = symbolizer.resolve(a);
                let outermost = frames.last()?;
                (!outermost.function.is_empty()).then(|| (a, outermost.function.clone()))
            })
            .collect();
        drop((symbolizer, mappings));
        names
    });
    for (addr, name) in &names {
        let _ = writeln!(out, "{addr:#x} {name}");
    }
    without_accounting(move || drop(names));
    out
}

#[cfg(test)]
mod tests {
    use super::addresses;

    #[test]
    fn parses_addresses_like_go() {
        assert_eq!(addresses(b"0x10+0X20+32+zz++0+0x"), vec![0x10, 0x20, 32]);
        assert!(addresses(b"").is_empty());
        assert!(addresses(b"\xff\xfe").is_empty());
    }
}
