//! `heapwise::record`: any `heapwise-probe` event becomes an instant named
//! after it, with its arguments under their declared names: integers as
//! JSON numbers, strings escaped, the rest as strings.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod record_common;

use heapwise::record::Recorder;
use record_common::*;

#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read through Debug
enum Kind {
    Get { n: u32 },
}

#[derive(Clone, Copy)]
struct NoDebug;

#[derive(Clone, Copy)]
struct Long;

impl std::fmt::Debug for Long {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for _ in 0..511 {
            f.write_str("ab")?;
        }
        // 'é' would end at byte 1025: cut before it.
        f.write_str("xé-and-more")
    }
}

mod app {
    use super::{Kind, Long, NoDebug};
    heapwise_probe::declare! {
        /// A request arrived.
        pub fn request_start(id: u64, path: &str, retry: bool, weight: f64, delta: i64, tag: char);
        /// Everything else.
        pub fn odd(body: &[u8], ptr: *const u8, kind: Kind, opaque: NoDebug, long: Long, big: u64);
        /// Not recorded.
        pub fn ignored(n: u32);
    }
}

#[test]
fn user_events_are_instants_with_their_arguments() {
    let rec = Recorder::new()
        .counters(false)
        .user_event(app::request_start::event())
        .user_event(app::odd::event())
        .user_event(app::request_start::event()) // once is enough
        .start();
    app::request_start(7, "/users \"all\"\n\tok", true, 1.5, -3, 'é');
    let p = 0x1234 as *const u8;
    app::odd(
        b"a\x00\xffb",
        p,
        Kind::Get { n: 1 },
        NoDebug,
        Long,
        u64::MAX,
    );
    app::ignored(1);
    std::thread::Builder::new()
        .name("user-events".into())
        .spawn(|| app::request_start(8, "", false, f64::NAN, i64::MIN, 'x'))
        .unwrap()
        .join()
        .unwrap();
    let trace = rec.finish();
    assert_eq!(trace.events(), 3);
    let v = parse(&trace);
    let starts = named(&v, "i", "request_start");
    assert_eq!(starts.len(), 2);
    let a = &starts[0]["args"];
    assert_eq!(starts[0]["cat"], "record_user_events::app");
    assert_eq!(a["id"], 7);
    assert_eq!(a["path"], "/users \"all\"\n\tok");
    assert_eq!(a["retry"], true);
    assert_eq!(a["weight"], 1.5);
    assert_eq!(a["delta"], -3);
    assert_eq!(a["tag"], "é");
    let b = &starts[1]["args"];
    assert_eq!(starts[1]["tid"].as_u64(), tid_of(&v, "user-events"));
    assert_eq!(b["weight"], "NaN");
    assert_eq!(b["delta"], i64::MIN);
    assert_eq!(b["path"], "");

    let odd = named(&v, "i", "odd");
    assert_eq!(odd.len(), 1);
    let o = &odd[0]["args"];
    assert_eq!(o["body"], r"a\x00\xffb");
    assert_eq!(o["ptr"], "0x1234");
    assert_eq!(o["kind"], "Get { n: 1 }");
    assert_eq!(o["opaque"], "<NoDebug>");
    let long = o["long"].as_str().unwrap();
    assert_eq!(long.len(), 1023, "cut to 1 KiB at a character boundary");
    assert!(long.starts_with("abab") && long.ends_with("abx"), "{long}");
    assert_eq!(o["big"], u64::MAX);
    assert!(named(&v, "i", "ignored").is_empty());
}
