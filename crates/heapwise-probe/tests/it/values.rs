//! Erased probes: `Event::attach_values` and friends, and the conversion of
//! every kind of argument to a `Value`.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use heapwise_probe::{OwnedValue, ProbeGroup, ToValue, Value};

/// A type with `Debug` but no `ToValue`.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read by `Debug` only
pub(crate) struct Point {
    x: i32,
    y: i32,
}

/// A type with neither.
#[derive(Clone, Copy)]
struct Secret(#[allow(dead_code)] u8);

/// A type with its own `ToValue`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Id(u32);
impl ToValue for Id {
    fn to_value(&self) -> Value<'_> {
        Value::U64(u64::from(self.0) + 1000)
    }
}

heapwise_probe::declare! {
    pub fn unsigned(a: u8, b: u16, c: u32, d: u64, e: usize);
    pub fn signed(a: i8, b: i16, c: i32, d: i64, e: isize);
    pub fn floats(a: f32, b: f64);
    pub fn misc(a: bool, b: char);
    pub fn strings(a: &str, b: &'static str, c: &String);
    pub fn bytes(a: &[u8], b: &[u8; 3]);
    pub fn pointers(a: *const u8, b: *mut u64, c: NonNull<u8>, d: *const [u8]);
    pub fn debugs(a: Point, b: Option<u32>, c: &Point, d: u128);
    fn opaques(a: Secret, b: &Secret);
    pub fn custom(id: Id);
    pub fn nothing();
    pub fn ordered(first: u64, second: &str, third: i32);
    fn detached(n: u64);
    fn scoped(n: u64);
    /// Arguments named like the generated code's own variables.
    fn clash(values: u64, f: &str, probe: u8);
}

/// Attaches an erased probe to `event`, runs `fire`, and returns each
/// call's values as owned values (a thread-scoped group: parallel tests
/// don't see each other).
fn capture(event: &'static heapwise_probe::Event, fire: impl FnOnce()) -> Vec<Vec<OwnedValue>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let group = ProbeGroup::current_thread();
    event.attach_values_in(&group, move |args| {
        s.lock()
            .unwrap()
            .push(args.iter().map(|v| v.into_owned()).collect::<Vec<_>>())
    });
    fire();
    drop(group);
    Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
}

/// The values of one call, as `Debug` and `Display` strings.
fn one(event: &'static heapwise_probe::Event, fire: impl FnOnce()) -> (String, String) {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let group = ProbeGroup::current_thread();
    event.attach_values_in(&group, move |args| {
        let display: Vec<String> = args.iter().map(|v| v.to_string()).collect();
        *s.lock().unwrap() = Some((format!("{args:?}"), display.join(" ")));
    });
    fire();
    drop(group);
    let r = seen.lock().unwrap().take().expect("the probe ran");
    r
}

#[test]
fn integers() {
    let (d, s) = one(unsigned::event(), || unsigned(1, 2, 3, u64::MAX, 5));
    assert_eq!(d, "[1, 2, 3, 18446744073709551615, 5]");
    assert_eq!(s, "1 2 3 18446744073709551615 5");
    let (d, _) = one(signed::event(), || signed(-1, -2, -3, i64::MIN, -5));
    assert_eq!(d, "[-1, -2, -3, -9223372036854775808, -5]");
    let v = capture(unsigned::event(), || unsigned(1, 2, 3, 4, 5));
    assert_eq!(v[0][3], OwnedValue::U64(4));
    let v = capture(signed::event(), || signed(-1, 2, 3, 4, 5));
    assert_eq!(v[0][0], OwnedValue::I64(-1));
    assert_eq!(v[0][0].as_i64(), Some(-1));
    assert_eq!(v[0][0].as_u64(), None);
    assert_eq!(v[0][1].as_u64(), Some(2));
}

#[test]
fn floats_bools_chars() {
    let (d, s) = one(floats::event(), || floats(1.5, 2.0));
    assert_eq!(d, "[1.5, 2.0]");
    assert_eq!(s, "1.5 2");
    let (d, s) = one(misc::event(), || misc(true, 'x'));
    assert_eq!(d, "[true, 'x']");
    assert_eq!(s, "true x");
    let v = capture(floats::event(), || floats(0.25, -1.0));
    assert_eq!(v[0], [OwnedValue::F64(0.25), OwnedValue::F64(-1.0)]);
}

#[test]
fn strings_and_bytes() {
    let owned = String::from("owned");
    let (d, s) = one(strings::event(), || strings("a \"b\"", "static", &owned));
    assert_eq!(d, r#"["a \"b\"", "static", "owned"]"#);
    assert_eq!(s, r#"a "b" static owned"#);
    let v = capture(strings::event(), || strings("x", "y", &owned));
    assert_eq!(v[0][2].as_str(), Some("owned"));
    let (d, s) = one(bytes::event(), || bytes(b"ab\0", b"xyz"));
    assert_eq!(d, r#"[b"ab\x00", b"xyz"]"#);
    assert_eq!(s, r"ab\x00 xyz");
    let v = capture(bytes::event(), || bytes(&[1, 2], &[3, 4, 5]));
    assert_eq!(
        v[0],
        [
            OwnedValue::Bytes(vec![1, 2]),
            OwnedValue::Bytes(vec![3, 4, 5])
        ]
    );
}

#[test]
fn pointers_are_addresses() {
    let mut x = 7u64;
    let buf = [0u8; 4];
    let a = buf.as_ptr();
    let b = &mut x as *mut u64;
    let c = NonNull::from(&buf[1]);
    let d: *const [u8] = &buf[..];
    let v = capture(pointers::event(), || pointers(a, b, c, d));
    assert_eq!(
        v[0],
        [
            OwnedValue::Ptr(a as usize),
            OwnedValue::Ptr(b as usize),
            OwnedValue::Ptr(c.as_ptr() as usize),
            OwnedValue::Ptr(a as usize),
        ]
    );
    let (dbg, _) = one(pointers::event(), || pointers(std::ptr::null(), b, c, d));
    assert!(dbg.starts_with("[0x0, 0x"), "{dbg}");
}

#[test]
fn debug_types_use_their_debug() {
    let p = Point { x: 1, y: -2 };
    let (d, s) = one(debugs::event(), || debugs(p, Some(3), &p, u128::MAX));
    assert_eq!(
        d,
        "[Point { x: 1, y: -2 }, Some(3), Point { x: 1, y: -2 }, 340282366920938463463374607431768211455]"
    );
    assert_eq!(
        s,
        "Point { x: 1, y: -2 } Some(3) Point { x: 1, y: -2 } 340282366920938463463374607431768211455"
    );
    let v = capture(debugs::event(), || debugs(p, None, &p, 1));
    assert_eq!(v[0][1], OwnedValue::Debug("None".into()));
    // The owned form prints the formatted string verbatim (no quotes).
    assert_eq!(format!("{:?}", v[0][0]), "Point { x: 1, y: -2 }");
}

#[test]
fn other_types_are_opaque_with_their_declared_name() {
    let (d, s) = one(opaques::event(), || opaques(Secret(1), &Secret(2)));
    assert_eq!(d, "[<Secret>, <&Secret>]");
    assert_eq!(s, "<Secret> <&Secret>");
    let v = capture(opaques::event(), || opaques(Secret(1), &Secret(2)));
    assert_eq!(v[0][1], OwnedValue::Opaque("&Secret"));
}

#[test]
fn user_types_implementing_to_value() {
    let (d, _) = one(custom::event(), || custom(Id(7)));
    assert_eq!(d, "[1007]");
}

#[test]
fn no_arguments_give_an_empty_slice() {
    let v = capture(nothing::event(), nothing);
    assert_eq!(v, [Vec::<OwnedValue>::new()]);
}

#[test]
fn found_by_name_in_list_then_attached_values_arrive_in_order() {
    let event = heapwise_probe::list()
        .iter()
        .copied()
        .find(|e| e.name() == "ordered" && e.module() == "it::values")
        .expect("listed");
    assert_eq!(
        event.to_string(),
        "it::values:ordered(first: u64, second: &str, third: i32)"
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    // Every thread: the calls below come from this thread and another one.
    let probe = event.attach_values(move |args| {
        let names = event.args().iter().map(|a| a.name);
        let line: Vec<String> = names.zip(args).map(|(n, v)| format!("{n}={v:?}")).collect();
        s.lock().unwrap().push(line.join(" "));
    });
    ordered(1, "one", -1);
    std::thread::spawn(|| ordered(2, "two", -2)).join().unwrap();
    ordered(3, "three", -3);
    drop(probe);
    ordered(4, "gone", -4);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            r#"first=1 second="one" third=-1"#,
            r#"first=2 second="two" third=-2"#,
            r#"first=3 second="three" third=-3"#,
        ]
    );
}

#[test]
fn erased_and_typed_probes_run_in_attach_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let group = ProbeGroup::current_thread();
    let s = seen.clone();
    ordered::attach_in(&group, move |a, _, _| {
        s.lock().unwrap().push(format!("typed {a}"))
    });
    let s = seen.clone();
    ordered::event().attach_values_in(&group, move |v| {
        s.lock().unwrap().push(format!("erased {}", v[0]))
    });
    ordered(5, "", 0);
    drop(group);
    assert_eq!(*seen.lock().unwrap(), ["typed 5", "erased 5"]);
}

#[derive(Debug)]
struct Token(Arc<AtomicUsize>);
impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn detaching_an_erased_probe_drops_its_closure_and_stops_it() {
    let calls = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let (c, t) = (calls.clone(), Token(drops.clone()));
    let probe = detached::event().attach_values(move |_| {
        let _keep = &t;
        c.fetch_add(1, SeqCst);
    });
    assert!(detached::event().is_attached());
    detached(1);
    assert_eq!(drops.load(SeqCst), 0);
    probe.detach();
    // When detach returns the closure (and its token) has been dropped.
    assert_eq!(drops.load(SeqCst), 1);
    assert!(!detached::event().is_attached());
    detached(2);
    assert_eq!(calls.load(SeqCst), 1);

    // Through `setup` and `probe_values`, as for typed probes.
    let (c, t) = (calls.clone(), Token(drops.clone()));
    let p = heapwise_probe::setup(|s| {
        s.attach(detached::event().probe_values(move |_| {
            let _keep = &t;
            c.fetch_add(1, SeqCst);
        }))
    });
    detached(3);
    heapwise_probe::setup(|s| s.detach(p));
    detached(4);
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(drops.load(SeqCst), 2);
}

#[test]
fn thread_scoped_erased_probes_see_only_their_thread() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let group = ProbeGroup::current_thread();
    scoped::event().attach_values_in(&group, move |v| {
        s.lock().unwrap().push(v[0].as_u64().unwrap())
    });
    scoped(1);
    std::thread::spawn(|| scoped(2)).join().unwrap();
    scoped(3);
    assert_eq!(group.len(), 1);
    drop(group);
    scoped(4);
    assert_eq!(*seen.lock().unwrap(), [1, 3]);
}

#[test]
fn a_panicking_erased_probe_is_reported_at_detach() {
    heapwise_probe::declare! { fn panics(n: u64); }
    let probe =
        panics::event().attach_values(|v| assert_eq!(v[0].as_u64(), Some(1), "erased probe"));
    panics(1);
    panics(2); // panics, caught, probe disabled
    panics(3); // not called
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(probe))).unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(msg.contains("erased probe"), "{msg}");
}

#[test]
fn argument_names_do_not_clash_with_the_generated_code() {
    let (d, _) = one(clash::event(), || clash(1, "f", 3));
    assert_eq!(d, r#"[1, "f", 3]"#);
}
