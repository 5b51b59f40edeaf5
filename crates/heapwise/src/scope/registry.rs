//! The live named scopes: what `/debug/heapwise/scopes` and
//! [`Scope::named`](crate::Scope::named) list.
//!
//! A named scope is registered the first time a thread enters it (so the
//! builder can still configure it before). The registry holds a handle on
//! each, so a listing never races with a scope being freed; entries that
//! only the registry still holds are pruned whenever the registry has doubled
//! since the last pruning, which keeps registration amortised O(1) and the
//! registry at most twice the live named scopes. A pruned scope is dropped
//! outside the reentrancy guard, so the free of its name is counted like any
//! other; what it did is first added to its name's totals, so per-name
//! counters (`by_name`, the `/metrics` endpoint's) never go down. None of
//! this runs on the allocator path.

use std::sync::atomic::Ordering::Acquire;

use crate::local::without_accounting;
#[cfg(feature = "metrics")]
use crate::scope::limit::LimitKind;
use crate::scope::Scope;
use crate::sys::fork::{AtFork, Rank};
use crate::sys::lock::{Lock, LockGuard};

struct Registry {
    scopes: Vec<Scope>,
    /// Length after the last pruning.
    kept: usize,
    /// What the pruned scopes did, by name.
    pruned: Vec<(Box<str>, Totals)>,
}

static REGISTRY: Lock<Registry> = Lock::new(Registry {
    scopes: Vec::new(),
    kept: 0,
    pruned: Vec::new(),
});

/// What the scopes of one name did, ended ones included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Bytes allocated (only grows).
    pub(crate) bytes: u64,
    /// Blocks allocated (only grows).
    pub(crate) allocs: u64,
    /// Scopes that exceeded a limit (only grows).
    pub(crate) exceeded: u64,
}

impl Totals {
    /// Adds what `s` did: its bytes and blocks unless an ancestor of its
    /// name counts them already (see [`inside_its_name`]); its crossing
    /// always (each scope that exceeded a limit counts once).
    fn add(&mut self, s: &Scope) {
        if !inside_its_name(s) {
            let u = s.usage();
            self.bytes += u.bytes;
            self.allocs += u.allocs;
        }
        self.exceeded += u64::from(s.exceeded().is_some());
    }
}

/// Whether an ancestor of `s` has its name: a scope's figures include its
/// descendants', so per-name sums leave out such a scope's (a recursive
/// function's nested spans, five levels deep, counted its bytes five
/// times). That ancestor outlives it in the registry: `s` holds it.
fn inside_its_name(s: &Scope) -> bool {
    let inner = s.inner();
    inner.name.is_some()
        && inner
            .ancestors()
            .skip(1)
            .any(|a| a.name_or_empty() == inner.name_or_empty() && a.name.is_some())
}

/// The figures of one scope name: [`by_name`].
#[cfg(feature = "metrics")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NameFigures {
    pub(crate) name: String,
    /// Scopes of this name alive now (held by a handle, a thread or a block).
    pub(crate) live_scopes: u64,
    /// Their live bytes now.
    pub(crate) live_bytes: u64,
    /// The largest limit of each kind among them (by [`LimitKind::ALL`]).
    pub(crate) limits: [Option<u64>; 4],
    /// Every scope of this name since start, ended ones included.
    pub(crate) totals: Totals,
}

static FORK: AtFork = AtFork::new(
    Rank::Registry,
    || REGISTRY.hold_for_fork(),
    // SAFETY: called once after `fork`, by the thread that held it.
    || unsafe { REGISTRY.release_after_fork() },
);

fn lock() -> LockGuard<'static, Registry> {
    FORK.ensure();
    REGISTRY.lock()
}

/// Only the registry holds it (no handle, no thread, no owned block).
fn unused(s: &Scope) -> bool {
    s.inner().refs().load(Acquire) == 1
}

/// Registers `scope` (named, entered for the first time).
pub(crate) fn register(scope: &Scope) {
    let handle = scope.clone();
    let mut dead = without_accounting(|| {
        let mut r = lock();
        r.scopes.push(handle);
        let mut dead = Vec::new();
        if r.scopes.len() >= 2 * r.kept.max(16) {
            let mut i = 0;
            while i < r.scopes.len() {
                if unused(&r.scopes[i]) {
                    let s = r.scopes.swap_remove(i);
                    let name = s.label().unwrap_or_default();
                    match r.pruned.iter_mut().find(|(n, _)| **n == *name) {
                        Some((_, t)) => t.add(&s),
                        None => {
                            let mut t = Totals::default();
                            t.add(&s);
                            r.pruned.push((name.into(), t));
                        }
                    }
                    dead.push(s);
                } else {
                    i += 1;
                }
            }
            r.kept = r.scopes.len();
        }
        dead
    });
    while let Some(s) = dead.pop() {
        drop(s);
    }
    without_accounting(move || drop(dead));
}

#[cfg(feature = "metrics")]
/// Per scope name, sorted by name: the live scopes' figures and every
/// scope's totals (ended ones included, so the totals never go down).
pub(crate) fn by_name() -> Vec<NameFigures> {
    without_accounting(|| {
        let r = lock();
        let mut out: Vec<NameFigures> = Vec::new();
        let find = |out: &mut Vec<NameFigures>, name: &str| -> usize {
            match out.binary_search_by(|f| f.name.as_str().cmp(name)) {
                Ok(i) => i,
                Err(i) => {
                    out.insert(
                        i,
                        NameFigures {
                            name: name.to_string(),
                            ..NameFigures::default()
                        },
                    );
                    i
                }
            }
        };
        for (name, t) in &r.pruned {
            let i = find(&mut out, name);
            out[i].totals = *t;
        }
        for s in &r.scopes {
            let i = find(&mut out, s.label().unwrap_or_default());
            let f = &mut out[i];
            f.totals.add(s);
            if !unused(s) {
                f.live_scopes += 1;
                if !inside_its_name(s) {
                    f.live_bytes += s.usage().live_bytes;
                }
                for (k, kind) in LimitKind::ALL.into_iter().enumerate() {
                    if let Some(l) = s.limit_of(kind) {
                        f.limits[k] = Some(f.limits[k].map_or(l, |m| m.max(l)));
                    }
                }
            }
        }
        out
    })
}

/// Handles on the live named scopes, in registration order (roughly).
pub(crate) fn named_scopes() -> Vec<Scope> {
    let live: Vec<Scope> = without_accounting(|| {
        let r = lock();
        r.scopes.iter().filter(|s| !unused(s)).cloned().collect()
    });
    // Move the handles into a vector the caller owns (and frees, counted).
    let mut out = Vec::with_capacity(live.len());
    let mut live = live;
    out.append(&mut live);
    without_accounting(move || drop(live));
    out
}
