//! The profile written when the process exits, and rewritten on an
//! interval so that one survives a kill: `HEAPWISE_PROFILE_AT_EXIT` and
//! `HEAPWISE_PROFILE_EVERY`, or [`write_at_exit`](crate::profile::write_at_exit).
//!
//! # Mechanism
//!
//! An `atexit(3)` handler writes the heap profile (whose `inuse_*` values
//! are what was never freed, and whose `peak_*` values are the peak) when
//! the process exits normally: `main` returns (also after a panic in
//! `main`), or `std::process::exit` is called. A kill, `abort` or `_exit`
//! runs no handler; for those a thread rewrites the same file every
//! interval. Every write goes to a temporary file beside the target and is
//! renamed over it, so a reader (or a process killed mid-write) never sees a
//! half-written profile: the last complete one survives. Writes are
//! serialised by a lock, which is not on any allocator path.
//!
//! `%p` in the path becomes the writing process's id at each write, so a
//! forked child (which inherits the handler, not the thread) writes its own
//! file. A relative path is taken from the directory current when it was
//! set.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::profile::ProfileOptions;
use crate::sys::exit;
use crate::util::say::say;

/// The path, as given (with `%p`), made absolute.
static PATH: OnceLock<PathBuf> = OnceLock::new();
/// Serialises writes (the interval thread's and the exit handler's).
static WRITING: Mutex<()> = Mutex::new(());
/// Set by [`stop`]: nothing more is written.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// No more writes from this copy of the runtime: the preload library's,
/// once the program's own heapwise took over (`heapwise-preload`).
pub(crate) fn stop() {
    STOPPED.store(true, Relaxed);
}

/// Sets the path and registers the handler; with `every`, starts the
/// thread. Only the first call counts; later ones return an error.
pub(crate) fn start(path: &Path, every: Option<Duration>) -> io::Result<()> {
    let fail = |kind, msg: String| Err(io::Error::new(kind, msg));
    if path.as_os_str().is_empty() {
        return fail(io::ErrorKind::InvalidInput, "the path is empty".into());
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir()
            .map_err(|e| io::Error::new(e.kind(), format!("the current directory: {e}")))?;
        cwd.join(path)
    };
    check_directory(&absolute)?;
    if PATH.set(absolute).is_err() {
        return fail(
            io::ErrorKind::AlreadyExists,
            "a profile is already written at exit (set once per process)".into(),
        );
    }
    if !exit::at_exit(write_at_exit) {
        return fail(
            io::ErrorKind::Other,
            "could not register the exit handler".into(),
        );
    }
    if let Some(every) = every {
        std::thread::Builder::new()
            .name("heapwise-profile".into())
            .spawn(move || {
                crate::scope::untracked(|| loop {
                    std::thread::sleep(every);
                    report(write());
                })
            })
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start the thread that rewrites it: {e}"),
                )
            })?;
    }
    Ok(())
}

/// Fails unless the directory `path` names takes new files: found now,
/// not as the process exits and its run is lost (a program that closes its
/// standard error at exit would not even say why). A directory named with
/// `%p` differs per process and is not checked.
pub(crate) fn check_directory(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    if dir
        .as_os_str()
        .as_encoded_bytes()
        .windows(2)
        .any(|w| w == b"%p")
    {
        return Ok(());
    }
    let refused = |e: io::Error| {
        let text = e.to_string();
        let text = text
            .split(" (os error")
            .next()
            .unwrap_or(&text)
            .to_lowercase();
        io::Error::new(e.kind(), format!("{}: {text}", dir.display()))
    };
    let meta = std::fs::metadata(dir).map_err(refused)?;
    if !meta.is_dir() {
        return Err(refused(io::Error::from(io::ErrorKind::NotADirectory)));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return Ok(());
        };
        // SAFETY: `c` is a NUL-terminated path.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(refused(io::Error::last_os_error()));
        }
    }
    Ok(())
}

extern "C" fn write_at_exit() {
    // Exit handlers must not unwind: nothing below panics, but be sure.
    let _ = std::panic::catch_unwind(|| report(write()));
}

fn report(written: io::Result<()>) {
    if let Err(e) = written {
        say!("heapwise: HEAPWISE_PROFILE_AT_EXIT: {e}");
    }
}

/// Writes the profile now, atomically; `Ok` if no path is set.
pub(crate) fn write() -> io::Result<()> {
    let Some(path) = PATH.get() else {
        return Ok(());
    };
    if STOPPED.load(Relaxed) {
        return Ok(());
    }
    let _one = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    let target = expand(path, pid);
    let mut tmp = target.clone().into_os_string();
    tmp.push(format!(".{pid}.tmp"));
    let tmp = PathBuf::from(tmp);
    ProfileOptions::new().write(None, &tmp)?;
    std::fs::rename(&tmp, &target).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io::Error::new(
            e.kind(),
            format!("renaming {} to {}: {e}", tmp.display(), target.display()),
        )
    })
}

/// `path` with each `%p` replaced by `pid`.
fn expand(path: &Path, pid: u32) -> PathBuf {
    match path.to_str() {
        Some(s) if s.contains("%p") => PathBuf::from(s.replace("%p", &pid.to_string())),
        _ => path.to_path_buf(),
    }
}

/// Parses an interval as `HEAPWISE_PROFILE_EVERY` takes it: a number with
/// a unit `ms`, `s`, `m` or `h` (`10s`, `500ms`, `1m`); at least 10 ms.
pub(crate) fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{t:?} is not a number with a unit (10s, 500ms, 1m)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "" => return Err(format!("{t:?} has no unit (10s, 500ms, 1m)")),
        u => return Err(format!("{u:?} is not a unit (ms, s, m, h)")),
    };
    if !(0.01..=86_400.0 * 365.0).contains(&secs) {
        return Err(format!("{t:?} is out of range (10ms to a year)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_p_is_the_pid() {
        assert_eq!(
            expand(Path::new("/t/heap.%p.pb.gz"), 42),
            Path::new("/t/heap.42.pb.gz")
        );
        assert_eq!(
            expand(Path::new("/t/heap.pb.gz"), 42),
            Path::new("/t/heap.pb.gz")
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_interval(" 500ms "), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_interval("10").unwrap_err().contains("no unit"));
        assert!(parse_interval("1ms").unwrap_err().contains("out of range"));
        assert!(parse_interval("ten s")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_interval("5d").unwrap_err().contains("not a unit"));
        assert!(parse_interval("NaNs").is_err());
    }
}
