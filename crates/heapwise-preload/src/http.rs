//! `heapwise run --http ADDR`: with `HEAPWISE_HTTP=ADDR` in the
//! environment, the library serves the runtime's endpoint
//! ([`heapwise::http`]: `/debug/pprof/heap`, `/debug/pprof/allocs`,
//! `/debug/heapwise/stats`, ...) on `ADDR` (loopback only) from its load
//! time to the process's exit. Its threads' memory is the library's own,
//! never counted (`OWN` in the crate root).
//!
//! One process serves: the variable is emptied in place once the server
//! is up (or failed), so programs the process execs do not try the same
//! port; a forked child has no server (threads do not survive `fork`).
//! A failure is one line on standard error; the program runs on.
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

/// Runs when the library is loaded (after `no_follow`'s, which does not
/// touch this variable).
#[used]
#[link_section = ".init_array"]
static INIT: unsafe extern "C" fn(c_int, *const *const c_char, *const *mut c_char) = init;

/// Starts the server if `HEAPWISE_HTTP` is set and not empty.
///
/// # Safety
///
/// `envp` is null or the process's null-terminated environment array, of
/// writable NUL-terminated strings (as the loader passes it).
unsafe extern "C" fn init(_argc: c_int, _argv: *const *const c_char, envp: *const *mut c_char) {
    if envp.is_null() {
        return;
    }
    let mut at = envp;
    // SAFETY: the caller's contract: the array ends with a null entry, and
    // each entry is a writable NUL-terminated string.
    unsafe {
        while !(*at).is_null() {
            let entry = CStr::from_ptr(*at).to_bytes();
            if entry.len() > VAR.len() && entry.starts_with(VAR) {
                let addr = String::from_utf8_lossy(&entry[VAR.len()..]).into_owned();
                serve(&addr);
                // Emptied: the value's first byte becomes its end.
                *(*at).add(VAR.len()) = 0;
                return;
            }
            at = at.add(1);
        }
    }
}

/// Serves on `addr` for the life of the process, or says why not.
fn serve(addr: &str) {
    match heapwise::http::serve(addr) {
        Ok(server) => {
            eprintln!(
                "heapwise: serving http://{}/debug/pprof/heap (process {})",
                server.local_addr(),
                std::process::id()
            );
            *SERVER.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
        }
        Err(e) => eprintln!("heapwise: HEAPWISE_HTTP={addr}: {e}; no endpoint"),
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
    eprintln!(
        "heapwise: closed http://{addr}: the program has heapwise of its own, whose figures \
         this endpoint cannot see; serve them from the program (heapwise::http::serve)"
    );
}
