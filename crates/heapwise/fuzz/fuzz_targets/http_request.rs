//! The endpoint's request parsing on hostile bytes: must never panic, and
//! every size limit must hold (`heapwise::http::__private::fuzz_request`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    heapwise::http::__private::fuzz_request(data);
});
