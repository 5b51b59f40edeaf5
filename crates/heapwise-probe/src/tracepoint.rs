//! An event's static state and its firing path.
//!
//! # The firing path
//!
//! The function [`declare!`](macro@crate::declare) generates for an event is
//! `#[inline(always)]` and does only
//!
//! ```text
//! if EVENT.head.load(Relaxed) != null { fire_slow(args) }
//! ```
//!
//! which compiles to one load, one test and one not-taken branch in the
//! caller (see `bench-probe/results/` for the disassembly): no stack frame,
//! no thread-local access, no shared write. Everything else is in the
//! generated `#[cold] #[inline(never)]` function, which calls [`fire`]:
//!
//! 1. the nesting guard ([`crate::nesting`]): if this thread is
//!    already running probes, count the event as dropped and return;
//! 2. enter a read section ([`grace`](mod@crate::grace)) and load the head again
//!    (a detach may have happened since the first load);
//! 3. walk the immutable probe array ([`crate::array`]) in attach
//!    order, catching panics;
//! 4. leave the read section and the nesting guard.
//!
//! None of it allocates, takes a lock or unwinds.

use std::fmt;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::array::{self, Array, Source};
use crate::value::convert::ProbeValues;
use crate::{grace, nesting};

/// A declared event: its metadata, the pointer to its attached probes and
/// its counters. One `static` per event, made by [`declare!`](macro@crate::declare);
/// reach it with `event_name::event()`, or all of them with
/// [`list`](fn@crate::list).
///
/// `Display` prints `crate::module:event(arg: type, ...)`; the alternate form
/// (`{:#}`) appends ` at file:line`.
pub struct Event {
    /// The probe array, null when no probe is attached.
    head: AtomicPtr<()>,
    /// Occurrences not delivered because they were nested in a probe.
    dropped: AtomicU64,
    name: &'static str,
    module: &'static str,
    file: &'static str,
    line: u32,
    args: &'static [Arg],
    build: fn(&[Source<'_>]) -> *mut (),
    free: unsafe fn(*mut ()),
    /// Wraps an erased probe into a typed one ([`value`](crate::value));
    /// `None` for an event made without [`declare!`](macro@crate::declare).
    values: Option<ProbeValues>,
}

/// One argument of an event: its name and its type as written in the
/// declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arg {
    /// The argument's name.
    pub name: &'static str,
    /// Its type, as written (`&str`, `u64`, `*mut u8`).
    pub ty: &'static str,
}

impl Event {
    /// Used by [`declare!`](macro@crate::declare) only; `F` is the event's probe
    /// type (`dyn Fn(args) + Send + Sync`).
    #[doc(hidden)]
    pub const fn __new<F: ?Sized + 'static>(
        name: &'static str,
        module: &'static str,
        file: &'static str,
        line: u32,
        args: &'static [Arg],
    ) -> Event {
        Event {
            head: AtomicPtr::new(std::ptr::null_mut()),
            dropped: AtomicU64::new(0),
            name,
            module,
            file,
            line,
            args,
            build: array::build::<F>,
            free: array::free::<F>,
            values: None,
        }
    }

    /// Used by [`declare!`](macro@crate::declare) only: the function that wraps
    /// an erased probe ([`Event::probe_values`]) into a probe of this
    /// event.
    #[doc(hidden)]
    pub const fn __with_values(mut self, values: ProbeValues) -> Event {
        self.values = Some(values);
        self
    }

    /// See [`__with_values`](Self::__with_values).
    pub(crate) fn values(&self) -> Option<ProbeValues> {
        self.values
    }

    /// The fast check of the firing path: is any probe attached (on any
    /// thread)? One relaxed load.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __attached(&self) -> bool {
        !self.head.load(Ordering::Relaxed).is_null()
    }

    /// The event's name (the function's name).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The module it is declared in (`module_path!()` of the `declare!`:
    /// `crate::module`).
    pub fn module(&self) -> &'static str {
        // `declare!` records the path of the generated `mod name` inside it.
        self.module
            .strip_suffix(self.name)
            .and_then(|m| m.strip_suffix("::"))
            .unwrap_or(self.module)
    }

    /// The file it is declared in.
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the `declare!` invocation.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Its arguments, in order.
    pub fn args(&self) -> &'static [Arg] {
        self.args
    }

    /// Whether at least one probe is attached right now (on any thread,
    /// including thread-scoped ones).
    pub fn is_attached(&self) -> bool {
        self.__attached()
    }

    /// Occurrences of this event that were not delivered because they fired
    /// on a thread that was already running probes (a probe that allocates
    /// inside the allocator's events, or fires events itself).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    #[cold]
    fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Publishes a new array (`probes` may be empty) and returns the old
    /// one (null if none). Writers only, under the registry lock.
    pub(crate) fn publish(&self, probes: &[Source<'_>]) -> *mut () {
        let new = if probes.is_empty() {
            std::ptr::null_mut()
        } else {
            (self.build)(probes)
        };
        self.head.swap(new, Ordering::AcqRel)
    }

    /// Whether `array` is the array the event's head points to now.
    pub(crate) fn is_published(&self, array: *mut ()) -> bool {
        self.head.load(Ordering::Relaxed) == array
    }

    /// Frees an array returned by [`publish`](Self::publish).
    ///
    /// # Safety
    ///
    /// `old` came from `publish` on this event, and a grace period has
    /// passed since. Freed once.
    pub(crate) unsafe fn free(&self, old: *mut ()) {
        // SAFETY: forwarded contract; `free` was instantiated with this
        // event's `F`, like the `build` that made `old`.
        unsafe { (self.free)(old) }
    }

    /// Identity for the registry.
    pub(crate) fn same(&self, other: &Event) -> bool {
        std::ptr::eq(self, other)
    }
}

/// The body of an event with probes attached: see the module docs. `F` is
/// the event's probe type, `call` invokes one probe with the event's
/// arguments.
#[doc(hidden)]
#[inline(always)]
pub fn fire<F: ?Sized, C: Fn(&F)>(event: &'static Event, call: C) {
    if !nesting::enter() {
        event.count_dropped();
        return;
    }
    let reader = grace::read_lock();
    let p = event.head.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: a non-null head is an `Array<F>` made by `build::<F>` for
        // this event (its `F` is fixed by `declare!`); it stays allocated
        // until a grace period after it is replaced, and we are in a read
        // section that started before we loaded it.
        let array = unsafe { &*p.cast::<Array<F>>() };
        array.run(event, &call);
    }
    grace::read_unlock(reader);
    nesting::leave();
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}(", self.module(), self.name)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", a.name, a.ty)?;
        }
        f.write_str(")")?;
        if f.alternate() {
            write!(f, " at {}:{}", self.file, self.line)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .field("module", &self.module())
            .field("file", &self.file)
            .field("line", &self.line)
            .field("args", &self.args)
            .field("attached", &self.is_attached())
            .field("dropped", &self.dropped())
            .finish()
    }
}
