//! `heapwise run --no-follow`: with `HEAPWISE_NO_FOLLOW=1` in the
//! environment, the library takes itself out of `LD_PRELOAD` as it loads,
//! so programs the process execs start without it. Other libraries in the
//! list stay, in their order.
//!
//! The loader has read `LD_PRELOAD` by then; only what `exec` passes on
//! changes. The variable's string is shortened in place (removing entries
//! never lengthens it), which allocates nothing: this runs in a
//! constructor, before the runtime or the C library are set up for the
//! program, and `setenv` would come back to this library's `malloc`.

use std::ffi::{c_char, c_int, CStr};

/// The library's file name, which marks its entries in `LD_PRELOAD`.
const LIBRARY: &[u8] = b"libheapwise_preload.so";

/// Runs when the library is loaded, with the process's environment (glibc
/// passes `argc`, `argv` and `envp` to `.init_array` functions).
#[used]
#[link_section = ".init_array"]
static INIT: unsafe extern "C" fn(c_int, *const *const c_char, *const *mut c_char) = init;

/// Strips this library from `LD_PRELOAD` if `HEAPWISE_NO_FOLLOW` is `1`.
///
/// # Safety
///
/// `envp` is null or the process's null-terminated environment array, of
/// writable NUL-terminated strings (as the loader passes it).
unsafe extern "C" fn init(_argc: c_int, _argv: *const *const c_char, envp: *const *mut c_char) {
    if envp.is_null() {
        return;
    }
    let mut preload: Option<*mut c_char> = None;
    let mut asked = false;
    let mut at = envp;
    // SAFETY: the caller's contract: the array ends with a null entry, and
    // each entry is a NUL-terminated string.
    unsafe {
        while !(*at).is_null() {
            let entry = CStr::from_ptr(*at).to_bytes();
            if entry == b"HEAPWISE_NO_FOLLOW=1" {
                asked = true;
            } else if entry.starts_with(b"LD_PRELOAD=") {
                preload = Some(*at);
            }
            at = at.add(1);
        }
    }
    let (true, Some(var)) = (asked, preload) else {
        return;
    };
    // SAFETY: `var` is one of the environment's strings: writable, and
    // NUL-terminated, so its bytes before the NUL are one slice.
    let value = unsafe {
        let len = CStr::from_ptr(var).to_bytes().len();
        std::slice::from_raw_parts_mut(var.cast::<u8>(), len)
    };
    let value = &mut value[b"LD_PRELOAD=".len()..];
    let kept = strip(value);
    debug_assert!(kept <= value.len());
    if kept < value.len() {
        value[kept] = 0;
    }
}

/// Removes the entries of the `LD_PRELOAD` list `list` (separated by
/// colons or spaces, as the loader reads it) whose file name is this
/// library's, in place; returns the length of what is kept (the others,
/// joined by colons).
fn strip(list: &mut [u8]) -> usize {
    let mut out = 0;
    let mut start = 0;
    while start <= list.len() {
        let end = list[start..]
            .iter()
            .position(|&b| b == b':' || b == b' ')
            .map_or(list.len(), |i| start + i);
        let entry = start..end;
        let name_at = list[entry.clone()]
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(start, |i| start + i + 1);
        let ours = &list[name_at..end] == LIBRARY;
        if !entry.is_empty() && !ours {
            if out > 0 {
                list[out] = b':';
                out += 1;
            }
            // Entries only move left: `out` never passes `start`.
            debug_assert!(out <= start);
            list.copy_within(entry.clone(), out);
            out += entry.len();
        }
        start = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip;

    fn stripped(s: &str) -> String {
        let mut v = s.as_bytes().to_vec();
        let n = strip(&mut v);
        String::from_utf8(v[..n].to_vec()).unwrap()
    }

    #[test]
    fn only_this_librarys_entries_go() {
        assert_eq!(stripped("/t/libheapwise_preload.so"), "");
        assert_eq!(
            stripped("/t/libheapwise_preload.so:/usr/lib/libjemalloc.so.2"),
            "/usr/lib/libjemalloc.so.2"
        );
        assert_eq!(
            stripped("/a/libx.so /t/libheapwise_preload.so::/b/liby.so"),
            "/a/libx.so:/b/liby.so"
        );
        assert_eq!(stripped("libheapwise_preload.so"), "");
        assert_eq!(
            stripped("/t/libheapwise_preload.so.old:/t/not_libheapwise_preload.so"),
            "/t/libheapwise_preload.so.old:/t/not_libheapwise_preload.so"
        );
        assert_eq!(stripped(""), "");
    }
}
