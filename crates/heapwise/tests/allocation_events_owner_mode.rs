//! Allocation events under owner tracking: a free outside the owning scope
//! (the slow path that charges the owner) fires `free` with the scope
//! current on the freeing thread, and the block is still readable there.
#![cfg(feature = "alloc-events")]

use std::sync::{Arc, Mutex};

use heapwise::events;
use heapwise::probe::ProbeGroup;
use heapwise::Scope;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system().owner_tracking();

#[test]
fn free_in_another_scope_reports_the_freeing_scope_and_the_block_is_readable() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let group = ProbeGroup::current_thread();
    let s = seen.clone();
    events::alloc::attach_in(&group, move |p, size, _, scope| {
        if size == 123 {
            s.lock().unwrap().push(("alloc", p, scope, 0));
        }
    });
    let s = seen.clone();
    events::free::attach_in(&group, move |p, size, _, scope| {
        if size == 123 {
            // SAFETY: the event fires before the block is freed.
            let first = unsafe { *(p as *const u8) };
            s.lock().unwrap().push(("free", p, scope, first));
        }
    });
    let (a, b) = (Scope::new(), Scope::new());
    let block = a.run(|_| Box::new([42u8; 123]));
    let addr = &*block as *const [u8; 123] as usize;
    b.run(move |_| drop(block));
    drop(group);
    assert_eq!(
        *seen.lock().unwrap(),
        [("alloc", addr, a.id(), 0), ("free", addr, b.id(), 42)]
    );
    assert_eq!(a.usage().live_bytes, 0);
}
