//! heapwise's own events (`heapwise::events`): scope entry and exit, the
//! first crossing of a limit, and profiler samples reach attached probes, in
//! order, with their arguments; with a thread-scoped group, only this
//! thread's.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::hint::black_box;
use std::sync::{Arc, Mutex};

use heapwise::{events, profile, Scope};
use heapwise_probe::ProbeGroup;

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

#[test]
fn scope_entry_and_exit_are_events_in_order() {
    let seen = log();
    let group = ProbeGroup::current_thread();
    let s = seen.clone();
    events::scope_enter::attach_in(&group, move |id, parent, name| {
        s.lock()
            .unwrap()
            .push(format!("enter {id} {parent} {name}"))
    });
    let s = seen.clone();
    events::scope_exit::attach_in(&group, move |id, name| {
        s.lock().unwrap().push(format!("exit {id} {name}"))
    });
    let outer = Scope::new().name("outer");
    let inner = outer.child();
    outer.run(|_| inner.run(|_| ()));
    // Another thread's scopes are not this group's.
    std::thread::spawn(|| Scope::new().name("elsewhere").run(|_| ()))
        .join()
        .unwrap();
    drop(group);
    outer.run(|_| ()); // detached: not seen
    let (o, i) = (outer.id(), inner.id());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            format!("enter {o} 0 outer"),
            format!("enter {i} {o} "),
            format!("exit {i} "),
            format!("exit {o} outer"),
        ]
    );
}

#[test]
fn the_first_crossing_of_a_limit_is_one_event() {
    let seen = log();
    let group = ProbeGroup::current_thread();
    let s = seen.clone();
    events::limit_exceeded::attach_in(&group, move |id, name, kind, limit, used| {
        s.lock()
            .unwrap()
            .push(format!("{id} {name} {kind} {limit} {used}"))
    });
    let scope = Scope::new().name("budget").limit_bytes(1000);
    scope.run(|_| {
        black_box(vec![0u8; 600]);
        black_box(vec![0u8; 600]); // crosses: 1200 > 1000
        black_box(vec![0u8; 600]); // already exceeded: no second event
    });
    drop(group);
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("{} budget bytes 1000 1200", scope.id())]
    );
}

#[test]
fn profiler_samples_are_events() {
    profile::set_rate(1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let group = ProbeGroup::current_thread();
    let s = seen.clone();
    events::sample::attach_in(&group, move |ptr, size, rate, scope| {
        // A probe that allocates inside the allocator: counted as dropped
        // events if it recursed, never delivered to itself.
        s.lock().unwrap().push((ptr, size, rate, scope))
    });
    let scope = Scope::new();
    let v = scope.run(|_| black_box(vec![1u8; 3333]));
    drop(group);
    let seen = seen.lock().unwrap();
    let ours: Vec<_> = seen.iter().filter(|e| e.1 == 3333).collect();
    assert_eq!(ours.len(), 1, "{seen:?}");
    assert_eq!(*ours[0], (v.as_ptr() as usize, 3333, 1, scope.id()));
}
