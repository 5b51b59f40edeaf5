//! Events declared in one module, attached by path from another, with the
//! visibility their declaration gives them.

pub(crate) mod service {
    pub(crate) mod events {
        heapwise_probe::declare! {
            /// A request was accepted.
            pub fn request_start(id: u64, path: &str);
            pub(crate) fn request_done(id: u64, status: u16);
            fn internal(x: u8);
        }

        pub(crate) fn fire_internal(x: u8) {
            internal(x);
        }

        pub(crate) fn internal_attached() -> bool {
            internal::event().is_attached()
        }
    }

    pub(crate) fn handle(id: u64, path: &str) -> u16 {
        events::request_start(id, path);
        let status = if path.starts_with('/') { 200 } else { 400 };
        events::request_done(id, status);
        status
    }
}

use std::sync::{Arc, Mutex};

#[test]
fn another_module_attaches_by_path() {
    use service::events::request_start;
    let log = Arc::new(Mutex::new(Vec::new()));
    let group = heapwise_probe::ProbeGroup::current_thread();
    let l = log.clone();
    request_start::attach_in(&group, move |id, path| {
        l.lock().unwrap().push(format!("start {id} {path}"))
    });
    let l = log.clone();
    crate::cross_module::service::events::request_done::attach_in(&group, move |id, st| {
        l.lock().unwrap().push(format!("done {id} {st}"))
    });
    assert_eq!(service::handle(1, "/a"), 200);
    assert_eq!(service::handle(2, "b"), 400);
    drop(group);
    service::handle(3, "/c");
    assert_eq!(
        *log.lock().unwrap(),
        ["start 1 /a", "done 1 200", "start 2 b", "done 2 400"]
    );
    // A private event is reachable only through what its module offers.
    service::events::fire_internal(1);
    assert!(!service::events::internal_attached());
}

#[test]
fn metadata_names_the_declaring_module() {
    let e = service::events::request_start::event();
    assert_eq!(e.name(), "request_start");
    assert_eq!(e.module(), "it::cross_module::service::events");
    assert!(e.file().ends_with("cross_module.rs"), "{}", e.file());
    assert_eq!(e.args().len(), 2);
    assert_eq!(
        e.to_string(),
        "it::cross_module::service::events:request_start(id: u64, path: &str)"
    );
    assert_eq!(
        format!("{e:#}"),
        format!(
            "it::cross_module::service::events:request_start(id: u64, path: &str) at {}:{}",
            e.file(),
            e.line()
        )
    );
    if !cfg!(miri) {
        // Miri does not support the linker sections linkme reads.
        let listed = heapwise_probe::list();
        assert!(listed.iter().any(|x| std::ptr::eq(*x, e)));
    }
}
