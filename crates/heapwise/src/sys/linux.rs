//! Linux (glibc, also musl): mappings through `dl_iterate_phdr(3)`, build
//! IDs from the loaded `PT_NOTE` segments, stack bounds through
//! `pthread_getattr_np(3)`.

use std::ffi::{c_int, c_void, CStr};
use std::path::Path;

use super::Mapping;

/// `NT_GNU_BUILD_ID`, the note type of a GNU build ID (owner `"GNU"`).
const NT_GNU_BUILD_ID: u32 = 3;

/// One loaded object, as the dynamic loader reports it.
struct Object {
    /// `dlpi_name`: empty for the main program, the path the loader opened
    /// for a shared library, the soname for the vdso.
    name: String,
    /// Whether the vdso image (`AT_SYSINFO_EHDR`) lies in this object.
    is_vdso: bool,
    /// Executable segments: runtime start, runtime limit, file offset.
    segments: Vec<(u64, u64, u64)>,
    /// `dlpi_addr`.
    bias: u64,
    build_id: Option<Vec<u8>>,
}

struct Walk {
    objects: Vec<Object>,
    vdso: u64,
}

/// See [`super::mappings`].
pub(super) fn mappings() -> Vec<Mapping> {
    let mut walk = Walk {
        objects: Vec::new(),
        // SAFETY: getauxval only reads the auxiliary vector; an absent entry is 0.
        vdso: word(unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) }),
    };
    // SAFETY: `collect` matches the callback signature, treats `data` as the
    // `Walk` passed here (alive and exclusively borrowed for the whole call),
    // and never unwinds (it neither panics nor calls anything that does, and
    // an allocation failure aborts).
    unsafe {
        libc::dl_iterate_phdr(Some(collect), (&mut walk as *mut Walk).cast::<c_void>());
    }

    let mut out = Vec::new();
    for (i, object) in walk.objects.into_iter().enumerate() {
        if object.segments.is_empty() {
            continue;
        }
        let path = if object.is_vdso {
            "[vdso]".to_owned()
        } else if i == 0 {
            // glibc (and musl) report the main program first, with an empty name.
            main_executable_path(&object.name)
        } else if object.name.is_empty() {
            continue; // nothing to name it by: no use to a profile
        } else {
            real_path(&object.name)
        };
        for &(start, limit, offset) in &object.segments {
            out.push(Mapping {
                start,
                limit,
                offset,
                path: path.clone(),
                build_id: object.build_id.clone(),
                bias: object.bias,
            });
        }
    }
    out
}

/// The main executable's real path: `/proc/self/exe` as the kernel resolves
/// it, without the " (deleted)" it appends once the file was replaced.
fn main_executable_path(name: &str) -> String {
    if let Ok(p) = std::fs::read_link("/proc/self/exe") {
        let s = p.to_string_lossy();
        return s.strip_suffix(" (deleted)").unwrap_or(&s).to_owned();
    }
    if !name.is_empty() {
        return real_path(name);
    }
    // SAFETY: getauxval only reads the auxiliary vector. AT_EXECFN, when
    // present, points to the NUL-terminated file name on the initial stack,
    // which lives as long as the process.
    let execfn = unsafe { libc::getauxval(libc::AT_EXECFN) } as *const libc::c_char;
    if execfn.is_null() {
        return String::new();
    }
    // SAFETY: see above: a valid NUL-terminated string.
    let name = unsafe { CStr::from_ptr(execfn) }.to_string_lossy();
    real_path(&name)
}

/// An ELF word or address as `u64` (ELF64's are already, ELF32's widen).
fn word<T: Into<u64>>(x: T) -> u64 {
    x.into()
}

/// `realpath(3)` of `name` (like the names in `/proc/self/maps`), or `name`
/// as given if that fails.
fn real_path(name: &str) -> String {
    match std::fs::canonicalize(Path::new(name)) {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(_) => name.to_owned(),
    }
}

/// The `dl_iterate_phdr` callback: records one object.
///
/// # Safety
///
/// `info` must point to a valid `dl_phdr_info` whose program headers
/// describe the object as loaded, and `data` to a live, unaliased `Walk`, as
/// `dl_iterate_phdr` guarantees for the duration of the callback.
unsafe extern "C" fn collect(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: per this function's contract.
    let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk>()) };
    let base = word(info.dlpi_addr);
    let phdrs = if info.dlpi_phdr.is_null() {
        &[][..]
    } else {
        // SAFETY: the loader's program header table of this object, with
        // `dlpi_phnum` entries, mapped as long as the object is loaded (at
        // least until the callback returns).
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a NUL-terminated string owned by the loader.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };

    let mut object = Object {
        name,
        is_vdso: false,
        segments: Vec::new(),
        build_id: None,
        bias: base,
    };
    for ph in phdrs {
        if ph.p_type != libc::PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        let vaddr = base.wrapping_add(word(ph.p_vaddr));
        let end = vaddr.wrapping_add(word(ph.p_memsz));
        if walk.vdso != 0 && vaddr <= walk.vdso && walk.vdso < end {
            object.is_vdso = true;
        }
        if ph.p_flags & libc::PF_X != 0 {
            // The segment itself, not the whole pages the kernel maps for it
            // (what /proc/self/maps shows): with lld's layout (a text segment
            // whose first page also holds the end of the read-only segment)
            // the page-aligned range starts at a file offset inside the
            // previous segment, and pprof (Go 1.19's, at least) then picks
            // that segment to translate addresses, landing 4 KiB off. The
            // exact range is just as true and unambiguous.
            object.segments.push((vaddr, end, word(ph.p_offset)));
        }
    }
    for ph in phdrs {
        if ph.p_type != libc::PT_NOTE || object.build_id.is_some() {
            continue;
        }
        let (vaddr, size) = (word(ph.p_vaddr), word(ph.p_memsz));
        // Read the note only where a readable PT_LOAD has file bytes for it:
        // a PT_NOTE outside every loaded segment is not in memory.
        let loaded = phdrs.iter().any(|l| {
            l.p_type == libc::PT_LOAD
                && l.p_flags & libc::PF_R != 0
                && word(l.p_vaddr) <= vaddr
                && vaddr.checked_add(size) <= word(l.p_vaddr).checked_add(word(l.p_filesz))
        });
        let Ok(len) = usize::try_from(size) else {
            continue;
        };
        if !loaded || len == 0 {
            continue;
        }
        let addr = base.wrapping_add(vaddr) as usize;
        // SAFETY: the range lies inside a readable segment of this object,
        // which stays mapped while the callback runs.
        let notes = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
        let align = if word(ph.p_align) == 8 { 8 } else { 4 };
        object.build_id = find_build_id(notes, align).map(<[u8]>::to_vec);
    }
    walk.objects.push(object);
    0
}

/// The descriptor of the first `NT_GNU_BUILD_ID` note owned by `"GNU"` in
/// a note segment (`Elf_Nhdr` entries: name and descriptor each padded to
/// `align`, 4 or 8), or `None`. Malformed notes end the search.
fn find_build_id(notes: &[u8], align: usize) -> Option<&[u8]> {
    let u32_at = |at: usize| -> Option<usize> {
        let bytes = notes.get(at..at.checked_add(4)?)?;
        usize::try_from(u32::from_ne_bytes(bytes.try_into().ok()?)).ok()
    };
    let pad = |n: usize| n.checked_add(align - 1).map(|n| n & !(align - 1));
    let mut at: usize = 0;
    while at.checked_add(12)? <= notes.len() {
        let (namesz, descsz, kind) = (u32_at(at)?, u32_at(at + 4)?, u32_at(at + 8)?);
        let name_at = at + 12;
        let name = notes.get(name_at..name_at.checked_add(namesz)?)?;
        let desc_at = pad(name_at + namesz)?;
        let desc = notes.get(desc_at..desc_at.checked_add(descsz)?)?;
        if kind == NT_GNU_BUILD_ID as usize && name == b"GNU\0" && !desc.is_empty() {
            return Some(desc);
        }
        at = pad(desc_at + descsz)?;
    }
    None
}

/// See [`super::thread_stack_bounds`]: the mapping of `/proc/self/maps`
/// that holds the caller's stack pointer, read with `open` and `read` into
/// a buffer on the stack.
///
/// Not `pthread_getattr_np`: it holds the thread's lock while it calls
/// `malloc` (to read `/proc/self/maps` for the main thread, and for the
/// CPU set on every thread), and Rust's runtime calls it at start-up and in
/// every new thread. Under the preload library (`heapwise run`) that
/// `malloc` is heapwise's, whose first sample on the thread would ask for
/// the bounds again, and wait for the lock its own caller holds.
pub(super) fn thread_stack_bounds() -> Option<(usize, usize)> {
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/maps".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    let mut found = None;
    let mut len = 0;
    // Inside a line longer than the buffer (a long path), whose range was
    // already looked at: skip to its end.
    let mut skipping = false;
    loop {
        // SAFETY: reads into the unused tail of `buf`.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().add(len).cast(), buf.len() - len) };
        let Ok(n) = usize::try_from(n) else {
            break;
        };
        if n == 0 {
            break;
        }
        len += n;
        let mut start = 0;
        while let Some(nl) = buf[start..len].iter().position(|&b| b == b'\n') {
            if !skipping {
                if let Some((lo, hi)) = map_range(&buf[start..start + nl]) {
                    if (lo..hi).contains(&sp) {
                        found = Some((lo, hi));
                    }
                }
            }
            skipping = false;
            start += nl + 1;
        }
        if found.is_some() {
            break;
        }
        if start == 0 && len == buf.len() {
            // No end of line in a full buffer: look at the range, drop the rest.
            if let Some((lo, hi)) = map_range(&buf[..len]) {
                if (lo..hi).contains(&sp) {
                    found = Some((lo, hi));
                    break;
                }
            }
            skipping = true;
            len = 0;
            continue;
        }
        buf.copy_within(start..len, 0);
        len -= start;
    }
    // SAFETY: opened above, closed once.
    unsafe { libc::close(fd) };
    found
}

/// The `lo-hi` address range at the start of a `/proc/self/maps` line.
fn map_range(line: &[u8]) -> Option<(usize, usize)> {
    let hex = |s: &[u8]| -> Option<usize> {
        if s.is_empty() || s.len() > 16 {
            return None;
        }
        s.iter().try_fold(0usize, |n, &c| {
            let d = (c as char).to_digit(16)?;
            Some(n << 4 | d as usize)
        })
    };
    let dash = line.iter().position(|&b| b == b'-')?;
    let rest = &line[dash + 1..];
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    Some((hex(&line[..dash])?, hex(&rest[..end])?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn map_ranges_parse() {
        assert_eq!(
            map_range(b"7ffd1000-7ffd3000 rw-p 00000000 00:00 0 [stack]"),
            Some((0x7ffd_1000, 0x7ffd_3000))
        );
        assert_eq!(map_range(b"garbage"), None);
        assert_eq!(map_range(b"12-zz rw-p"), None);
    }

    fn this_exe() -> String {
        let exe = std::env::current_exe().unwrap();
        std::fs::canonicalize(exe)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    #[inline(never)]
    fn some_function() -> usize {
        std::hint::black_box(42)
    }

    #[test]
    fn mappings_hold_the_executable_with_its_build_id_and_libc() {
        let maps = mappings();
        let exe = this_exe();
        assert_eq!(maps[0].path, exe, "main executable first");
        let ours: Vec<&Mapping> = maps.iter().filter(|m| m.path == exe).collect();
        assert!(!ours.is_empty());
        for m in &maps {
            assert!(m.start < m.limit, "{m:?}");
            assert!(m.path.starts_with('/') || m.path == "[vdso]", "{m:?}");
        }

        // The build ID as the file's .note.gnu.build-id section has it.
        let data = std::fs::read(&exe).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let expected = object::Object::build_id(&file).unwrap();
        let expected = expected.expect("the test binary has a GNU build ID");
        for m in &ours {
            assert_eq!(m.build_id.as_deref(), Some(expected));
        }

        // Code of this binary lies in one of its mappings, and the mapping's
        // offset turns the runtime address into the right file offset: the
        // bytes there are the function's code.
        let addr = some_function as *const () as usize as u64;
        let m = ours
            .iter()
            .find(|m| m.start <= addr && addr < m.limit)
            .expect("some_function in an executable mapping of the test binary");
        let file_offset = usize::try_from(addr - m.start + m.offset).unwrap();
        // SAFETY: the first bytes of a function's code, readable (executable
        // segments are mapped r-x).
        let code = unsafe { std::slice::from_raw_parts(addr as usize as *const u8, 16) };
        assert_eq!(&data[file_offset..file_offset + 16], code);

        let libc = maps
            .iter()
            .find(|m| {
                Path::new(&m.path)
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("libc.so"))
            })
            .expect("libc's mapping");
        let malloc = libc::malloc as *const () as usize as u64;
        if !(ours.iter().any(|m| m.start <= malloc && malloc < m.limit)) {
            // (A non-PIE executable's canonical PLT entry would be in ours.)
            assert!(
                maps.iter()
                    .any(|m| m.path == libc.path && m.start <= malloc && malloc < m.limit),
                "malloc in libc's mappings"
            );
        }
        assert!(libc.build_id.is_some(), "Debian's libc has a build ID");
    }

    /// Every file mapping lies in the line `/proc/self/maps` has for it
    /// (file, executable), consistently in memory and in the file.
    #[test]
    fn mappings_match_proc_self_maps() {
        let maps = mappings();
        let text = std::fs::read_to_string("/proc/self/maps").unwrap();
        let lines: Vec<(u64, u64, String, u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (range, perms, off) = (f.next()?, f.next()?, f.next()?);
                let (_dev, _inode) = (f.next()?, f.next()?);
                let path = f.collect::<Vec<_>>().join(" ");
                let (s, e) = range.split_once('-')?;
                Some((
                    u64::from_str_radix(s, 16).ok()?,
                    u64::from_str_radix(e, 16).ok()?,
                    perms.to_owned(),
                    u64::from_str_radix(off, 16).ok()?,
                    path,
                ))
            })
            .collect();
        // Each mapping is an executable segment exactly: inside one
        // executable line of /proc/self/maps (which shows whole pages), at
        // the same distance from that line's start in memory and in the file.
        for m in &maps {
            let line = lines
                .iter()
                .find(|l| l.0 <= m.start && m.limit <= l.1)
                .unwrap_or_else(|| panic!("{m:?} not in /proc/self/maps:\n{text}"));
            assert!(m.start - line.0 < 4096 && line.1 - m.limit < 4096, "{m:?}");
            assert_eq!(&line.2[2..3], "x", "{m:?}");
            assert_eq!(line.4, m.path, "{m:?}");
            if m.path != "[vdso]" {
                assert_eq!(m.offset - line.3, m.start - line.0, "{m:?}");
            }
        }
    }

    #[test]
    fn build_id_notes_parse() {
        // Two notes, 4-aligned: a GNU property-like note, then the build ID.
        let mut notes = Vec::new();
        for (name, kind, desc) in [
            (&b"GNU\0"[..], 5u32, &[1u8, 2, 3, 4, 5, 6, 7, 8][..]),
            (&b"GNU\0"[..], 3u32, &[0xde, 0xad, 0xbe, 0xef, 0x01][..]),
        ] {
            notes.extend_from_slice(&(name.len() as u32).to_ne_bytes());
            notes.extend_from_slice(&(desc.len() as u32).to_ne_bytes());
            notes.extend_from_slice(&kind.to_ne_bytes());
            notes.extend_from_slice(name);
            notes.extend_from_slice(desc);
            while notes.len() % 4 != 0 {
                notes.push(0);
            }
        }
        assert_eq!(
            find_build_id(&notes, 4),
            Some(&[0xde, 0xad, 0xbe, 0xef, 0x01][..])
        );
        // Truncated or garbage input: no panic, no ID.
        for cut in 0..notes.len() - 8 {
            assert_eq!(find_build_id(&notes[..cut], 4), None);
        }
        assert_eq!(find_build_id(&[0xff; 40], 4), None);
        assert_eq!(find_build_id(&[], 8), None);
    }

    fn assert_on_own_stack() {
        let local = 0u64;
        let addr = std::hint::black_box(&local) as *const u64 as usize;
        let (low, high) = thread_stack_bounds().expect("stack bounds");
        assert!(
            low < addr && addr < high,
            "{low:#x} < {addr:#x} < {high:#x}"
        );
    }

    // The main thread's bounds, looked up before main (libtest runs every
    // test on a thread of its own): a function in .init_array runs on the
    // main thread before main, as a global allocator's first calls may.
    static MAIN_LOW: AtomicUsize = AtomicUsize::new(0);
    static MAIN_HIGH: AtomicUsize = AtomicUsize::new(0);
    static MAIN_LOCAL: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn before_main() {
        let local = 0u64;
        let addr = std::hint::black_box(&local) as *const u64 as usize;
        MAIN_LOCAL.store(addr, Ordering::Relaxed);
        if let Some((low, high)) = thread_stack_bounds() {
            MAIN_LOW.store(low, Ordering::Relaxed);
            MAIN_HIGH.store(high, Ordering::Relaxed);
        }
    }

    #[used]
    #[link_section = ".init_array"]
    static BEFORE_MAIN: extern "C" fn() = before_main;

    #[test]
    fn stack_bounds_of_the_main_thread_before_main() {
        let (low, high) = (
            MAIN_LOW.load(Ordering::Relaxed),
            MAIN_HIGH.load(Ordering::Relaxed),
        );
        let addr = MAIN_LOCAL.load(Ordering::Relaxed);
        assert_ne!(addr, 0, "the .init_array function ran");
        assert!(
            low < addr && addr < high,
            "{low:#x} < {addr:#x} < {high:#x}"
        );
    }

    #[test]
    fn stack_bounds_of_this_and_a_spawned_thread() {
        assert_on_own_stack();
        std::thread::spawn(assert_on_own_stack).join().unwrap();
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(assert_on_own_stack)
            .unwrap()
            .join()
            .unwrap();
    }
}
