//! The recorder's clock: the time-stamp counter where the kernel itself
//! trusts it, `CLOCK_MONOTONIC` otherwise.
//!
//! `clock_gettime(CLOCK_MONOTONIC)` (what `Instant::now` reads) is a vDSO
//! call, but on the 2-core EPYC VM the benchmarks ran on it took 28 to 48
//! ns, more than everything else a recorded event costs together (see
//! `bench/record/`). With the `tsc` clock source, that call is itself
//! `rdtsc` scaled to nanoseconds, and the kernel picked that source only
//! after checking the counter is invariant and synchronised across CPUs.
//! So on x86-64 Linux with `tsc` as the clock source (read once, from
//! `/sys`), events take the raw `rdtsc` (a few nanoseconds) and
//! the recording converts ticks to nanoseconds when it writes the trace,
//! linearly between two `(ticks, CLOCK_MONOTONIC)` pairs read at start and
//! finish ([`Timebase`]). Everywhere else events read `CLOCK_MONOTONIC` in
//! nanoseconds directly. Either way timestamps are monotonic and comparable
//! across threads.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// 0: not chosen yet; [`NANOS`] or [`TSC`].
static MODE: AtomicU8 = AtomicU8::new(0);
const NANOS: u8 = 1;
const TSC: u8 = 2;

/// Chooses the clock, once (not on the firing path: it reads a file).
pub(crate) fn choose() {
    if MODE.load(Relaxed) == 0 {
        MODE.store(if tsc_trusted() { TSC } else { NANOS }, Relaxed);
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn tsc_trusted() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|s| s.trim() == "tsc")
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn tsc_trusted() -> bool {
    false
}

/// The time of an event, in the unit the recordings convert with a
/// [`Timebase`]. Never allocates, locks or panics.
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if MODE.load(Relaxed) == TSC {
        // SAFETY: `rdtsc` is available on every x86-64 CPU; it only reads
        // the counter.
        return unsafe { std::arch::x86_64::_rdtsc() };
    }
    now_ns()
}

/// Converts [`ticks`] to nanoseconds since a recording's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timebase {
    ticks0: u64,
    ns0: u64,
    ticks1: u64,
    ns1: u64,
}

impl Timebase {
    /// At the start: the clock's reading in both units.
    pub(crate) fn start() -> Timebase {
        choose();
        let (ticks0, ns0) = (ticks(), now_ns());
        Timebase {
            ticks0,
            ns0,
            ticks1: ticks0,
            ns1: ns0,
        }
    }

    /// A timebase that started at `start_ns` on both clocks and ran for
    /// `duration_ns`: ticks are nanoseconds whichever clock was chosen.
    #[cfg(test)]
    pub(crate) fn fixed(start_ns: u64, duration_ns: u64) -> Timebase {
        Timebase {
            ticks0: start_ns,
            ns0: start_ns,
            ticks1: start_ns + duration_ns,
            ns1: start_ns + duration_ns,
        }
    }

    /// At the finish: the second reading, which fixes the rate.
    pub(crate) fn finish(mut self) -> Timebase {
        self.ticks1 = ticks();
        self.ns1 = now_ns();
        self
    }

    /// Nanoseconds from the start to `t` (0 for anything before it).
    pub(crate) fn ns(&self, t: u64) -> u64 {
        let dt = t.saturating_sub(self.ticks0);
        if MODE.load(Relaxed) != TSC {
            return dt;
        }
        let (span_t, span_ns) = (self.ticks1 - self.ticks0, self.ns1 - self.ns0);
        if span_t == 0 {
            return 0;
        }
        (u128::from(dt) * u128::from(span_ns) / u128::from(span_t)) as u64
    }

    /// The monotonic clock's reading ([`now_ns`]) at the start.
    pub(crate) fn start_ns(&self) -> u64 {
        self.ns0
    }

    /// Nanoseconds from the start to the finish.
    pub(crate) fn duration_ns(&self) -> u64 {
        self.ns1 - self.ns0
    }

    /// Nanoseconds since the start, now (while recording).
    pub(crate) fn elapsed_ns(&self) -> u64 {
        now_ns().saturating_sub(self.ns0)
    }
}

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
    fn ticks_convert_to_nanoseconds() {
        let tb = super::Timebase::start();
        let a = super::ticks();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = super::ticks();
        let tb = tb.finish();
        let (a, b) = (tb.ns(a), tb.ns(b));
        assert!(
            b - a >= 20_000_000 && b - a <= tb.duration_ns(),
            "{a} {b} {tb:?}"
        );
        assert!(tb.ns(b) <= tb.duration_ns());
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = super::now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::now_ns();
        assert!(b >= a + 1_000_000, "{a} {b}");
    }
}
