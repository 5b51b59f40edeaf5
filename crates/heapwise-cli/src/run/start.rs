//! Before `heapwise run` starts the program: finding it and the preload
//! library, refusing what the loader will not preload into, and checking
//! that the profile can be written.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use super::PRELOAD;

/// The program's file: `program` itself if it names a path (has a slash
/// in it, as to a shell and `execvp`), else the first executable of that
/// name on `PATH`.
pub(super) fn find_program(program: &std::ffi::OsStr) -> Result<PathBuf> {
    let given = Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return match given.metadata() {
            Ok(m) if m.is_dir() => Err(NotStarted::error(
                126,
                format!("{}: is a directory", given.display()),
            )),
            Ok(_) => Ok(given.to_path_buf()),
            Err(e) => Err(NotStarted::error(
                if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                },
                format!("{}: {}", given.display(), crate::input::describe_io(&e)),
            )),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(given);
        if candidate
            .metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        {
            return Ok(candidate);
        }
    }
    Err(NotStarted::error(
        127,
        format!("{}: command not found on PATH", given.display()),
    ))
}

/// The command did not start: `heapwise run` then exits with `code`, 127
/// for a program not found and 126 for one that cannot be run, as a shell,
/// `env` and `timeout` do.
#[derive(Debug)]
pub struct NotStarted {
    /// The exit status.
    pub code: i32,
    message: String,
}

impl NotStarted {
    pub(super) fn error(code: i32, message: String) -> anyhow::Error {
        anyhow::Error::new(NotStarted { code, message })
    }
}

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NotStarted {}

/// Fails, before the program runs, if the profiles' directory does not
/// take new files: the runtime would say so only as the program exits (or
/// not at all, if the program has closed its standard error), and the run
/// would be lost. A directory named with `%p` would differ per process, and
/// nothing creates it: refused.
pub(super) fn check_writable(output: &Path) -> Result<()> {
    let dir = output.parent().map(Path::as_os_str).unwrap_or_default();
    if dir.as_encoded_bytes().windows(2).any(|w| w == b"%p") {
        bail!(
            "-o {}: %p (the process id) goes in the file name: each process's directory would have to exist already",
            output.display()
        );
    }
    heapwise::profile::__check_profile_directory(output)
        .map_err(|e| anyhow!("cannot write the profile {}: {e}", output.display()))
}

/// Refuses a program the loader will not preload into: setuid or setgid,
/// or an ELF without an interpreter (statically linked). Scripts and
/// other formats pass (their interpreter is checked by nobody).
pub(super) fn check_loadable(path: &Path) -> Result<()> {
    let name = path.display();
    let meta = path
        .metadata()
        .map_err(|e| anyhow!("{name}: {}", crate::input::describe_io(&e)))?;
    let mode = meta.permissions().mode();
    if mode & 0o6000 != 0 {
        bail!("{name} is setuid or setgid: the loader ignores LD_PRELOAD for it, so heapwise cannot see its allocations");
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| anyhow!("{name}: {}", crate::input::describe_io(&e)))?;
    if has_interpreter(&head) == Some(false) {
        bail!("{name} is statically linked: no dynamic loader runs to preload heapwise into it");
    }
    Ok(())
}

/// Whether the ELF file starting with `head` has a `PT_INTERP` program
/// header; `None` if it is not a 64-bit little-endian ELF file whose
/// program headers lie in `head`.
fn has_interpreter(head: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(head.get(at..at + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(at)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// The preload library, or an error naming every place looked in.
pub fn find_preload() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("HEAPWISE_PRELOAD") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "HEAPWISE_PRELOAD names {}, which is not a file",
                p.display()
            );
        }
        return Ok(p);
    }
    let mut places = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        places.push(dir.join(PRELOAD));
        places.push(dir.join("deps").join(PRELOAD));
        if let Some(up) = dir.parent() {
            places.push(up.join(PRELOAD));
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    for profile in ["release", "debug"] {
        places.push(target.join(profile).join(PRELOAD));
    }
    first_file(&places)
}

/// The first of `places` that is a file, or an error listing them.
fn first_file(places: &[PathBuf]) -> Result<PathBuf> {
    if let Some(found) = places.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let list: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "cannot find {PRELOAD} (build it: cargo build --release -p heapwise-preload); looked in: {}",
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interpreter_header_decides_static_or_dynamic() {
        let own = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(has_interpreter(&own[..64 * 1024]), Some(true));
        assert_eq!(has_interpreter(b"#!/bin/sh\n"), None);
        // An ELF header with no program headers.
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert_eq!(has_interpreter(&elf), Some(false));
    }

    #[test]
    fn a_missing_library_names_every_place_looked_in() {
        let places = [
            PathBuf::from("/nonexistent/a.so"),
            PathBuf::from("/nonexistent/b.so"),
        ];
        let e = first_file(&places).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/a.so, /nonexistent/b.so"), "{e}");
        assert!(
            e.contains("cargo build --release -p heapwise-preload"),
            "{e}"
        );
    }
}
