//! Which frames are allocation plumbing: the allocator's own frames, hidden
//! at the leaf of a stack so that the leaf is the code that asked for the
//! memory. One list for every heapwise output (the runtime's profiles, the
//! heaptrack importer, the snapshot graph's sites), so they name the same
//! site for the same stack.

/// The C allocator's entry points (what `heapwise run`'s preload library
/// interposes), matched whole: `malloc_trim` or `my_malloc` is not one.
const C_ENTRIES: [&str; 10] = [
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "free",
];

/// jemalloc's own frames at the leaf of a stack in its heap profiles
/// (`jemalloc_pprof`, `jeprof`): its profiler's backtrace and its
/// allocation paths, some inlined; matched whole. Prefixed builds name
/// the rest `_rjem_*` (tikv-jemallocator) or `je_*`.
const JEMALLOC: [&str; 14] = [
    "prof_backtrace_impl",
    "prof_alloc_prep",
    "imalloc",
    "imalloc_body",
    "imalloc_fastpath",
    "ialloc",
    "iallocztm",
    "ipalloc",
    "irallocx_prof",
    "irealloc_prof",
    "mallocx",
    "rallocx",
    "malloc_default",
    "do_rallocx",
];

/// Name prefixes of jemalloc's prefixed symbols.
const JEMALLOC_PREFIXES: [&str; 3] = ["_rjem_", "je_prof_", "je_malloc_"];

/// Path prefixes of the Rust allocator shims, `GlobalAlloc` wrappers
/// (heapwise's and its preload's), and the standard library's allocation
/// paths.
const PREFIXES: [&str; 13] = [
    "__rust_",
    "__rustc::",
    "__rg_",
    "__rdl_",
    "heapwise::",
    "heapwise_preload::",
    "alloc::",
    "core::",
    "std::alloc::",
    "std::sys::alloc::",
    "std::sys::pal::unix::alloc::",
    "hashbrown::raw::alloc::",
    "operator new",
];

/// Is the (demangled) function `name` allocation plumbing: a C allocator
/// entry point, C++'s `operator new`, a Rust allocator shim or
/// `GlobalAlloc` wrapper, or the standard library's allocation paths
/// (`alloc::`, `core::`, `std::alloc::`, a method of a primitive type such
/// as `<[u8]>::to_vec`, a standard trait implemented for one)?
///
/// ```
/// use heapwise_pprof::is_allocator_frame;
///
/// assert!(is_allocator_frame("alloc::raw_vec::RawVec<T,A>::grow_one"));
/// assert!(is_allocator_frame("<usize as alloc::string::ToString>::to_string"));
/// assert!(is_allocator_frame("malloc"));
/// assert!(!is_allocator_frame("malloc_trim"));
/// assert!(!is_allocator_frame("<myapp::Doc as core::clone::Clone>::clone"));
/// ```
pub fn is_allocator_frame(name: &str) -> bool {
    if C_ENTRIES.contains(&name)
        || JEMALLOC.contains(&name)
        || JEMALLOC_PREFIXES.iter().any(|p| name.starts_with(p))
    {
        return true;
    }
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
                // Any type's `GlobalAlloc` methods: an allocator wrapper.
                if tr.starts_with("core::alloc::global::GlobalAlloc>") {
                    return true;
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
    use super::is_allocator_frame;

    #[test]
    fn plumbing_is_the_allocators_and_std_allocation_frames() {
        for name in [
            "__rust_alloc",
            "__rustc::__rust_alloc",
            "__rg_alloc",
            "__rdl_alloc",
            "heapwise::alloc::Alloc<A>::alloc_slow",
            "<heapwise::alloc::Alloc<A> as core::alloc::global::GlobalAlloc>::alloc",
            "<std::alloc::System as core::alloc::global::GlobalAlloc>::alloc",
            "std::sys::alloc::unix::<impl core::alloc::global::GlobalAlloc for std::alloc::System>::alloc",
            "alloc::raw_vec::RawVec<T,A>::grow_one",
            "alloc::alloc::exchange_malloc",
            "<alloc::vec::Vec<T> as alloc::vec::spec_from_iter::SpecFromIter<T,I>>::from_iter",
            "<alloc::vec::Vec<T,A> as core::clone::Clone>::clone",
            "<usize as alloc::string::ToString>::to_string",
            "<str as alloc::string::ToString>::to_string",
            "<T as alloc::borrow::ToOwned>::to_owned",
            "<&mut alloc::string::String as core::fmt::Write::write_fmt::SpecWriteFmt>::spec_write_fmt",
            "core::iter::traits::iterator::Iterator::collect",
            "core::ptr::drop_in_place<x>",
            "<str>::repeat",
            "<[u8]>::to_vec",
            "<alloc::vec::Vec<T>>::push",
            "hashbrown::raw::alloc::inner::do_alloc",
            "malloc",
            "realloc",
            "posix_memalign",
            "free",
            "operator new(unsigned long)",
            "operator new[](unsigned long, std::align_val_t)",
            "heapwise_preload::entry::allocate",
            "<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::alloc",
            "<mimalloc::MiMalloc as core::alloc::global::GlobalAlloc>::alloc_zeroed",
            "prof_backtrace_impl",
            "_rjem_je_prof_backtrace",
            "_rjem_je_malloc_default",
            "je_prof_tctx_create",
            "imalloc_body",
        ] {
            assert!(is_allocator_frame(name), "{name}");
        }
        for name in [
            "myapp::handle",
            "<myapp::Doc as core::clone::Clone>::clone",
            "std::io::default_read_to_end",
            "main",
            "__GI___strdup",
            "malloc_trim",
            "my_malloc",
            "freeaddrinfo",
            "je_parse",
            "<myapp::Pool as myapp::Alloc>::alloc",
            "",
        ] {
            assert!(!is_allocator_frame(name), "{name}");
        }
    }
}
