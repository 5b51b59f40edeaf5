//! Gates: one word that says whether any of a set of events has a probe, in a
//! form that folds into a branch the caller already has.
//!
//! # Why
//!
//! An event with no probe costs one load and one not-taken branch. On a path
//! that already ends in a branch, such as the global allocator's fast path
//! (`countdown -= size; if countdown < 0 { slow }`), even that second branch
//! is too much: several events (alloc, free, realloc) would each add one. A
//! [`Gate`] instead holds a *mask*: `0` while none of its events has a
//! probe, [`Gate::OPEN`] (`1 << 62`) while any has. The caller ORs it into
//! the non-negative amount it subtracts from its countdown,
//! `countdown -= amount | GATE.mask()`, so while the gate is open the
//! countdown goes negative on every call and the existing branch takes the
//! slow side, which fires the events. That is one load and one `or` on the
//! fast path and no new branch. (Where the caller has no countdown,
//! `x < GATE.mask()` works as well for any `x` below `1 << 62`.)
//!
//! ```
//! heapwise_probe::declare! {
//!     pub fn pushed(len: usize);
//! }
//! heapwise_probe::gate! {
//!     /// Open while `pushed` has a probe.
//!     pub static PUSHED_GATE = [pushed];
//! }
//!
//! fn push(budget: &mut isize, v: &mut Vec<u8>) {
//!     *budget -= 1 | PUSHED_GATE.mask();
//!     if *budget < 0 {
//!         push_slow(budget, v) // the rare path: refill, and fire the event
//!     } else {
//!         v.push(0)
//!     }
//! }
//! #[cold]
//! fn push_slow(budget: &mut isize, v: &mut Vec<u8>) {
//!     if *budget < 0 {
//!         *budget = 1024;
//!     }
//!     v.push(0);
//!     pushed(v.len());
//! }
//!
//! let (mut budget, mut v) = (1024, Vec::new());
//! let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
//! let s = seen.clone();
//! push(&mut budget, &mut v);
//! let p = pushed::attach(move |_| { s.fetch_add(1, std::sync::atomic::Ordering::Relaxed); });
//! push(&mut budget, &mut v);
//! drop(p);
//! push(&mut budget, &mut v);
//! assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 1);
//! ```
//!
//! # Guarantees
//!
//! The registry updates a gate under its lock, right after it publishes a
//! new probe array for one of the gate's events, and before `attach` (or
//! the `setup`) returns. So an event that starts after `attach` returned
//! (happens-before) sees the gate open and takes the slow side, where the
//! event then sees the probe: the attach guarantee of plain events holds
//! for gated ones. A thread-scoped probe opens the gate for every thread
//! (other threads take the slow side and skip the probe there).
//!
//! Gates are registered statically (`linkme`), like events: no constructor,
//! and a gate works before `main`.
//!
//! # Hooks
//!
//! A gate may name a function, `gate! { static G = [a, b] => on_change; }`,
//! called with the new state each time the gate opens or closes, under the
//! registry's lock, before `attach` (or the `setup`) returns: for callers
//! whose branch tests something other than a word they can OR in (the
//! global allocator's free path folds its gate into a per-page table it
//! already reads). It must not attach or detach probes.

use std::fmt;
use std::sync::atomic::{AtomicIsize, Ordering};

use crate::Event;

/// A word that is open while any of its events has a probe: see the
/// [module docs](mod@crate::gate). Made by [`gate!`](crate::gate!).
///
/// Aligned to a cache line of its own, so that nothing written often
/// shares the line every reader loads.
#[repr(align(64))]
pub struct Gate {
    mask: AtomicIsize,
    events: &'static [&'static Event],
    on_change: Option<fn(bool)>,
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static __GATES: [&'static Gate];

impl Gate {
    /// Used by [`gate!`](crate::gate!) only.
    #[doc(hidden)]
    pub const fn __new(events: &'static [&'static Event], on_change: Option<fn(bool)>) -> Gate {
        Gate {
            mask: AtomicIsize::new(0),
            events,
            on_change,
        }
    }

    /// The mask of an open gate: `1 << 62`. ORed into any non-negative
    /// `isize` amount, the result is at least `1 << 62`, so a countdown that
    /// never exceeds `1 << 62` goes negative when it is subtracted; and it
    /// cannot overflow `isize`.
    pub const OPEN: isize = 1 << 62;

    /// `0` while none of the gate's events has a probe, [`Gate::OPEN`] while
    /// any has: OR it into the amount subtracted from a countdown that
    /// branches when it goes negative (see the [module docs](mod@crate::gate)).
    /// One relaxed load.
    #[inline(always)]
    pub fn mask(&self) -> isize {
        self.mask.load(Ordering::Relaxed)
    }

    /// Whether any of the gate's events has a probe attached.
    #[inline]
    pub fn is_open(&self) -> bool {
        self.mask() != 0
    }

    /// The gate's events.
    pub fn events(&self) -> &'static [&'static Event] {
        self.events
    }

    /// Recomputes the gate from its events' probe arrays. Writers only,
    /// under the registry lock.
    fn update(&self) {
        let open = self.events.iter().any(|e| e.is_attached());
        let was = self
            .mask
            .swap(if open { Gate::OPEN } else { 0 }, Ordering::Relaxed);
        debug_assert!(
            was == 0 || was == Gate::OPEN,
            "heapwise-probe: gate mask {was:#x}"
        );
        if let Some(hook) = self.on_change {
            if (was != 0) != open {
                hook(open);
            }
        }
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("open", &self.is_open())
            .field(
                "events",
                &self.events.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Updates every gate that includes `event`, after its array was published.
/// Writers only, under the registry lock.
pub(crate) fn update_for(event: &Event) {
    let gates: &[&Gate] = if cfg!(miri) { &[] } else { &__GATES };
    for g in gates {
        if g.events.iter().any(|e| e.same(event)) {
            g.update();
        }
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __gate_hook {
    () => {
        None
    };
    ($hook:path) => {
        Some($hook)
    };
}

/// Declares gates over events declared with [`declare!`](macro@crate::declare):
/// `static`s whose [`Gate::mask`] is `0` while none of the listed events
/// has a probe and [`Gate::OPEN`] while any has. See the
/// [module docs](mod@crate::gate).
///
/// ```
/// heapwise_probe::declare! {
///     pub fn a(x: u64);
///     pub fn b(x: u64);
/// }
/// heapwise_probe::gate! {
///     /// Open while `a` or `b` has a probe.
///     pub static AB = [a, b];
/// }
/// assert!(!AB.is_open());
/// let p = b::attach(|_| ());
/// assert!(AB.is_open());
/// drop(p);
/// assert!(!AB.is_open());
///
/// // With a hook, called as the gate opens and closes.
/// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
/// static CHANGES: AtomicUsize = AtomicUsize::new(0);
/// fn changed(open: bool) {
///     CHANGES.fetch_add(if open { 1 } else { 100 }, Relaxed);
/// }
/// heapwise_probe::gate! {
///     pub static A_HOOKED = [a] => changed;
/// }
/// let p = a::attach(|_| ());
/// let q = a::attach(|_| ()); // already open: no call
/// assert_eq!(CHANGES.load(Relaxed), 1);
/// drop((p, q));
/// assert_eq!(CHANGES.load(Relaxed), 101);
/// ```
#[macro_export]
macro_rules! gate {
    ($(
        $(#[$attr:meta])*
        $vis:vis static $name:ident = [$($($event:ident)::+),* $(,)?] $(=> $hook:path)?;
    )*) => {
        $(
            $(#[$attr])*
            $vis static $name: $crate::Gate = $crate::Gate::__new(
                &[$(&$($event)::+::__EVENT),*],
                $crate::__gate_hook!($($hook)?),
            );

            const _: () = {
                #[$crate::__private::linkme::distributed_slice($crate::__private::GATES)]
                #[linkme(crate = $crate::__private::linkme)]
                static __GATE: &'static $crate::Gate = &$name;
            };
        )*
    };
}
