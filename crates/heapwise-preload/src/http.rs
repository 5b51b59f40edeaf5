//! `heapwise run --http ADDR`: with `HEAPWISE_HTTP=ADDR` in the
//! environment, the library serves the runtime's endpoint
//! ([`heapwise::http`]: `/debug/pprof/heap`, `/debug/pprof/allocs`,
//! `/debug/heapwise/stats`, ...) on `ADDR` (loopback only) from its load
//! time to the process's exit. Its threads' memory is the library's own,
//! never counted (`OWN` in the crate root).
//!
//! One process serves. Under `heapwise run`, which also sets
//! `HEAPWISE_HTTP_PARENT` to its own process id, that is the process it
//! started, whatever program it runs: a wrapper that execs the real
//! program (a pyenv shim, `env`, `sh -c 'exec …'`) hands the endpoint on,
//! as the new image serves again (the old one's socket closed on `exec`);
//! the processes it starts in turn (whose parent is not `heapwise run`) do
//! not serve. Without that variable, the variable `HEAPWISE_HTTP` is
//! emptied in place once the server is up (or failed), so programs the
//! process execs do not try the same port. A forked child has no server
//! (threads do not survive `fork`). A failure is one line on standard
//! error; the program runs on.
//!
//! A program with heapwise of its own (see the crate docs) keeps its
//! figures in its own runtime, which this library cannot read: when it
//! stands the library down, the server closes and one line on standard
//! error says so and how the program can serve them itself
//! ([`close_for_own_heapwise`]). An endpoint left open would answer with
//! empty profiles.

use std::ffi::{c_char, c_int, CStr};
use std::sync::Mutex;

use heapwise::http::Server;

/// The running server, until the program's own heapwise stands the
/// library down.
static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// The variable's name, as it starts an environment entry.
const VAR: &[u8] = b"HEAPWISE_HTTP=";
/// `heapwise run`'s process id: only its child serves (see the module
/// docs).
const PARENT: &[u8] = b"HEAPWISE_HTTP_PARENT=";
/// `0` until the serving process has said where it serves, then `1` (set
/// in place): an image the process execs into serves again on the same
/// address without saying so again (on port 0 it says where: a new port).
const SAID: &[u8] = b"HEAPWISE_HTTP_SAID=";

/// Runs when the library is loaded (after `no_follow`'s, which removes
/// this variable in a process `heapwise run --no-follow` does not profile).
#[used]
#[link_section = ".init_array"]
static INIT: unsafe extern "C" fn(c_int, *const *const c_char, *const *mut c_char) = init;

/// Starts the server if `HEAPWISE_HTTP` is set and not empty and, under
/// `heapwise run`, this process is the one it started (see the module
/// docs).
///
/// # Safety
///
/// `envp` is null or the process's null-terminated environment array, of
/// writable NUL-terminated strings (as the loader passes it).
unsafe extern "C" fn init(_argc: c_int, _argv: *const *const c_char, envp: *const *mut c_char) {
    if envp.is_null() {
        return;
    }
    let mut var: Option<*mut c_char> = None;
    let mut parent: Option<&[u8]> = None;
    let mut said: Option<*mut c_char> = None;
    let mut at = envp;
    // SAFETY: the caller's contract: the array ends with a null entry, and
    // each entry is a writable NUL-terminated string.
    unsafe {
        while !(*at).is_null() {
            let entry = CStr::from_ptr(*at).to_bytes();
            if entry.len() > VAR.len() && entry.starts_with(VAR) {
                var = Some(*at);
            } else if entry.starts_with(PARENT) {
                parent = Some(&entry[PARENT.len()..]);
            } else if entry.len() == SAID.len() + 1 && entry.starts_with(SAID) {
                said = Some((*at).add(SAID.len()));
            }
            at = at.add(1);
        }
    }
    let Some(entry) = var else {
        return;
    };
    // SAFETY: as above: a NUL-terminated string of the environment.
    let value = &unsafe { CStr::from_ptr(entry) }.to_bytes()[VAR.len()..];
    let addr = String::from_utf8_lossy(value).into_owned();
    match parent {
        Some(parent) => {
            if crate::no_follow::started_by(parent) {
                // SAFETY: `said` points at the one-byte value of its entry.
                let quiet =
                    said.is_some_and(|v| unsafe { *v } == b'1' as c_char) && !addr.ends_with(":0");
                if serve(&addr, quiet) {
                    if let Some(v) = said {
                        // SAFETY: as above; writable, as the whole array.
                        unsafe { *v = b'1' as c_char };
                    }
                }
            }
        }
        None => {
            serve(&addr, false);
            // Emptied: the value's first byte becomes its end.
            // SAFETY: the entry is writable and longer than the name.
            unsafe { *entry.add(VAR.len()) = 0 };
        }
    }
}

/// Serves on `addr` for the life of the process, and says where (unless
/// `quiet`), or says why not. `true` if it serves.
fn serve(addr: &str, quiet: bool) -> bool {
    match heapwise::http::serve(addr) {
        Ok(server) => {
            if !quiet {
                heapwise::__say(format_args!(
                    "heapwise: serving http://{}/debug/pprof/heap (process {})",
                    server.local_addr(),
                    std::process::id()
                ));
            }
            *SERVER.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
            true
        }
        Err(e) => {
            heapwise::__say(format_args!(
                "heapwise: HEAPWISE_HTTP={addr}: {e}; no endpoint"
            ));
            false
        }
    }
}

/// Closes the server, if one runs, because the program has heapwise of
/// its own, and says so in one line.
pub(crate) fn close_for_own_heapwise() {
    let Some(server) = SERVER.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let addr = server.local_addr();
    server.shutdown();
    heapwise::__say(format_args!(
        "heapwise: closed http://{addr}: the program has heapwise of its own, whose figures \
         this endpoint cannot see; serve them from the program (heapwise::http::serve)"
    ));
}
