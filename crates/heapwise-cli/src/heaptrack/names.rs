//! Function names as heaptrack writes them, made readable: Rust symbols
//! demangled without their hash, as heapwise's own profiles and pprof
//! name them.
//!
//! heaptrack 1.4 demangles C++ and legacy Rust symbols with the C++
//! demangler, which joins a legacy symbol's parts with `::` but leaves
//! Rust's escapes and hash
//! (`alloc::raw_vec::RawVec$LT$T$GT$::grow_one::h0123456789abcdef`), and
//! leaves v0 symbols mangled (`_RNvCs…_4core3ptr…`).

use std::borrow::Cow;

/// `name` demangled: Rust symbols (v0, legacy, or legacy as the C++
/// demangler leaves them) as `rustc-demangle` prints them without the
/// hash; anything else unchanged.
pub(crate) fn demangle(name: &str) -> Cow<'_, str> {
    if name.starts_with("_R") || name.starts_with("_ZN") {
        if let Ok(d) = rustc_demangle::try_demangle(name) {
            return Cow::Owned(format!("{d:#}"));
        }
        return Cow::Borrowed(name);
    }
    let Some(stem) = strip_hash(name) else {
        return Cow::Borrowed(name);
    };
    // The C++ demangler's output of a legacy symbol: its parts, joined
    // with "::". Mangle it again for rustc-demangle to undo the escapes.
    let parts: Vec<&str> = name.split("::").collect();
    let legacy = parts.iter().all(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_$.".contains(&b))
    });
    if legacy {
        let mut mangled = String::with_capacity(name.len() + 4 * parts.len() + 4);
        mangled.push_str("_ZN");
        for p in &parts {
            mangled.push_str(&p.len().to_string());
            mangled.push_str(p);
        }
        mangled.push('E');
        if let Ok(d) = rustc_demangle::try_demangle(&mangled) {
            return Cow::Owned(format!("{d:#}"));
        }
    }
    Cow::Borrowed(stem)
}

/// `name` without a trailing Rust hash (`::h` and 16 hexadecimal digits).
fn strip_hash(name: &str) -> Option<&str> {
    let (stem, hash) = name.rsplit_once("::h")?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::demangle;

    #[test]
    fn rust_names_lose_their_mangling_and_hash() {
        for (raw, want) in [
            // What heaptrack 1.4 wrote for a Rust 1.95 program.
            (
                "_RNvNtCslNYArtu3iFV_5alloc5alloc5alloc",
                "alloc::alloc::alloc",
            ),
            (
                "alloc::raw_vec::RawVecInner$LT$A$GT$::try_allocate_in::h41e970646073b1b8",
                "alloc::raw_vec::RawVecInner<A>::try_allocate_in",
            ),
            (
                "_$LT$alloc..vec..Vec$LT$T$GT$$u20$as$u20$alloc..vec..spec_from_iter..SpecFromIter$LT$T$C$I$GT$$GT$::from_iter::h6b04587f26173b32",
                "<alloc::vec::Vec<T> as alloc::vec::spec_from_iter::SpecFromIter<T,I>>::from_iter",
            ),
            ("r::make_strings::he5ecfa12692e53df", "r::make_strings"),
            (
                "_ZN4core3ptr13drop_in_place17h0123456789abcdefE",
                "core::ptr::drop_in_place",
            ),
            // Not Rust: unchanged.
            ("operator new(unsigned long)", "operator new(unsigned long)"),
            ("__GI___strdup", "__GI___strdup"),
            ("main", "main"),
            ("_R", "_R"),
        ] {
            assert_eq!(demangle(raw), want, "{raw}");
        }
    }
}
