//! `/debug/pprof/heap` and `/debug/pprof/allocs`: the profile now, a delta
//! over `?seconds=N`, or Go's legacy text with `?debug=1`. `heap?peak=1` is
//! the peak profile (the same values, `peak_space` the default view).
//!
//! # Delta profiles
//!
//! With `?seconds=N` the handler takes a profile, sleeps `N` seconds on the
//! request's own thread, takes another, and answers the later one with
//! `alloc_objects`/`alloc_space` replaced by later − earlier: what was
//! allocated during the window (`temporary_*` too). `inuse_*` and `peak_*`
//! stay the later profile's, absolute, as godeltaprof and Pyroscope define a delta heap
//! profile (Go's `net/http/pprof` subtracts them too, which makes in-use
//! figures of a delta meaningless). `duration_nanos` is the window. At most
//! [`MAX_DELTAS`] delta requests run at once (each holds a connection for
//! `N` seconds); more get a 503.
//!
//! The window is waited out through a [`Wait`]: the built-in server's
//! watches the connection and ends the delta as soon as the client goes
//! away, which frees its slot; [`handle`](super::handle) has no connection
//! to watch and sleeps.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use heapwise_pprof::{Profile, HEAP_SAMPLE_TYPES};

use super::legacy;
use super::message::{Response, BINARY, TEXT};
use super::query::Params;
use crate::profile::ProfileOptions;

/// The longest `?seconds=` window.
pub(crate) const MAX_SECONDS: u64 = 300;
/// At most this many `?seconds=` requests sleep at once.
pub(crate) const MAX_DELTAS: usize = 4;

static DELTAS: AtomicUsize = AtomicUsize::new(0);
static BUILD: Mutex<()> = Mutex::new(());

/// Serializes profile builds and symbol lookups: each one maps the
/// binary's debug info and builds its tables, so concurrent requests would
/// multiply that memory. One at a time keeps the endpoint's footprint that
/// of one export.
pub(crate) fn build_lock() -> MutexGuard<'static, ()> {
    BUILD.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a delta waits out its window: `wait(d)` returns after `d`, or
/// early with `false` once the client has gone away (the delta then ends
/// with no answer anyone reads).
pub(crate) type Wait<'a> = &'a dyn Fn(Duration) -> bool;

/// The [`Wait`] of a request with no connection to watch.
pub(crate) fn sleep(d: Duration) -> bool {
    thread::sleep(d);
    true
}

/// Which profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Heap,
    Allocs,
    Peak,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Heap => "heap",
            Kind::Allocs => "allocs",
            Kind::Peak => "peak",
        }
    }

    /// The profile now (requests are served as heapwise's own work, behind
    /// the reentrancy guard).
    fn take(self) -> Profile {
        let _g = build_lock();
        let default_sample_type = match self {
            Kind::Heap => None,
            Kind::Allocs => Some("alloc_space"),
            Kind::Peak => Some("peak_space"),
        };
        ProfileOptions::new().build_own(default_sample_type)
    }
}

/// How many delta requests hold a slot.
pub(crate) fn deltas_in_progress() -> usize {
    DELTAS.load(Relaxed)
}

/// One delta request in flight; released on drop.
struct DeltaSlot;

impl DeltaSlot {
    fn acquire() -> Option<DeltaSlot> {
        DELTAS
            .fetch_update(Relaxed, Relaxed, |n| (n < MAX_DELTAS).then_some(n + 1))
            .ok()
            .map(|_| DeltaSlot)
    }
}

impl Drop for DeltaSlot {
    fn drop(&mut self) {
        DELTAS.fetch_sub(1, Relaxed);
    }
}

/// Validates the parameters and answers.
pub(crate) fn serve(kind: Kind, params: &Params, wait: Wait<'_>) -> Response {
    let allowed: &[&str] = match kind {
        Kind::Heap => &["debug", "seconds", "gc", "peak"],
        _ => &["debug", "seconds", "gc"],
    };
    if let Err(e) = params.allow(allowed) {
        return Response::error(400, e);
    }
    let kind = match params.get("peak") {
        None | Some("0") => kind,
        Some("1") => Kind::Peak,
        Some(p) => {
            return Response::error(
                400,
                format!(
                "invalid value for \"peak\": {p:?} (1 for the peak profile, 0 for the heap now)"
            ),
            )
        }
    };
    let debug = match params.get("debug") {
        None => 0,
        Some(d) => match d.parse::<u32>() {
            Ok(d) => d,
            Err(_) => {
                return Response::error(
                    400,
                    format!(
                        "invalid value for \"debug\": {d:?} (0 for the binary profile, 1 for text)"
                    ),
                )
            }
        },
    };
    // `gc=1` runs a collection first in Go; Rust frees at once, so in-use
    // figures are always current: accepted for compatibility, no effect.
    if let Some(gc) = params.get("gc") {
        if gc.parse::<u32>().is_err() {
            return Response::error(400, format!("invalid value for \"gc\": {gc:?}"));
        }
    }
    let seconds = match params.get("seconds") {
        None => None,
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (1..=MAX_SECONDS).contains(&n) => Some(n),
            _ => {
                return Response::error(
                    400,
                    format!(
                        "invalid value for \"seconds\": {s:?} (a whole number of seconds, 1 to {MAX_SECONDS})"
                    ),
                )
            }
        },
    };
    match (seconds, debug) {
        (Some(_), d) if d > 0 => Response::error(400, "seconds and debug params are incompatible"),
        (_, d) if d > 0 && kind == Kind::Peak => Response::error(
            400,
            "peak and debug params are incompatible (Go's text has no peak)",
        ),
        (Some(n), _) => delta(kind, n, wait),
        (None, 0) => binary(kind.take(), kind.name()),
        (None, _) => Response::ok(TEXT, legacy::text(&kind.take()).into_bytes()),
    }
}

fn binary(profile: Profile, filename: &str) -> Response {
    Response::ok(BINARY, profile.encode_gzip()).with_header(
        "Content-Disposition",
        format!("attachment; filename=\"{filename}\""),
    )
}

fn delta(kind: Kind, seconds: u64, wait: Wait<'_>) -> Response {
    let Some(_slot) = DeltaSlot::acquire() else {
        return Response::error(
            503,
            format!(
                "too many delta profiles in progress (at most {MAX_DELTAS} at once); retry later"
            ),
        )
        .with_header("Retry-After", seconds.to_string());
    };
    let earlier = kind.take();
    if !wait(Duration::from_secs(seconds)) {
        return Response::error(499, "the client went away during the delta");
    }
    let later = kind.take();
    match subtract_allocs(&later, &earlier) {
        Ok(p) => binary(p, &format!("{}-delta", kind.name())),
        Err(e) => Response::error(500, format!("could not compute the delta profile: {e}")),
    }
}

/// `later` with its `alloc_*` and `temporary_*` values minus `earlier`'s
/// (matched by stack and labels), `inuse_*` and `peak_*` kept, and the
/// window as `duration_nanos`.
pub(crate) fn subtract_allocs(later: &Profile, earlier: &Profile) -> Result<Profile, String> {
    // Zero the earlier profile's in-use columns, then let `diff_base`
    // subtract: in-use values are then later − 0.
    let mut base = earlier.clone();
    let inuse: Vec<usize> = HEAP_SAMPLE_TYPES
        .iter()
        .filter(|t| !t.cumulative)
        .filter_map(|t| base.sample_type_index(t.name))
        .collect();
    for s in &mut base.sample {
        for &i in &inuse {
            if let Some(v) = s.value.get_mut(i) {
                *v = 0;
            }
        }
    }
    let mut out = later.diff_base(&base).map_err(|e| e.to_string())?;
    out.time_nanos = later.time_nanos;
    out.duration_nanos = later.time_nanos.saturating_sub(earlier.time_nanos).max(0);
    Ok(out)
}
