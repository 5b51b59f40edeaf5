//! The recorder's clock: `CLOCK_MONOTONIC` in nanoseconds.
//!
//! On Linux `clock_gettime(CLOCK_MONOTONIC)` is a vDSO call (no system call
//! with the `tsc` clock source): about 20 ns on the 2-core EPYC VM the
//! benchmarks ran on, the largest part of a recorded event's cost (see
//! `bench/record/`). It is what `std::time::Instant` reads too; calling it
//! directly skips `Instant`'s `Duration` arithmetic and overflow checks, and
//! gives a plain `u64` that fits the event records. The clock is monotonic
//! and shared by every thread, so timestamps of different threads compare.
//! `rdtsc` would be cheaper, but needs calibrating, is not monotonic across
//! cores on every machine, and is x86-only.

/// Nanoseconds of the monotonic clock (an arbitrary origin, fixed for the
/// process). Never allocates, locks or panics.
#[cfg(unix)]
#[inline]
pub(crate) fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; CLOCK_MONOTONIC is always
    // supported, and on failure `t` keeps its zeroes.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// Nanoseconds since the first call (elsewhere than Unix).
#[cfg(not(unix))]
#[inline]
pub(crate) fn now_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    origin.elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_moves_forward() {
        let a = super::now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::now_ns();
        assert!(b >= a + 1_000_000, "{a} {b}");
    }
}
