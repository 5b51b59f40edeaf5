//! Forwarding the signals a user or a supervisor sends (SIGHUP, SIGINT,
//! SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2: stop, reload, dump) to the program
//! `heapwise run` runs, as `tini` or `timeout` pass theirs on: the crate's
//! only unsafe code (`sigaction`, `kill`). Without it a `kill -HUP` meant
//! for the program's reload ended `heapwise` and its report instead.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicI32, Ordering::Relaxed};

/// The program's process id while it runs, for the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    let child = CHILD.load(Relaxed);
    // A terminal's signal (SI_KERNEL: Ctrl-C, Ctrl-\, a hangup) reached the
    // program's process group already; one sent to heapwise (kill, a
    // supervisor) is passed on.
    if child > 0 && code != libc::SI_KERNEL {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(child, signal) };
    }
}

/// The signals passed on.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Forwards [`FORWARDED`] signals sent to this process to `pid` from now
/// on (0: to nobody).
pub(crate) fn forward_to(pid: i32) {
    CHILD.store(pid, Relaxed);
    if pid == 0 {
        return;
    }
    for signal in FORWARDED {
        // SAFETY: a zeroed sigaction is valid; the handler only reads an
        // atomic and calls kill, both async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The usual name of a signal that kills.
pub(crate) fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return None,
    })
}
