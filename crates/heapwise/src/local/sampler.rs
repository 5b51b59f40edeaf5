//! When to sample an allocation: a per-thread Poisson process over bytes.
//!
//! # Mechanism
//!
//! As in Go (`runtime.MemProfileRate`) and jemalloc (`lg_prof_sample`), each
//! thread counts down the bytes it allocates; when an allocation would take
//! the count below zero it is *sampled* and a new distance is drawn from an
//! exponential distribution with mean R, the rate. Bytes, not calls, are the
//! unit, so an allocation of `S` bytes is sampled with probability
//! `1 - exp(-S/R)`: large blocks are almost always seen, small ones rarely,
//! and the sample is unbiased by dividing by that probability at export time
//! (see `profile.rs`).
//!
//! The countdown is not a second counter on the fast path: the allocator's
//! one countdown (`block.rs`) is set to the minimum of the flush budget, the
//! nearest limit and the distance to the next sample, so a disabled profiler
//! (R = 0) adds no instruction to an allocation, and a sample is just another
//! reason to take the slow path. R = 1 samples every allocation (full mode).
//!
//! Changing the rate bumps an epoch; each thread notices it on its next slow
//! path (at most 64 KiB of traffic later) and draws again.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::local::with_local;

/// Go's and jemalloc's default sampling rate: one sample per 512 KiB
/// allocated, on average.
pub const DEFAULT_RATE: u64 = 512 * 1024;

/// Distance used when sampling is off: never reached (a thread would have to
/// allocate 2^62 bytes between two slow paths).
pub(crate) const NEVER: i64 = 1 << 62;

static RATE: AtomicU64 = AtomicU64::new(DEFAULT_RATE);
static SEED: AtomicU64 = AtomicU64::new(0);
/// Bumped by every change of rate or seed; threads compare it on slow paths.
static EPOCH: AtomicU32 = AtomicU32::new(1);
static THREADS: AtomicU64 = AtomicU64::new(0);

/// The current sampling rate in bytes (0 = off, 1 = every allocation).
pub(crate) fn rate() -> u64 {
    RATE.load(Relaxed)
}

/// Every block is tracked, for heap snapshots (`HEAPWISE_SNAPSHOT=1`):
/// nothing may run unsampled, not even heapwise's export work done on the
/// program's behalf, which would leave untracked blocks in the heap.
static EVERY_BLOCK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// See [`EVERY_BLOCK`]; set once, at start.
pub(crate) fn track_every_block() {
    EVERY_BLOCK.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Must every block be tracked?
pub(crate) fn every_block() -> bool {
    EVERY_BLOCK.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets the rate; the calling thread follows at once, others on their next
/// slow path.
pub(crate) fn set_rate(bytes: u64) {
    RATE.store(bytes, Relaxed);
    EPOCH.fetch_add(1, Relaxed);
    resync_this_thread();
}

/// The calling thread picks up the current rate and seed now.
pub(crate) fn resync_this_thread() {
    with_local(|l| l.resync_sampler());
}

pub(crate) fn set_seed(seed: u64) {
    SEED.store(seed, Relaxed);
    THREADS.store(0, Relaxed);
    EPOCH.fetch_add(1, Relaxed);
    resync_this_thread();
}

pub(crate) fn epoch() -> u32 {
    EPOCH.load(Relaxed)
}

/// A fresh generator state for a thread: the seed (or, without one, an
/// address that differs per thread and per run) mixed with a thread counter.
pub(crate) fn seed_thread(salt: usize) -> u64 {
    let seed = match SEED.load(Relaxed) {
        0 => salt as u64 ^ 0x9e37_79b9_7f4a_7c15,
        s => s,
    };
    let n = THREADS.fetch_add(1, Relaxed);
    splitmix(seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15))) | 1
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bytes until the next sample at `rate`: an exponential draw with mean
/// `rate` (inverse CDF over 53 random bits), `0` in full mode, [`NEVER`] when
/// off. Advances the xorshift state `rng`. Allocator-safe.
pub(crate) fn next_distance(rng: &mut u64, rate: u64) -> i64 {
    match rate {
        0 => NEVER,
        1 => 0,
        r => {
            let mut x = *rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *rng = x;
            // u in (0, 1]: never ln(0).
            let u = ((x >> 11) + 1) as f64 / (1u64 << 53) as f64;
            let d = -u.ln() * r as f64;
            (d as i64).min(NEVER)
        }
    }
}

/// The probability that an allocation of `size` bytes is sampled at `rate`:
/// `1 - exp(-size/rate)`, or 1 in full mode.
pub(crate) fn probability(size: u64, rate: u64) -> f64 {
    if rate <= 1 {
        return 1.0;
    }
    -(-(size as f64) / rate as f64).exp_m1()
}

/// Go's `scaleHeapSample`: the unbiased estimate of `(count, bytes)` for a
/// bucket of `count` sampled blocks of `bytes` in total, all of one size.
pub(crate) fn scale(count: u64, bytes: u64, rate: u64) -> (i64, i64) {
    if count == 0 || bytes == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (count as i64, bytes as i64);
    }
    let avg = bytes as f64 / count as f64;
    let s = 1.0 / probability(avg as u64, rate).max(f64::MIN_POSITIVE);
    ((count as f64 * s) as i64, (bytes as f64 * s) as i64)
}

/// Parses a rate as `HEAPWISE_PROFILE_RATE` takes it: a byte count with an
/// optional unit (`B`, `KiB`, `MiB`, `GiB`, `TiB`, also `K`/`KB`/`k`... as
/// powers of 1024), at most 1 TiB, e.g. `512KiB`, `1MiB`, `1` (every allocation), `0` (off).
pub(crate) fn parse_rate(text: &str) -> Result<u64, String> {
    parse_bytes(
        text,
        "rate",
        "bytes such as 512KiB, 1MiB, 1 (every allocation) or 0 (off)",
    )
    .and_then(|b| {
        if b <= 1 << 40 {
            Ok(b)
        } else {
            Err(format!("invalid rate {text:?}: at most 1TiB"))
        }
    })
}

/// A byte count: digits (`_` allowed between them) and an optional unit,
/// B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB, any case, all powers of
/// 1024. Errors say `invalid {what} {text:?}: ...`, the first one with
/// `example` of what is expected.
pub(crate) fn parse_bytes(text: &str, what: &str, example: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return Err(format!("invalid {what} {text:?}: expected {example}"));
    }
    if unit.starts_with(['.', ',']) {
        return Err(format!(
            "invalid {what} {text:?}: a whole number of bytes or units (1536KiB, not 1.5MiB)"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid {what} {text:?}: number too large"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "invalid {what} {text:?}: unknown unit {other:?} (use B, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("invalid {what} {text:?}: number too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse_rate("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_rate("1MiB"), Ok(1 << 20));
        assert_eq!(parse_rate(" 4096 "), Ok(4096));
        assert_eq!(parse_rate("1"), Ok(1));
        assert_eq!(parse_rate("0"), Ok(0));
        assert_eq!(parse_rate("2 mb"), Ok(2 << 20));
        assert_eq!(parse_rate("1_000"), Ok(1000));
        // The limit the error names is accepted.
        assert_eq!(parse_rate("1TiB"), Ok(1 << 40));
        assert_eq!(parse_rate("1 tb"), Ok(1 << 40));
        for bad in [
            "",
            "KiB",
            "-1",
            "1.5MiB",
            "12parsecs",
            "99999999999999999999",
            "2TiB",
        ] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.starts_with("invalid rate"), "{bad:?}: {err}");
        }
        // A fraction is not taken for a unit.
        assert_eq!(
            parse_rate("1.5MiB"),
            Err(
                "invalid rate \"1.5MiB\": a whole number of bytes or units (1536KiB, not 1.5MiB)"
                    .into()
            )
        );
    }

    #[test]
    fn draws_have_the_requested_mean() {
        let mut rng = 0x1234_5678_9abc_def1;
        let n = 200_000;
        let sum: i64 = (0..n).map(|_| next_distance(&mut rng, 4096)).sum();
        let mean = sum as f64 / n as f64;
        assert!((mean - 4096.0).abs() < 4096.0 * 0.02, "mean {mean}");
        assert_eq!(next_distance(&mut rng, 1), 0);
        assert_eq!(next_distance(&mut rng, 0), NEVER);
    }

    /// The spread the profile docs state: a site that allocated `B` bytes
    /// in small blocks is estimated within `√(R/B)` (one standard
    /// deviation), 8.8% for 64 MiB at 512 KiB.
    #[test]
    fn a_sites_estimate_spreads_by_the_square_root_of_rate_over_bytes() {
        let (rate, block, site) = (DEFAULT_RATE, 64u64, 64u64 << 20);
        let mut rng = 0x9e37_79b9_7f4a_7c15;
        let trials = 2000;
        let estimates: Vec<f64> = (0..trials)
            .map(|_| {
                // The bytes between samples are exponential draws; count the
                // samples that fall inside the site's bytes.
                let (mut at, mut samples) = (next_distance(&mut rng, rate) as u64, 0);
                while at < site {
                    samples += 1;
                    at += next_distance(&mut rng, rate) as u64 + block;
                }
                scale(samples, samples * block, rate).1 as f64
            })
            .collect();
        let mean = estimates.iter().sum::<f64>() / trials as f64;
        let var = estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / trials as f64;
        let (bias, spread) = (mean / site as f64 - 1.0, var.sqrt() / site as f64);
        let documented = (rate as f64 / site as f64).sqrt();
        assert!((documented - 0.088).abs() < 0.001, "{documented}");
        assert!(bias.abs() < 0.01, "unbiased: {bias}");
        assert!(
            (spread / documented - 1.0).abs() < 0.1,
            "spread {spread} vs {documented}"
        );
    }

    #[test]
    fn scaling_is_gos() {
        // Go: 47 sampled 1 MiB blocks at 512 KiB estimate 54 (docs/profiling.md, "A worked example").
        let (n, b) = scale(47, 47 << 20, 512 * 1024);
        assert_eq!(n, 54);
        assert_eq!(
            b,
            (47.0 * (1u64 << 20) as f64 / (1.0 - (-2.0f64).exp())) as i64
        );
        assert_eq!(scale(3, 300, 1), (3, 300));
        assert_eq!(scale(0, 0, 512), (0, 0));
    }
}
