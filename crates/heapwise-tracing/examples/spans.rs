//! `cargo run -p heapwise-tracing --example spans`: spans as scopes, with
//! tracing-subscriber's fmt layer printing the close events.

use heapwise_tracing::{HeapwiseLayer, SpanLimit};
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

fn main() {
    let layer = HeapwiseLayer::new().limit("parse", SpanLimit::bytes(16 * heapwise::KIB));
    tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().without_time())
        .init();
    tracing::info_span!("request", id = 7).in_scope(|| {
        let body = vec![0u8; 4096];
        tracing::info_span!("parse").in_scope(|| {
            let parsed: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
            if let Err(e) = heapwise::Scope::current().unwrap().check() {
                tracing::warn!("parse went over its budget: {e}");
            }
            drop(parsed);
        });
        drop(body);
    });
}
