//! Leaking a `ScopeGuard` (`std::mem::forget`, safe code) and then dropping
//! the scope's last handle must stay sound: the thread still points at the
//! scope, so the scope must not be freed under it (or the thread must stop
//! charging it). Memory safety must not depend on guards being dropped.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;

use common::{figures, Figures};
use heapwise::Scope;

#[test]
fn a_leaked_guard_does_not_charge_a_scope_that_was_never_entered() {
    let leaked = Scope::new().name("leaked");
    std::mem::forget(leaked.enter());
    drop(leaked); // the last handle: the thread still points at the scope

    // A new scope, never entered: must stay at zero whatever this thread does.
    let bystander = Scope::detached().name("bystander");
    black_box(vec![0u8; 100_000]);
    assert_eq!(figures(&bystander), Figures::default());
    assert_eq!(bystander.label(), Some("bystander"));
}
