//! `limit_memory`, `limit_leaks` and `measure`: a call in a scope of its
//! own, its figures checked when it returns.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::local::sampler;
use crate::local::usage::Usage;
use crate::scope::{untracked, Scope};
use crate::testing::full::FullMode;
use crate::testing::report::{captured_output, top_sites};
use crate::util::count::Count;

/// A byte count: a number, or a string with a unit as
/// `HEAPWISE_PROFILE_RATE` takes it (`"24 MiB"`, `"512KiB"`, `"1GiB"`;
/// `K`, `KB`, `M`, `MB`… are powers of 1024 too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteLimit(pub u64);

impl From<u64> for ByteLimit {
    fn from(bytes: u64) -> ByteLimit {
        ByteLimit(bytes)
    }
}

impl From<&str> for ByteLimit {
    /// # Panics
    ///
    /// If the text is not a byte count (a test's mistake, said in one line).
    #[track_caller]
    fn from(text: &str) -> ByteLimit {
        const WHAT: &str = "byte count";
        match sampler::parse_bytes(text, WHAT, "bytes such as \"24 MiB\", \"512KiB\" or 4096") {
            Ok(bytes) => ByteLimit(bytes),
            Err(e) => {
                let prefix = format!("invalid {WHAT} {text:?}: ");
                let why = e.strip_prefix(prefix.as_str()).unwrap_or(&e);
                panic!("heapwise::testing: {text:?} is not a byte count: {why}")
            }
        }
    }
}

/// Calls `f` in a fresh scope and returns its result with what it did:
/// bytes and blocks allocated and freed, calls, and `live_bytes` (allocated
/// in the call and not freed by it) and `peak_bytes` (the highest
/// `live_bytes` during it).
///
/// # Panics
///
/// If [`crate::Alloc`] is not the program's global allocator (nothing
/// would be counted).
#[track_caller]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    require_installed();
    let scope = Scope::new();
    let r = scope.run(|_| f());
    (r, scope.usage())
}

/// Calls `f` and panics, naming its top allocation sites, if more than
/// `limit` bytes were live at any moment of the call (its peak, as
/// pytest-memray's `limit_memory`). Returns `f`'s result otherwise.
///
/// # Panics
///
/// If the limit was crossed, or `limit` is a string that is not a byte
/// count.
#[track_caller]
pub fn limit_memory<R>(limit: impl Into<ByteLimit>, f: impl FnOnce() -> R) -> R {
    limited(Check::Memory, limit.into().0, f, |_| false)
}

#[track_caller]
fn check_memory(limit: u64, u: &Usage, name: &str) {
    if u.peak_bytes > limit {
        let sites = top_sites(name, "alloc_space", "alloc_objects", 5);
        fail(format!(
            "limit_memory: peak of {} live (limit {}), {} allocated in {}; top sites by bytes allocated:{sites}",
            Count(u.peak_bytes, "byte"),
            Count(limit, "byte"),
            Count(u.bytes, "byte"),
            Count(u.allocs, "block")
        ));
    }
}

/// Calls `f` and panics, naming the sites, if more than `limit` bytes it
/// allocated are still live when it returns (pytest-memray's
/// `limit_leaks`). `0` allows none. Returns `f`'s result otherwise (what
/// the result owns counts as leaked: return nothing that allocates, or
/// allow for it).
///
/// # Panics
///
/// If the limit was crossed, or `limit` is a string that is not a byte
/// count.
#[track_caller]
pub fn limit_leaks<R>(limit: impl Into<ByteLimit>, f: impl FnOnce() -> R) -> R {
    limited(Check::Leaks, limit.into().0, f, |_| false)
}

/// Which limit a call is held to.
#[derive(Clone, Copy)]
enum Check {
    Memory,
    Leaks,
}

/// Runs `f` in a scope of its own and checks its figures against `limit`,
/// unless `unchecked` says so of its result.
#[track_caller]
fn limited<R>(check: Check, limit: u64, f: impl FnOnce() -> R, unchecked: fn(&R) -> bool) -> R {
    let (r, u, name) = in_named_scope(f);
    if !unchecked(&r) {
        match check {
            Check::Memory => check_memory(limit, &u, &name),
            Check::Leaks => check_leaks(limit, &u, &name),
        }
    }
    r
}

#[track_caller]
fn check_leaks(limit: u64, u: &Usage, name: &str) {
    if u.live_bytes > limit {
        // libtest's capture of the call's `print!`s grows a buffer it
        // frees after the test: not a leak.
        let (output, output_blocks) = captured_output(name);
        let leaked = u.live_bytes.saturating_sub(output);
        if leaked > limit {
            let blocks = u
                .allocs
                .saturating_sub(u.frees)
                .saturating_sub(output_blocks);
            let sites = top_sites(name, "inuse_space", "inuse_objects", 5);
            fail(format!(
                "limit_leaks: {} leaked (limit {}) in {}; top sites:{sites}",
                Count(leaked, "byte"),
                Count(limit, "byte"),
                Count(blocks, "block")
            ));
        }
    }
}

/// [`limit_memory`] for a test that returns a `Result` (what
/// `#[heapwise::test]` calls then): an `Err` is returned as it is,
/// unchecked, so the test fails with its own error, which a limit's
/// failure (the error's own bytes leaked) used to hide.
#[doc(hidden)]
#[track_caller]
pub fn limit_memory_unless_err<T, E>(
    limit: impl Into<ByteLimit>,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    limited(Check::Memory, limit.into().0, f, Result::is_err)
}

/// [`limit_leaks`] for a test that returns a `Result`: see
/// [`limit_memory_unless_err`].
#[doc(hidden)]
#[track_caller]
pub fn limit_leaks_unless_err<T, E>(
    limit: impl Into<ByteLimit>,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    limited(Check::Leaks, limit.into().0, f, Result::is_err)
}

/// Panics unless heapwise counts this program's allocations.
#[track_caller]
fn require_installed() {
    if !crate::installed() {
        panic!(
            "heapwise::testing: heapwise::Alloc is not this program's global allocator, so nothing is counted: add #[global_allocator] static ALLOC: heapwise::Alloc = heapwise::Alloc::system();"
        );
    }
}

/// Runs `f` in full mode, in a scope with a name no other call has (the
/// profile's `scope` label picks out its samples). The name and the scope
/// are made and dropped untracked, so a call inside another (the
/// attribute's `limit_leaks` around `limit_memory`) does not count them
/// (the registry of named scopes keeps the name after the call).
#[track_caller]
fn in_named_scope<R>(f: impl FnOnce() -> R) -> (R, Usage, Name) {
    const NAME_PREFIX: &str = "heapwise-testing-";
    require_installed();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // The caller's scope, read here: inside `untracked` there is none, and
    // a scope made there was a root, so the attribute's `limit_leaks`
    // around `limit_memory` saw nothing of the call (11 bytes of 100,000
    // leaked).
    let parent = Scope::current();
    let (name, scope) = untracked(|| {
        // A call inside another (the attribute's `limit_memory` inside its
        // `limit_leaks`) takes the outer call's name: a sample is labelled
        // with its innermost scope's name, and the outer call's sites are
        // then the inner call's too.
        let name = match parent.as_ref().and_then(Scope::label) {
            Some(outer) if outer.starts_with(NAME_PREFIX) => outer.to_owned(),
            _ => format!("{NAME_PREFIX}{}", NEXT.fetch_add(1, Relaxed)),
        };
        let scope = match &parent {
            Some(parent) => parent.child(),
            None => Scope::new(),
        };
        drop(parent);
        (name.clone(), scope.name(name))
    });
    let _full = FullMode::begin();
    let r = scope.run(|_| f());
    let usage = scope.usage();
    untracked(|| drop(scope));
    (r, usage, Name(Some(name)))
}

/// The call's scope name, dropped untracked.
struct Name(Option<String>);

impl Drop for Name {
    fn drop(&mut self) {
        let name = self.0.take();
        untracked(|| drop(name));
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }
}

#[track_caller]
fn fail(message: String) -> ! {
    panic!("{message}")
}
