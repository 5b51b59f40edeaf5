//! Running heapwise's code when a thread exits: a `pthread` key.
//!
//! Not a `thread_local!` with a destructor: std registers those with
//! glibc's `__cxa_thread_atexit_impl`, which `calloc`s 32 bytes that glibc
//! frees at thread exit. Under `heapwise run` that block is heapwise's own
//! (allocated behind the reentrancy guard) but its free, made by glibc
//! outside it, was counted as the program's: one phantom free a thread in
//! the process figures. Setting one of the first 32 keys allocates nothing
//! (glibc keeps them in the thread descriptor), and key destructors run
//! after every `thread_local!` destructor. They do not run at `exit` for
//! the thread that calls it. Unlike a `thread_local!`, a key does not keep
//! its object loaded: heapwise in a library that is `dlclose`d while
//! threads that used it still run would be called back after unloading.

use std::ffi::c_void;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire};

/// A destructor run at the exit of each thread that asked for it.
pub(crate) struct ThreadExit {
    /// The `pthread` key plus one (0: not created yet).
    key: AtomicUsize,
    run: unsafe extern "C" fn(*mut c_void),
}

impl ThreadExit {
    /// `run` is called with a non-null dummy argument, and must not unwind.
    pub(crate) const fn new(run: unsafe extern "C" fn(*mut c_void)) -> ThreadExit {
        ThreadExit {
            key: AtomicUsize::new(0),
            run,
        }
    }

    /// Runs the destructor at this thread's exit; `false` if no key could
    /// be had. Lock-free, and allocates nothing unless the process already
    /// holds 32 keys.
    pub(crate) fn register_this_thread(&self) -> bool {
        let mut key = self.key.load(Acquire);
        if key == 0 {
            let mut new: libc::pthread_key_t = 0;
            // SAFETY: `new` is a valid out-pointer; `run` never unwinds
            // (the constructor's contract).
            if unsafe { libc::pthread_key_create(&mut new, Some(self.run)) } != 0 {
                return false;
            }
            key = match self
                .key
                .compare_exchange(0, new as usize + 1, AcqRel, Acquire)
            {
                Ok(_) => new as usize + 1,
                Err(theirs) => {
                    // Another thread made one first: use theirs.
                    // SAFETY: `new` was created above and never set.
                    unsafe { libc::pthread_key_delete(new) };
                    theirs
                }
            };
        }
        debug_assert!(key > 0, "a created key is stored plus one");
        // SAFETY: the key came from `pthread_key_create`; any non-null
        // value makes its destructor run at this thread's exit.
        unsafe {
            libc::pthread_setspecific(
                (key - 1) as libc::pthread_key_t,
                std::ptr::dangling::<c_void>(),
            ) == 0
        }
    }
}
