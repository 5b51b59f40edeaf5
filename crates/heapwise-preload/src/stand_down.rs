//! Standing down for a program's own heapwise (see the crate docs).

use std::ffi::c_void;

/// Called by every heapwise runtime's load-time constructor with an
/// address of its own: one outside this library is the program's, which
/// counts from now on. The preload's runtime stops sampling, writing
/// profiles and trace lines (it still counts every call, unseen: that costs
/// less than a test in each entry point), and closes its endpoint
/// (`http.rs`).
#[no_mangle]
pub extern "C" fn heapwise_preload_stand_down(caller: *const c_void) {
    if same_object(caller, heapwise_preload_stand_down as *const c_void) {
        return;
    }
    heapwise::__preload_stand_down();
    crate::http::close_for_own_heapwise();
}

/// Whether `a` and `b` lie in the same loaded object.
fn same_object(a: *const c_void, b: *const c_void) -> bool {
    let base = |p: *const c_void| {
        // SAFETY: a zeroed Dl_info is valid storage; dladdr fills it.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: `p` is only looked up, never read.
        let found = unsafe { libc::dladdr(p, &mut info) } != 0;
        found.then_some(info.dli_fbase)
    };
    base(a).is_some() && base(a) == base(b)
}
