//! `?debug=1`: Go's legacy text heap profile (`runtime/pprof`'s
//! `writeHeapInternal`), which people read and `go tool pprof` still parses.
//!
//! ```text
//! heap profile: 12: 45056 [40: 160312] @ heap/1048576
//! 1: 32768 [1: 32768] @ 0x55d0c1a2b3c5 0x55d0c1a2b6f1
//! #  0x55d0c1a2b3c4  myapp::load  src/main.rs:12
//! #  0x55d0c1a2b6f0  myapp::main  src/main.rs:30
//! ```
//!
//! A header with the totals, then
//! one record per sample, sorted by in-use bytes: `in-use objects: in-use
//! bytes [allocated objects: allocated bytes] @` and the stack's return
//! addresses, leaf first, followed by one `#` comment line per frame
//! (inlined frames share an address) with the function, file and line.
//! Go's comment also gives the offset in the function (`func+0x1c`), which
//! heapwise does not know: pprof reads only the addresses, and resolves them
//! through `/debug/pprof/symbol` when it fetches the profile over HTTP.
//!
//! # Unscaled values
//!
//! The format carries **sampled** counts, which pprof unbiases itself
//! using the rate in the header (`heap/<2 × rate>`, a gperftools quirk
//! Go keeps). They are recovered from the profile's unbiased figures by
//! inverting Go's `scaleHeapSample` for the sample's block size at the
//! current rate: exactly the sampled counts when the rate never changed,
//! and otherwise the counts that make pprof's unbiasing give back heapwise's
//! estimates (samples taken at an earlier rate keep their own scaling).
//!
//! As Go does, allocated bytes in the header are bumped by one when they
//! equal the in-use bytes (pprof would otherwise read a two-column
//! profile), and a `# heapwise stats` trailer gives the process figures,
//! as Go's `# runtime.MemStats` does; pprof ignores `#` lines.

use std::fmt::Write as _;

use heapwise_pprof::{Profile, Sample};

use crate::local::sampler;
use crate::{profile, stats};

/// Sampled `(count, bytes)` behind an unbiased `(count, bytes)` of blocks
/// of `size` bytes at `rate`.
fn unscale(count: i64, bytes: i64, size: u64, rate: u64) -> (u64, u64) {
    let (count, bytes) = (count.max(0) as u64, bytes.max(0) as u64);
    if rate <= 1 || size == 0 || count == 0 {
        return (count, bytes);
    }
    // scale() multiplies by 1/p and truncates; the error of bytes/size is
    // below 1/rate, so rounding recovers the sampled count exactly.
    let p = sampler::probability(size, rate);
    let n = (bytes as f64 * p / size as f64).round() as u64;
    let n = n.max(1);
    (n, n.saturating_mul(size))
}

/// One record: sampled in-use and allocated figures and the stack.
struct Record<'p> {
    inuse: (u64, u64),
    alloc: (u64, u64),
    sample: &'p Sample,
}

fn block_size(p: &Profile, s: &Sample, ao: i64, ab: i64) -> u64 {
    s.label
        .iter()
        .find(|l| l.str == 0 && p.string(l.key) == "bytes")
        .map(|l| l.num.max(0) as u64)
        .unwrap_or(if ao > 0 { (ab / ao) as u64 } else { 0 })
}

/// The text form of a heap profile built by [`crate::profile`].
pub(crate) fn text(p: &Profile) -> String {
    let idx = |name: &str| p.sample_type_index(name);
    let (Some(ao), Some(ab), Some(io), Some(ib)) = (
        idx("alloc_objects"),
        idx("alloc_space"),
        idx("inuse_objects"),
        idx("inuse_space"),
    ) else {
        return String::from("heap profile: 0: 0 [0: 1] @ heap/0\n");
    };
    let rate = p.period.max(0) as u64;
    let v = |s: &Sample, i: usize| s.value.get(i).copied().unwrap_or(0);
    let mut records: Vec<Record<'_>> = p
        .sample
        .iter()
        .map(|s| {
            let size = block_size(p, s, v(s, ao), v(s, ab));
            Record {
                inuse: unscale(v(s, io), v(s, ib), size, rate),
                alloc: unscale(v(s, ao), v(s, ab), size, rate),
                sample: s,
            }
        })
        .collect();
    records.sort_by(|a, b| b.inuse.1.cmp(&a.inuse.1).then(b.alloc.1.cmp(&a.alloc.1)));

    let sum = |f: fn(&Record<'_>) -> u64| records.iter().map(f).fold(0u64, u64::saturating_add);
    let (inuse_objects, inuse_bytes) = (sum(|r| r.inuse.0), sum(|r| r.inuse.1));
    let (alloc_objects, mut alloc_bytes) = (sum(|r| r.alloc.0), sum(|r| r.alloc.1));
    if alloc_bytes == inuse_bytes {
        alloc_bytes += 1;
    }

    let mut out = String::with_capacity(256 + records.len() * 200);
    let _ = writeln!(
        out,
        "heap profile: {inuse_objects}: {inuse_bytes} [{alloc_objects}: {alloc_bytes}] @ heap/{}",
        rate.saturating_mul(2)
    );
    for r in &records {
        let _ = write!(
            out,
            "{}: {} [{}: {}] @",
            r.inuse.0, r.inuse.1, r.alloc.0, r.alloc.1
        );
        let locations: Vec<_> = r
            .sample
            .location_id
            .iter()
            .filter_map(|&id| p.location_by_id(id))
            .collect();
        for l in &locations {
            // Locations hold call-site PCs; the format has return addresses.
            let _ = write!(out, " {:#x}", l.address.wrapping_add(1));
        }
        out.push('\n');
        for l in &locations {
            if l.line.is_empty() {
                let _ = writeln!(out, "#\t{:#x}", l.address);
            }
            for line in &l.line {
                let (name, file) = p
                    .function_by_id(line.function_id)
                    .map_or(("?", ""), |f| (p.string(f.name), p.string(f.filename)));
                let _ = writeln!(out, "#\t{:#x}\t{name}\t{file}:{}", l.address, line.line);
            }
        }
        out.push('\n');
    }

    let s = stats();
    let m = profile::memory();
    out.push_str("\n# heapwise stats\n");
    for (name, value) in [
        ("allocated_bytes", s.allocated_bytes),
        ("freed_bytes", s.freed_bytes),
        ("live_bytes", s.live_bytes),
        ("peak_bytes", s.peak_bytes),
        ("allocs", s.allocs),
        ("frees", s.frees),
        ("reallocs", s.reallocs),
        ("calls", s.calls),
        ("profile_rate", profile::rate()),
        ("profile_samples", m.samples),
        ("profile_live_samples", m.live_samples as u64),
        ("profiler_bytes", m.total_bytes() as u64),
    ] {
        let _ = writeln!(out, "# {name} = {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unscale;
    use crate::local::sampler::scale;

    #[test]
    fn unscaling_inverts_gos_scaling() {
        for rate in [2u64, 100, 4096, 512 * 1024, 1 << 30] {
            for size in [1u64, 7, 64, 1000, 4096, 100_000, 1 << 20, 1 << 28] {
                for count in [1u64, 2, 3, 47, 1000, 123_457] {
                    let (c, b) = scale(count, count * size, rate);
                    assert_eq!(
                        unscale(c, b, size, rate),
                        (count, count * size),
                        "rate {rate} size {size} count {count}"
                    );
                }
            }
        }
        assert_eq!(unscale(5, 500, 100, 1), (5, 500));
        assert_eq!(unscale(0, 0, 100, 4096), (0, 0));
    }
}
