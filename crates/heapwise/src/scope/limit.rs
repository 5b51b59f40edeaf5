//! Limits: what can be limited ([`LimitKind`]), what is left ([`Remaining`]),
//! and the error a crossing produces ([`LimitExceeded`]).

use std::fmt;

use crate::scope::Scope;
use crate::util::count::Count;

/// The figure a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Usage::bytes`](crate::Usage::bytes): bytes allocated, monotonic.
    Bytes = 0,
    /// [`Usage::live_bytes`](crate::Usage::live_bytes): bytes allocated and not freed.
    LiveBytes = 1,
    /// [`Usage::allocs`](crate::Usage::allocs): blocks allocated.
    Allocs = 2,
    /// [`Usage::calls`](crate::Usage::calls): allocator entries.
    Calls = 3,
}

impl LimitKind {
    pub(crate) const COUNT: usize = 4;
    pub(crate) const ALL: [LimitKind; LimitKind::COUNT] = [
        LimitKind::Bytes,
        LimitKind::LiveBytes,
        LimitKind::Allocs,
        LimitKind::Calls,
    ];

    pub(crate) fn from_index(i: usize) -> LimitKind {
        LimitKind::ALL[i.min(LimitKind::COUNT - 1)]
    }

    pub(crate) fn field_name(self) -> &'static str {
        match self {
            LimitKind::Bytes => "limit_bytes",
            LimitKind::LiveBytes => "limit_live_bytes",
            LimitKind::Allocs => "limit_allocs",
            LimitKind::Calls => "limit_calls",
        }
    }

    /// `n` of this kind's unit, `1 block allocated`, `2 live bytes`: its
    /// count and what follows it.
    fn amount(self, n: u64) -> (Count<'static>, &'static str) {
        let (word, after) = match self {
            LimitKind::Bytes => ("byte", " allocated"),
            LimitKind::LiveBytes => ("live byte", ""),
            LimitKind::Allocs => ("block", " allocated"),
            LimitKind::Calls => ("allocator call", ""),
        };
        (Count(n, word), after)
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Bytes => "bytes",
            LimitKind::LiveBytes => "live bytes",
            LimitKind::Allocs => "allocs",
            LimitKind::Calls => "calls",
        })
    }
}

/// What is left of each limit, over a scope and all its ancestors; `None`
/// where no scope on the chain sets that limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Remaining {
    /// Bytes that may still be allocated.
    pub bytes: Option<u64>,
    /// Live bytes that may still be added.
    pub live_bytes: Option<u64>,
    /// Blocks that may still be allocated.
    pub allocs: Option<u64>,
    /// Allocator calls that may still be made.
    pub calls: Option<u64>,
}

impl Remaining {
    /// What is left of the limit of `kind`.
    pub fn get(&self, kind: LimitKind) -> Option<u64> {
        match kind {
            LimitKind::Bytes => self.bytes,
            LimitKind::LiveBytes => self.live_bytes,
            LimitKind::Allocs => self.allocs,
            LimitKind::Calls => self.calls,
        }
    }

    pub(crate) fn slot(&mut self, kind: LimitKind) -> &mut Option<u64> {
        match kind {
            LimitKind::Bytes => &mut self.bytes,
            LimitKind::LiveBytes => &mut self.live_bytes,
            LimitKind::Allocs => &mut self.allocs,
            LimitKind::Calls => &mut self.calls,
        }
    }
}

/// A scope crossed one of its limits.
///
/// It names the scope that crossed (which may be an ancestor of the scope you
/// asked), the kind of limit, the limit and the usage seen at the crossing.
/// With a hard limit the usage is the figure the refused call would have reached.
#[derive(Clone, Debug)]
pub struct LimitExceeded {
    scope: Scope,
    kind: LimitKind,
    limit: u64,
    used: u64,
    refused: Option<u64>,
}

impl LimitExceeded {
    pub(crate) fn new(
        scope: Scope,
        kind: LimitKind,
        limit: u64,
        used: u64,
        refused: Option<u64>,
    ) -> LimitExceeded {
        LimitExceeded {
            scope,
            kind,
            limit,
            used,
            refused,
        }
    }

    /// The scope whose limit was crossed.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Its name, if it has one.
    pub fn scope_name(&self) -> Option<&str> {
        self.scope.label()
    }

    /// Which limit was crossed.
    pub fn kind(&self) -> LimitKind {
        self.kind
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The usage seen when the crossing was detected (greater than `limit`);
    /// for a refused call, the figure it would have reached (nothing of it
    /// was allocated).
    pub fn used(&self) -> u64 {
        self.used
    }

    /// `Some(bytes)` if a hard limit refused a call, with the bytes it asked
    /// for; `None` for a cooperative crossing.
    pub fn refused(&self) -> Option<u64> {
        self.refused
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scope, kind, limit) = (&self.scope, self.kind, self.limit);
        let (used, unit) = kind.amount(self.used);
        match self.refused {
            None => write!(
                f,
                "{scope} exceeded its {kind} limit: {used}{unit}, limit {limit}"
            ),
            Some(bytes) => write!(
                f,
                "{scope} refused an allocation of {}: it would reach {used}{unit}, limit {limit}",
                Count(bytes, "byte")
            ),
        }
    }
}

impl std::error::Error for LimitExceeded {}
