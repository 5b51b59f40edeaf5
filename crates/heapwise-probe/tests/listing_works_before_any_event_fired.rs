//! `list()` is complete before any event fired (static registration), is
//! sorted, and prints `crate::module:event(arg: type, ...)` per line. Its
//! own process: no event of this binary has fired when the test starts.

mod storage {
    heapwise_probe::declare! {
        pub(crate) fn write(fd: i32, buf: &[u8]);
        pub(crate) fn fsync(fd: i32);
    }
}

mod net {
    heapwise_probe::declare! {
        /// A connection was accepted.
        pub(crate) fn accept(peer: std::net::SocketAddr, listener: u16);
        pub(crate) fn closed(peer: std::net::SocketAddr, reason: &'static str);
    }
}

heapwise_probe::declare! {
    fn zero_args();
    fn raw(ptr: *mut u8, size: usize, align: usize);
}

#[test]
fn every_declared_event_is_listed_before_any_fired_sorted_one_per_line() {
    let all = heapwise_probe::list();
    assert!(all.iter().all(|e| e.dropped() == 0 && !e.is_attached()));
    let text = all.to_string();
    assert_eq!(
        text,
        "listing_works_before_any_event_fired:raw(ptr: *mut u8, size: usize, align: usize)\n\
         listing_works_before_any_event_fired:zero_args()\n\
         listing_works_before_any_event_fired::net:accept(peer: std::net::SocketAddr, listener: u16)\n\
         listing_works_before_any_event_fired::net:closed(peer: std::net::SocketAddr, reason: &'static str)\n\
         listing_works_before_any_event_fired::storage:fsync(fd: i32)\n\
         listing_works_before_any_event_fired::storage:write(fd: i32, buf: &[u8])\n"
    );
    // The alternate form adds file:line.
    let alt = format!("{all:#}");
    assert!(
        alt.lines().all(|l| l
            .contains(" at crates/heapwise-probe/tests/listing_works_before_any_event_fired.rs:")
            || l.contains(" at tests/listing_works_before_any_event_fired.rs:")),
        "{alt}"
    );
    let fsync = all.iter().find(|e| e.name() == "fsync").unwrap();
    assert_eq!(
        fsync.args(),
        [heapwise_probe::Arg {
            name: "fd",
            ty: "i32"
        }]
    );
    // Now fire them; listing does not change.
    storage::write(1, b"x");
    storage::fsync(1);
    net::accept("127.0.0.1:1".parse().unwrap(), 80);
    net::closed("127.0.0.1:1".parse().unwrap(), "eof");
    zero_args();
    raw(std::ptr::null_mut(), 0, 1);
    assert_eq!(heapwise_probe::list().to_string(), text);
}
