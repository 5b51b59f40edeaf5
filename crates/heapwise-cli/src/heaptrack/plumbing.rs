//! Which frames are allocation plumbing, hidden at the leaf of a stack so
//! the leaf is the code that asked for the memory (as heapwise's own
//! profiles hide them, and as heaptrack hides `operator new`).

/// Is the (demangled) function `name` allocation plumbing: the Rust
/// allocator shims and `GlobalAlloc` wrappers (heapwise's among them),
/// the standard library's allocation paths (`alloc::`, `core::`,
/// `std::alloc::`, `std::sys::alloc::`), or C++'s `operator new`?
pub(crate) fn is_plumbing(name: &str) -> bool {
    const PREFIXES: [&str; 12] = [
        "__rust_",
        "__rustc::",
        "__rg_",
        "__rdl_",
        "heapwise::",
        "alloc::",
        "core::",
        "std::alloc::",
        "std::sys::alloc::",
        "std::sys::pal::unix::alloc::",
        "hashbrown::raw::alloc::",
        "operator new",
    ];
    let path = match name.strip_prefix('<') {
        // `<Type as Trait>::method`: plumbing if the type is the standard
        // library's, or a primitive/generic type implementing its trait.
        Some(rest) => match rest.split_once(" as ") {
            Some((ty, tr)) => {
                let ty = ["&mut ", "&", "*const ", "*mut ", "dyn "]
                    .iter()
                    .fold(ty, |t, p| t.strip_prefix(p).unwrap_or(t));
                if !ty.contains("::") {
                    return PREFIXES.iter().any(|p| tr.starts_with(p));
                }
                ty
            }
            // `<str>::repeat`, `<[T]>::to_vec`: an inherent method of a
            // primitive type, which only the standard library can define.
            None if !rest.split(">::").next().unwrap_or(rest).contains("::") => return true,
            None => rest,
        },
        None => name,
    };
    PREFIXES.iter().any(|p| path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::is_plumbing;

    #[test]
    fn plumbing_is_the_allocators_and_std_allocation_frames() {
        for name in [
            "__rust_alloc",
            "__rustc::__rust_alloc",
            "heapwise::alloc::Alloc<A>::alloc_slow",
            "<heapwise::alloc::Alloc<A> as core::alloc::global::GlobalAlloc>::alloc",
            "<std::alloc::System as core::alloc::global::GlobalAlloc>::alloc",
            "std::sys::alloc::unix::<impl core::alloc::global::GlobalAlloc for std::alloc::System>::alloc",
            "alloc::raw_vec::RawVec<T,A>::grow_one",
            "<alloc::vec::Vec<T> as alloc::vec::spec_from_iter::SpecFromIter<T,I>>::from_iter",
            "<usize as alloc::string::ToString>::to_string",
            "core::iter::traits::iterator::Iterator::collect",
            "<[u8]>::to_vec",
            "operator new(unsigned long)",
            "operator new[](unsigned long)",
        ] {
            assert!(is_plumbing(name), "{name}");
        }
        for name in [
            "myapp::handle",
            "<myapp::Doc as core::clone::Clone>::clone",
            "std::io::default_read_to_end",
            "main",
            "__GI___strdup",
            "",
        ] {
            assert!(!is_plumbing(name), "{name}");
        }
    }
}
