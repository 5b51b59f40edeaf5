//! Taking the snapshot: catch the threads' registers, `fork`, let the child
//! scan the frozen copy while the parent runs on, read what it sends.
//!
//! # Why fork
//!
//! The heap must not change while it is scanned. Stopping the world (every
//! thread parked in a signal handler for the whole scan, as Boehm GC does)
//! pauses the program for the scan's length; a forked child scans a
//! copy-on-write image instead, and the program pauses only for the
//! registers' signal round trip and the `fork` itself (which copies the page
//! tables). Measured on 10 M blocks, 0.96 GiB of heap (`bench/snapshot`,
//! `bench/results/2026-12-05-a291d09-snapshot.md`): the program paused
//! 21 ms; the scan and the stream to the parent took 1.96 s, the pause a
//! stopped world would have cost (LeakSanitizer's check, which stops it,
//! took ~1.3 s of the program's time on the same heap). heapwise's own locks are taken around the `fork`
//! (`sys/fork.rs`), so a thread inside the allocator at that instant leaves
//! the child nothing held; the inner allocator's are the C library's to
//! keep (glibc's `fork` takes `malloc`'s).
//!
//! The child allocates (its working tables) behind the reentrancy guard,
//! reads the memory map before it does, writes to a pipe and leaves with
//! `_exit`: no destructor, no `atexit` handler and no buffered output of
//! the program runs twice.

use super::error::Error;
use super::scan::{self, Frozen};
use super::threads::{self, Caught};
use super::ErrorKind;
use std::fs::File;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// What `consume` made of the child's output, and how long the program was
/// paused.
pub(crate) struct Captured<T> {
    pub(crate) made: T,
    pub(crate) pause: Duration,
    pub(crate) threads: usize,
    pub(crate) missed: usize,
    pub(crate) note: Option<String>,
}

/// Takes the snapshot; `consume` reads the child's output (`wire.rs`) from
/// the pipe as it comes. `sp` is the caller's stack pointer: this thread's
/// stack is scanned from there up, above every frame the child will use.
/// Behind the reentrancy guard.
#[inline(never)]
pub(crate) fn capture<T>(
    sp: usize,
    consume: impl FnOnce(File) -> Result<T, Error>,
) -> Result<Captured<T>, Error> {
    let me = threads::gettid();
    let ids = threads::thread_ids();
    let names: Vec<(i32, String)> = ids
        .iter()
        .filter_map(|&t| Some((t, threads::name(t)?)))
        .collect();
    let modules = super::globals::modules();
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::os("pipe"));
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    let paused = Instant::now();
    let caught = threads::catch(&ids);
    let (_, regs) = threads::own_registers();
    let frozen = Frozen {
        me: Caught {
            tid: me,
            sp,
            tp: threads::thread_pointer(),
            regs,
        },
        threads: caught,
        names,
        modules,
    };
    // SAFETY: the child only scans, writes to the pipe and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: in the child: the read end is not ours to keep.
        unsafe { libc::close(read_end) };
        // SAFETY: `write_end` is an open descriptor this child owns alone.
        let out = unsafe { File::from_raw_fd(write_end) };
        let code = match scan::scan(out, &frozen) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        // SAFETY: leaves the child without running anything of the parent's.
        unsafe { libc::_exit(code) };
    }
    let pause = paused.elapsed();
    // SAFETY: the parent's copy of the write end is closed once, here.
    unsafe { libc::close(write_end) };
    // SAFETY: `read_end` is open and owned here.
    let input = unsafe { File::from_raw_fd(read_end) };
    if pid < 0 {
        return Err(Error::os("fork"));
    }
    let made = consume(input);
    let mut status = 0;
    // SAFETY: waits for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => {}
            // Reaped already: the program ignores SIGCHLD (the kernel
            // reaps its children) or waits for any child itself (a shell).
            // The stream's end mark says whether the scan finished.
            Some(libc::ECHILD) => break,
            _ => return Err(Error::os("waitpid")),
        }
    }
    if libc::WIFSIGNALED(status) {
        return Err(Error::new(
            ErrorKind::Scan,
            format!(
                "the process scanning the heap died of signal {}",
                libc::WTERMSIG(status)
            ),
        ));
    }
    Ok(Captured {
        made: made?,
        pause,
        threads: frozen.threads.caught.len() + 1,
        missed: frozen.threads.missed,
        note: frozen.threads.note.clone(),
    })
}
