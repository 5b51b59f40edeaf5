//! The `declare!` macro.

/// Declares events: typed tracepoints with probes attached at run time.
///
/// ```
/// heapwise_probe::declare! {
///     /// A request was accepted.
///     pub fn request_start(id: u64, path: &str);
///     pub(crate) fn request_done(id: u64, status: u16);
///     fn cache_miss(key: &[u8]);
/// }
/// # request_start(1, "/"); request_done(1, 200); cache_miss(b"k");
/// ```
///
/// For each `fn name(args);` it generates, with the declared visibility:
///
/// - `fn name(args)`, the event itself, `#[inline(always)]`: one load and a
///   not-taken branch when no probe is attached; otherwise it runs the
///   probes (see the [crate docs](crate#guarantees));
/// - `mod name`, the event's probe side:
///   - `name::attach(|args| ..) -> Probe`: attach a probe for every thread;
///   - `name::attach_in(&group, |args| ..)`: attach through a
///     [`ProbeGroup`](crate::ProbeGroup);
///   - `name::probe(|args| ..) -> NewProbe`: an unattached probe, for
///     [`setup`](fn@crate::setup);
///   - `name::event() -> &'static Event`: its metadata and counters, and
///     erased probes ([`Event::attach_values`](crate::Event::attach_values));
///   - `name::is_attached()`: one load, for callers whose arguments cost
///     something to compute;
/// - an entry in [`list`](fn@crate::list).
///
/// Rules:
///
/// - Argument types must be `Copy` (every probe gets the same values):
///   pass references for anything bigger. Lifetimes may be elided, probes
///   are higher-ranked over them (`for<'a> Fn(u64, &'a str)`).
/// - Argument types are resolved in the module of the `declare!` (the
///   generated `mod name` glob-imports its parent).
/// - Probes are `Fn + Send + Sync + 'static`: they may run on any thread,
///   concurrently.
/// - [`Event::line`](crate::Event::line) is the line of the `declare!`
///   invocation (`macro_rules!` cannot see each declaration's line).
#[macro_export]
macro_rules! declare {
    ($(
        $(#[$attr:meta])*
        $vis:vis fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? );
    )*) => {
        $(
            $crate::__declare_event! {
                [$(#[$attr])*] [$vis] $name [$($arg : $ty),*]
            }
        )*
    };
}

/// One event of [`declare!`]; not a stable API.
#[doc(hidden)]
#[macro_export]
macro_rules! __declare_event {
    ([$($attr:tt)*] [$vis:vis] $name:ident [$($arg:ident : $ty:ty),*]) => {
        $($attr)*
        ///
        #[doc = ::core::concat!(
            "*Event* (heapwise-probe): runs the probes attached with [`",
            ::core::stringify!($name), "::attach`](mod@", ::core::stringify!($name),
            "), synchronously; one load and a not-taken branch when there are none."
        )]
        #[inline(always)]
        $vis fn $name($($arg: $ty),*) {
            if $name::__EVENT.__attached() {
                $name::__fire($($arg),*);
                // Keeps the call a call: as a tail call (a jump) the
                // caller would leave no frame for stack-walking probes
                // (event profiles). Only the attached branch pays for it.
                $crate::__private::keep_frame();
            }
        }

        #[doc = ::core::concat!(
            "Probes of the event [`", ::core::stringify!($name), "`](fn@",
            ::core::stringify!($name), "): attach, detach, metadata."
        )]
        #[allow(unreachable_pub, dead_code)]
        $vis mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[doc(hidden)]
            pub type __Probe =
                dyn Fn($($ty),*) + ::core::marker::Send + ::core::marker::Sync + 'static;

            #[doc(hidden)]
            pub static __EVENT: $crate::Event = $crate::Event::__new::<__Probe>(
                ::core::stringify!($name),
                ::core::module_path!(),
                ::core::file!(),
                ::core::line!(),
                &[$($crate::Arg { name: ::core::stringify!($arg), ty: ::core::stringify!($ty) }),*],
            )
            .__with_values(__probe_values);

            /// Wraps an erased probe into a typed one: the arguments as a
            /// stack array of values, converted by autoref specialisation
            /// (`heapwise_probe::value`).
            #[doc(hidden)]
            fn __probe_values(
                values: $crate::__private::Box<$crate::__private::ValuesFn>,
            ) -> $crate::NewProbe {
                self::probe(move |$($arg: $ty),*| {
                    #[allow(unused_imports)]
                    use $crate::__private::{ViaDebug as _, ViaOpaque as _, ViaToValue as _};
                    values(&[$(
                        (&&&$crate::__private::Wrap(&$arg))
                            .__heapwise_value(::core::stringify!($ty))
                    ),*])
                })
            }

            #[$crate::__private::linkme::distributed_slice($crate::__private::EVENTS)]
            #[linkme(crate = $crate::__private::linkme)]
            static __LISTED: &'static $crate::Event = &__EVENT;

            /// Whether a probe is attached: one load. For callers whose
            /// arguments cost something to compute:
            /// `if name::is_attached() { name(costly()) }`.
            #[inline(always)]
            pub fn is_attached() -> bool {
                __EVENT.__attached()
            }

            #[doc(hidden)]
            #[cold]
            #[inline(never)]
            pub fn __fire($($arg: $ty),*) {
                $crate::__private::fire::<__Probe, _>(&__EVENT, |__probe: &__Probe| {
                    __probe($($arg),*)
                })
            }

            #[doc = ::core::concat!(
                "Attaches `probe` to the event [`", ::core::stringify!($name), "`](fn@",
                ::core::stringify!($name), ") for every thread, after the probes already ",
                "attached. Every event that starts after this returns runs it, until the ",
                "returned `Probe` is dropped."
            )]
            pub fn attach(
                probe: impl Fn($($ty),*) + ::core::marker::Send + ::core::marker::Sync + 'static,
            ) -> $crate::Probe {
                $crate::__private::attach(self::probe(probe))
            }

            #[doc = ::core::concat!(
                "Attaches `probe` to the event [`", ::core::stringify!($name), "`](fn@",
                ::core::stringify!($name), ") through `group`: detached with the group, ",
                "and thread-scoped if the group is."
            )]
            pub fn attach_in(
                group: &$crate::ProbeGroup,
                probe: impl Fn($($ty),*) + ::core::marker::Send + ::core::marker::Sync + 'static,
            ) {
                group.__attach(self::probe(probe))
            }

            #[doc = ::core::concat!(
                "An unattached probe of the event [`", ::core::stringify!($name), "`](fn@",
                ::core::stringify!($name), "), for `heapwise_probe::setup`."
            )]
            pub fn probe(
                probe: impl Fn($($ty),*) + ::core::marker::Send + ::core::marker::Sync + 'static,
            ) -> $crate::NewProbe {
                $crate::NewProbe::__new::<__Probe>(&__EVENT, $crate::__private::Box::new(probe))
            }

            #[doc = ::core::concat!(
                "The event [`", ::core::stringify!($name), "`](fn@",
                ::core::stringify!($name), "): metadata and counters."
            )]
            pub fn event() -> &'static $crate::Event {
                &__EVENT
            }
        }
    };
}
