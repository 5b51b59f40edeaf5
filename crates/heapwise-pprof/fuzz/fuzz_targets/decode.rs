//! Fuzzes `Profile::decode`: no input may panic, abort or take more memory
//! than the decoder's limit, and whatever decodes must survive an encode →
//! decode round trip unchanged. Run it as `README.md` says, with an RSS
//! limit, so that inputs which make the decoder allocate too much are
//! found too.

#![no_main]

use heapwise_pprof::{DecodeOptions, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits keep gzip bombs cheap for the fuzzer, and two decoded
    // profiles (the input's and the round trip's) well under the RSS limit.
    let options = DecodeOptions::new()
        .max_decompressed_size(16 << 20)
        .max_memory(64 << 20);
    if let Ok(profile) = Profile::decode_with(data, &options) {
        let again =
            Profile::decode_with(&profile.encode(), &options).expect("re-encoded profile decodes");
        assert_eq!(again, profile, "round trip changed the profile");
    }
});
