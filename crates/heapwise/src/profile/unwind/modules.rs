//! The process's unwind tables: one [`ModuleTable`] per loaded object,
//! published for lock-free reading and rebuilt when objects come and go.
//!
//! # Publication
//!
//! A [`Tables`] snapshot lists the objects' tables sorted by address; the
//! current one is an atomic pointer that a walk loads once and reads
//! without a lock. Snapshots and tables are never freed (a walk on another
//! thread may still be reading one, and nothing here knows when it is
//! done), and all stay reachable (a snapshot points to the one it
//! replaced), so a leak checker run on the process sees none of them lost.
//! A new snapshot is made only when the set of loaded objects changes; it
//! reuses the tables of every object still loaded at the same place. What
//! is kept is one table per chunk of code of every object the process ever
//! loaded, plus one list of pointers per change of the loaded set. All of
//! it is heapwise's own memory ([`crate::Stats::heapwise_bytes`]).
//!
//! # When tables are built
//!
//! An object's code is split in chunks of a few dozen functions
//! (`chunks.rs`), and a chunk's table is built when a walk first meets its
//! code, not when the object is found: a snapshot lists every chunk of
//! every loaded object, most with a pending table
//! ([`ModuleTable::pending`]), and a walk that meets one asks for it and
//! counts as missed. The caller refreshes, which builds what was asked for
//! and links each build to its pending table
//! ([`ModuleTable::resolved`]), and walks again. So code no sampled stack
//! passes through costs nothing but its entry in the list: `cc1plus` builds
//! the chunks of the few hundred functions its samples pass through, not
//! its 2.6 MB of `.eh_frame`, and `libm`, `libz` or a compiler's `libisl`
//! nothing. A chunk of code whose every function keeps a frame pointer is
//! stepped through by frame records once built (`ModuleTable::judged`); an
//! object is never judged whole from a sample (a Rust program built without
//! frame pointers links a standard library built with them).
//!
//! The list is refreshed at the first walk, when a walk asked for a table,
//! and when a walk meets a return address in no known object (a library
//! `dlopen`ed since) and the loader's add/remove counts show the set
//! changed. A refresh runs on the walking thread, behind the reentrancy
//! guard, and never waits: if another thread is refreshing or asking the
//! loader, this walk goes on with the tables it has (frames in unknown code
//! fall back to frame pointers) and a later one refreshes.

use std::ptr;
use std::sync::atomic::{
    AtomicPtr, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};

use crate::profile::unwind::chunks;
use crate::profile::unwind::directory::Directory;
use crate::profile::unwind::table::ModuleTable;
use crate::sys::code::{self, Generation};
use crate::sys::fork::{AtFork, Rank};
use crate::sys::lock::Lock;

/// The tables of the chunks of the objects loaded at one time, sorted by
/// address.
#[derive(Debug)]
pub(crate) struct Tables {
    modules: Box<[&'static ModuleTable]>,
    /// Which of `modules` holds an address (`directory.rs`): searching the
    /// tables themselves cost a cache miss a step, the walk's hottest
    /// instructions in full mode under `heapwise run`.
    directory: Directory,
    generation: Generation,
    /// The snapshot this one replaced: never read, there to keep it
    /// reachable.
    #[allow(dead_code)]
    replaced: Option<&'static Tables>,
}

impl Tables {
    /// The table of the object whose code holds `pc`.
    #[inline]
    pub(crate) fn find(&self, pc: usize) -> Option<&'static ModuleTable> {
        let m = *self.modules.get(self.directory.find(pc)?)?;
        (m.start <= pc && pc < m.end).then(|| m.resolved())
    }

    /// Built from `modules`, sorted by address.
    fn new(
        modules: Vec<&'static ModuleTable>,
        generation: Generation,
        replaced: Option<&'static Tables>,
    ) -> Tables {
        let ranges: Vec<(usize, usize)> = modules.iter().map(|m| (m.start, m.end)).collect();
        Tables {
            directory: Directory::new(&ranges),
            modules: modules.into_boxed_slice(),
            generation,
            replaced,
        }
    }

    /// Heap bytes held.
    fn bytes(&self) -> usize {
        self.modules.len() * 8 + self.directory.bytes() + std::mem::size_of::<Tables>()
    }

    /// Built from `modules` (any order), for tests.
    #[cfg(test)]
    pub(crate) fn of(modules: Vec<&'static ModuleTable>) -> Tables {
        let mut modules = modules;
        modules.sort_by_key(|m| m.start);
        Tables::new(modules, (0, 0), None)
    }
}

/// The current snapshot (null until the first build).
static CURRENT: AtomicPtr<Tables> = AtomicPtr::new(ptr::null_mut());

/// Every object listed, with its chunks' tables (pending or built), for
/// reuse; held while (re)building.
static BUILT: Lock<Vec<Object>> = Lock::new(Vec::new());

/// A listed object: what tells it apart (its code range and
/// `.eh_frame_hdr`), and its chunks' tables in address order.
#[derive(Debug)]
struct Object {
    key: (usize, usize, usize),
    chunks: Vec<&'static ModuleTable>,
}

static BUILT_FORK: AtFork = AtFork::new(
    Rank::Unwind,
    || BUILT.hold_for_fork(),
    // SAFETY: called once after `fork`, by the thread that held it.
    || unsafe { BUILT.release_after_fork() },
);

/// Heap bytes of every table built, and their rows.
static BYTES: AtomicUsize = AtomicUsize::new(0);
static ROWS: AtomicUsize = AtomicUsize::new(0);

/// The current tables, if built.
#[inline]
pub(crate) fn current() -> Option<&'static Tables> {
    // SAFETY: the pointer is null or a leaked `Tables`, published with
    // release after it was written.
    unsafe { CURRENT.load(Acquire).as_ref() }
}

/// Chunk tables built so far, by every refresh: a walk that missed a table
/// compares it before and after its refresh to learn whether walking again
/// can find more (another thread may have built what it asked for).
static BUILDS: AtomicUsize = AtomicUsize::new(0);

/// Chunk tables built so far (see [`BUILDS`]).
pub(crate) fn builds() -> usize {
    BUILDS.load(Relaxed)
}

/// Lists the objects if there is no list, or again if the loaded objects
/// changed; builds the tables walks asked for (counted in [`builds`]);
/// returns the tables current afterwards. Never waits (`None` if another
/// thread holds the lock or the loader). Allocates: call it behind the
/// reentrancy guard.
pub(crate) fn refresh() -> Option<&'static Tables> {
    BUILT_FORK.ensure();
    let mut built = BUILT.try_lock()?;
    let old = current();
    // The chunks walks asked for, by start address (sorted: the snapshot is).
    let mut wanted: Vec<usize> = Vec::new();
    let mut listed = false;
    if let Some(old) = old {
        wanted.extend(
            old.modules
                .iter()
                .filter(|m| m.is_wanted())
                .map(|m| m.start),
        );
        listed = code::try_generation()? == old.generation;
        if wanted.is_empty() && listed {
            return Some(old);
        }
    }
    let mut modules: Vec<&'static ModuleTable> = Vec::new();
    let mut builds = 0;
    let generation = code::try_for_each_object(&mut |o| {
        let key = (o.code.0, o.code.1, o.eh_frame_hdr.0);
        if listed {
            // Only builds: the wanted chunks of this object, if any.
            let Some(object) = built.iter().find(|b| b.key == key) else {
                return;
            };
            let from = wanted.partition_point(|&s| s < o.code.0);
            for &start in wanted[from..].iter().take_while(|&&s| s < o.code.1) {
                let Ok(i) = object.chunks.binary_search_by_key(&start, |c| c.start) else {
                    continue;
                };
                builds += build_if_wanted(o, object.chunks[i]);
            }
            return;
        }
        let i = match built.iter().position(|b| b.key == key) {
            Some(i) => i,
            None => {
                let chunks = chunks::of(o)
                    .into_iter()
                    .map(|(start, end)| leak(ModuleTable::pending(start, end)))
                    .collect();
                built.push(Object { key, chunks });
                built.len() - 1
            }
        };
        let Some(object) = built.get_mut(i) else {
            return;
        };
        for &chunk in &object.chunks {
            builds += build_if_wanted(o, chunk);
            modules.push(chunk.resolved());
        }
    })?;
    BUILDS.fetch_add(builds, Relaxed);
    if let Some(old) = old {
        if listed {
            // Only builds: the snapshot stays. (Objects that came or went
            // meanwhile are listed by the next refresh.)
            return Some(old);
        }
    }
    modules.sort_by_key(|m| m.start);
    // Objects never overlap; were two listed so (a loader race), the first
    // wins.
    modules.dedup_by(|b, a| b.start < a.end);
    let tables: &'static Tables = Box::leak(Box::new(Tables::new(modules, generation, old)));
    BYTES.fetch_add(tables.bytes(), Relaxed);
    CURRENT.store(ptr::from_ref(tables).cast_mut(), Release);
    Some(tables)
}

/// Builds `chunk` of object `o` if a walk asked for it, linked to its
/// pending table (a walk reading any snapshot that lists the pending table
/// finds it); the number built (0 or 1).
fn build_if_wanted(o: &code::LoadedObject<'_>, chunk: &'static ModuleTable) -> usize {
    if !chunk.is_wanted() {
        return 0;
    }
    chunk.set_built(leak(chunks::build(o, chunk.start, chunk.end)));
    1
}

/// `table` for the life of the process, counted in [`footprint`].
fn leak(table: ModuleTable) -> &'static ModuleTable {
    let t: &'static ModuleTable = Box::leak(Box::new(table));
    BYTES.fetch_add(t.bytes() + std::mem::size_of::<ModuleTable>(), Relaxed);
    ROWS.fetch_add(t.rows(), Relaxed);
    t
}

/// Heap bytes the tables hold, and their rows.
pub(crate) fn footprint() -> (usize, usize) {
    (BYTES.load(Relaxed), ROWS.load(Relaxed))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::profile::unwind::table::{Kind, Rule};

    /// The tables now (another test may be building them: wait).
    fn refreshed() -> &'static Tables {
        loop {
            if let Some(t) = crate::local::without_accounting(refresh) {
                return t;
            }
            std::thread::yield_now();
        }
    }

    /// The tables after `table` (pending) is asked for and refreshed.
    fn built_for(tables: &'static Tables, pc: usize) -> &'static ModuleTable {
        let table = tables.find(pc).expect("an object holds pc");
        if table.is_pending() {
            table.want();
        }
        let mut now = refreshed();
        while now.find(pc).is_some_and(|t| t.is_pending()) {
            // Another thread's refresh may have listed it meanwhile.
            now.find(pc).unwrap().want();
            std::thread::yield_now();
            now = refreshed();
        }
        now.find(pc).expect("an object holds pc")
    }

    #[test]
    fn a_library_loaded_later_is_listed_at_the_next_refresh_and_built_when_asked_for() {
        let before = refreshed();
        // zlib: in every Debian system, and loaded by nothing else here.
        // SAFETY: dlopen/dlsym with NUL-terminated names; the library
        // stays loaded (never closed).
        let f = unsafe {
            let lib = libc::dlopen(c"libz.so.1".as_ptr(), libc::RTLD_NOW);
            assert!(!lib.is_null(), "dlopen libz.so.1");
            libc::dlsym(lib, c"zlibVersion".as_ptr()) as usize
        };
        assert_ne!(f, 0);
        assert!(before.find(f).is_none(), "libz was loaded before the test");
        let after = refreshed();
        let listed = after.find(f).expect("libz listed");
        // No walk met it: nothing built.
        assert!(listed.is_pending(), "{listed:?}");
        assert_eq!(listed.lookup(f), Rule::NONE);
        let table = built_for(after, f);
        assert!(!table.is_pending());
        // Every function starts with CFA = rsp + 8.
        assert_eq!(table.lookup(f).kind(), Kind::Rsp);
        assert_eq!(table.lookup(f).cfa_offset(), 8);
        // Built once: later refreshes keep it, and the snapshot that listed
        // it pending leads to it too.
        assert!(std::ptr::eq(refreshed().find(f).unwrap(), table));
        assert!(std::ptr::eq(after.find(f).unwrap(), table));
        // libz is built without frame pointers; this test binary with them
        // (the workspace's rustflags).
        assert!(table.fp_per_mille < 500, "{}", table.fp_per_mille);
        let here = refreshed as *const () as usize;
        let this = built_for(refreshed(), here);
        assert!(
            this.fp_per_mille >= crate::profile::unwind::walk::FP_OBJECT,
            "{}",
            this.fp_per_mille
        );
    }
}
