//! Spans as scopes, with a real tracing-subscriber registry and a real
//! tokio runtime.

use std::hint::black_box;
use std::sync::{Arc, Mutex};

use heapwise::Scope;
use heapwise_tracing::{HeapwiseLayer, SpanLimit};
use tracing::field::{Field, Visit};
use tracing::{Event, Instrument, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

/// A layer that keeps the `heapwise` close events as `name=value` lists.
#[derive(Clone, Default)]
struct CloseEvents(Arc<Mutex<Vec<Fields>>>);

/// One event's fields, as `(name, value)` in order.
type Fields = Vec<(String, String)>;

struct Pairs(Fields);

impl Visit for Pairs {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: Subscriber> Layer<S> for CloseEvents {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "heapwise" {
            let mut pairs = Pairs(Vec::new());
            event.record(&mut pairs);
            self.0.lock().unwrap().push(pairs.0);
        }
    }
}

impl CloseEvents {
    /// The close event of the span `name`, as a field lookup.
    fn of(&self, name: &str) -> impl Fn(&str) -> String {
        let events = self.0.lock().unwrap();
        let event = events
            .iter()
            .find(|e| e.iter().any(|(k, v)| k == "span" && v == name))
            .unwrap_or_else(|| panic!("no close event for {name}: {events:?}"))
            .clone();
        move |field| {
            event
                .iter()
                .find(|(k, _)| k == field)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no field {field} in {event:?}"))
        }
    }
}

/// A registry with the layer, and the close events. The registry's own
/// storage for spans (a slab that grows in pages) is tracing's work, charged
/// like any code's to the scope current where a span is made: it is grown
/// here first, outside every scope, so the tests see only the spans' own
/// allocations.
fn subscriber(layer: HeapwiseLayer) -> (tracing::Dispatch, CloseEvents) {
    let events = CloseEvents::default();
    let subscriber = Registry::default().with(layer).with(events.clone());
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, || {
        let warm: Vec<_> = (0..200).map(|_| tracing::info_span!("warm-up")).collect();
        drop(warm);
    });
    events.0.lock().unwrap().clear();
    (dispatch, events)
}

#[test]
fn a_span_is_a_scope_and_nested_spans_nest() {
    let (subscriber, events) = subscriber(HeapwiseLayer::new());
    tracing::dispatcher::with_default(&subscriber, || {
        let outer = tracing::info_span!("outer", request = 7);
        outer.in_scope(|| {
            let a = black_box(vec![0u8; 1000]);
            let scope = Scope::current().expect("in the span's scope");
            assert_eq!(scope.label(), Some("outer"));
            tracing::info_span!("inner").in_scope(|| {
                let b = black_box(vec![0u8; 500]);
                let inner = Scope::current().unwrap();
                assert_eq!(inner.label(), Some("inner"));
                assert_eq!(inner.parent().unwrap().id(), scope.id());
                assert_eq!(inner.usage().bytes, 500);
                drop(b);
            });
            // The inner span's bytes are the outer's too.
            assert_eq!(scope.usage().bytes, 1500);
            drop(a);
        });
        drop(outer);
        assert!(Scope::current().is_none());
    });
    let outer = events.of("outer");
    assert_eq!(outer("alloc.bytes"), "1500");
    assert_eq!(outer("alloc.count"), "2");
    assert_eq!(outer("alloc.live"), "0");
    assert_eq!(outer("alloc.peak"), "1500");
    assert_eq!(outer("limit.exceeded"), "false");
    assert_eq!(outer("fields"), "request=7");
    assert_eq!(events.of("inner")("alloc.bytes"), "500");
}

#[test]
fn a_span_entered_on_several_threads_is_one_scope() {
    let (dispatch, events) = subscriber(HeapwiseLayer::new());
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("shared");
        std::thread::scope(|s| {
            for _ in 0..4 {
                let span = span.clone();
                s.spawn(move || {
                    span.in_scope(|| {
                        for _ in 0..10 {
                            drop(black_box(vec![0u8; 100]));
                        }
                    })
                });
            }
        });
    });
    let shared = events.of("shared");
    assert_eq!(shared("alloc.bytes"), "4000");
    assert_eq!(shared("alloc.count"), "40");
}

#[test]
fn an_instrumented_future_is_one_scope_across_awaits_and_threads() {
    let (dispatch, events) = subscriber(HeapwiseLayer::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let kept = tracing::dispatcher::with_default(&dispatch, || {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let span = tracing::info_span!("task", i);
                runtime.spawn(
                    async move {
                        let mut kept = Vec::new();
                        for _ in 0..5 {
                            kept.push(black_box(vec![0u8; 64]));
                            tokio::task::yield_now().await;
                        }
                        kept.len()
                    }
                    .instrument(span),
                )
            })
            .collect();
        runtime.block_on(async {
            let mut n = 0;
            for t in tasks {
                n += t.await.unwrap();
            }
            n
        })
    });
    assert_eq!(kept, 40);
    drop(runtime);
    let all = events.0.lock().unwrap();
    let tasks: Vec<_> = all
        .iter()
        .filter(|e| e.iter().any(|(k, v)| k == "span" && v == "task"))
        .collect();
    assert_eq!(tasks.len(), 8, "{all:?}");
    // Each span: five 64-byte blocks, and the Vec that kept them (4, then 8
    // slots of 24 bytes: 96 + 192), whatever threads the polls ran on. On
    // top, what tokio made for the polls, charged to the span whose poll made
    // it: each worker's list of deferred wakers (tokio's `Defer`), 4 wakers
    // (64 bytes) at its first `yield_now`, grown to 8 (128 bytes) at its
    // fifth, and never further with 8 tasks, since a task is in it at most
    // once. So the two workers made at most 2 x (64 + 128) bytes in all, and
    // keep at most 2 x 128, spread over whichever spans' polls grew them.
    let own = 5 * 64 + 96 + 192;
    let (mut extra, mut live) = (0, 0);
    for e in tasks {
        let field = |f: &str| -> u64 { e.iter().find(|(k, _)| k == f).unwrap().1.parse().unwrap() };
        assert!(field("alloc.bytes") >= own, "{e:?}");
        extra += field("alloc.bytes") - own;
        live += field("alloc.live");
    }
    assert!(
        extra <= 2 * (64 + 128),
        "tokio's extra bytes {extra}: {all:?}"
    );
    assert!(live <= 2 * 128, "live {live}: {all:?}");
}

#[test]
fn limits_per_span_name_cooperative_and_hard() {
    let layer = HeapwiseLayer::new()
        .limit("budgeted", SpanLimit::bytes(4096))
        .limit("capped", SpanLimit::bytes(4096).hard());
    let (subscriber, events) = subscriber(layer);
    tracing::dispatcher::with_default(&subscriber, || {
        tracing::info_span!("budgeted").in_scope(|| {
            drop(black_box(vec![0u8; 8192]));
            let scope = Scope::current().unwrap();
            assert!(scope.check().is_err(), "over the budget");
        });
        tracing::info_span!("capped").in_scope(|| {
            let mut v: Vec<u8> = Vec::new();
            assert!(v.try_reserve_exact(8192).is_err(), "refused");
            assert!(v.try_reserve_exact(1024).is_ok());
        });
        tracing::info_span!("unlimited").in_scope(|| drop(black_box(vec![0u8; 8192])));
    });
    assert_eq!(events.of("budgeted")("limit.exceeded"), "true");
    assert_eq!(events.of("capped")("alloc.bytes"), "1024");
    assert_eq!(events.of("unlimited")("limit.exceeded"), "false");
}

#[test]
fn spans_exited_out_of_order_leave_the_thread_where_it_started() {
    let (subscriber, _events) = subscriber(HeapwiseLayer::new());
    tracing::dispatcher::with_default(&subscriber, || {
        let (a, b) = (tracing::info_span!("a"), tracing::info_span!("b"));
        let ga = a.enter();
        let gb = b.enter();
        drop(ga);
        assert_eq!(Scope::current().unwrap().label(), Some("b"));
        drop(gb);
        assert!(Scope::current().is_none());
    });
}

#[test]
fn the_layers_own_bookkeeping_is_charged_to_no_span() {
    let (subscriber, events) = subscriber(HeapwiseLayer::new());
    tracing::dispatcher::with_default(&subscriber, || {
        tracing::info_span!("empty", a = "some text to format").in_scope(|| {
            for i in 0..50 {
                // Deep nesting spills the thread's stack of entered scopes.
                let _g = tracing::info_span!("child", i).entered();
            }
        });
    });
    assert_eq!(events.of("empty")("alloc.bytes"), "0");
    assert_eq!(events.of("child")("alloc.bytes"), "0");
}

#[test]
fn a_span_given_a_closed_spans_id_gets_its_own_scope() {
    // The registry gives a closed span's slot to the next span, with the
    // same id once the slot's generation wraps: the layer's per-thread
    // cache of span scopes must never hand out the closed span's scope.
    let (subscriber, _events) = subscriber(HeapwiseLayer::new().close_events(false));
    tracing::dispatcher::with_default(&subscriber, || {
        let first = tracing::info_span!("first");
        let id = first.id().unwrap();
        first.in_scope(|| black_box(vec![0u8; 16]));
        drop(first);
        // Spans that are never entered, until one gets the same id.
        let again = (0..1_000_000)
            .map(|_| tracing::info_span!("again"))
            .find(|span| span.id().as_ref() == Some(&id))
            .expect("the registry gives the id again");
        again.in_scope(|| {
            let scope = Scope::current().expect("the span's scope");
            assert_eq!(scope.label(), Some("again"));
            assert_eq!(scope.usage().allocs, 0, "entered the closed span's scope");
        });
    });
}

/// Two subscribers number their spans alike: on one thread, a span of the
/// second must not enter the scope of the first's span with its id (with
/// a hard limit on that one, the second's code was refused: an abort).
#[test]
fn two_subscribers_on_one_thread_keep_their_spans_apart() {
    let (a, _) = subscriber(
        HeapwiseLayer::new()
            .close_events(false)
            .limit("from_a", SpanLimit::bytes(100).hard()),
    );
    let (b, _) = subscriber(HeapwiseLayer::new().close_events(false));
    tracing::dispatcher::with_default(&a, || {
        let span_a = tracing::info_span!("from_a");
        span_a.in_scope(|| assert_eq!(Scope::current().unwrap().label(), Some("from_a")));
        tracing::dispatcher::with_default(&b, || {
            let span_b = tracing::info_span!("from_b");
            assert_eq!(span_a.id(), span_b.id(), "the case: the same id");
            span_b.in_scope(|| {
                let v = black_box(vec![0u8; 1000]);
                let scope = Scope::current().unwrap();
                assert_eq!(scope.label(), Some("from_b"));
                assert_eq!(scope.usage().bytes, 1000);
                drop(v);
            });
        });
        span_a.in_scope(|| assert_eq!(Scope::current().unwrap().usage().bytes, 0));
    });
}

/// Two heapwise layers in one subscriber: one scope a span (the first
/// layer's), entered once; it panicked in the registry's extensions.
#[test]
fn two_layers_in_one_subscriber_give_a_span_one_scope() {
    let events = CloseEvents::default();
    let subscriber = Registry::default()
        .with(HeapwiseLayer::new())
        .with(HeapwiseLayer::new())
        .with(events.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("both").in_scope(|| {
            let v = black_box(vec![0u8; 700]);
            let scope = Scope::current().unwrap();
            assert_eq!(scope.label(), Some("both"));
            assert_eq!(scope.parent().map(|p| p.label().map(str::to_owned)), None);
            drop(v);
        });
        assert!(Scope::current().is_none());
    });
    assert_eq!(events.of("both")("alloc.bytes"), "700");
    assert_eq!(
        events.0.lock().unwrap().len(),
        1,
        "one close event for the span"
    );
}

/// A closed span's scope is gone (not listed as open by `Scope::named`,
/// and so not by `/metrics`): the thread's cache held it until its slot was
/// reused.
#[test]
fn a_closed_span_leaves_no_open_scope_behind() {
    let (subscriber, _) = subscriber(HeapwiseLayer::new().close_events(false));
    let open = || {
        Scope::named()
            .iter()
            .filter(|s| s.label() == Some("closing"))
            .count()
    };
    tracing::dispatcher::with_default(&subscriber, || {
        for _ in 0..5 {
            let span = tracing::info_span!("closing");
            span.in_scope(|| black_box(vec![0u8; 100]));
            assert_eq!(open(), 1);
            drop(span);
            assert_eq!(open(), 0);
        }
    });
}

/// A span made with `parent: None` is a root: not inside the span the
/// thread is in (which was charged its bytes and held to its limits).
#[test]
fn an_explicit_root_span_is_a_root_scope() {
    let (subscriber, _) = subscriber(HeapwiseLayer::new().close_events(false));
    tracing::dispatcher::with_default(&subscriber, || {
        tracing::info_span!("enclosing").in_scope(|| {
            let enclosing = Scope::current().unwrap();
            tracing::info_span!(parent: None, "root").in_scope(|| {
                let v = black_box(vec![0u8; 5000]);
                let root = Scope::current().unwrap();
                assert_eq!(root.label(), Some("root"));
                assert!(root.parent().is_none());
                drop(v);
            });
            assert_eq!(enclosing.usage().bytes, 0);
        });
    });
}
