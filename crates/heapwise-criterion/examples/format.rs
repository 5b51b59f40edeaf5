//! `cargo run --release -p heapwise-criterion --example format`: criterion
//! measuring bytes and allocations per iteration.

use criterion::{criterion_group, criterion_main, Criterion};
use heapwise_criterion::Allocated;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

fn bytes(c: &mut Criterion<Allocated>) {
    c.bench_function("format", |b| b.iter(|| format!("{}-{}", 1, 2)));
    c.bench_function("vec of 100 u64", |b| b.iter(|| vec![7u64; 100]));
}

fn allocs(c: &mut Criterion<Allocated>) {
    c.bench_function("format (allocs)", |b| b.iter(|| format!("{}-{}", 1, 2)));
}

criterion_group! {
    name = by_bytes;
    config = Criterion::default().with_measurement(Allocated::bytes()).without_plots();
    targets = bytes
}
criterion_group! {
    name = by_allocs;
    config = Criterion::default().with_measurement(Allocated::allocs()).without_plots();
    targets = allocs
}
criterion_main!(by_bytes, by_allocs);
