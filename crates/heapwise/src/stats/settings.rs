//! Settings read from the environment once, at load time.
//!
//! `HEAPWISE_PROFILE_RATE` (see [`crate::profile::set_rate`]) and
//! `HEAPWISE_TRACE` (see `line.rs`) are read by a load-time constructor,
//! before `main` and before the program's own code can change the
//! environment: an `.init_array` entry on ELF targets (Linux, Android, the
//! BSDs, illumos), a `__mod_init_func` entry on Apple targets. Elsewhere
//! (Windows, wasm) they are not read: call the functions they stand for
//! from `main`. The crate docs say the same where they name the variables. Reading them lazily from the allocator would be unsafe:
//! `std::env` takes a lock that the allocating thread may already hold (inside
//! `set_var`). A bad value is reported on stderr in one line and ignored.

use crate::local::sampler;
use crate::stats::line as trace;

/// The constructor. The allocator's first slow path refers to it, which
/// keeps it linked into every program that installs [`crate::Alloc`].
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
    target_os = "illumos",
))]
#[used]
#[link_section = ".init_array"]
pub(crate) static INIT: extern "C" fn() = init;

/// The constructor, as above.
#[cfg(target_vendor = "apple")]
#[used]
#[link_section = "__DATA,__mod_init_func"]
pub(crate) static INIT: extern "C" fn() = init;

/// Whether this target reads the settings at load time.
const READ_AT_LOAD: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
    target_os = "illumos",
    target_vendor = "apple",
));

/// Reads the settings (also callable directly where `.init_array` is missing).
pub(crate) extern "C" fn init() {
    if let Some(value) = std::env::var_os("HEAPWISE_PROFILE_RATE") {
        match value
            .to_str()
            .ok_or_else(|| "not UTF-8".to_string())
            .and_then(sampler::parse_rate)
        {
            Ok(rate) => sampler::set_rate(rate),
            Err(e) => eprintln!(
                "heapwise: HEAPWISE_PROFILE_RATE: {e}; keeping the default ({} KiB)",
                sampler::DEFAULT_RATE / 1024
            ),
        }
    }
    if let Some(value) = std::env::var_os("HEAPWISE_TRACE") {
        match value
            .to_str()
            .ok_or_else(|| "not UTF-8".to_string())
            .and_then(trace::parse_interval)
        {
            Ok(Some(every)) => trace::start(every),
            Ok(None) => {}
            Err(e) => eprintln!("heapwise: HEAPWISE_TRACE: {e}; no trace"),
        }
    }
}

/// Keeps [`INIT`] linked: called from the allocator's first slow path.
#[inline]
pub(crate) fn keep_linked() {
    if READ_AT_LOAD {
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd",
            target_os = "dragonfly",
            target_os = "illumos",
            target_vendor = "apple",
        ))]
        std::hint::black_box(&INIT);
    }
}
