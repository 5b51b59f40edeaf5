//! Waiting for a hard-limited scope's cancellation from inside it must not
//! abort the process: heapwise's own memory (the waiter's waker) is not the
//! program's allocation and must not be refused by the scope's hard limit.
//!
//! The only test in this file: a refusal there aborts the process.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::time::Duration;

use heapwise::Scope;

#[test]
fn waiting_from_inside_a_hard_scope_does_not_abort() {
    let scope = Scope::new().name("hard").limit_bytes(10).hard();
    let waited = scope.run(|s| {
        s.cancelled()
            .wait_timeout(Duration::from_millis(20))
            .is_some()
    });
    assert!(!waited, "nothing was allocated by the program");
    assert_eq!(scope.usage(), heapwise::Usage::default());
}
