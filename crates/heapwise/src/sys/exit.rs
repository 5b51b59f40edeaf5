//! Running heapwise's code when the process exits normally.

/// Registers `f` to run at a normal exit (return from `main`,
/// `std::process::exit`, `libc::exit`), after the handlers registered
/// later: `atexit(3)`. Not at `_exit`, `abort` or a fatal signal. `false`
/// if it could not be registered.
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is a plain function with C's calling convention that lives
    // as long as the program; `atexit` only stores it.
    unsafe { libc::atexit(f) == 0 }
}
