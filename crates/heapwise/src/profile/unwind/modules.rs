//! The process's unwind tables: one [`ModuleTable`] per loaded object,
//! published for lock-free reading and rebuilt when objects come and go.
//!
//! # Publication
//!
//! A [`Tables`] snapshot lists the objects' tables sorted by address; the
//! current one is an atomic pointer that a walk loads once and reads
//! without a lock. Snapshots and tables are never freed (a walk on another
//! thread may still be reading one, and nothing here knows when it is
//! done): a refresh reuses the table of every object still loaded at the
//! same place, so what is kept is one table per object the process ever
//! loaded, plus one small list of pointers per change of the loaded set.
//! All of it is heapwise's own memory ([`crate::Stats::heapwise_bytes`]).
//!
//! # When tables are built
//!
//! At the first walk that wants them, and again when a walk meets a return
//! address in no known object (a library `dlopen`ed since) and the
//! loader's add/remove counts show the set changed. A refresh runs on the
//! walking thread, behind the reentrancy guard, and never waits: if another
//! thread is refreshing or asking the loader, this walk goes on with the
//! tables it has (frames in unknown code fall back to frame pointers) and a
//! later one refreshes.

use std::ptr;
use std::sync::atomic::{
    AtomicPtr, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};

use crate::profile::unwind::table::ModuleTable;
use crate::sys::code::{self, Generation};
use crate::sys::fork::{AtFork, Rank};
use crate::sys::lock::Lock;

/// The tables of the objects loaded at one time, sorted by address.
#[derive(Debug)]
pub(crate) struct Tables {
    modules: Box<[&'static ModuleTable]>,
    generation: Generation,
}

impl Tables {
    /// The table of the object whose code holds `pc`.
    #[inline]
    pub(crate) fn find(&self, pc: usize) -> Option<&'static ModuleTable> {
        let i = self.modules.partition_point(|m| m.start <= pc);
        let m = *self.modules.get(i.checked_sub(1)?)?;
        (pc < m.end).then_some(m)
    }

    /// Built from `modules` (any order), for tests.
    #[cfg(test)]
    pub(crate) fn of(modules: Vec<&'static ModuleTable>) -> Tables {
        let mut modules = modules;
        modules.sort_by_key(|m| m.start);
        Tables {
            modules: modules.into_boxed_slice(),
            generation: (0, 0),
        }
    }
}

/// The current snapshot (null until the first build).
static CURRENT: AtomicPtr<Tables> = AtomicPtr::new(ptr::null_mut());

/// Every table built, for reuse; held while (re)building.
static BUILT: Lock<Vec<&'static ModuleTable>> = Lock::new(Vec::new());

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

/// Builds the tables if there are none, or rebuilds them if the loaded
/// objects changed; returns the tables current afterwards. Never waits
/// (`None` if another thread holds the lock or the loader). Allocates: call
/// it behind the reentrancy guard.
pub(crate) fn refresh() -> Option<&'static Tables> {
    BUILT_FORK.ensure();
    let mut built = BUILT.try_lock()?;
    let old = current();
    if let Some(old) = old {
        if code::try_generation()? == old.generation {
            return Some(old);
        }
    }
    let mut modules: Vec<&'static ModuleTable> = Vec::new();
    let generation = code::try_for_each_object(&mut |o| {
        let key = (o.code.0, o.code.1, o.eh_frame_hdr.0);
        let table = match built
            .iter()
            .find(|t| (t.start, t.end, t.eh_frame_hdr) == key)
        {
            Some(t) => *t,
            None => {
                let t: &'static ModuleTable = Box::leak(Box::new(ModuleTable::build(o)));
                BYTES.fetch_add(t.bytes() + std::mem::size_of::<ModuleTable>(), Relaxed);
                ROWS.fetch_add(t.rows(), Relaxed);
                built.push(t);
                t
            }
        };
        modules.push(table);
    })?;
    modules.sort_by_key(|m| m.start);
    BYTES.fetch_add(modules.len() * 8 + std::mem::size_of::<Tables>(), Relaxed);
    let tables: &'static Tables = Box::leak(Box::new(Tables {
        modules: modules.into_boxed_slice(),
        generation,
    }));
    CURRENT.store(ptr::from_ref(tables).cast_mut(), Release);
    Some(tables)
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

    #[test]
    fn a_library_loaded_later_gets_its_table_at_the_next_refresh() {
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
        let table = after.find(f).expect("libz's table");
        // Every function starts with CFA = rsp + 8.
        assert_eq!(table.lookup(f).kind(), Kind::Rsp);
        assert_eq!(table.lookup(f).cfa_offset(), 8);
        // Unchanged objects keep their tables.
        let here = refreshed as *const () as usize;
        assert!(std::ptr::eq(
            before.find(here).unwrap(),
            after.find(here).unwrap()
        ));
        assert_ne!(table.lookup(f), Rule::NONE);
        // libz is built without frame pointers; this test binary with them
        // (the workspace's rustflags).
        assert!(table.fp_per_mille < 500, "{}", table.fp_per_mille);
        assert!(
            after.find(here).unwrap().fp_per_mille >= crate::profile::unwind::walk::FP_OBJECT,
            "{}",
            after.find(here).unwrap().fp_per_mille
        );
    }
}
