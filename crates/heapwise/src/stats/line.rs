//! The periodic stats line: `HEAPWISE_TRACE=1s`, heapwise's
//! `GODEBUG=gctrace=1`.
//!
//! A background thread (`heapwise-trace`, running outside every scope) wakes
//! once per interval and prints one line to stderr:
//!
//! ```text
//! heapwise 3 @0.60s: live 26.9MiB peak 27.0MiB | alloc 6.81GiB/s 681k/s | free 6.78GiB/s 617k/s | prof 512KiB 11.4k/s 341KiB | own 350KiB
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `heapwise 3` | the line's number, from 1 |
//! | `@0.60s` | seconds since the trace started |
//! | `live 26.9MiB` | heap bytes allocated and not freed ([`crate::Stats::live_bytes`]) |
//! | `peak 27.0MiB` | the high-water mark of `live` ([`crate::Stats::peak_bytes`]) |
//! | `alloc 6.81GiB/s 681k/s` | bytes and blocks allocated per second over the interval |
//! | `free 6.78GiB/s 617k/s` | bytes and blocks freed per second over the interval |
//! | `prof 512KiB 11.4k/s 341KiB` | the profiler: sampling rate (`off` when 0), samples taken per second, and the memory it holds (stacks, buckets, live-block tables, full mode's trailers and carry bitmap; see [`crate::profile::memory`]) |
//! | `own 350KiB` | what heapwise itself holds: scopes, profiler tables, buffers ([`Stats::heapwise_bytes`](crate::Stats::heapwise_bytes)) |
//!
//! Figures lag by at most 64 KiB of traffic per running thread (see
//! [`crate::stats()`]). Units are 1024-based.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::util::bytes::{Bytes, Sig3};
use crate::util::say::say;
use crate::{profile, stats, untracked};

/// Parses `HEAPWISE_TRACE`: `1s`, `500ms`, `2m`, `1h`, a bare number of seconds;
/// `0` or `off` means no trace.
pub(crate) fn parse_interval(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    if t == "0" || t.eq_ignore_ascii_case("off") || t.is_empty() {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid interval {text:?}: expected e.g. 1s, 500ms or 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "invalid interval {text:?}: unknown unit {other:?} (use ms, s, m or h)"
            ))
        }
    };
    if !(0.01..=86_400.0).contains(&secs) {
        return Err(format!(
            "invalid interval {text:?}: must be between 10ms and 24h"
        ));
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

/// Starts the trace thread.
pub(crate) fn start(every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("heapwise-trace".into())
        .spawn(move || untracked(|| run(every)));
    if let Err(e) = spawned {
        say!("heapwise: HEAPWISE_TRACE: cannot start the trace thread: {e}");
    }
}

/// Set once the lines stop (see [`stop`]).
static STOPPED: AtomicBool = AtomicBool::new(false);

/// No more lines: the thread sleeps from its next wake-up on.
pub(crate) fn stop() {
    STOPPED.store(true, Relaxed);
}

fn run(every: Duration) -> ! {
    let start = Instant::now();
    let mut prev = stats();
    let mut prev_samples = profile::memory().samples;
    let mut prev_at = start;
    let mut n = 0u64;
    loop {
        std::thread::sleep(every);
        if STOPPED.load(Relaxed) {
            loop {
                std::thread::park();
            }
        }
        n += 1;
        let now = Instant::now();
        let s = stats();
        let m = profile::memory();
        let dt = now.duration_since(prev_at).as_secs_f64().max(1e-9);
        let line = format_line(
            n,
            now.duration_since(start),
            &prev,
            &s,
            m.samples - prev_samples,
            m.total_bytes(),
            dt,
        );
        // One write (`util/say.rs`): with `eprintln!`'s two, a process
        // exiting between them left half a line.
        say!("{line}");
        prev = s;
        prev_samples = m.samples;
        prev_at = now;
    }
}

fn format_line(
    n: u64,
    at: Duration,
    prev: &crate::Stats,
    s: &crate::Stats,
    samples: u64,
    prof_bytes: usize,
    dt: f64,
) -> String {
    let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / dt;
    let sps = samples as f64 / dt;
    let prof_rate = match profile::rate() {
        0 => "off".to_string(),
        r => bytes(r as f64),
    };
    let mut line = String::with_capacity(160);
    let _ = write!(
        line,
        "heapwise {n} @{:.2}s: live {} peak {} | alloc {}/s {}/s | free {}/s {}/s | prof {prof_rate} {}/s {} | own {}",
        at.as_secs_f64(),
        bytes(s.live_bytes as f64),
        bytes(s.peak_bytes as f64),
        bytes(rate(s.allocated_bytes, prev.allocated_bytes)),
        count(rate(s.allocs, prev.allocs)),
        bytes(rate(s.freed_bytes, prev.freed_bytes)),
        count(rate(s.frees, prev.frees)),
        count(sps),
        bytes(prof_bytes as f64),
        bytes(s.heapwise_bytes as f64),
    );
    line
}

/// `12.4MiB`: three significant digits, 1024-based.
fn bytes(v: f64) -> String {
    format!("{:#}", Bytes(v))
}

/// `52.3k`: three significant digits, 1000-based.
fn count(v: f64) -> String {
    const UNITS: [&str; 4] = ["", "k", "M", "G"];
    let mut v = v;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        return format!("{v:.0}");
    }
    format!("{}{}", Sig3(v), UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1s"), Ok(Some(Duration::from_secs(1))));
        assert_eq!(
            parse_interval("500ms"),
            Ok(Some(Duration::from_millis(500)))
        );
        assert_eq!(parse_interval("2m"), Ok(Some(Duration::from_secs(120))));
        assert_eq!(parse_interval("3"), Ok(Some(Duration::from_secs(3))));
        assert_eq!(parse_interval("0"), Ok(None));
        assert_eq!(parse_interval("off"), Ok(None));
        // The bounds the error names are accepted.
        assert_eq!(parse_interval("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse_interval("24h"), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(parse_interval("10ms"), Ok(Some(Duration::from_millis(10))));
        for bad in ["x", "-1s", "1ms", "25h", "100000m"] {
            assert!(
                parse_interval(bad)
                    .unwrap_err()
                    .starts_with("invalid interval"),
                "{bad}"
            );
        }
    }

    #[test]
    fn line_format() {
        let prev = crate::Stats::default();
        let s = crate::Stats {
            live_bytes: 13 << 20,
            peak_bytes: 20 << 20,
            allocated_bytes: 4 << 20,
            allocs: 52_300,
            freed_bytes: 1000,
            frees: 10,
            calls: 52_310,
            heapwise_bytes: 1536,
            ..Default::default()
        };
        let line = format_line(3, Duration::from_secs(3), &prev, &s, 8, 1 << 20, 1.0);
        assert!(line.starts_with("heapwise 3 @3.00s: live 13.0MiB peak 20.0MiB | alloc 4.00MiB/s 52.3k/s | free 1000B/s 10/s | prof "), "{line}");
        assert!(line.ends_with("8/s 1.00MiB | own 1.50KiB"), "{line}");
    }
}
