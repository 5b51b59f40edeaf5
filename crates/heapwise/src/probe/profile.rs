//! Event profiles (`heapwise::probe::profile`): the user documentation is
//! the `probe` module's.
//!
//! The probe walks the firing thread's stack (`profile/unwind/`) and
//! counts the stack in a [`StackTable`] of the profile's own, behind a lock
//! nothing else takes; building a profile copies the table and reuses the
//! heap profiler's symbolization and location building (`profile.rs`:
//! [`Resolved`], [`Locations`]), cutting each stack at the event's `__fire`
//! function so the firing function is the leaf.

use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use heapwise_pprof::{Profile, ProfileBuilder};
use heapwise_probe::{Event, Probe, ProbeGroup};

use crate::local::{without_accounting, without_sampling};
use crate::profile::depot::StackTable;
use crate::profile::profiler;
use crate::profile::stack::{DEFAULT_DEPTH, MAX_DEPTH};
use crate::profile::unwind::{self, Coverage};
use crate::profile::{Locations, Resolved, Trim};

/// The default of [`EventProfileOptions::max_stacks`].
pub const DEFAULT_MAX_STACKS: usize = 4096;

/// Frames walked beyond `max_depth`, for the probe machinery between the
/// walk and the firing function (trimmed at export): about 6 in optimised
/// builds, 15 in debug builds.
const MACHINERY_FRAMES: usize = 24;

/// The function name of the pseudo-frame that counts events at stacks over
/// the limit.
const OVERFLOW_FRAME: &str = "heapwise::probe::max_stacks_reached";

/// Starts profiling `event` on every thread: from now until the returned
/// [`EventProfile`] is finished or dropped, every time the event fires, the
/// firing thread's stack is counted. See the [module docs](crate::probe#event-profiles) and
/// [`EventProfileOptions`] for the depth, the stack limit and thread-scoped
/// profiles.
///
/// Like any probe attach, every event that starts after this returns is
/// counted.
pub fn profile(event: &'static Event) -> EventProfile {
    EventProfileOptions::new().start(event)
}

/// How to profile an event: stack depth, how many distinct stacks, which
/// threads. [`profile`] uses the defaults.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
/// heapwise::probe::declare! { fn retry(attempt: u32); }
/// let prof = heapwise::probe::EventProfileOptions::new()
///     .max_depth(16)
///     .max_stacks(100)
///     .current_thread() // only this thread's events
///     .start(retry::event());
/// retry(1);
/// std::thread::spawn(|| retry(2)).join().unwrap(); // another thread: not counted
/// assert_eq!(prof.finish().total(0), 1);
/// ```
#[derive(Debug, Clone)]
pub struct EventProfileOptions {
    max_depth: usize,
    max_stacks: usize,
    current_thread: bool,
}

impl Default for EventProfileOptions {
    fn default() -> Self {
        EventProfileOptions::new()
    }
}

impl EventProfileOptions {
    /// Every thread, 64 frames, [`DEFAULT_MAX_STACKS`] stacks.
    pub fn new() -> EventProfileOptions {
        EventProfileOptions {
            max_depth: DEFAULT_DEPTH,
            max_stacks: DEFAULT_MAX_STACKS,
            current_thread: false,
        }
    }

    /// Keeps up to `frames` frames of each stack, from the function that
    /// fired the event (1..=232; default 64).
    pub fn max_depth(mut self, frames: usize) -> EventProfileOptions {
        self.max_depth = frames.clamp(1, MAX_DEPTH - MACHINERY_FRAMES);
        self
    }

    /// Keeps at most `stacks` distinct stacks (default
    /// [`DEFAULT_MAX_STACKS`]); events at further stacks are counted
    /// together (see [Cost and limits](crate::probe#cost-and-limits)). `0` keeps none
    /// (only the count).
    pub fn max_stacks(mut self, stacks: usize) -> EventProfileOptions {
        self.max_stacks = stacks;
        self
    }

    /// Counts only the events fired on the calling thread (the probe is
    /// attached through a [`ProbeGroup::current_thread`] group).
    pub fn current_thread(mut self) -> EventProfileOptions {
        self.current_thread = true;
        self
    }

    /// Starts profiling `event` with these options: see [`profile`].
    pub fn start(&self, event: &'static Event) -> EventProfile {
        let shared = Arc::new(Shared {
            event,
            walk_depth: (self.max_depth + MACHINERY_FRAMES).min(MAX_DEPTH),
            max_depth: self.max_depth,
            max_stacks: self.max_stacks,
            counts: Mutex::new(Counts::new()),
            coverage: Coverage::new(),
            started: SystemTime::now(),
            started_at: Instant::now(),
        });
        let probe = {
            let shared = shared.clone();
            move || shared.record()
        };
        let attachment = if self.current_thread {
            let group = ProbeGroup::current_thread();
            attach_in(event, &group, probe);
            Attachment::Group(group)
        } else {
            Attachment::Probe(attach(event, probe))
        };
        EventProfile {
            shared,
            attachment: Some(attachment),
            stopped_at: None,
        }
    }
}

/// Attaches `f`, which ignores the event's arguments, for every thread.
fn attach(event: &'static Event, f: impl Fn() + Send + Sync + 'static) -> Probe {
    event.attach_values(move |_| f())
}

/// Attaches `f`, which ignores the event's arguments, through `group`.
fn attach_in(event: &'static Event, group: &ProbeGroup, f: impl Fn() + Send + Sync + 'static) {
    event.attach_values_in(group, move |_| f())
}

/// A running profile of an event: made by [`profile`] or
/// [`EventProfileOptions::start`]. [`finish`](EventProfile::finish)
/// detaches it and builds the profile; dropping it detaches it and discards
/// the counts.
#[must_use = "dropping an EventProfile stops it"]
pub struct EventProfile {
    shared: Arc<Shared>,
    /// `None` once stopped.
    attachment: Option<Attachment>,
    /// When it was stopped (the end of the profile's duration).
    stopped_at: Option<Instant>,
}

/// The attached probe: dropping it detaches it.
enum Attachment {
    Probe(#[allow(dead_code)] Probe),
    Group(#[allow(dead_code)] ProbeGroup),
}

impl EventProfile {
    /// The event being profiled.
    pub fn event(&self) -> &'static Event {
        self.shared.event
    }

    /// Events counted so far, including those over the stack limit.
    pub fn count(&self) -> u64 {
        self.shared.lock().total
    }

    /// Events counted so far whose stack was not kept because
    /// [`max_stacks`](EventProfileOptions::max_stacks) distinct stacks were
    /// already held.
    pub fn overflow(&self) -> u64 {
        self.shared.lock().overflow
    }

    /// Distinct stacks held.
    pub fn stacks(&self) -> usize {
        self.shared.lock().table.len()
    }

    /// Whether the probe is still attached (not [`stop`](Self::stop)ped).
    pub fn is_running(&self) -> bool {
        self.attachment.is_some()
    }

    /// Detaches the probe, keeping what was counted: when this returns, the
    /// probe is not running on any thread and nothing more is counted.
    /// [`snapshot`](Self::snapshot) still builds the profile.
    pub fn stop(&mut self) {
        // Dropping a `Probe` or `ProbeGroup` detaches and waits for running
        // probes to return.
        if let Some(attachment) = self.attachment.take() {
            drop(attachment);
            self.stopped_at = Some(Instant::now());
        }
    }

    /// The profile of what was counted so far, symbolized; the profile
    /// keeps running.
    pub fn snapshot(&self) -> Profile {
        // Building a profile allocates: counted like any allocation of the
        // program, never sampled (as for heap profiles).
        let end = self.stopped_at.unwrap_or_else(Instant::now);
        without_sampling(|| self.shared.build(end))
    }

    /// Stops the profile and returns it: [`stop`](Self::stop) then
    /// [`snapshot`](Self::snapshot).
    pub fn finish(mut self) -> Profile {
        self.stop();
        self.snapshot()
    }
}

impl std::fmt::Debug for EventProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not under the lock: formatting may allocate, and an allocation
        // may run this profile's probe on this thread.
        let (count, stacks, overflow) = {
            let c = self.shared.lock();
            (c.total, c.table.len(), c.overflow)
        };
        f.debug_struct("EventProfile")
            .field("event", &format_args!("{}", self.shared.event))
            .field("running", &self.is_running())
            .field("count", &count)
            .field("stacks", &stacks)
            .field("overflow", &overflow)
            .finish()
    }
}

/// What the probe and the handle share.
struct Shared {
    event: &'static Event,
    /// Frames walked: `max_depth` plus the machinery's.
    walk_depth: usize,
    max_depth: usize,
    max_stacks: usize,
    counts: Mutex<Counts>,
    /// Whether the stacks walked reached their roots.
    coverage: Coverage,
    started: SystemTime,
    started_at: Instant,
}

/// The counted stacks. Its memory comes from the inner allocator (behind the
/// reentrancy guard) and goes back there: see `Drop`.
struct Counts {
    table: StackTable,
    /// By stack id.
    counts: Vec<u64>,
    total: u64,
    overflow: u64,
}

impl Counts {
    fn new() -> Counts {
        Counts {
            table: StackTable::new(),
            counts: Vec::new(),
            total: 0,
            overflow: 0,
        }
    }

    /// Counts one event at `frames`. Behind the guard.
    fn add(&mut self, frames: &[usize], max_stacks: usize) {
        self.total += 1;
        match self.table.intern_bounded(frames, max_stacks) {
            Some(id) => {
                let id = id as usize;
                if id == self.counts.len() {
                    self.counts.push(0);
                }
                if let Some(c) = self.counts.get_mut(id) {
                    *c += 1;
                }
            }
            None => self.overflow += 1,
        }
    }
}

impl Drop for Counts {
    fn drop(&mut self) {
        // Allocated behind the guard, so freed behind it (with owner
        // tracking, the inner allocator's blocks carry no owner trailer).
        let table = std::mem::replace(&mut self.table, StackTable::new());
        let counts = std::mem::take(&mut self.counts);
        without_accounting(move || drop((table, counts)));
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The probe: walks this thread's stack and counts it. Runs on the
    /// firing thread, possibly inside the allocator; never panics.
    #[inline(never)]
    fn record(&self) {
        // Uninitialised: the walk writes what it returns.
        let mut frames = [MaybeUninit::<usize>::uninit(); MAX_DEPTH];
        // SAFETY: used within this call, on this thread.
        let bounds = unsafe { profiler::thread_bounds() };
        let walked = unwind::capture(bounds, &mut frames[..self.walk_depth]);
        self.coverage.note(&walked);
        // SAFETY: `capture` initialised `frames[..len]`; `MaybeUninit<usize>`
        // has the layout of `usize`.
        let frames =
            unsafe { std::slice::from_raw_parts(frames.as_ptr().cast::<usize>(), walked.len) };
        // The table grows from the inner allocator, uncounted and unseen
        // by allocation events (the guard sends those calls straight
        // through), so this lock is never wanted by this thread again
        // while held.
        without_accounting(|| self.lock().add(frames, self.max_stacks));
    }

    /// Copies the counts, resolves their addresses and builds the profile,
    /// whose duration ends at `end`.
    fn build(&self, end: Instant) -> Profile {
        let (frames, stacks, counts, overflow) = without_accounting(|| {
            let c = self.lock();
            let (frames, stacks) = c.table.snapshot();
            (frames, stacks, c.counts.clone(), c.overflow)
        });
        let resolved = without_accounting(|| Resolved::new(&frames, true));
        let duration = end.saturating_duration_since(self.started_at);
        let profile = self.assemble(&frames, &stacks, &counts, overflow, &resolved, duration);
        without_accounting(move || drop((frames, stacks, counts, resolved)));
        profile
    }

    fn assemble(
        &self,
        frames: &[usize],
        stacks: &[(u32, u32)],
        counts: &[u64],
        overflow: u64,
        resolved: &Resolved,
        duration: Duration,
    ) -> Profile {
        let event = self.event;
        let path = format!("{}::{}", event.module(), event.name());
        let mut b = ProfileBuilder::new();
        b.sample_type("events", "count")
            .period("events", "count", 1);
        let start = self
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        b.time_nanos(start)
            .duration_nanos(duration.as_nanos() as i64)
            .comment(&format!("heapwise event profile: {event:#}"));
        if self.coverage.all_cut_short() {
            b.comment(&unwind::cut_short_warning());
        }

        let fire = format!("::{}::__fire", event.name());
        let inlined = format!("::{}", event.name());
        let trim = |name: &str| classify(name, event.module(), &fire, &inlined);
        let mut locations = Locations::new(&mut b, resolved, &trim, true);
        let label = b.label_str("event", &path);
        let mut locs = Vec::new();
        for (&(start, len), &count) in stacks.iter().zip(counts) {
            let stack = &frames[start as usize..(start + len) as usize];
            let at = resolved.frame_indices(start as usize, len as usize);
            locs.clear();
            locations.stack(&mut b, stack, at, &mut locs);
            locs.truncate(self.max_depth);
            b.sample(&locs, &[count as i64], &[label]);
        }
        if overflow > 0 {
            let loc = b.frame(OVERFLOW_FRAME, "", 0);
            b.sample(&[loc], &[overflow as i64], &[label]);
        }
        b.build()
    }
}

/// What trimming does with a frame of an event's stack: the event's
/// `__fire` (and everything leafward of it: the firing path, the closures
/// it calls, this profiler's probe) is cut; the event function
/// (inlined into the firing function) and the probe machinery are plumbing.
/// `module` is the event's module, `fire` is `::name::__fire`, `inlined`
/// is `::name`.
fn classify(name: &str, module: &str, fire: &str, inlined: &str) -> Trim {
    // `declare!` inside a function puts the function's name between the
    // module and the event in symbol names: match the ends.
    if name.ends_with(fire) || name.contains(&format!("{fire}::")) {
        return Trim::Cut;
    }
    if name.starts_with(module) && name.ends_with(inlined) {
        return Trim::Plumbing;
    }
    const MACHINERY: [&str; 11] = [
        "heapwise_probe::",
        "heapwise::probe::profile::",
        "heapwise::profile::stack::",
        "heapwise::local::",
        "std::panicking::",
        "std::panic::",
        "std::thread::local::",
        "std::sys::thread_local::",
        "core::ops::function::",
        "alloc::boxed::",
        "__rust_try",
    ];
    let path = name.trim_start_matches(['<', '&']);
    if MACHINERY.iter().any(|p| path.starts_with(p)) {
        Trim::Plumbing
    } else {
        Trim::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fire_function_cuts_and_the_machinery_is_plumbing() {
        let c = |n: &str| classify(n, "app::events", "::miss::__fire", "::miss");
        assert_eq!(c("app::events::miss::__fire"), Trim::Cut);
        assert_eq!(c("app::events::miss::__fire::{{closure}}"), Trim::Cut);
        assert_eq!(c("app::events::test_fn::miss::__fire"), Trim::Cut);
        assert_eq!(c("app::events::miss"), Trim::Plumbing);
        assert_eq!(c("heapwise_probe::tracepoint::fire"), Trim::Plumbing);
        assert_eq!(
            c("heapwise::probe::profile::Shared::record::{{closure}}"),
            Trim::Plumbing
        );
        assert_eq!(
            c("<alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call"),
            Trim::Plumbing
        );
        assert_eq!(c("std::panicking::try::do_call"), Trim::Plumbing);
        assert_eq!(c("app::cache::lookup"), Trim::Keep);
        assert_eq!(c("other::miss"), Trim::Keep);
        assert_eq!(c("main"), Trim::Keep);
    }
}
