//! Type-erased probes: an event's arguments as a slice of [`Value`]s.
//!
//! # Why
//!
//! A typed probe (`ev::attach(|a: u64, s: &str| ..)`) needs the event's
//! argument types at compile time. Generic tools (a trace recorder, a stack
//! profiler, the [`testing`](crate::testing) recorder) only have a
//! `&'static Event`, found through [`list`](crate::list()) or handed to them:
//! [`Event::attach_values`] attaches a closure that receives the arguments as
//! `&[Value]`, in declaration order.
//!
//! ```
//! heapwise_probe::declare! {
//!     pub fn request_start(id: u64, path: &str);
//! }
//! use std::sync::{Arc, Mutex};
//! let event = heapwise_probe::list().iter().copied().find(|e| e.name() == "request_start").unwrap();
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let s = seen.clone();
//! let probe = event.attach_values(move |args| s.lock().unwrap().push(format!("{args:?}")));
//! request_start(7, "/users");
//! drop(probe);
//! assert_eq!(*seen.lock().unwrap(), [r#"[7, "/users"]"#]);
//! ```
//!
//! # How
//!
//! [`declare!`](macro@crate::declare) generates, for each event, a function that
//! wraps the erased closure into an ordinary typed probe,
//! `move |a, b| f(&[value(&a), value(&b)])`, and stores a pointer to that
//! function in the event's static. So an erased probe *is* a typed probe:
//! attach, detach, groups, thread scoping, panics and `setup` batches
//! behave exactly the same, and an event with no probe still costs one load
//! and one branch. Firing builds the `Value` array on the stack (no
//! allocation) and calls through one more indirection.
//!
//! Each argument is converted by the first rule that applies to its type
//! (chosen at compile time, in the `declare!`):
//!
//! 1. it implements [`ToValue`]: integers (`u128`/`i128` excepted), floats,
//!    `bool`, `char`, `&str`, `&String`, `&[u8]`, `&[u8; N]`, raw pointers,
//!    `NonNull`, and your own types if you implement it;
//! 2. it implements `Debug`: [`Value::Debug`], a reference to the argument;
//! 3. otherwise [`Value::Opaque`], the type's name as written in the
//!    declaration.
//!
//! The values borrow the event's arguments: they live for the probe call
//! only. Convert to [`OwnedValue`] to keep them.

use std::fmt;
use std::ptr::NonNull;

use crate::{Event, NewProbe, Probe, ProbeGroup};

/// One argument of an event, as an erased probe sees it. See the
/// [module docs](crate::value) for which type becomes which variant.
///
/// `Display` prints numbers as numbers, strings as they are, bytes as
/// escaped ASCII, pointers as `0x..` and opaque values as `<type>`; `Debug`
/// is transparent (`7`, `"/users"`, the inner `Debug` for [`Value::Debug`]),
/// so `format!("{args:?}")` of a slice reads `[7, "/users"]`.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Value<'a> {
    /// An unsigned integer (`u8` to `u64`, `usize`).
    U64(u64),
    /// A signed integer (`i8` to `i64`, `isize`).
    I64(i64),
    /// A float (`f32` or `f64`).
    F64(f64),
    /// A `bool`.
    Bool(bool),
    /// A `char`.
    Char(char),
    /// A string (`&str`, `&String`).
    Str(&'a str),
    /// Bytes (`&[u8]`, `&[u8; N]`).
    Bytes(&'a [u8]),
    /// A raw pointer (`*const T`, `*mut T`, `NonNull<T>`), as its address.
    Ptr(usize),
    /// Any other type that implements `Debug`.
    Debug(&'a dyn fmt::Debug),
    /// Anything else: the type's name as written in the declaration.
    Opaque(&'static str),
}

impl Value<'_> {
    /// The value as a `u64`: [`Value::U64`], or a non-negative
    /// [`Value::I64`].
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as an `i64`: [`Value::I64`], or a [`Value::U64`] that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(v) => Some(v),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The string of a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An owned copy (formats a [`Value::Debug`] into a string), to keep
    /// after the probe returned.
    pub fn into_owned(self) -> OwnedValue {
        match self {
            Value::U64(v) => OwnedValue::U64(v),
            Value::I64(v) => OwnedValue::I64(v),
            Value::F64(v) => OwnedValue::F64(v),
            Value::Bool(v) => OwnedValue::Bool(v),
            Value::Char(v) => OwnedValue::Char(v),
            Value::Str(v) => OwnedValue::Str(v.to_owned()),
            Value::Bytes(v) => OwnedValue::Bytes(v.to_vec()),
            Value::Ptr(v) => OwnedValue::Ptr(v),
            Value::Debug(v) => OwnedValue::Debug(format!("{v:?}")),
            Value::Opaque(v) => OwnedValue::Opaque(v),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::U64(v) => fmt::Display::fmt(&v, f),
            Value::I64(v) => fmt::Display::fmt(&v, f),
            Value::F64(v) => fmt::Display::fmt(&v, f),
            Value::Bool(v) => fmt::Display::fmt(&v, f),
            Value::Char(v) => fmt::Display::fmt(&v, f),
            Value::Str(v) => fmt::Display::fmt(v, f),
            Value::Bytes(v) => fmt::Display::fmt(&v.escape_ascii(), f),
            Value::Ptr(v) => write!(f, "{v:#x}"),
            Value::Debug(v) => fmt::Debug::fmt(v, f),
            Value::Opaque(ty) => write!(f, "<{ty}>"),
        }
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::U64(v) => fmt::Debug::fmt(&v, f),
            Value::I64(v) => fmt::Debug::fmt(&v, f),
            Value::F64(v) => fmt::Debug::fmt(&v, f),
            Value::Bool(v) => fmt::Debug::fmt(&v, f),
            Value::Char(v) => fmt::Debug::fmt(&v, f),
            Value::Str(v) => fmt::Debug::fmt(v, f),
            Value::Bytes(v) => write!(f, "b\"{}\"", v.escape_ascii()),
            Value::Ptr(v) => write!(f, "{v:#x}"),
            Value::Debug(v) => fmt::Debug::fmt(v, f),
            Value::Opaque(ty) => write!(f, "<{ty}>"),
        }
    }
}

/// An owned [`Value`], to keep an event's arguments after the probe
/// returned (records, logs). A [`Value::Debug`] becomes its formatted
/// `Debug` string. `Display` and `Debug` print as the [`Value`] did.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum OwnedValue {
    /// See [`Value::U64`].
    U64(u64),
    /// See [`Value::I64`].
    I64(i64),
    /// See [`Value::F64`].
    F64(f64),
    /// See [`Value::Bool`].
    Bool(bool),
    /// See [`Value::Char`].
    Char(char),
    /// See [`Value::Str`].
    Str(String),
    /// See [`Value::Bytes`].
    Bytes(Vec<u8>),
    /// See [`Value::Ptr`].
    Ptr(usize),
    /// A [`Value::Debug`], formatted with `{:?}`.
    Debug(String),
    /// See [`Value::Opaque`].
    Opaque(&'static str),
}

impl OwnedValue {
    /// The value as a `u64`: [`OwnedValue::U64`], or a non-negative
    /// [`OwnedValue::I64`].
    pub fn as_u64(&self) -> Option<u64> {
        self.as_value().as_u64()
    }

    /// The value as an `i64`: [`OwnedValue::I64`], or a
    /// [`OwnedValue::U64`] that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_value().as_i64()
    }

    /// The string of an [`OwnedValue::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            OwnedValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The borrowed form, except that [`OwnedValue::Debug`] (a string
    /// already) becomes a [`Value::Debug`] that prints it verbatim.
    fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::U64(v) => Value::U64(*v),
            OwnedValue::I64(v) => Value::I64(*v),
            OwnedValue::F64(v) => Value::F64(*v),
            OwnedValue::Bool(v) => Value::Bool(*v),
            OwnedValue::Char(v) => Value::Char(*v),
            OwnedValue::Str(v) => Value::Str(v),
            OwnedValue::Bytes(v) => Value::Bytes(v),
            OwnedValue::Ptr(v) => Value::Ptr(*v),
            OwnedValue::Debug(v) => Value::Debug(Verbatim::new(v)),
            OwnedValue::Opaque(v) => Value::Opaque(v),
        }
    }
}

/// A string whose `Debug` prints it as is (an already formatted `Debug`).
#[repr(transparent)]
struct Verbatim(String);

impl Verbatim {
    fn new(s: &String) -> &Verbatim {
        // SAFETY: `Verbatim` is a `repr(transparent)` wrapper of `String`,
        // so the two references have the same layout and validity.
        unsafe { &*(s as *const String).cast::<Verbatim>() }
    }
}

impl fmt::Debug for Verbatim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Value<'_>> for OwnedValue {
    fn from(v: Value<'_>) -> OwnedValue {
        v.into_owned()
    }
}

impl fmt::Display for OwnedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_value(), f)
    }
}

impl fmt::Debug for OwnedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_value(), f)
    }
}

/// Converts an event argument to a [`Value`] for erased probes (see the
/// [module docs](crate::value)). Implemented for the integers (except
/// `u128` and `i128`, which go through `Debug`), floats, `bool`, `char`,
/// `&str`, `&String`, `&[u8]`, `&[u8; N]`, raw pointers and `NonNull`.
///
/// Implement it for your own argument types (they are `Copy`, as every
/// event argument) to give erased probes a number or a string instead of
/// their `Debug` form. The impl must be visible where the event is
/// declared (as any trait impl is, once it exists):
///
/// ```
/// use heapwise_probe::{ToValue, Value};
///
/// #[derive(Clone, Copy)]
/// pub struct SessionId(u64);
/// impl ToValue for SessionId {
///     fn to_value(&self) -> Value<'_> {
///         Value::U64(self.0)
///     }
/// }
///
/// heapwise_probe::declare! {
///     pub fn login(session: SessionId, user: &str);
/// }
/// # fn main() {
/// let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
/// let s = seen.clone();
/// let p = login::event().attach_values(move |args| *s.lock().unwrap() = format!("{args:?}"));
/// login(SessionId(42), "ada");
/// drop(p);
/// assert_eq!(*seen.lock().unwrap(), r#"[42, "ada"]"#);
/// # }
/// ```
pub trait ToValue {
    /// The value of `self`; may borrow from it.
    fn to_value(&self) -> Value<'_>;
}

macro_rules! to_value {
    ($variant:ident as $as:ty: $($t:ty),*) => {
        $(
            impl ToValue for $t {
                #[inline]
                fn to_value(&self) -> Value<'_> {
                    Value::$variant(*self as $as)
                }
            }
        )*
    };
}
to_value!(U64 as u64: u8, u16, u32, u64, usize);
to_value!(I64 as i64: i8, i16, i32, i64, isize);
to_value!(F64 as f64: f32, f64);

impl ToValue for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
}

impl ToValue for char {
    fn to_value(&self) -> Value<'_> {
        Value::Char(*self)
    }
}

impl ToValue for &str {
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}

impl ToValue for &String {
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}

impl ToValue for &[u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Bytes(self)
    }
}

impl<const N: usize> ToValue for &[u8; N] {
    fn to_value(&self) -> Value<'_> {
        Value::Bytes(&self[..])
    }
}

impl<T: ?Sized> ToValue for *const T {
    fn to_value(&self) -> Value<'_> {
        Value::Ptr(self.cast::<()>() as usize)
    }
}

impl<T: ?Sized> ToValue for *mut T {
    fn to_value(&self) -> Value<'_> {
        Value::Ptr(self.cast::<()>() as usize)
    }
}

impl<T: ?Sized> ToValue for NonNull<T> {
    fn to_value(&self) -> Value<'_> {
        Value::Ptr(self.cast::<()>().as_ptr() as usize)
    }
}

impl Event {
    /// An unattached probe that receives the event's arguments as
    /// [`Value`]s, in declaration order: attach it with
    /// [`setup`](fn@crate::setup). See the [`value`](crate::value) module.
    pub fn probe_values(
        &'static self,
        f: impl Fn(&[Value<'_>]) + Send + Sync + 'static,
    ) -> NewProbe {
        let wrap = self.values().unwrap_or_else(|| {
            panic!("heapwise-probe: event {self} was not made by declare!, it has no erased probes")
        });
        wrap(Box::new(f))
    }

    /// Attaches a probe that receives the event's arguments as [`Value`]s,
    /// for every thread: the same as the event's `attach`, erased. Drop the
    /// [`Probe`] to detach it.
    pub fn attach_values(&'static self, f: impl Fn(&[Value<'_>]) + Send + Sync + 'static) -> Probe {
        crate::probe::__attach(self.probe_values(f))
    }

    /// Attaches a probe that receives the event's arguments as [`Value`]s
    /// through `group` (detached with it, thread-scoped if it is): the same
    /// as the event's `attach_in`, erased.
    pub fn attach_values_in(
        &'static self,
        group: &ProbeGroup,
        f: impl Fn(&[Value<'_>]) + Send + Sync + 'static,
    ) {
        group.__attach(self.probe_values(f))
    }
}

/// The argument conversion [`declare!`](macro@crate::declare) uses: autoref
/// specialisation picks the first trait whose impl applies, by how many
/// references the receiver needs (`&&&Wrap` for [`ViaToValue`](convert::ViaToValue), `&&Wrap`
/// for [`ViaDebug`](convert::ViaDebug), `&Wrap` for [`ViaOpaque`](convert::ViaOpaque)).
///
/// Reached through `__private` only (the module is crate-private).
pub(crate) mod convert {
    use super::{ToValue, Value};
    use crate::NewProbe;
    use std::fmt::Debug;

    /// An erased probe's closure.
    pub type ValuesFn = dyn Fn(&[Value<'_>]) + Send + Sync + 'static;

    /// What [`declare!`](macro@crate::declare) stores in each event: wraps an
    /// erased closure into a typed probe of that event.
    pub type ProbeValues = fn(Box<ValuesFn>) -> NewProbe;

    /// An argument being converted.
    #[allow(missing_debug_implementations)]
    pub struct Wrap<'a, T>(pub &'a T);

    /// Rule 1: the type implements [`ToValue`].
    pub trait ViaToValue<'a> {
        /// The value.
        fn __heapwise_value(&self, ty: &'static str) -> Value<'a>;
    }
    impl<'a, T: ToValue> ViaToValue<'a> for &&Wrap<'a, T> {
        #[inline(always)]
        fn __heapwise_value(&self, _ty: &'static str) -> Value<'a> {
            ToValue::to_value(self.0)
        }
    }

    /// Rule 2: the type implements `Debug`.
    pub trait ViaDebug<'a> {
        /// The value.
        fn __heapwise_value(&self, ty: &'static str) -> Value<'a>;
    }
    impl<'a, T: Debug> ViaDebug<'a> for &Wrap<'a, T> {
        #[inline(always)]
        fn __heapwise_value(&self, _ty: &'static str) -> Value<'a> {
            Value::Debug(self.0)
        }
    }

    /// Rule 3: anything else.
    pub trait ViaOpaque<'a> {
        /// The value.
        fn __heapwise_value(&self, ty: &'static str) -> Value<'a>;
    }
    impl<'a, T> ViaOpaque<'a> for Wrap<'a, T> {
        #[inline(always)]
        fn __heapwise_value(&self, ty: &'static str) -> Value<'a> {
            Value::Opaque(ty)
        }
    }
}
