//! Probe groups: attach several probes, detach them all at once (go123's
//! `ProbeGroup` and its `Done`), optionally only for one thread's events.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::probe::NewProbe;
use crate::{nesting, setup};

/// A set of probes detached together when the group is dropped (or
/// [`detach_all`](ProbeGroup::detach_all) is called), in one batch with one
/// grace period.
///
/// Attach to a group with the event's `attach_in(&group, closure)`, or
/// [`Setup::attach_in`](crate::Setup::attach_in).
///
/// A [`ProbeGroup::current_thread`] group is *thread-scoped*: its probes run
/// only for events fired on the thread that created the group. Parallel
/// tests (each test runs on its own thread under `cargo test`) then never
/// see each other's events, even when they attach to the same event:
///
/// ```
/// heapwise_probe::declare! { fn tick(n: u32); }
/// use std::sync::atomic::{AtomicU32, Ordering};
/// static SEEN: AtomicU32 = AtomicU32::new(0);
/// let group = heapwise_probe::ProbeGroup::current_thread();
/// tick::attach_in(&group, |n| { SEEN.fetch_add(n, Ordering::Relaxed); });
/// std::thread::spawn(|| tick(100)).join().unwrap(); // another thread: not seen
/// tick(1);
/// drop(group);
/// tick(10); // detached
/// assert_eq!(SEEN.load(Ordering::Relaxed), 1);
/// ```
pub struct ProbeGroup {
    ids: Mutex<Vec<u64>>,
    /// 0: every thread; otherwise the thread number whose events it sees.
    thread: u64,
}

impl ProbeGroup {
    /// An empty group whose probes fire for events on every thread.
    pub fn new() -> ProbeGroup {
        ProbeGroup {
            ids: Mutex::new(Vec::new()),
            thread: 0,
        }
    }

    /// An empty thread-scoped group: its probes fire only for events fired
    /// on the calling thread. The group may be moved to and dropped on any
    /// thread; its probes keep firing for the creating thread only.
    pub fn current_thread() -> ProbeGroup {
        ProbeGroup {
            ids: Mutex::new(Vec::new()),
            thread: nesting::thread_number(),
        }
    }

    /// Whether the group is thread-scoped.
    pub fn is_thread_scoped(&self) -> bool {
        self.thread != 0
    }

    /// The number of probes attached through the group (and not yet
    /// detached with it).
    pub fn len(&self) -> usize {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no probe is attached through the group.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Detaches every probe of the group (the group stays usable). When this
    /// returns, none of them is running or will run again, and their
    /// closures have been dropped. Resumes the first panic of those probes,
    /// if one panicked (see [`Probe`](crate::Probe)).
    pub fn detach_all(&self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(PoisonError::into_inner));
        setup::detach_ids(&ids);
    }

    /// Attaches `p` through this group; the generated `event::attach_in`
    /// calls this.
    #[doc(hidden)]
    pub fn __attach(&self, p: NewProbe) {
        // The group's lock is not held across the attach (lock order: a
        // setup closure holding the registry may call `detach_all`). A probe
        // attached while another thread runs `detach_all` is detached by the
        // next `detach_all` or the drop.
        let id = setup::attach(p, self.thread);
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
    }
}

impl Default for ProbeGroup {
    fn default() -> Self {
        ProbeGroup::new()
    }
}

impl Drop for ProbeGroup {
    fn drop(&mut self) {
        self.detach_all();
    }
}

impl fmt::Debug for ProbeGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeGroup")
            .field("probes", &self.len())
            .field("thread_scoped", &self.is_thread_scoped())
            .finish()
    }
}
