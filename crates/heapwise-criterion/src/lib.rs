//! A [criterion](https://docs.rs/criterion) [`Measurement`] of heap bytes
//! or allocations per iteration, counted by heapwise: criterion's
//! statistics, reports and change detection, for memory instead of time.
//!
//! ```no_run
//! use criterion::{criterion_group, criterion_main, Criterion};
//! use heapwise_criterion::Allocated;
//!
//! #[global_allocator]
//! static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//!
//! fn parse(c: &mut Criterion<Allocated>) {
//!     c.bench_function("format", |b| b.iter(|| format!("{}-{}", 1, 2)));
//! }
//!
//! criterion_group! {
//!     name = benches;
//!     config = Criterion::default().with_measurement(Allocated::bytes());
//!     targets = parse
//! }
//! criterion_main!(benches);
//! ```
//!
//! `cargo bench` (the bench target with `harness = false`) prints
//! criterion's usual report, in bytes (`examples/format.rs`, run with
//! `cargo run --release -p heapwise-criterion --example format -- --bench`):
//!
//! ```text
//! format                  time:   [3.0000 B 3.0000 B 3.0000 B]
//! vec of 100 u64          time:   [800.00 B 800.00 B 800.00 B]
//! format (allocs)         time:   [1.0000 allocs 1.0000 allocs 1.0000 allocs]
//! ```
//!
//! Each measurement runs the iterations in a scope of their own
//! ([`heapwise::Scope`]), so what other threads allocate meanwhile is not
//! counted, and the figure is exact: criterion's spread is then zero (its
//! "time" column names the unit of the measurement, here bytes). The
//! program must use heapwise's allocator; without it every figure is zero.
//! [`Allocated::bytes`] counts the bytes allocated (freed or not, as
//! `heapwise::Usage::bytes`), [`Allocated::allocs`] the allocations.
//!
//! criterion refuses a measurement of zero ("took zero time per
//! iteration"), so a routine that allocates nothing gets no estimate: to
//! assert that, use `heapwise::assert_allocs!(|| f(), allocs == 0)` (feature
//! `testing`) in a test instead.

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::Throughput;
use heapwise::{Scope, ScopeGuard};

/// What [`Allocated`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Count {
    Bytes,
    Allocs,
}

/// The measurement: bytes or allocations per iteration; see the crate docs.
#[derive(Clone, Copy, Debug)]
pub struct Allocated {
    count: Count,
}

impl Allocated {
    /// Bytes allocated per iteration.
    pub fn bytes() -> Allocated {
        Allocated {
            count: Count::Bytes,
        }
    }

    /// Allocations per iteration.
    pub fn allocs() -> Allocated {
        Allocated {
            count: Count::Allocs,
        }
    }
}

/// One measurement in progress: its scope, entered on the benchmark's thread.
#[derive(Debug)]
pub struct Running {
    scope: Scope,
    guard: ScopeGuard<'static>,
}

impl Measurement for Allocated {
    type Intermediate = Running;
    type Value = u64;

    fn start(&self) -> Running {
        let scope = Scope::new().name("criterion");
        let guard = scope.enter_owned();
        Running { scope, guard }
    }

    fn end(&self, running: Running) -> u64 {
        drop(running.guard);
        let usage = running.scope.usage();
        match self.count {
            Count::Bytes => usage.bytes,
            Count::Allocs => usage.allocs,
        }
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        match self.count {
            Count::Bytes => &BytesFormatter,
            Count::Allocs => &AllocsFormatter,
        }
    }
}

/// Bytes, scaled to B, KiB, MiB or GiB by the typical value.
struct BytesFormatter;

impl ValueFormatter for BytesFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (divisor, unit) = match typical.abs() {
            t if t < 1024.0 => (1.0, "B"),
            t if t < 1024.0 * 1024.0 => (1024.0, "KiB"),
            t if t < 1024.0 * 1024.0 * 1024.0 => (1024.0 * 1024.0, "MiB"),
            _ => (1024.0 * 1024.0 * 1024.0, "GiB"),
        };
        values.iter_mut().for_each(|v| *v /= divisor);
        unit
    }

    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        per_element(typical, t, values, "B/elem", "B/byte")
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "B"
    }
}

/// Allocations, unscaled.
struct AllocsFormatter;

impl ValueFormatter for AllocsFormatter {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "allocs"
    }

    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        per_element(typical, t, values, "allocs/elem", "allocs/byte")
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "allocs"
    }
}

/// Divides by the elements or bytes an iteration processes.
fn per_element(
    _typical: f64,
    t: &Throughput,
    values: &mut [f64],
    per_elem: &'static str,
    per_byte: &'static str,
) -> &'static str {
    let (n, unit) = match *t {
        Throughput::Elements(n) => (n, per_elem),
        Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (n, per_byte),
        _ => (1, per_elem),
    };
    let n = n.max(1) as f64;
    values.iter_mut().for_each(|v| *v /= n);
    unit
}
