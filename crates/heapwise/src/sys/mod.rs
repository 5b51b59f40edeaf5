//! Platform code: the loaded objects (executable, shared libraries, vdso)
//! with their GNU build IDs, and the calling thread's stack bounds.
//!
//! # Mappings
//!
//! A heap profile records raw return addresses; to turn them into function
//! names, either here at export (`profile/symbolize.rs`) or later by `go tool pprof`
//! on another machine, every address needs the object it falls in, and the
//! `profile.proto` `Mapping` says which: `memory_start`/`memory_limit`/
//! `file_offset` translate a runtime address into a file address, `filename`
//! and `build_id` name the file. [`mappings`] lists one [`Mapping`] per
//! executable `PT_LOAD` segment of every loaded object: the segment's exact
//! runtime range and file offset. (Go's `runtime/pprof` reads the whole pages
//! `/proc/self/maps` shows, `docs/profiling.md`; with lld's layout those start
//! inside the previous segment's file range and Go 1.19's pprof then
//! translates addresses 4 KiB off, so heapwise gives the exact range.)
//!
//! They come from `dl_iterate_phdr(3)` rather than from `/proc/self/maps`:
//! the dynamic loader's own list is exact (no text parsing, no guessing which
//! anonymous region belongs to whom, nothing to trim from " (deleted)" paths
//! of shared libraries), needs no `/proc` (sandboxes, containers that hide
//! it), and hands us the program headers already in memory, so the GNU build
//! ID is read from the loaded `PT_NOTE` segment without opening any file. The
//! build ID is what lets `go tool pprof` find the right binary offline, under
//! `$PPROF_BINARY_PATH/<build-id>/<name>` or a debuginfod-style
//! `<id[:2]>/<id[2:]>.debug`, and refuse a wrong one ("build ID mismatch")
//! instead of printing plausible nonsense (`docs/profiling.md`).
//!
//! # Thread stacks
//!
//! [`thread_stack_bounds`] gives the stack walks (`profile/unwind/`,
//! `profile/stack.rs`) the range they may read. It is called from the allocator itself, so it uses
//! libc only: no Rust allocation, no std thread-local, no lock of std's.
//!
//! Other operating systems get empty results for now (no mappings, no
//! bounds, so no stacks are walked).
//!
//! # Code and unwind sections
//!
//! [`code::try_for_each_object`] hands the CFI unwinder each loaded object's
//! code range and `.eh_frame_hdr` in place, for it to build its tables from,
//! and the loader's add/remove counts that tell when to build them again.
//!
//! # Pages
//!
//! [`pages::map_zeroed`] maps zeroed memory from the kernel for large,
//! sparsely written tables, past every `malloc` (under the preload library
//! `System` is heapwise's own).
//!
//! # Locks and fork
//!
//! [`lock::Lock`] is the lock of heapwise's own tables, and [`fork::AtFork`]
//! takes every such lock around `fork`, so a child never inherits one held
//! by a thread that does not exist in it.

pub(crate) mod code;
pub(crate) mod exit;
pub(crate) mod fork;
#[cfg(target_os = "linux")]
mod linux;
pub(crate) mod lock;
pub(crate) mod pages;
pub(crate) mod solo;
pub(crate) mod thread_exit;
#[cfg(target_os = "linux")]
use linux as imp;

/// Other operating systems: nothing known yet.
#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn mappings() -> Vec<super::Mapping> {
        Vec::new()
    }

    pub(super) fn thread_stack_bounds() -> Option<(usize, usize)> {
        None
    }
}

/// One executable segment of a loaded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// Runtime address of the segment start (`dlpi_addr + p_vaddr`).
    pub(crate) start: u64,
    /// Runtime end of the segment (exclusive; `start + p_memsz`).
    pub(crate) limit: u64,
    /// File offset that `start` corresponds to (`p_offset`), so that
    /// `file_offset = addr - start + offset`.
    pub(crate) offset: u64,
    /// Absolute path of the object: the main executable's real path
    /// (`readlink /proc/self/exe`), the canonical path of a shared library,
    /// `"[vdso]"` for the vdso.
    pub(crate) path: String,
    /// Raw bytes of the `NT_GNU_BUILD_ID` note, read from the loaded
    /// `PT_NOTE` segments in memory.
    pub(crate) build_id: Option<Vec<u8>>,
    /// The object's load bias (`dlpi_addr`): a symbol's runtime address is
    /// the bias plus its `st_value`.
    pub(crate) bias: u64,
}

/// Every loaded object's executable `PT_LOAD` segments, main executable
/// first (then the shared libraries and the vdso, in load order); empty on
/// other operating systems than Linux.
///
/// Allocates and resolves paths (`readlink`, `realpath`), opens no object:
/// call it at export, behind the reentrancy guard.
pub(crate) fn mappings() -> Vec<Mapping> {
    LOADER_FORK.ensure();
    let _held = LOADER.lock();
    imp::mappings()
}

/// Held while heapwise asks the dynamic loader for its objects: glibc's
/// `dl_iterate_phdr` holds a loader lock meanwhile, and a child forked then
/// inherits it held (its first profile export would hang), so the fork
/// handlers wait for it.
static LOADER: lock::Lock<()> = lock::Lock::new(());

static LOADER_FORK: fork::AtFork = fork::AtFork::new(
    fork::Rank::Loader,
    || LOADER.hold_for_fork(),
    // SAFETY: called once after `fork`, by the thread that held it.
    || unsafe { LOADER.release_after_fork() },
);

/// Bounds `[low, high)` of the calling thread's stack, or `None` (always on
/// other operating systems than Linux).
///
/// libc only: no Rust allocation, no std thread-local, no std lock, so it
/// may run inside the global allocator, before `main` and while a thread
/// exits, and takes no lock (not even glibc's: the preload library makes
/// every `malloc` of the program heapwise's). It reads `/proc/self/maps`
/// for the mapping that holds the stack pointer: look the bounds up once
/// per thread and keep them. (The main thread's stack mapping grows down
/// later; the walk reads only above the stack pointer.)
pub(crate) fn thread_stack_bounds() -> Option<(usize, usize)> {
    imp::thread_stack_bounds()
}

/// A build ID in lowercase hex, as `file` and `readelf -n` print it (and as
/// `go tool pprof` expects it in `Mapping.build_id`).
pub(crate) fn build_id_hex(id: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(id.len() * 2);
    for &b in id {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_hex_is_lowercase_hex() {
        assert_eq!(build_id_hex(&[]), "");
        assert_eq!(build_id_hex(&[0x00, 0x0f, 0xa0, 0xff, 0x5c]), "000fa0ff5c");
    }
}
