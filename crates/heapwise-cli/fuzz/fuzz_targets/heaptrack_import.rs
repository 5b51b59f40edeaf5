//! Fuzzes `heapwise import heaptrack`'s decoder: whatever the bytes
//! (heaptrack text, zstd, gzip or garbage), importing gives a profile that
//! validates and encodes, or a one-line error, without panicking, and
//! within the limits below. Run it as `README.md` says, with an RSS limit.

#![no_main]

use heapwise_cli::heaptrack::{import, ImportOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ImportOptions::new()
        .max_input(16 << 20)
        .max_memory(64 << 20);
    match import(data, &options) {
        Ok(profile) => {
            if let Err(e) = profile.validate() {
                panic!("the imported profile does not validate: {e}");
            }
            let _ = profile.encode_gzip();
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
});
