//! Full mode while any limit call runs: counted, restored by the last.

use std::sync::{Mutex, PoisonError};

use crate::local::sampler;
use crate::profile;

/// (calls running, the rate before the first of them).
static RUNNING: Mutex<(usize, u64)> = Mutex::new((0, 0));

/// Full mode for as long as it is held.
#[derive(Debug)]
pub(crate) struct FullMode(());

impl FullMode {
    pub(crate) fn begin() -> FullMode {
        let mut r = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        if r.0 == 0 {
            r.1 = profile::rate();
            profile::set_rate(1);
        } else {
            // Full mode is on already; this thread takes it up now, not
            // within 64 KiB of its traffic: a second call running beside a
            // first (parallel `cargo test`) reported "(no sampled site)".
            sampler::resync_this_thread();
        }
        r.0 += 1;
        FullMode(())
    }
}

impl Drop for FullMode {
    fn drop(&mut self) {
        let mut r = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        r.0 -= 1;
        if r.0 == 0 {
            profile::set_rate(r.1);
        }
    }
}
