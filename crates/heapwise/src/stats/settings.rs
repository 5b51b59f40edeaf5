//! Settings read from the environment once, at load time.
//!
//! `HEAPWISE_PROFILE_RATE` (see [`crate::profile::set_rate`]) and
//! `HEAPWISE_TRACE` (see `line.rs`) are read by a constructor in
//! `.init_array`, before `main` and before the program's own code can change
//! the environment. Reading them lazily from the allocator would be unsafe:
//! `std::env` takes a lock that the allocating thread may already hold (inside
//! `set_var`). A bad value is reported on stderr in one line and ignored.

use crate::local::sampler;
use crate::stats::line as trace;

/// The constructor, placed in `.init_array`. The allocator's first slow path
/// refers to it, which keeps it linked into every program that installs
/// [`crate::Alloc`].
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
pub(crate) static INIT: extern "C" fn() = init;

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
    #[cfg(target_os = "linux")]
    std::hint::black_box(&INIT);
}
