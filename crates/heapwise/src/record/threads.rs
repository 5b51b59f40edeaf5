//! Thread and process identity for the trace's `tid`, `pid` and names.
//!
//! A thread is identified at its first recorded event, which may fire inside
//! the allocator or during thread exit, so this uses libc only:
//! `gettid(2)` and `pthread_getname_np(3)`, never `std::thread::current()`
//! (which may allocate, and panics once the thread's locals are gone). The
//! standard library gives a spawned thread's name to the kernel, cut to 15
//! bytes; the main thread (whose id is the process id) is called `main`, as
//! std does.

/// `(tid, name bytes, name length)` of the calling thread.
#[cfg(target_os = "linux")]
pub(crate) fn identify() -> (u64, [u8; 32], usize) {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u64;
    let mut name = [0u8; 32];
    if tid == u64::from(std::process::id()) {
        name[..4].copy_from_slice(b"main");
        return (tid, name, 4);
    }
    let mut raw = [0 as libc::c_char; 16];
    // SAFETY: the buffer is 16 bytes, the size the kernel's names need (with
    // the terminating nul); pthread_self is the calling thread.
    let rc = unsafe { libc::pthread_getname_np(libc::pthread_self(), raw.as_mut_ptr(), raw.len()) };
    let mut len = 0;
    if rc == 0 {
        while len < raw.len() && raw[len] != 0 {
            name[len] = raw[len] as u8;
            len += 1;
        }
    }
    // Cut at a character boundary if the kernel cut a multi-byte one.
    while std::str::from_utf8(&name[..len]).is_err() {
        len -= 1;
    }
    (tid, name, len)
}

/// Elsewhere: a process-unique number and no name.
#[cfg(not(target_os = "linux"))]
pub(crate) fn identify() -> (u64, [u8; 32], usize) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    (NEXT.fetch_add(1, Relaxed), [0; 32], 0)
}

/// The process's name for the trace: the executable's file name.
pub(crate) fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "process".to_string())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_named_thread_and_the_main_thread() {
        let (tid, name, len) = std::thread::Builder::new()
            .name("record-threads-test".into())
            .spawn(super::identify)
            .unwrap()
            .join()
            .unwrap();
        assert_ne!(tid, u64::from(std::process::id()));
        assert_eq!(&name[..len], b"record-threads-");
    }
}
