//! Settings read from the environment once, at load time.
//!
//! `HEAPWISE_PROFILE_RATE` (see [`crate::profile::set_rate`]),
//! `HEAPWISE_SNAPSHOT`, `HEAPWISE_SNAPSHOT_AT_EXIT` and `HEAPWISE_LEAK_CHECK`
//! (see [`crate::snapshot`]),
//! `HEAPWISE_UNWIND` (see [`crate::profile::set_unwinder`]),
//! `HEAPWISE_PROFILE_AT_EXIT` and `HEAPWISE_PROFILE_EVERY` (see
//! [`crate::profile::write_at_exit`]) and `HEAPWISE_TRACE` (see `line.rs`) are read by a load-time constructor,
//! before `main` and before the program's own code can change the
//! environment: an `.init_array` entry on ELF targets (Linux, Android, the
//! BSDs, illumos), a `__mod_init_func` entry on Apple targets. Elsewhere
//! (Windows, wasm) they are not read: call the functions they stand for
//! from `main`. The crate docs say the same where they name the variables. Reading them lazily from the allocator would be unsafe:
//! `std::env` takes a lock that the allocating thread may already hold (inside
//! `set_var`). A bad value is reported on stderr in one line and ignored.
//!
//! Two of them decide what is recorded from the first allocation on:
//! `HEAPWISE_PROFILE_RATE` and `HEAPWISE_SNAPSHOT` are also read at the
//! process's first allocation ([`early`]), with the C library's `getenv`
//! (no lock, nothing allocated), on Unix. Other constructors may run before
//! heapwise's: a library's, under `heapwise run` (the preload's constructor
//! runs after those of the program's libraries), or one linked before
//! heapwise into a Rust program. Read only at the constructor, their
//! allocations were recorded at the default rate, and `heapwise run --full`
//! missed them (a C++ library building 1,000 strings at load: 1 allocation
//! of 1,013 in the profile).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::local::sampler;
use crate::profile::{self, at_exit, trailer, Unwinder};
use crate::snapshot;
use crate::stats::line as trace;
use crate::util::say::say;

/// The constructor. The allocator's first slow path refers to it, which
/// keeps it linked into every program that installs [`crate::Alloc`]. On a
/// target with neither section it is a plain static nothing calls.
#[used]
#[cfg_attr(
    any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly",
        target_os = "illumos",
    ),
    link_section = ".init_array"
)]
#[cfg_attr(target_vendor = "apple", link_section = "__DATA,__mod_init_func")]
pub(crate) static INIT: extern "C" fn() = init;

/// Reads the settings (also callable directly where no constructor runs).
pub(crate) extern "C" fn init() {
    #[cfg(target_os = "linux")]
    tell_preload();
    if let Some(rate) = var("HEAPWISE_PROFILE_RATE", sampler::parse_rate) {
        match rate {
            Ok(rate) => sampler::set_rate(rate),
            Err(e) => say!(
                "heapwise: HEAPWISE_PROFILE_RATE: {e}; keeping the default ({} KiB)",
                sampler::DEFAULT_RATE / 1024
            ),
        }
    }
    if let Some(on) = var("HEAPWISE_SNAPSHOT", parse_switch) {
        match on {
            Ok(true) if track_every_block() => {}
            Ok(true) => say!(
                "heapwise: HEAPWISE_SNAPSHOT: blocks were recorded before the setting was read; no snapshots"
            ),
            Ok(false) => {}
            Err(e) => say!("heapwise: HEAPWISE_SNAPSHOT: {e}; no snapshots"),
        }
    }
    let check = match var("HEAPWISE_LEAK_CHECK", parse_switch) {
        Some(Ok(on)) => on,
        Some(Err(e)) => {
            say!("heapwise: HEAPWISE_LEAK_CHECK: {e}; no leak check");
            false
        }
        None => false,
    };
    let save = std::env::var_os("HEAPWISE_SNAPSHOT_AT_EXIT")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from);
    // Registered before the profile's at-exit handler, so it runs after it
    // (a leak check that fails ends the process).
    snapshot::leak_check::at_exit(save, check);
    if let Some(u) = var("HEAPWISE_UNWIND", Unwinder::parse) {
        match u {
            Ok(u) => profile::set_unwinder(u),
            Err(e) => say!("heapwise: HEAPWISE_UNWIND: {e}; keeping auto"),
        }
    }
    if let Some(path) = std::env::var_os("HEAPWISE_PROFILE_AT_EXIT") {
        let every = match var("HEAPWISE_PROFILE_EVERY", at_exit::parse_interval) {
            Some(Ok(every)) => Some(every),
            Some(Err(e)) => {
                say!("heapwise: HEAPWISE_PROFILE_EVERY: {e}; written at exit only");
                None
            }
            None => None,
        };
        if let Err(e) = profile::write_at_exit(&path, every) {
            say!("heapwise: HEAPWISE_PROFILE_AT_EXIT: {e}; no profile at exit");
        }
    } else if std::env::var_os("HEAPWISE_PROFILE_EVERY").is_some() {
        say!(
            "heapwise: HEAPWISE_PROFILE_EVERY: needs HEAPWISE_PROFILE_AT_EXIT (the file it rewrites); ignored"
        );
    }
    if let Some(every) = var("HEAPWISE_TRACE", trace::parse_interval) {
        match every {
            Ok(Some(every)) => trace::start(every),
            Ok(None) => {}
            Err(e) => say!("heapwise: HEAPWISE_TRACE: {e}; no trace"),
        }
    }
}

/// Applies `HEAPWISE_PROFILE_RATE` and `HEAPWISE_SNAPSHOT`, once a
/// process, from the first thread's first allocator slow path, before the
/// first allocation is recorded (see the module docs). A value that does
/// not parse is left to [`init`], which says so. Behind the reentrancy
/// guard: parsing may allocate.
pub(crate) fn early() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.load(Relaxed) || DONE.swap(true, Relaxed) {
        return;
    }
    #[cfg(unix)]
    {
        if let Some(Ok(rate)) = getenv(c"HEAPWISE_PROFILE_RATE").map(sampler::parse_rate) {
            sampler::set_rate(rate);
        }
        if let Some(Ok(true)) = getenv(c"HEAPWISE_SNAPSHOT").map(parse_switch) {
            track_every_block();
        }
    }
}

/// `HEAPWISE_SNAPSHOT=1`: every block tracked (rate 1, wide trailers),
/// unless blocks were recorded without wide trailers already (`false`).
fn track_every_block() -> bool {
    if !trailer::widen() {
        return false;
    }
    sampler::set_rate(1);
    sampler::track_every_block();
    true
}

/// The variable `name`, if set and UTF-8, from the C library, which
/// reads the environment without a lock and allocates nothing.
#[cfg(unix)]
fn getenv(name: &std::ffi::CStr) -> Option<&'static str> {
    // SAFETY: a NUL-terminated name. `getenv` races only with a change of
    // the environment on another thread, and this runs at the process's
    // first allocation, before a second thread can exist (creating one
    // allocates). On this thread, an allocation inside `setenv` comes
    // before it changes the environment. The value is parsed at once.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: `getenv` returns a NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(value) }.to_str().ok()
}

/// For `heapwise-preload` only, when the program has heapwise of its own
/// (see [`tell_preload`]): this copy of the runtime stops sampling, and
/// writes no more profiles at exit nor trace lines; the program's runtime
/// does all of it. (It still counts, unseen: the preload's entry points
/// then need no test of their own on every call.)
#[doc(hidden)]
pub fn __preload_stand_down() {
    profile::set_rate(0);
    at_exit::stop();
    trace::stop();
}

/// Under `heapwise run`, the preload library (`heapwise-preload`) sees
/// every `malloc` of the process, this runtime's included. If it is loaded,
/// tell it that the program has heapwise of its own, so that it counts
/// nothing more and writes no profile: the program's runtime does both.
/// The preload's own copy of this constructor calls it too, with an
/// address inside the library, which it ignores.
#[cfg(target_os = "linux")]
fn tell_preload() {
    // SAFETY: a NUL-terminated name; RTLD_DEFAULT searches the global scope.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"heapwise_preload_stand_down".as_ptr()) };
    if f.is_null() {
        return;
    }
    // SAFETY: the preload library defines it with this signature.
    let f: extern "C" fn(*const libc::c_void) = unsafe { std::mem::transmute(f) };
    f(init as *const libc::c_void);
}

/// `1`/`0` (also `true`/`false`, `on`/`off`, `yes`/`no`).
fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" | "" => Ok(false),
        _ => Err(format!("{text:?} is not 1 or 0")),
    }
}

/// The variable `name` parsed by `parse`; `None` when it is unset.
fn var<T>(name: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<Result<T, String>> {
    let value = std::env::var_os(name)?;
    Some(
        value
            .to_str()
            .ok_or_else(|| "not UTF-8".to_string())
            .and_then(parse),
    )
}

/// Keeps [`INIT`] linked: called from the allocator's first slow path.
#[inline]
pub(crate) fn keep_linked() {
    std::hint::black_box(&INIT);
}
