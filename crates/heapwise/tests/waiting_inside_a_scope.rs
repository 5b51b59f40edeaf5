//! heapwise's own memory is never charged to a scope: waiting for a scope's
//! cancellation from inside it (as gotcha's README example does with `Done()`)
//! must neither charge the scope nor, by that charge, cross its limit.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::time::Duration;

use common::{figures, Figures};
use heapwise::Scope;

#[test]
fn waiting_from_inside_a_scope_charges_nothing_and_does_not_cancel_it() {
    let scope = Scope::new().name("tight").limit_bytes(10);
    let waited = scope.run(|s| s.cancelled().wait_timeout(Duration::from_millis(20)));
    assert!(
        waited.is_none(),
        "nothing was allocated by the program, yet the scope was cancelled: {:?}",
        waited.map(|e| e.to_string())
    );
    assert_eq!(figures(&scope), Figures::default());
    assert!(scope.exceeded().is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn awaiting_cancelled_from_inside_a_scope_charges_nothing() {
    let scope = Scope::new().limit_bytes(10);
    let fut = scope.instrument(async {
        let s = Scope::current().unwrap();
        tokio::time::timeout(Duration::from_millis(20), s.cancelled())
            .await
            .is_err()
    });
    assert!(fut.await, "the scope must not be cancelled");
    assert_eq!(figures(&scope).allocs, 0);
}
