//! `heapwise run --no-follow`: with `HEAPWISE_NO_FOLLOW=1` in the
//! environment, the library takes itself out of `LD_PRELOAD` as it loads,
//! so programs the process execs start without it. Other libraries in the
//! list stay, in their order.
//!
//! Under `heapwise run`, which also sets `HEAPWISE_NO_FOLLOW_PARENT` to its
//! own process id, "the process" is the command, whatever program it execs
//! into: a wrapper that execs the real program (a pyenv shim, `env`,
//! `sh -c 'exec …'`) keeps the library in `LD_PRELOAD`, and the program it
//! becomes is profiled. A program that a child process of the command
//! execs (its parent is not `heapwise run`) loads the library once, through
//! the inherited list, then takes it out for what it execs in turn and
//! takes the variables `heapwise run` set out of its environment before the
//! runtime reads them ([`RUN`]): it runs counted at the default rate,
//! writing, printing and serving nothing. (A forked child that does not
//! exec is the command's own copy, profiled as without `--no-follow`.)
//!
//! The loader has read `LD_PRELOAD` by then; only what `exec` passes on
//! changes. The variable's string is shortened in place (removing entries
//! never lengthens it), and removed variables leave the environment's
//! array as `unsetenv` leaves it (the later entries move up one), which
//! allocates nothing: this runs in a constructor, before the runtime or the
//! C library are set up for the program, and `setenv` would come back to
//! this library's `malloc`.

use std::ffi::{c_char, c_int, CStr};

/// The library's file name, which marks its entries in `LD_PRELOAD`.
const LIBRARY: &[u8] = b"libheapwise_preload.so";

/// The switch, as a whole environment entry.
const ASKED: &[u8] = b"HEAPWISE_NO_FOLLOW=1";

/// `heapwise run`'s process id: its child is the command.
const PARENT: &[u8] = b"HEAPWISE_NO_FOLLOW_PARENT=";

/// What `heapwise run` sets for the command, removed in a program a child
/// process of the command execs: the runtime's settings (read by its
/// constructor, after this one), the endpoint's (`http.rs`) and these.
const RUN: [&[u8]; 12] = [
    b"HEAPWISE_PROFILE_AT_EXIT",
    b"HEAPWISE_PROFILE_RATE",
    b"HEAPWISE_PROFILE_EVERY",
    b"HEAPWISE_TRACE",
    b"HEAPWISE_SNAPSHOT",
    b"HEAPWISE_SNAPSHOT_AT_EXIT",
    b"HEAPWISE_LEAK_CHECK",
    b"HEAPWISE_HTTP",
    b"HEAPWISE_HTTP_PARENT",
    b"HEAPWISE_HTTP_SAID",
    b"HEAPWISE_NO_FOLLOW",
    b"HEAPWISE_NO_FOLLOW_PARENT",
];

/// Runs when the library is loaded, with the process's environment (glibc
/// passes `argc`, `argv` and `envp` to `.init_array` functions). A numbered
/// section: the linker places it before every unnumbered entry, among them
/// the runtime's settings and the endpoint, which read the variables it may
/// remove.
#[used]
#[link_section = ".init_array.00200"]
static INIT: unsafe extern "C" fn(c_int, *const *const c_char, *mut *mut c_char) = init;

/// Strips this library from `LD_PRELOAD` if `HEAPWISE_NO_FOLLOW` is `1`,
/// unless this process is the command `heapwise run` started; in a program
/// a child of that command execs, also removes [`RUN`]'s variables.
///
/// # Safety
///
/// `envp` is null or the process's null-terminated environment array, of
/// writable NUL-terminated strings (as the loader passes it).
unsafe extern "C" fn init(_argc: c_int, _argv: *const *const c_char, envp: *mut *mut c_char) {
    if envp.is_null() {
        return;
    }
    let mut preload: Option<*mut c_char> = None;
    let mut asked = false;
    let mut parent: Option<&[u8]> = None;
    let mut at = envp;
    // SAFETY: the caller's contract: the array ends with a null entry, and
    // each entry is a NUL-terminated string.
    unsafe {
        while !(*at).is_null() {
            let entry = CStr::from_ptr(*at).to_bytes();
            if entry == ASKED {
                asked = true;
            } else if entry.starts_with(b"LD_PRELOAD=") {
                preload = Some(*at);
            } else if let Some(pid) = entry.strip_prefix(PARENT) {
                parent = Some(pid);
            }
            at = at.add(1);
        }
    }
    if !asked {
        return;
    }
    if let Some(parent) = parent {
        if started_by(parent) {
            return;
        }
        // SAFETY: forwarded from the caller.
        unsafe { remove_run_variables(envp) };
    }
    let Some(var) = preload else {
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

/// A process id in decimal, or `None`.
fn parse_pid(digits: &[u8]) -> Option<i32> {
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, &d| n * 10 + i32::from(d - b'0')))
}

/// True if `pid`, the decimal value of one of `heapwise run`'s `*_PARENT`
/// variables, is this process's parent: it is the command `heapwise run`
/// started (in whatever program it has exec'd into). Allocates nothing.
pub(crate) fn started_by(pid: &[u8]) -> bool {
    // SAFETY: no preconditions.
    parse_pid(pid) == Some(unsafe { libc::getppid() })
}

/// True if the environment entry `entry` (`NAME=value`) sets one of
/// [`RUN`]'s variables.
fn is_run_variable(entry: &[u8]) -> bool {
    RUN.iter().any(|name| {
        entry.len() > name.len() && entry.starts_with(name) && entry[name.len()] == b'='
    })
}

/// Removes [`RUN`]'s variables from the environment array, in place.
///
/// # Safety
///
/// As [`init`]'s, with `envp` not null.
unsafe fn remove_run_variables(envp: *mut *mut c_char) {
    let mut read = envp;
    let mut write = envp;
    // SAFETY: the caller's contract: entries up to the null one are
    // NUL-terminated strings; `write` never passes `read`, so every write
    // is to an entry of the array already read.
    unsafe {
        while !(*read).is_null() {
            if !is_run_variable(CStr::from_ptr(*read).to_bytes()) {
                *write = *read;
                write = write.add(1);
            }
            read = read.add(1);
        }
        *write = std::ptr::null_mut();
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
    use super::{is_run_variable, parse_pid, remove_run_variables, strip};
    use std::ffi::{c_char, CStr, CString};

    #[test]
    fn a_parent_is_a_decimal_process_id() {
        assert_eq!(parse_pid(b"4242"), Some(4242));
        assert_eq!(parse_pid(b"1"), Some(1));
        for bad in [&b""[..], b"-1", b"12a", b" 12", b"99999999999"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_the_variables_run_sets_are_removed() {
        let entries = [
            "PATH=/bin",
            "HEAPWISE_PROFILE_AT_EXIT=/t/p.%p.pb.gz",
            "HEAPWISE_PROFILE_AT_EXIT_NOT=1",
            "HEAPWISE_PRELOAD=/t/libheapwise_preload.so",
            "HEAPWISE_TRACE=1s",
            "HEAPWISE_NO_FOLLOW=1",
            "HEAPWISE_NO_FOLLOW_PARENT=7",
            "HEAPWISE_HTTP=127.0.0.1:0",
            "LD_PRELOAD=/t/libheapwise_preload.so",
        ];
        let strings: Vec<CString> = entries.iter().map(|e| CString::new(*e).unwrap()).collect();
        let mut array: Vec<*mut c_char> = strings.iter().map(|s| s.as_ptr().cast_mut()).collect();
        array.push(std::ptr::null_mut());
        // SAFETY: a null-terminated array of NUL-terminated strings.
        unsafe { remove_run_variables(array.as_mut_ptr()) };
        let left: Vec<&str> = array
            .iter()
            .take_while(|p| !p.is_null())
            // SAFETY: the entries left are the strings above.
            .map(|&p| unsafe { CStr::from_ptr(p) }.to_str().unwrap())
            .collect();
        assert_eq!(
            left,
            [
                "PATH=/bin",
                "HEAPWISE_PROFILE_AT_EXIT_NOT=1",
                "HEAPWISE_PRELOAD=/t/libheapwise_preload.so",
                "LD_PRELOAD=/t/libheapwise_preload.so",
            ]
        );
        assert!(!is_run_variable(b"HEAPWISE_TRACE"));
        assert!(is_run_variable(b"HEAPWISE_TRACE="));
    }

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
