//! The loaded objects' code and unwind sections, read in place for the
//! CFI unwinder's tables (`profile/unwind/`).
//!
//! [`try_for_each_object`] hands each object the dynamic loader lists to a
//! callback, with its executable range and its `.eh_frame_hdr`
//! (`PT_GNU_EH_FRAME`) as loaded: no file is opened, nothing is copied.
//! What it hands out is valid only during the callback: `dl_iterate_phdr`
//! keeps the object loaded until the callback returns, and a later
//! `dlclose` may unmap it, so the unwinder copies what it needs into tables
//! of its own before the callback returns and never reads an object's
//! memory afterwards.
//!
//! It may run on the allocator's sampling path, so it never waits:
//! [`LOADER`](super::LOADER) is only tried (a thread already asking the
//! loader, or a fork in progress, makes it return `None`), and the caller
//! builds its tables another time. Under that lock `dl_iterate_phdr` takes
//! the loader's own lock, which is recursive: a thread sampling from inside
//! some other `dl_iterate_phdr` callback does not deadlock on it.

/// The loader's counts of objects added and removed since start
/// (`dlpi_adds`, `dlpi_subs`): they change together with the set of
/// objects, so equal counts mean the same objects.
pub(crate) type Generation = (u64, u64);

/// The most readable segments of an object kept (ELF objects have 2 to 4).
const SEGMENTS: usize = 16;

/// One loaded object, as [`try_for_each_object`] hands it out: see the
/// module docs for how long it is valid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadedObject<'a> {
    /// Runtime range `[start, end)` spanned by its executable segments.
    pub(crate) code: (usize, usize),
    /// Runtime address of its `.eh_frame_hdr`, and the section (empty if
    /// it has none).
    pub(crate) eh_frame_hdr: (usize, &'a [u8]),
    /// Its readable segments with file contents: runtime start and bytes.
    segments: [(usize, usize); SEGMENTS],
    count: usize,
}

impl<'a> LoadedObject<'a> {
    /// The object's bytes from runtime address `addr` to the end of the
    /// readable segment holding it (`None` if no segment does).
    pub(crate) fn bytes_from(&self, addr: usize) -> Option<&'a [u8]> {
        let &(start, len) = self.segments[..self.count]
            .iter()
            .find(|&&(start, len)| start <= addr && addr - start < len)?;
        let at = addr - start;
        // SAFETY: `start..start + len` is a readable, file-backed segment of
        // an object the loader keeps mapped for `'a` (the callback); `at` is
        // inside it.
        Some(unsafe { std::slice::from_raw_parts(addr as *const u8, len - at) })
    }
}

/// Calls `f` with every loaded object, and returns the loader's generation
/// as of that walk; `None`, without calling `f`, if another thread is asking
/// the loader now, or on other operating systems than Linux.
pub(crate) fn try_for_each_object(f: &mut dyn FnMut(&LoadedObject<'_>)) -> Option<Generation> {
    super::LOADER_FORK.ensure();
    let _held = super::LOADER.try_lock()?;
    imp::for_each_object(f)
}

/// The loader's generation now (one `dl_iterate_phdr` call that stops at
/// the first object); `None` as for [`try_for_each_object`].
pub(crate) fn try_generation() -> Option<Generation> {
    super::LOADER_FORK.ensure();
    let _held = super::LOADER.try_lock()?;
    imp::generation()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::{c_int, c_void};

    use super::{Generation, LoadedObject, SEGMENTS};

    struct Walk<'f> {
        f: &'f mut dyn FnMut(&LoadedObject<'_>),
        generation: Option<Generation>,
    }

    pub(super) fn for_each_object(f: &mut dyn FnMut(&LoadedObject<'_>)) -> Option<Generation> {
        let mut walk = Walk {
            f,
            generation: None,
        };
        // SAFETY: `visit` matches the callback signature, treats `data` as the
        // `Walk` passed here (alive and exclusively borrowed for the whole
        // call), and never unwinds (`f` is heapwise's, which neither panics
        // nor calls anything that does).
        unsafe {
            libc::dl_iterate_phdr(Some(visit), (&mut walk as *mut Walk<'_>).cast::<c_void>());
        }
        Some(walk.generation.unwrap_or((0, 0)))
    }

    pub(super) fn generation() -> Option<Generation> {
        unsafe extern "C" fn first(
            info: *mut libc::dl_phdr_info,
            size: usize,
            data: *mut c_void,
        ) -> c_int {
            // SAFETY: as for `visit`; `data` is the `Option<Generation>` below.
            let (info, out) = unsafe { (&*info, &mut *data.cast::<Option<Generation>>()) };
            *out = Some(counts(info, size));
            1 // stop
        }
        let mut out: Option<Generation> = None;
        // SAFETY: `first` matches the callback signature, writes only the
        // `Option` passed here, and never unwinds.
        unsafe {
            libc::dl_iterate_phdr(
                Some(first),
                (&mut out as *mut Option<Generation>).cast::<c_void>(),
            );
        }
        Some(out.unwrap_or((0, 0)))
    }

    /// The add/remove counts of a `dl_phdr_info` of `size` bytes: older
    /// loaders hand out a shorter struct without them.
    fn counts(info: &libc::dl_phdr_info, size: usize) -> Generation {
        if size >= std::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) + 8 {
            (info.dlpi_adds, info.dlpi_subs)
        } else {
            (0, 0)
        }
    }

    /// The `dl_iterate_phdr` callback.
    ///
    /// # Safety
    ///
    /// `info` points to a valid `dl_phdr_info` of `size` bytes describing an
    /// object loaded for the duration of the call, and `data` to a live,
    /// unaliased `Walk`, as `dl_iterate_phdr` guarantees.
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: per this function's contract.
        let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk<'_>>()) };
        if walk.generation.is_none() {
            walk.generation = Some(counts(info, size));
        }
        let phdrs = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: the loader's program header table of this object, with
            // `dlpi_phnum` entries, mapped while the object is loaded.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        let base = info.dlpi_addr as usize;
        let mut object = LoadedObject {
            code: (usize::MAX, 0),
            eh_frame_hdr: (0, &[]),
            segments: [(0, 0); SEGMENTS],
            count: 0,
        };
        for ph in phdrs {
            if ph.p_type != libc::PT_LOAD {
                continue;
            }
            let start = base.wrapping_add(ph.p_vaddr as usize);
            if ph.p_flags & libc::PF_X != 0 && ph.p_memsz > 0 {
                object.code.0 = object.code.0.min(start);
                object.code.1 = object.code.1.max(start.wrapping_add(ph.p_memsz as usize));
            }
            if ph.p_flags & libc::PF_R != 0 && ph.p_filesz > 0 && object.count < SEGMENTS {
                object.segments[object.count] = (start, ph.p_filesz.min(ph.p_memsz) as usize);
                object.count += 1;
            }
        }
        if object.code.0 >= object.code.1 {
            return 0; // no code
        }
        if let Some(hdr) = phdrs.iter().find(|ph| ph.p_type == libc::PT_GNU_EH_FRAME) {
            let addr = base.wrapping_add(hdr.p_vaddr as usize);
            if let Some(bytes) = object.bytes_from(addr) {
                let len = (hdr.p_memsz as usize).min(bytes.len());
                object.eh_frame_hdr = (addr, &bytes[..len]);
            }
        }
        (walk.f)(&object);
        0
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Generation, LoadedObject};

    pub(super) fn for_each_object(_: &mut dyn FnMut(&LoadedObject<'_>)) -> Option<Generation> {
        None
    }

    pub(super) fn generation() -> Option<Generation> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[inline(never)]
    fn some_function() -> usize {
        std::hint::black_box(7)
    }

    #[test]
    fn lists_this_program_with_its_eh_frame_hdr() {
        let pc = some_function as *const () as usize;
        let mut found = None;
        let generation = try_for_each_object(&mut |o| {
            if o.code.0 <= pc && pc < o.code.1 {
                found = Some((
                    o.eh_frame_hdr.0,
                    o.eh_frame_hdr.1.len(),
                    o.bytes_from(o.eh_frame_hdr.0).is_some(),
                ));
            }
        })
        .expect("the loader lock is free");
        let (hdr, len, readable) = found.expect("this program's code");
        assert!(hdr != 0 && len >= 12 && readable, "{hdr:#x} {len}");
        // At least this program was added.
        assert!(generation.0 >= 1, "{generation:?}");
    }

    #[test]
    fn tries_the_lock_only() {
        let _held = super::super::LOADER.lock();
        assert!(try_for_each_object(&mut |_| panic!("called")).is_none());
    }
}
