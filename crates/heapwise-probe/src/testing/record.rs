//! What the recorder and the tracer capture: [`Record`]s, and a [`Log`] of
//! them.

use std::cell::OnceCell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::thread::ThreadId;

use crate::{Event, OwnedValue, Value};

/// One occurrence of an event: where it fired and its arguments, owned.
///
/// `Display` prints the call, `event(arg=value, ..)`, values in their
/// `Debug` form (`queue_push(item=1, name="a")`); [`line`](Record::line)
/// prefixes the thread.
#[derive(Clone)]
pub struct Record {
    /// The thread that fired the event.
    pub thread: ThreadId,
    /// Its name, if it has one.
    pub thread_name: Option<Arc<str>>,
    /// The event.
    pub event: &'static Event,
    /// Its arguments, in declaration order.
    pub args: Vec<OwnedValue>,
}

thread_local! {
    /// This thread's id and name, looked up once. A thread-local with a
    /// destructor: after it ran, `try_with` fails and the event is missed
    /// (std's own `thread::current()` may panic by then).
    static THIS_THREAD: OnceCell<(ThreadId, Option<Arc<str>>)> = const { OnceCell::new() };
}

impl Record {
    /// Records an occurrence of `event` on this thread; `None` if this
    /// thread's thread-locals are gone (it is exiting).
    pub(crate) fn new(event: &'static Event, args: &[Value<'_>]) -> Option<Record> {
        let (thread, thread_name) = THIS_THREAD
            .try_with(|t| {
                t.get_or_init(|| {
                    let me = std::thread::current();
                    (me.id(), me.name().map(Arc::from))
                })
                .clone()
            })
            .ok()?;
        Some(Record {
            thread,
            thread_name,
            event,
            args: args.iter().map(|v| v.into_owned()).collect(),
        })
    }

    /// The event's name.
    pub fn name(&self) -> &'static str {
        self.event.name()
    }

    /// The argument called `name`.
    ///
    /// # Panics
    ///
    /// If the event has no such argument (the message lists them).
    pub fn arg(&self, name: &str) -> &OwnedValue {
        self.get(name)
            .unwrap_or_else(|| panic!("heapwise-probe: {} has no argument `{name}`", self.event))
    }

    /// The argument called `name`, if the event has one.
    pub fn get(&self, name: &str) -> Option<&OwnedValue> {
        let i = self.event.args().iter().position(|a| a.name == name)?;
        self.args.get(i)
    }

    /// The thread's name, or its id (`ThreadId(3)`) if it has none.
    pub fn thread_label(&self) -> String {
        match &self.thread_name {
            Some(n) => n.to_string(),
            None => format!("{:?}", self.thread),
        }
    }

    /// One line: `thread: event(arg=value, ..)`.
    pub fn line(&self) -> String {
        format!("{}: {self}", self.thread_label())
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.event.name())?;
        for (i, (arg, v)) in self.event.args().iter().zip(&self.args).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={v:?}", arg.name)?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("thread", &self.thread_label())
            .field("event", &format_args!("{}", self.event))
            .field("args", &self.args)
            .finish()
    }
}

/// Records, in the order they were taken (each thread's in its firing
/// order). Dereferences to `[Record]`; `Display` prints one
/// [`line`](Record::line) per record.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub(crate) records: Vec<Record>,
    pub(crate) missed: u64,
}

impl Log {
    /// Each record's call, `event(arg=value, ..)`, without the thread.
    pub fn calls(&self) -> Vec<String> {
        self.records.iter().map(Record::to_string).collect()
    }

    /// Each record's [`line`](Record::line), `thread: event(arg=value, ..)`.
    pub fn lines(&self) -> Vec<String> {
        self.records.iter().map(Record::line).collect()
    }

    /// The records of the thread `id`.
    pub fn thread(&self, id: ThreadId) -> Log {
        self.filter(|r| r.thread == id)
    }

    /// The records of the threads named `name`.
    pub fn thread_named(&self, name: &str) -> Log {
        self.filter(|r| r.thread_name.as_deref() == Some(name))
    }

    /// The records of the event `event`.
    pub fn event(&self, event: &'static Event) -> Log {
        self.filter(|r| std::ptr::eq(r.event, event))
    }

    /// The records for which `keep` returns true.
    pub fn filter(&self, mut keep: impl FnMut(&Record) -> bool) -> Log {
        Log {
            records: self.records.iter().filter(|r| keep(r)).cloned().collect(),
            missed: self.missed,
        }
    }

    /// Events not recorded because they fired on an exiting thread, after
    /// its thread-locals were destroyed.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The records.
    pub fn into_records(self) -> Vec<Record> {
        self.records
    }
}

impl Deref for Log {
    type Target = [Record];
    fn deref(&self) -> &[Record] {
        &self.records
    }
}

impl IntoIterator for Log {
    type Item = Record;
    type IntoIter = std::vec::IntoIter<Record>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.into_iter()
    }
}

impl<'a> IntoIterator for &'a Log {
    type Item = &'a Record;
    type IntoIter = std::slice::Iter<'a, Record>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}

impl fmt::Display for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.records {
            writeln!(f, "{}", r.line())?;
        }
        Ok(())
    }
}
