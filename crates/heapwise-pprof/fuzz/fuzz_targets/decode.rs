//! Fuzzes `Profile::decode`: no input may panic, and whatever decodes must
//! survive an encode → decode round trip unchanged.
//!
//! Run from `crates/heapwise-pprof/fuzz` with a nightly toolchain:
//! `cargo +nightly fuzz run decode corpus/decode -- -max_total_time=60`.

#![no_main]

use heapwise_pprof::{DecodeOptions, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small decompression cap keeps gzip bombs cheap for the fuzzer.
    let options = DecodeOptions::new().max_decompressed_size(16 << 20);
    if let Ok(profile) = Profile::decode_with(data, &options) {
        let again = Profile::decode(&profile.encode()).expect("re-encoded profile decodes");
        assert_eq!(again, profile, "round trip changed the profile");
    }
});
