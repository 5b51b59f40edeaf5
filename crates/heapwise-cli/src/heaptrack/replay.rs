//! The peak and the temporary allocations of a recording, found by
//! replaying its allocations and frees in order as heaptrack's analysis
//! (`heaptrack_print`, `heaptrack_gui`) does, so the totals are its
//! "peak heap memory consumption" and "temporary memory allocations".
//!
//! # The peak
//!
//! The live bytes go up by a block's size at each `+` and down at each
//! `-`; the peak is the first moment they are highest (heaptrack checks
//! after each allocation, with a strict `>`). What each allocation info
//! had live then is kept without copying every info at each new high: an
//! info remembers the event that last changed it, and when it changes
//! after the moment of the highest so far, what it had live before the
//! change is what it had at that moment. The highest only moves forward,
//! and an info that changes after the final peak did so first while that
//! peak was already the highest, so the value kept is the one at the
//! final peak.
//!
//! # Temporary allocations
//!
//! A free is temporary when it frees what the last allocation allocated,
//! with nothing freed in between. heaptrack compares, as its analysis
//! does, not blocks but what the file names: from format 1 on an
//! allocation info (a block size at a trace), so freeing another block of
//! the size and trace allocated last counts too; in format 0 the block's
//! address. After any free the last allocation is "0", which is also
//! allocation info 0: a free of info 0 right after another free counts as
//! temporary, as in heaptrack (a free of an unknown address in format 0
//! changes nothing). Allocations of all threads are one sequence in the
//! file, so one thread's allocation between another's allocation and
//! free makes that free not temporary. heaptrack records a `realloc` as a
//! free of the old block, then an allocation of the new one.
//!
//! heaptrack_interpret's own "temporary allocations" (printed when a
//! recording ends) compares addresses, so it can be lower than the
//! analysis's: 20057 against 20059 for the accuracy test's workload, one
//! being libstdc++'s start-up pool (allocation info 0) freed at exit
//! right after another free. An `A` line (heaptrack attached) resets
//! nothing: heaptrack's analysis resets its totals there only in its
//! first pass, and what it prints comes from the second.

use super::error::{Error, ErrorKind, Result};
use super::recording::Info;

/// The replay's state between events.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// `+` and `-` events so far.
    events: u64,
    /// Live bytes now, and at the peak (a `u128`: 2^64 blocks of 2^64
    /// bytes fit).
    live: u128,
    peak: u128,
    /// The event at which the live bytes first reached `peak` (0: none).
    peak_event: u64,
    /// heaptrack's `lastAllocationPtr`: the allocation info (format 1 on)
    /// or address (format 0) allocated last, 0 after a free.
    last: u64,
}

impl Replay {
    /// A block of `info`, named `key` (its index, or its address in format
    /// 0), is allocated.
    pub(crate) fn allocated(&mut self, info: &mut Info, key: u64, line: u64) -> Result<()> {
        self.changing(info);
        info.allocs = info.allocs.checked_add(1).ok_or_else(|| overflow(line))?;
        self.live += u128::from(info.size);
        self.last = key;
        if self.live > self.peak {
            self.peak = self.live;
            self.peak_event = self.events;
        }
        Ok(())
    }

    /// A block of `info`, named `key`, is freed (`info` has one live).
    pub(crate) fn freed(&mut self, info: &mut Info, key: u64) {
        self.changing(info);
        info.frees += 1;
        self.live -= u128::from(info.size);
        if self.last == key {
            info.temporary += 1;
        }
        self.last = 0;
    }

    /// Keeps what `info` had live at the highest so far if this change is
    /// its first after it, and counts the event.
    fn changing(&mut self, info: &mut Info) {
        self.events += 1;
        if info.changed_at <= self.peak_event {
            info.live_at_peak = info.allocs - info.frees;
        }
        info.changed_at = self.events;
    }

    /// The live bytes at the peak.
    pub(crate) fn peak_bytes(&self) -> u128 {
        self.peak
    }

    /// The blocks of `info` live at the peak, once the replay is done.
    pub(crate) fn live_at_peak(&self, info: &Info) -> u64 {
        if info.changed_at <= self.peak_event {
            info.allocs - info.frees
        } else {
            info.live_at_peak
        }
    }
}

fn overflow(line: u64) -> Error {
    Error::new(
        ErrorKind::Malformed,
        format!("line {line}: more than 2^64 allocations"),
    )
}
