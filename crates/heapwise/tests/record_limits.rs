//! `heapwise::record`: a limit crossing is an instant on the thread that
//! found it, with the scope, kind, limit and usage; a hard limit's refusal
//! too.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod record_common;

use std::hint::black_box;

use heapwise::record::Recorder;
use heapwise::Scope;
use record_common::*;

#[test]
fn limit_crossings_are_instants() {
    let rec = Recorder::new().counters(false).start();
    let capped = Scope::new().name("capped").limit_bytes(1024);
    capped.run(|_| black_box(vec![0u8; 4096]));
    let parent = Scope::new().name("parent");
    let child = parent.child().limit_live_bytes(2048);
    parent.run(|_| child.run(|_| black_box(vec![0u8; 3000])));
    let hard = Scope::new().name("hard").limit_bytes(100).hard();
    let refused = hard.run(|_| {
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(1000).is_err()
    });
    assert!(refused);
    let trace = rec.finish();
    let v = parse(&trace);
    let limits = named(&v, "i", "limit exceeded");
    assert_eq!(limits.len(), 3, "{limits:?}");
    let a = &limits[0]["args"];
    assert_eq!(a["scope"], capped.id());
    assert_eq!(a["name"], "capped");
    assert_eq!(a["kind"], "bytes");
    assert_eq!(a["limit"], 1024);
    assert_eq!(a["used"], 4096);
    assert_eq!(limits[0]["cat"], "limit");
    let b = &limits[1]["args"];
    assert_eq!(b["name"], format!("scope #{}", child.id()));
    assert_eq!(b["kind"], "live_bytes");
    assert_eq!(
        (b["limit"].as_u64(), b["used"].as_u64()),
        (Some(2048), Some(3000))
    );
    let c = &limits[2]["args"];
    assert_eq!(
        (c["name"].as_str(), c["used"].as_u64()),
        (Some("hard"), Some(1000))
    );
    // On the thread that allocated, inside the scope's slice.
    let slice = &named(&v, "B", "capped")[0];
    let end = &named(&v, "E", "capped")[0];
    assert_eq!(limits[0]["tid"], slice["tid"]);
    assert!(ts(slice) <= ts(limits[0]) && ts(limits[0]) <= ts(end));
}
