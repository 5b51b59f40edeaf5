//! Decoding never allocates more than `DecodeOptions::max_memory` (plus a
//! little scratch space), and hostile input that would need more fails
//! early with `ErrorKind::TooLarge` naming what takes the memory: a 0.5 MB
//! gzip of 250 million empty samples (18 GB decoded), raw empty samples, a
//! gzip of zeros, a sample with millions of location ids.
//!
//! A counting global allocator measures each test thread's peak; it
//! refuses any allocation that would take a thread past 2 GiB, so a
//! regression aborts the test instead of exhausting the machine.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use common::{fixture, raw_fixture, sample_profile, Pb};
use heapwise_pprof::{DecodeOptions, ErrorKind, Profile, DEFAULT_MAX_MEMORY};

/// Allocations on this thread not yet freed, and their peak.
struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// The most a test thread may hold at once.
const HARD_CAP: isize = 2 << 30;

/// What decoding may allocate beyond the limit: the gzip decoder's window
/// and buffers, and error messages.
const SLACK: u64 = 256 << 10;

/// Charges `delta` bytes to this thread; false (charging nothing) if that
/// would pass the hard cap. Uses const-initialised thread locals without
/// destructors, so it never allocates.
fn charge(delta: isize) -> bool {
    CURRENT
        .try_with(|current| {
            let now = current.get() + delta;
            if delta > 0 && now > HARD_CAP {
                return false;
            }
            current.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
            true
        })
        .unwrap_or(true)
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, and only adds bookkeeping that neither allocates nor unwinds.
// `realloc` is the trait's default (alloc, copy, dealloc), so a move
// counts both blocks, as the peak should.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !charge(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !charge(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        charge(-(layout.size() as isize));
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the most this thread held at once
/// during it, above what it held before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as u64)
}

/// A gzip stream of `members` members, each of `per_member` empty samples
/// (`12 00`): concatenated members are one stream to a reader of
/// multi-member gzip, as pprof files may be, so a huge stream is built by
/// compressing one member only.
fn empty_samples_gzip(per_member: usize, members: usize) -> Vec<u8> {
    let chunk = [0x12u8, 0x00].repeat(per_member);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&chunk).unwrap();
    e.finish().unwrap().repeat(members)
}

#[test]
fn a_half_megabyte_gzip_of_250_million_empty_samples_fails_early() {
    // 250,000,000 samples of 72 bytes: 18 GB decoded from 500 MB of
    // protobuf.
    let bomb = empty_samples_gzip(500_000, 500);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let (result, peak) = peak_during(|| Profile::decode(&bomb));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    let message = e.to_string();
    assert!(
        message.starts_with("decoding would take more than the 256 MiB memory limit (")
            && message.contains(" samples in the first "),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    // Rejected while streaming: nothing was kept.
    assert!(peak <= SLACK, "peak {peak} bytes");
    eprintln!("{message}; peak {peak} bytes");
}

#[test]
fn raw_empty_samples_are_counted_before_anything_is_allocated() {
    let raw = [0x12u8, 0x00].repeat(4_000_000);
    let (result, peak) = peak_during(|| Profile::decode(&raw));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(
        e.to_string(),
        "decoding would take 274.7 MiB (4000000 samples), over the 256 MiB memory limit"
    );
    assert!(peak <= SLACK, "peak {peak} bytes");
}

#[test]
fn a_gzip_of_zeros_fails_at_its_first_byte() {
    // 2 GiB of zeros: not a protobuf message (field number 0).
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 1 << 20]).unwrap();
    let bomb = e.finish().unwrap().repeat(2048);
    assert!(bomb.len() < 4 << 20, "{} bytes", bomb.len());
    let (result, peak) = peak_during(|| Profile::decode(&bomb));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
    assert_eq!(e.to_string(), "invalid field number 0 at byte 0");
    assert!(peak <= SLACK, "peak {peak} bytes");
}

#[test]
fn the_decompression_limit_is_checked_while_streaming() {
    // 64 MiB of protobuf against a 1 MiB decompression limit and the
    // default memory limit: fails within the first megabyte.
    let bomb = empty_samples_gzip(1 << 20, 32);
    let options = DecodeOptions::new().max_decompressed_size(1 << 20);
    let (result, peak) = peak_during(|| Profile::decode_with(&bomb, &options));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(
        e.to_string(),
        "gzip: decompressed size exceeds the limit of 1048576 bytes"
    );
    assert!(peak <= SLACK, "peak {peak} bytes");
}

#[test]
fn a_sample_with_millions_of_location_ids_is_charged_before_it_is_allocated() {
    // One sample whose packed location ids (one byte each on the wire,
    // eight in memory) need 32 MiB, against an 8 MiB limit.
    let ids = vec![1u8; 4 << 20];
    let raw = Pb::new()
        .msg(1, Pb::new().uint(1, 1).uint(2, 2))
        .msg(2, Pb::new().bytes(1, &ids).bytes(2, &[5]))
        .msg(4, Pb::new().uint(1, 1))
        .bytes(6, b"")
        .bytes(6, b"samples")
        .bytes(6, b"count")
        .done();
    let options = DecodeOptions::new().max_memory(8 << 20);
    let (result, peak) = peak_during(|| Profile::decode_with(&raw, &options));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(
        e.to_string(),
        "decoding would take more than the 8 MiB memory limit (sample 0 at byte 6)"
    );
    assert!(peak <= SLACK, "peak {peak} bytes");

    // With room for them it decodes, within its limit.
    let options = DecodeOptions::new().max_memory(40 << 20);
    let (result, peak) = peak_during(|| Profile::decode_with(&raw, &options));
    let p = result.unwrap();
    assert_eq!(p.sample[0].location_id.len(), 4 << 20);
    assert!(peak <= (40 << 20) + SLACK, "peak {peak} bytes");
}

/// The smallest memory limit `data` decodes under, found by bisection.
fn smallest_limit(data: &[u8]) -> u64 {
    let (mut fails, mut works) = (0u64, DEFAULT_MAX_MEMORY);
    assert!(Profile::decode_with(data, &DecodeOptions::new().max_memory(works)).is_ok());
    while works - fails > 1 {
        let mid = fails + (works - fails) / 2;
        match Profile::decode_with(data, &DecodeOptions::new().max_memory(mid)) {
            Ok(_) => works = mid,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
                fails = mid;
            }
        }
    }
    works
}

/// A profile whose strings include invalid UTF-8, which grows when decoded
/// (each bad byte becomes a three-byte U+FFFD).
fn invalid_utf8_profile() -> Vec<u8> {
    let mut raw = sample_profile().encode();
    raw.extend(Pb::new().bytes(6, &[0xff; 100]).bytes(6, b"ok \xc3").done());
    raw
}

#[test]
fn every_decoded_profile_fits_the_smallest_limit_that_accepts_it() {
    let inputs = [
        ("go_heap.pb.gz", fixture("go_heap.pb.gz")),
        ("go_heap raw", raw_fixture("go_heap.pb.gz")),
        ("go_cpu.pb.gz", fixture("go_cpu.pb.gz")),
        ("go_cpu raw", raw_fixture("go_cpu.pb.gz")),
        ("sample_profile", sample_profile().encode()),
        ("sample_profile gzipped", sample_profile().encode_gzip()),
        ("invalid UTF-8", invalid_utf8_profile()),
    ];
    for (name, data) in inputs {
        let limit = smallest_limit(&data);
        let options = DecodeOptions::new().max_memory(limit);
        let before = CURRENT.with(Cell::get);
        let (result, peak) = peak_during(|| Profile::decode_with(&data, &options));
        let held = (CURRENT.with(Cell::get) - before) as u64;
        let profile = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("{name}: limit {limit}, peak {peak}, profile {held}");
        // The limit bounds what decoding allocates and what it keeps.
        assert!(peak <= limit + SLACK, "{name}: peak {peak} over {limit}");
        assert!(held <= limit, "{name}: profile {held} over {limit}");
        let e =
            Profile::decode_with(&data, &DecodeOptions::new().max_memory(limit - 1)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge, "{name}: {e}");
        assert!(!profile.sample.is_empty() || name == "invalid UTF-8");
    }
}
