//! Static listing of every event declared in the binary.
//!
//! Each [`declare!`](macro@crate::declare) adds its events to one `linkme`
//! distributed slice: the linker gathers them into a section, so the list
//! is complete before `main`, before any event fired, with no constructor
//! and no allocation (go123's `gotrace list`, without a separate tool).

use std::fmt;
use std::ops::Deref;

use crate::Event;

#[doc(hidden)]
#[linkme::distributed_slice]
pub static __EVENTS: [&'static Event];

/// Every event declared in the binary (in all its crates), sorted by module
/// then name. `Display` prints one per line, as
/// `crate::module:event(arg: type, ...)`.
///
/// ```
/// heapwise_probe::declare! {
///     pub fn request_start(id: u64, path: &str);
/// }
/// let all = heapwise_probe::list();
/// let e = all.iter().find(|e| e.name() == "request_start").unwrap();
/// assert_eq!(e.to_string(), "rust_out:request_start(id: u64, path: &str)");
/// print!("{all}");
/// ```
pub fn list() -> Events {
    let mut v: Vec<&'static Event> = all().to_vec();
    v.sort_by(|a, b| {
        (a.module(), a.name(), a.file(), a.line()).cmp(&(b.module(), b.name(), b.file(), b.line()))
    });
    Events(v)
}

/// The sum of [`Event::dropped`] over every declared event: occurrences
/// not delivered because they fired inside a probe on the same thread.
pub fn dropped() -> u64 {
    all().iter().map(|e| e.dropped()).sum()
}

/// The slice; empty under Miri, which cannot read linker sections.
fn all() -> &'static [&'static Event] {
    if cfg!(miri) {
        &[]
    } else {
        &__EVENTS
    }
}

/// The events returned by [`list`]: a sorted slice of `&'static Event`
/// whose `Display` prints one event per line.
#[derive(Debug, Clone)]
pub struct Events(Vec<&'static Event>);

impl Deref for Events {
    type Target = [&'static Event];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl IntoIterator for Events {
    type Item = &'static Event;
    type IntoIter = std::vec::IntoIter<&'static Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            if f.alternate() {
                writeln!(f, "{e:#}")?;
            } else {
                writeln!(f, "{e}")?;
            }
        }
        Ok(())
    }
}
