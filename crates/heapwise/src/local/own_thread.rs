//! Threads that are heapwise's own work from their first instruction to
//! their last (the endpoint's connection threads).
//!
//! A std thread will not do: `std::thread::spawn` allocates the thread's
//! packet, handle and spawn hooks on the spawning thread and frees them on
//! the new one, before its closure runs and after it returns, where no
//! guard of heapwise's can reach. Spawned inside heapwise's own work, those
//! blocks were heapwise's, but their frees were counted as the program's:
//! the endpoint spawned a thread a connection, and each request took a few
//! frees and ~200 bytes off the program's live figure
//! (`tests/http_server_threads_allocate_nothing.rs`). Here the closure's box
//! is allocated as heapwise's own, and the new thread holds the reentrancy
//! guard from its start to its exit, thread-local destructors included.

use std::ffi::c_void;
use std::io;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use super::block::{with_local, without_accounting};

/// The stack of an own thread: std's default.
const STACK: usize = 2 << 20;

type Job = Box<dyn FnOnce() + Send>;

/// Runs `f` on a new, detached thread that is heapwise's own work
/// throughout; a panic in `f` ends the thread quietly.
pub(crate) fn spawn_own_thread(f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let job: *mut Job = without_accounting(|| Box::into_raw(Box::new(Box::new(f) as Job)));
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut thread = MaybeUninit::<libc::pthread_t>::uninit();
    // SAFETY: `attr` is initialised by `pthread_attr_init` before use and
    // destroyed after; `job` is handed to the new thread, which owns it
    // from then on, or taken back below if no thread starts.
    let started = unsafe {
        let mut rc = libc::pthread_attr_init(attr.as_mut_ptr());
        if rc == 0 {
            libc::pthread_attr_setdetachstate(attr.as_mut_ptr(), libc::PTHREAD_CREATE_DETACHED);
            libc::pthread_attr_setstacksize(attr.as_mut_ptr(), STACK);
            rc = libc::pthread_create(thread.as_mut_ptr(), attr.as_ptr(), run, job.cast());
            libc::pthread_attr_destroy(attr.as_mut_ptr());
        }
        rc
    };
    if started != 0 {
        // SAFETY: no thread took the job: it is still ours.
        without_accounting(|| drop(unsafe { Box::from_raw(job) }));
        return Err(io::Error::from_raw_os_error(started));
    }
    Ok(())
}

/// The new thread: takes the guard for good, then runs the job.
extern "C" fn run(job: *mut c_void) -> *mut c_void {
    with_local(|l| {
        if !l.is_guarded() {
            // Never released: the thread's last frees are heapwise's too.
            std::mem::forget(l.flush_from_user_code());
        }
    });
    // SAFETY: `spawn_own_thread` handed over this box, once.
    let job = unsafe { Box::from_raw(job.cast::<Job>()) };
    let _ = catch_unwind(AssertUnwindSafe(job));
    ptr::null_mut()
}
