//! `heapwise::probe::profile`: the stacks at which an event fired, counted,
//! with the firing function at the leaf; `go tool pprof` reads the profile
//! (an ignored test: it needs `go`, `.ci/run` runs it); detaching
//! stops the counting; the stack limit; a probe inside the allocator.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;

use common::go::{flat, pprof_command};
use heapwise::pprof::Profile;
use heapwise::probe::{self, EventProfileOptions};

heapwise::probe::declare! {
    /// Fired by `miss_in_lookup` and `miss_in_refill`.
    fn cache_miss(key: u64);
    /// Fired only by the every-thread test.
    fn shared_event(n: u32);
    /// Fired only by the overflow test.
    fn limited(n: u32);
    /// Fired only by the detach test.
    fn detached(n: u32);
}

#[inline(never)]
fn miss_in_lookup(key: u64) {
    cache_miss(black_box(key));
}

#[inline(never)]
fn miss_in_refill(key: u64) {
    cache_miss(black_box(key) + 1);
}

/// (leaf function, count) summed by leaf function, sorted. (An optimised
/// build may unroll a loop into several call sites, so one firing function
/// may have several stacks, which pprof adds up by name too.)
fn leaves(p: &Profile) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = Vec::new();
    for s in &p.sample {
        let leaf = p.stack_function_names(s).first().unwrap_or(&"").to_string();
        match v.iter_mut().find(|(f, _)| *f == leaf) {
            Some((_, n)) => *n += s.value[0],
            None => v.push((leaf, s.value[0])),
        }
    }
    v.sort();
    v
}

fn dump(p: &Profile) -> String {
    p.sample
        .iter()
        .map(|s| format!("{:?} {:?}\n", s.value, p.stack_function_names(s)))
        .collect()
}

#[test]
fn each_firing_function_is_the_leaf_of_its_stack_with_its_count() {
    let p = firing_profile();
    assert!(p.validate().is_ok(), "{:?}", p.validate());
}

#[test]
#[ignore = "needs go tool pprof"]
fn go_tool_pprof_reads_an_event_profile() {
    let p = firing_profile();
    let path = std::env::temp_dir().join(format!(
        "heapwise-probe-profile-{}.pb.gz",
        std::process::id()
    ));
    std::fs::write(&path, p.encode_gzip()).unwrap();
    let out = pprof_command()
        .args(["-top", "-nodecount=1000"])
        .arg(&path)
        .output()
        .expect("running go tool pprof");
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{top}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(top.contains("Type: events"), "{top}");
    assert_eq!(
        flat(&top, "probe_profile::miss_in_lookup"),
        Some(7),
        "{top}"
    );
    assert_eq!(
        flat(&top, "probe_profile::miss_in_refill"),
        Some(3),
        "{top}"
    );
    let _ = std::fs::remove_file(path);
}

/// Fires `cache_miss` 7 times from `miss_in_lookup` and 3 from
/// `miss_in_refill` on this thread, and checks the profile's shape.
#[inline(never)]
fn firing_profile() -> Profile {
    let prof = EventProfileOptions::new()
        .current_thread()
        .start(cache_miss::event());
    for k in 0..black_box(7) {
        miss_in_lookup(k);
    }
    for k in 0..black_box(3) {
        miss_in_refill(k);
    }
    assert_eq!(prof.count(), 10);
    let p = prof.finish();
    assert_eq!(p.sample_types(), [("events", "count")]);
    assert_eq!(p.period_type_names(), Some(("events", "count")));
    assert_eq!(p.period, 1);
    assert!(p.time_nanos > 0 && p.duration_nanos > 0);
    assert!(p
        .comment
        .iter()
        .any(|&c| p.string(c).contains("cache_miss(key: u64)")));
    assert_eq!(
        leaves(&p),
        [
            ("probe_profile::miss_in_lookup".to_string(), 7),
            ("probe_profile::miss_in_refill".to_string(), 3)
        ],
        "{}",
        dump(&p)
    );
    // Below the leaf: the test that called it.
    for s in &p.sample {
        let names = p.stack_function_names(s);
        assert!(
            names[1].starts_with("probe_profile::firing_profile"),
            "{names:?}"
        );
        let label = s.label[0];
        assert_eq!(p.string(label.key), "event");
        assert_eq!(p.string(label.str), "probe_profile::cache_miss");
    }
    p
}

#[inline(never)]
fn fire_shared(n: u32) {
    shared_event(black_box(n));
}

#[test]
fn every_thread_is_counted_unless_thread_scoped() {
    let all = probe::profile(shared_event::event());
    let mine = EventProfileOptions::new()
        .current_thread()
        .start(shared_event::event());
    fire_shared(1);
    std::thread::spawn(|| {
        for n in 2..4 {
            fire_shared(n);
        }
    })
    .join()
    .unwrap();
    assert_eq!(mine.finish().total(0), 1);
    let p = all.finish();
    assert_eq!(p.total(0), 3);
    assert_eq!(
        leaves(&p),
        [("probe_profile::fire_shared".to_string(), 3)],
        "{}",
        dump(&p)
    );
}

#[inline(never)]
fn fire_limited(n: u32) {
    limited(black_box(n));
}

#[inline(never)]
fn fire_limited_elsewhere(n: u32) {
    limited(black_box(n));
}

#[test]
fn stacks_over_the_limit_are_counted_together() {
    let prof = EventProfileOptions::new()
        .current_thread()
        .max_stacks(1)
        .start(limited::event());
    for n in 0..black_box(2) {
        fire_limited(n);
    }
    for n in 0..black_box(3) {
        fire_limited_elsewhere(n);
    }
    assert_eq!((prof.count(), prof.stacks()), (5, 1));
    let overflow = prof.overflow();
    // The first stack is kept; the other function's are not (nor, in an
    // optimised build, a second call site of the loop's).
    assert!((3..=4).contains(&overflow), "{overflow}");
    let p = prof.finish();
    assert_eq!(
        leaves(&p),
        [
            (
                "heapwise::probe::max_stacks_reached".to_string(),
                overflow as i64
            ),
            (
                "probe_profile::fire_limited".to_string(),
                5 - overflow as i64
            ),
        ],
        "{}",
        dump(&p)
    );
}

#[inline(never)]
fn fire_detached(n: u32) {
    detached(black_box(n));
}

#[test]
fn a_stopped_profile_counts_nothing_more() {
    let mut prof = EventProfileOptions::new()
        .current_thread()
        .start(detached::event());
    fire_detached(1);
    fire_detached(2);
    assert!(detached::event().is_attached());
    prof.stop();
    assert!(!prof.is_running());
    assert!(!detached::event().is_attached());
    fire_detached(3);
    assert_eq!(prof.count(), 2);
    let first = prof.snapshot();
    assert_eq!(first.total(0), 2);
    fire_detached(4);
    assert_eq!(prof.finish().total(0), 2);
    // A dropped profile detaches too.
    let prof = probe::profile(detached::event());
    drop(prof);
    assert!(!detached::event().is_attached());
}

#[cfg(feature = "alloc-events")]
#[inline(never)]
fn allocate_here(n: usize) -> Vec<u8> {
    black_box(vec![7u8; n])
}

#[cfg(feature = "alloc-events")]
#[test]
fn a_profile_of_the_allocators_own_event_counts_inside_the_allocator() {
    let prof = EventProfileOptions::new()
        .current_thread()
        .start(heapwise::events::alloc::event());
    let v: Vec<Vec<u8>> = (0..5).map(|i| allocate_here(100 + i)).collect();
    let snap = prof.snapshot();
    let p = prof.finish();
    drop(v);
    // Each stack has heapwise's allocator at the leaf (it fires the event);
    // the five allocations share one stack through `allocate_here`.
    let through: i64 = p
        .sample
        .iter()
        .filter(|s| {
            p.stack_function_names(s)
                .contains(&"probe_profile::allocate_here")
        })
        .map(|s| s.value[0])
        .sum();
    assert_eq!(through, 5, "{}", dump(&p));
    assert!(p.total(0) >= snap.total(0));
    assert!(p.sample.iter().all(|s| {
        p.stack_function_names(s)
            .first()
            .is_some_and(|f| f.starts_with("heapwise::alloc::"))
    }));
}

#[inline(never)]
fn deep_leaf(n: u32, fire: fn(u32)) {
    fire(black_box(n));
}

#[inline(never)]
fn deep_middle(n: u32, fire: fn(u32)) {
    deep_leaf(black_box(n), fire);
}

#[test]
fn an_event_declared_in_a_function_is_trimmed_and_max_depth_counts_from_the_leaf() {
    heapwise::probe::declare! { fn local_event(n: u32); }
    #[inline(never)]
    fn fire(n: u32) {
        // The event is the last call: `declare!` keeps it a call (not a
        // tail jump that would leave no frame of `fire`) in optimised builds.
        local_event(n)
    }
    let prof = EventProfileOptions::new()
        .current_thread()
        .max_depth(2)
        .start(local_event::event());
    deep_middle(1, fire);
    let p = prof.finish();
    assert_eq!(p.sample.len(), 1, "{}", dump(&p));
    let s = &p.sample[0];
    assert_eq!(s.location_id.len(), 2, "{}", dump(&p));
    let names = p.stack_function_names(s);
    assert!(names[0].ends_with("::fire"), "{names:?}");
    assert!(names.contains(&"probe_profile::deep_leaf"), "{names:?}");
    assert!(!names.contains(&"probe_profile::deep_middle"), "{names:?}");
}
