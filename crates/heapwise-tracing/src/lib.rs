//! `tracing` spans as heapwise scopes: what each span allocated, how much of
//! it is still live, its peak, and memory limits per span name, without
//! touching the code that makes the spans.
//!
//! [`HeapwiseLayer`] is a [`tracing_subscriber::Layer`]. For every span it
//! sees it makes a [`heapwise::Scope`] named after the span, nested under the
//! scope of the span's parent (or under the thread's current scope; a span
//! made with `parent: None` is a root scope), and
//! enters that scope whenever the span is entered, on any thread. A span
//! entered on several threads, or re-entered at every poll of a future
//! (`tracing::Instrument`), is one scope: its figures add up across threads
//! and `.await`s. When the span closes the layer emits an event (target
//! `heapwise`, level `INFO`) with the span's figures:
//!
//! ```text
//! INFO heapwise: span closed span="parse" alloc.bytes=2048 alloc.count=1 alloc.live=0 alloc.peak=2048 limit.exceeded=false fields="file=\"a.json\""
//! ```
//!
//! The program must use heapwise's allocator (`#[global_allocator] static
//! ALLOC: heapwise::Alloc = heapwise::Alloc::system();`): without it the
//! figures stay at zero.
//!
//! ```
//! use heapwise_tracing::{HeapwiseLayer, SpanLimit};
//! use tracing_subscriber::prelude::*;
//!
//! #[global_allocator]
//! static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
//!
//! let layer = HeapwiseLayer::new().limit("upload", SpanLimit::bytes(64 * heapwise::MIB));
//! let _default = tracing_subscriber::registry().with(layer).set_default();
//!
//! tracing::info_span!("parse").in_scope(|| {
//!     let v = vec![0u8; 2048];
//!     let scope = heapwise::Scope::current().expect("the span's scope");
//!     assert_eq!(scope.label(), Some("parse"));
//!     assert_eq!(scope.usage().bytes, 2048);
//!     drop(v);
//! });
//! ```
//!
//! # Limits
//!
//! [`HeapwiseLayer::limit`] gives every span of a name a limit
//! ([`SpanLimit`]): cooperative by default (the span's code sees it with
//! `heapwise::Scope::current()` and `check()` or `cancelled()`, and the close
//! event says `limit.exceeded=true`), or hard ([`SpanLimit::hard`]: an
//! allocation that would cross it is refused, as with
//! [`heapwise::Scope::hard`]).
//!
//! # Choosing spans
//!
//! Every span the layer sees gets a scope. To limit that, use
//! tracing-subscriber's per-layer filters, e.g.
//! `HeapwiseLayer::new().with_filter(filter_fn(|m| m.target().starts_with("myapp")))`;
//! a span the filter drops is skipped, and its children nest under the
//! nearest span the layer saw.
//!
//! Subscribers keep their spans apart (two that number their spans alike,
//! as `with_default` in tests makes, on one thread). A subscriber needs one
//! `HeapwiseLayer`: a second one in the same subscriber leaves each span to
//! the first (its scope, its limits, its close event).
//!
//! # Cost
//!
//! Entering and exiting a span with the layer adds a look-up in a small
//! per-thread cache of span scopes (the registry's look-up only on a miss)
//! and a scope enter and exit ([`heapwise::Scope::enter_keyed`], no
//! allocation, no lock): `bench/tracing` measures it against the same span
//! with a no-op layer, both on tracing-subscriber's registry.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{
    AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Arc, OnceLock};

use heapwise::Scope;
use tracing_core::dispatcher::{Dispatch, WeakDispatch};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A limit for the spans of one name; see [`HeapwiseLayer::limit`].
///
/// Each constructor sets one kind of limit; combine them with the methods of
/// the same names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanLimit {
    bytes: Option<u64>,
    live_bytes: Option<u64>,
    allocs: Option<u64>,
    hard: bool,
}

impl SpanLimit {
    /// At most `limit` bytes allocated in the span (ever, freed or not).
    pub fn bytes(limit: u64) -> SpanLimit {
        SpanLimit::default().and_bytes(limit)
    }

    /// At most `limit` bytes live (allocated in the span and not yet freed).
    pub fn live_bytes(limit: u64) -> SpanLimit {
        SpanLimit::default().and_live_bytes(limit)
    }

    /// At most `limit` allocations in the span.
    pub fn allocs(limit: u64) -> SpanLimit {
        SpanLimit::default().and_allocs(limit)
    }

    /// Adds a limit on the bytes allocated.
    pub fn and_bytes(mut self, limit: u64) -> SpanLimit {
        self.bytes = Some(limit);
        self
    }

    /// Adds a limit on the live bytes.
    pub fn and_live_bytes(mut self, limit: u64) -> SpanLimit {
        self.live_bytes = Some(limit);
        self
    }

    /// Adds a limit on the allocations.
    pub fn and_allocs(mut self, limit: u64) -> SpanLimit {
        self.allocs = Some(limit);
        self
    }

    /// Makes the limits hard: an allocation that would cross one is refused
    /// ([`heapwise::Scope::hard`]).
    pub fn hard(mut self) -> SpanLimit {
        self.hard = true;
        self
    }

    fn apply(&self, mut scope: Scope) -> Scope {
        if let Some(n) = self.bytes {
            scope = scope.limit_bytes(n);
        }
        if let Some(n) = self.live_bytes {
            scope = scope.limit_live_bytes(n);
        }
        if let Some(n) = self.allocs {
            scope = scope.limit_allocs(n);
        }
        if self.hard {
            scope = scope.hard();
        }
        scope
    }
}

/// The [`tracing_subscriber::Layer`] that makes spans heapwise scopes; see
/// the crate docs.
#[derive(Clone, Debug)]
pub struct HeapwiseLayer {
    /// Which layer this is, for the per-thread caches and the spans'
    /// extensions: two subscribers number their spans alike.
    id: LayerId,
    limits: HashMap<&'static str, SpanLimit>,
    close_events: bool,
    /// The subscriber the layer is part of: a span may close on a thread
    /// where it is not the default (a runtime's worker), and the close event
    /// goes to the span's own subscriber.
    dispatch: OnceLock<WeakDispatch>,
}

impl Default for HeapwiseLayer {
    fn default() -> HeapwiseLayer {
        HeapwiseLayer::new()
    }
}

impl HeapwiseLayer {
    /// A layer that gives every span a scope and reports its figures when
    /// it closes.
    pub fn new() -> HeapwiseLayer {
        HeapwiseLayer {
            id: LayerId::new(),
            limits: HashMap::new(),
            close_events: true,
            dispatch: OnceLock::new(),
        }
    }

    /// Gives every span named `name` the limit `limit`.
    pub fn limit(mut self, name: &'static str, limit: SpanLimit) -> HeapwiseLayer {
        self.limits.insert(name, limit);
        self
    }

    /// Whether a closing span emits its figures as an event (default: yes).
    pub fn close_events(mut self, on: bool) -> HeapwiseLayer {
        self.close_events = on;
        self
    }
}

/// A process-unique number for each layer; a clone is another layer and
/// gets its own.
#[derive(Debug)]
struct LayerId(u64);

impl LayerId {
    fn new() -> LayerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        LayerId(NEXT.fetch_add(1, Relaxed))
    }
}

impl Clone for LayerId {
    fn clone(&self) -> LayerId {
        LayerId::new()
    }
}

/// What the layer keeps in a span's extensions.
struct SpanScope {
    /// The layer that made it ([`LayerId`]): one scope a span, and only
    /// that layer enters it and reports it.
    layer: u64,
    shared: Arc<Shared>,
    /// The span's fields as `name=value` pairs, for the close event.
    fields: String,
}

/// A span's scope, shared by its extensions and the per-thread caches of
/// the threads that entered it.
struct Shared {
    scope: Scope,
    /// Set when the span closes: its id may then be given to a new span,
    /// so a cache entry of a closed span is never used.
    closed: AtomicBool,
}

/// Entries in a thread's cache of span scopes (a power of two).
const CACHE: usize = 8;

/// A thread's cache of span scopes: slot [`slot`]`(id)` holds span `id`'s.
///
/// Plain cells, no `RefCell`: entering a scope can run probes (heapwise's
/// scope events), which may enter spans and so replace slots, and a
/// borrow flag would cost two stores on every hit. Each access copies a
/// slot in or out between calls instead.
struct Cache([Slot; CACHE]);

/// One slot: a span id, the layer whose span it is, and a reference (from
/// `Arc::into_raw`) to the span's [`Shared`], or null.
struct Slot {
    id: Cell<u64>,
    layer: Cell<u64>,
    shared: Cell<*const Shared>,
}

impl Slot {
    /// Empties the slot; returns what was there.
    fn take(&self) -> Option<Arc<Shared>> {
        let old = self.shared.replace(std::ptr::null());
        // SAFETY: a non-null slot owns the reference `Arc::into_raw` gave
        // it; it moves to the caller.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old) })
    }

    /// Puts layer `layer`'s span `id`'s `shared` in the slot; returns what
    /// was there.
    fn replace(&self, id: u64, layer: u64, shared: Arc<Shared>) -> Option<Arc<Shared>> {
        let old = self.take();
        self.id.set(id);
        self.layer.set(layer);
        self.shared.set(Arc::into_raw(shared));
        old
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        for slot in &self.0 {
            let old = slot.take();
            heapwise::untracked(|| drop(old));
        }
    }
}

thread_local! {
    /// This thread's cache of span scopes, by span id.
    ///
    /// Entering a span looks its scope up here first: the registry's
    /// look-up (its slab, the extensions' lock and type map) costs more
    /// than entering the scope itself, and a span is mostly re-entered on
    /// the thread that entered it last (a future's span at every poll, a
    /// loop's span). An entry holds the span's id and a reference to its
    /// [`Shared`], and counts only while the span is open (the registry
    /// reuses the ids of closed spans). A span that closes drops the
    /// closing thread's entry; another thread's entry of a closed span
    /// keeps its scope alive until the slot is reused or the thread exits:
    /// at most [`CACHE`] scopes per thread.
    static CACHED: Cache = const {
        Cache(
            [const {
                Slot {
                    id: Cell::new(0),
                    layer: Cell::new(0),
                    shared: Cell::new(std::ptr::null()),
                }
            }; CACHE],
        )
    };
}

/// The cache slot of span `id` (Fibonacci hashing: a span id's low bits
/// are its slab index, the bits above it the registry's shard).
fn slot(id: u64) -> usize {
    (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - CACHE.trailing_zeros())) as usize
}

/// Enters the scope of span `id` if layer `layer` made it, found in the
/// registry, and caches it in `slot`.
#[cold]
#[inline(never)]
fn enter_uncached<S>(slot: &Slot, id: &Id, layer: u64, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(shared) = ctx.span(id).and_then(|span| {
        let ext = span.extensions();
        let data = ext.get::<SpanScope>().filter(|d| d.layer == layer)?;
        Some(data.shared.clone())
    }) else {
        return;
    };
    shared.scope.enter_keyed(id.into_non_zero_u64());
    let old = slot.replace(id.into_u64(), layer, shared);
    // A scope dropped here (its span closed) frees heapwise's own memory:
    // charged to no scope.
    heapwise::untracked(|| drop(old));
}

/// Writes a span's fields as `name=value` pairs.
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{}={:?}", field.name(), value);
    }
}

impl<S> Layer<S> for HeapwiseLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        if span.extensions().get::<SpanScope>().is_some() {
            // Another HeapwiseLayer of this subscriber made the span's
            // scope: one scope a span.
            return;
        }
        // The nearest enclosing span this layer saw, else the thread's
        // scope; an explicit root (`parent: None`) has neither: it is not
        // inside whatever span the thread is in.
        let parent = if attrs.is_root() {
            None
        } else {
            span.scope()
                .skip(1)
                .find_map(|s| {
                    let ext = s.extensions();
                    ext.get::<SpanScope>().map(|p| p.shared.scope.clone())
                })
                .or_else(Scope::current)
        };
        // The layer's own bookkeeping is charged to no scope.
        let data = heapwise::untracked(|| {
            let name = attrs.metadata().name();
            let mut scope = match parent {
                Some(p) => p.child(),
                None => Scope::detached(),
            }
            .name(name);
            if let Some(limit) = self.limits.get(name) {
                scope = limit.apply(scope);
            }
            let mut fields = String::new();
            if self.close_events {
                attrs.record(&mut Fields(&mut fields));
            }
            let shared = Arc::new(Shared {
                scope,
                closed: AtomicBool::new(false),
            });
            SpanScope {
                layer: self.id.0,
                shared,
                fields,
            }
        });
        heapwise::untracked(|| span.extensions_mut().insert(data));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if !self.close_events {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        heapwise::untracked(|| {
            if let Some(data) = span.extensions_mut().get_mut::<SpanScope>() {
                if data.layer == self.id.0 {
                    values.record(&mut Fields(&mut data.fields));
                }
            }
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let key = id.into_u64();
        let _ = CACHED.try_with(|cache| {
            let slot = &cache.0[slot(key)];
            // SAFETY: a non-null slot holds a reference on its `Shared`, and
            // nothing runs between this read and the checks below. If they
            // pass, the slot's span is open and is the one being entered, so
            // the span's extensions hold the `Shared` too, for as long as it
            // is entered: it outlives `enter_keyed`, even if a probe that
            // runs there enters other spans and replaces this slot.
            match unsafe { slot.shared.get().as_ref() } {
                Some(shared)
                    if slot.id.get() == key
                        && slot.layer.get() == self.id.0
                        && !shared.closed.load(Acquire) =>
                {
                    shared.scope.enter_keyed(id.into_non_zero_u64());
                }
                _ => enter_uncached(slot, id, self.id.0, &ctx),
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        // Leaves the innermost entry of this span (heapwise's stack of
        // entered scopes copes with exits out of order).
        Scope::leave_keyed(id.into_non_zero_u64());
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let extensions = span.extensions();
        let Some(data) = extensions
            .get::<SpanScope>()
            .filter(|d| d.layer == self.id.0)
        else {
            return;
        };
        // Before the registry can give the id to another span.
        data.shared.closed.store(true, Release);
        // This thread's cache entry (the span mostly closes where it was
        // last entered) would keep the scope alive, listed in
        // `Scope::named` and `/metrics` as open, until its slot is reused.
        // (The extensions still hold the span's `Shared`: nothing is freed
        // but the reference.)
        let key = id.into_u64();
        let _ = CACHED.try_with(|cache| {
            let slot = &cache.0[slot(key)];
            if slot.id.get() == key
                && slot.layer.get() == self.id.0
                && std::ptr::eq(slot.shared.get(), Arc::as_ptr(&data.shared))
            {
                let old = slot.take();
                heapwise::untracked(|| drop(old));
            }
        });
        if !self.close_events {
            return;
        }
        let usage = data.shared.scope.usage();
        let exceeded = data.shared.scope.exceeded().is_some();
        let emit = || {
            tracing::event!(
                target: "heapwise",
                parent: None,
                tracing::Level::INFO,
                span = span.name(),
                alloc.bytes = usage.bytes,
                alloc.count = usage.allocs,
                alloc.live = usage.live_bytes,
                alloc.peak = usage.peak_bytes,
                limit.exceeded = exceeded,
                fields = data.fields.as_str(),
                "span closed"
            )
        };
        // Reporting is heapwise's work: what the subscriber's layers
        // allocate to handle the event is charged to no scope.
        heapwise::untracked(
            || match self.dispatch.get().and_then(WeakDispatch::upgrade) {
                Some(dispatch) => tracing::dispatcher::with_default(&dispatch, emit),
                None => emit(),
            },
        );
    }
}
