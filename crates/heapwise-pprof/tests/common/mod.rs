//! Shared helpers for the integration tests: fixture loading, a small
//! profile built by hand, and a minimal protobuf writer for crafting input
//! the crate's own encoder would never produce.

#![allow(dead_code, unreachable_pub)]

use heapwise_pprof::{Profile, ProfileBuilder};

/// Reads a file from `testdata/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Decompresses a gzipped fixture to its raw protobuf bytes.
pub fn raw_fixture(name: &str) -> Vec<u8> {
    use std::io::Read;
    let gz = fixture(name);
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .expect("fixture is valid gzip");
    raw
}

/// A small heap-like profile with two stacks, labels, a mapping and an
/// inlined frame.
pub fn sample_profile() -> Profile {
    let mut b = ProfileBuilder::new();
    b.sample_type("alloc_objects", "count")
        .sample_type("alloc_space", "bytes")
        .period("space", "bytes", 524288)
        .time_nanos(1_700_000_000_000_000_000)
        .duration_nanos(5_000_000_000)
        .comment("built by hand")
        .default_sample_type("alloc_space");
    let filename = b.string("/usr/bin/app");
    let build_id = b.string("abc123");
    let mapping = b.add_mapping(heapwise_pprof::Mapping {
        id: 0,
        memory_start: 0x40_0000,
        memory_limit: 0x80_0000,
        file_offset: 0,
        filename,
        build_id,
        has_functions: true,
        has_filenames: true,
        has_line_numbers: true,
        has_inline_frames: true,
    });
    let parse = b.function("app::parse", "_ZN3app5parse", "src/parse.rs", 10);
    let helper = b.function("app::helper", "_ZN3app6helper", "src/parse.rs", 90);
    let main = b.function("app::main", "_ZN3app4main", "src/main.rs", 1);
    let leaf = b.location(
        mapping,
        0x40_1000,
        &[
            heapwise_pprof::Line {
                function_id: helper,
                line: 95,
                column: 7,
            },
            heapwise_pprof::Line {
                function_id: parse,
                line: 12,
                column: 0,
            },
        ],
    );
    let root = b.location(
        mapping,
        0x40_2000,
        &[heapwise_pprof::Line {
            function_id: main,
            line: 3,
            column: 0,
        }],
    );
    let alloc = b.frame("app::alloc_buffer", "src/buf.rs", 44);
    let size = b.label_num("bytes", 4096, "bytes");
    let thread = b.label_str("thread", "worker-1");
    b.sample(&[leaf, root], &[3, 12288], &[size, thread]);
    b.sample(&[alloc, root], &[1, 1 << 20], &[]);
    b.sample(&[root], &[-2, -64], &[thread]);
    b.build()
}

/// A minimal protobuf writer.
#[derive(Default)]
pub struct Pb(pub Vec<u8>);

impl Pb {
    pub fn new() -> Self {
        Pb(Vec::new())
    }
    pub fn varint(mut self, mut v: u64) -> Self {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }
    pub fn key(self, field: u32, wire: u8) -> Self {
        self.varint((u64::from(field) << 3) | u64::from(wire))
    }
    pub fn uint(self, field: u32, v: u64) -> Self {
        self.key(field, 0).varint(v)
    }
    pub fn bytes(self, field: u32, b: &[u8]) -> Self {
        let mut s = self.key(field, 2).varint(b.len() as u64);
        s.0.extend_from_slice(b);
        s
    }
    pub fn msg(self, field: u32, m: Pb) -> Self {
        self.bytes(field, &m.0)
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn done(self) -> Vec<u8> {
        self.0
    }
}
