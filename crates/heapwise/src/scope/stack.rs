//! The scopes a thread has entered, as a stack of guards.
//!
//! # Why a stack
//!
//! A [`ScopeGuard`](crate::ScopeGuard) held across an `.await` can be
//! dropped out of order: two tasks on one thread each enter a scope, the
//! first finishes while the second still holds its guard. Restoring "the
//! scope before me" on drop (what a guard did before) then puts the thread
//! back into the second task's scope after both ended. So each thread keeps
//! the guards it entered, innermost last, each with a unique sequence
//! number. Dropping a guard removes *its* entry wherever it is: the
//! innermost one makes the next one current; one further down only leaves
//! the stack, and the current scope stays (its entry is marked removed and
//! dropped once everything above it has gone, so an out-of-order drop costs
//! a binary search, not a shift). After every guard is dropped, in
//! any order, the thread is outside every scope again, as it started
//! (tracing-subscriber's registry treats out-of-order span exits the same
//! way).
//!
//! [`Scope::enter_keyed`](crate::Scope::enter_keyed) puts an entry with a
//! caller's key (a span id) on the same stack, and
//! [`Scope::leave_keyed`](crate::Scope::leave_keyed) removes the innermost
//! entry with that key: no guard to keep, so an integration with separate
//! enter and exit callbacks needs no stack of its own. The innermost entry
//! is checked first, so leaving in order costs no search.
//!
//! Each entry owns the thread's reference (weight `THREAD_REF` in
//! `scope.rs`) on its scope, so a scope stays alive while any entry names
//! it, even behind a leaked guard.
//!
//! # Storage
//!
//! The first [`INLINE`] entries live in a `const` thread-local with no
//! destructor, so entering a scope costs no allocation and works during
//! thread exit; deeper nesting spills to a buffer from [`System`] (never
//! the global allocator: entering a scope is not the program's memory),
//! freed when the stack shrinks back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;

use crate::scope::ScopeInner;

/// Entries kept without allocating.
const INLINE: usize = 16;

#[derive(Clone, Copy, Debug)]
struct Entry {
    scope: *const ScopeInner,
    /// Increasing from the bottom of the stack up, with [`REMOVED`] set once
    /// the entry's guard is dropped while entries above it remain.
    seq: u64,
    /// The caller's key of an entry made by `Scope::enter_keyed`, 0 for a
    /// guard's.
    key: u64,
}

/// Marks an entry whose guard was dropped out of order.
const REMOVED: u64 = 1 << 63;

const EMPTY: Entry = Entry {
    scope: ptr::null(),
    seq: 0,
    key: 0,
};

/// One thread's stack. See the module docs.
struct Stack {
    inline: [Cell<Entry>; INLINE],
    /// Entries beyond `INLINE`, from `System`; null when none.
    spill: Cell<*mut Entry>,
    spill_cap: Cell<usize>,
    len: Cell<usize>,
    next_seq: Cell<u64>,
}

thread_local! {
    static STACK: Stack = const {
        Stack {
            inline: [const { Cell::new(EMPTY) }; INLINE],
            spill: Cell::new(ptr::null_mut()),
            spill_cap: Cell::new(0),
            len: Cell::new(0),
            next_seq: Cell::new(1),
        }
    };
}

impl Stack {
    fn get(&self, i: usize) -> Entry {
        debug_assert!(i < self.len.get());
        if i < INLINE {
            return self.inline[i].get();
        }
        debug_assert!(i - INLINE < self.spill_cap.get());
        // SAFETY: `i - INLINE < spill_cap` (entries below `len` are stored, and
        // the spill holds `spill_cap` of them), so the slot is in bounds and was
        // written by `set`.
        unsafe { *self.spill.get().add(i - INLINE) }
    }

    fn set(&self, i: usize, e: Entry) {
        if i < INLINE {
            return self.inline[i].set(e);
        }
        debug_assert!(i - INLINE < self.spill_cap.get());
        // SAFETY: as in `get`; the buffer is only reached from this thread.
        unsafe { *self.spill.get().add(i - INLINE) = e }
    }

    /// Resizes the spill to `cap` entries (0 frees it).
    fn resize_spill(&self, cap: usize) {
        let old = self.spill.get();
        let old_cap = self.spill_cap.get();
        let layout = |n: usize| Layout::array::<Entry>(n).expect("scope stack layout");
        let new = if cap == 0 {
            ptr::null_mut()
        } else {
            // SAFETY: `layout(cap)` has a non-zero size; the old buffer (if any)
            // came from `System` with `layout(old_cap)`.
            let p = unsafe {
                if old.is_null() {
                    System.alloc(layout(cap))
                } else {
                    System.realloc(old.cast(), layout(old_cap), layout(cap).size())
                }
            };
            if p.is_null() {
                std::alloc::handle_alloc_error(layout(cap));
            }
            p.cast::<Entry>()
        };
        if cap == 0 && !old.is_null() {
            // SAFETY: allocated above with this layout.
            unsafe { System.dealloc(old.cast(), layout(old_cap)) };
        }
        self.spill.set(new);
        self.spill_cap.set(cap);
        crate::local::process::own((cap as isize - old_cap as isize) * size_of::<Entry>() as isize);
    }

    #[inline]
    fn push(&self, scope: *const ScopeInner, key: u64) -> u64 {
        let (len, seq) = (self.len.get(), self.next_seq.get());
        debug_assert!(seq < REMOVED);
        if len >= INLINE {
            return self.push_spilled(scope, key);
        }
        self.next_seq.set(seq + 1);
        self.len.set(len + 1);
        self.inline[len].set(Entry { scope, seq, key });
        seq
    }

    /// [`push`](Self::push) beyond the inline entries.
    #[cold]
    #[inline(never)]
    fn push_spilled(&self, scope: *const ScopeInner, key: u64) -> u64 {
        let (len, seq) = (self.len.get(), self.next_seq.get());
        if len >= INLINE + self.spill_cap.get() {
            self.resize_spill((self.spill_cap.get() * 2).max(INLINE));
        }
        self.next_seq.set(seq + 1);
        self.len.set(len + 1);
        self.set(len, Entry { scope, seq, key });
        seq
    }

    fn top(&self) -> *const ScopeInner {
        match self.len.get() {
            0 => ptr::null(),
            n => {
                let e = self.get(n - 1);
                debug_assert!(e.seq & REMOVED == 0, "removed entries never stay on top");
                e.scope
            }
        }
    }

    /// Drops the innermost entry if it is `seq` and the stack is shallow
    /// and has no removed entry just below it (the usual exit, in order):
    /// returns its scope and the new innermost one's. `None`: use
    /// [`remove`](Self::remove).
    #[inline]
    fn pop_top(&self, seq: u64) -> Option<(*const ScopeInner, *const ScopeInner)> {
        let len = self.len.get();
        if len == 0 || len > INLINE {
            return None;
        }
        let top = self.inline[len - 1].get();
        if top.seq != seq {
            return None;
        }
        let below = match len.checked_sub(2) {
            Some(i) => self.inline[i].get(),
            None => EMPTY,
        };
        if below.seq & REMOVED != 0 {
            return None;
        }
        debug_assert!(self.spill_cap.get() == 0 || len > INLINE);
        self.len.set(len - 1);
        Some((top.scope, below.scope))
    }

    /// Removes the entry `seq`; returns its scope and whether it was the
    /// innermost, or `None` if it is not on the stack.
    #[inline(never)]
    fn remove(&self, seq: u64) -> Option<(*const ScopeInner, bool)> {
        let mut len = self.len.get();
        // Exits in order (the usual case) remove the top: no search.
        // Otherwise: sequence numbers increase up the stack, binary search.
        let (mut lo, mut hi) = match len.checked_sub(1) {
            Some(top) if self.get(top).seq == seq => (top, top),
            _ => (0, len),
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).seq & !REMOVED < seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let e = (lo < len).then(|| self.get(lo)).filter(|e| e.seq == seq)?;
        if lo + 1 < len {
            self.set(
                lo,
                Entry {
                    seq: seq | REMOVED,
                    ..e
                },
            );
            return Some((e.scope, false));
        }
        len -= 1;
        while len > 0 && self.get(len - 1).seq & REMOVED != 0 {
            len -= 1;
        }
        self.len.set(len);
        let cap = self.spill_cap.get();
        if cap > 0 && len <= INLINE + cap / 4 {
            // Shrunk well below the spill: give memory back.
            self.resize_spill(if len <= INLINE { 0 } else { cap / 2 });
        }
        Some((e.scope, true))
    }
}

/// Pushes an entry for `scope` (which carries the thread's reference) with
/// `key` (0: a guard's) and returns its sequence number. The caller makes
/// `scope` current.
#[inline]
pub(crate) fn push(scope: *const ScopeInner, key: u64) -> u64 {
    STACK.with(|s| s.push(scope, key))
}

/// What dropping the guard `seq` changes.
#[derive(Debug)]
pub(crate) struct Popped {
    /// The entry's scope, whose thread reference the caller releases.
    pub(crate) scope: *const ScopeInner,
    /// `Some(new current scope)` if the entry was the innermost.
    pub(crate) current: Option<*const ScopeInner>,
}

/// Removes the guard `seq`'s entry. `None` if it is not on this thread's
/// stack (a guard can only be dropped on its thread, so never in practice).
#[inline]
pub(crate) fn pop(seq: u64) -> Option<Popped> {
    STACK.with(|s| s.pop(seq))
}

/// Removes the innermost entry made with `key` (non-zero). `None` if there
/// is none on this thread's stack.
#[inline]
pub(crate) fn pop_keyed(key: u64) -> Option<Popped> {
    debug_assert_ne!(key, 0, "0 is the key of guards' entries");
    STACK.with(|s| {
        let len = s.len.get();
        if (1..=INLINE).contains(&len) && s.inline[len - 1].get().key == key {
            let seq = s.inline[len - 1].get().seq;
            return s.pop(seq);
        }
        let seq = s.find_key(key)?;
        s.pop(seq)
    })
}

impl Stack {
    #[inline]
    fn pop(&self, seq: u64) -> Option<Popped> {
        if let Some((scope, below)) = self.pop_top(seq) {
            return Some(Popped {
                scope,
                current: Some(below),
            });
        }
        let (scope, innermost) = self.remove(seq)?;
        Some(Popped {
            scope,
            current: innermost.then(|| self.top()),
        })
    }

    /// The sequence number of the innermost live entry with `key`.
    #[inline(never)]
    fn find_key(&self, key: u64) -> Option<u64> {
        (0..self.len.get())
            .rev()
            .map(|i| self.get(i))
            .find(|e| e.key == key && e.seq & REMOVED == 0)
            .map(|e| e.seq)
    }
}

/// Entries on this thread's stack.
#[cfg(test)]
pub(crate) fn depth() -> usize {
    STACK.with(|s| s.len.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(n: usize) -> *const ScopeInner {
        (n * 64) as *const ScopeInner
    }

    #[test]
    fn in_order_and_out_of_order_removal() {
        let a = push(fake(1), 0);
        let b = push(fake(2), 0);
        let c = push(fake(3), 0);
        // Out of order: b leaves, c stays current.
        let p = pop(b).unwrap();
        assert_eq!((p.scope, p.current), (fake(2), None));
        let p = pop(c).unwrap();
        assert_eq!((p.scope, p.current), (fake(3), Some(fake(1))));
        assert!(pop(c).is_none(), "already removed");
        let p = pop(a).unwrap();
        assert_eq!(p.current, Some(ptr::null()));
        assert_eq!(depth(), 0);
    }

    #[test]
    fn out_of_order_at_depth() {
        let seqs: Vec<u64> = (1..=100).map(|n| push(fake(n), 0)).collect();
        // Bottom up: every drop but the last leaves the top current.
        for &seq in &seqs[..99] {
            assert_eq!(pop(seq).unwrap().current, None);
        }
        let p = pop(seqs[99]).unwrap();
        assert_eq!((p.scope, p.current), (fake(100), Some(ptr::null())));
        assert_eq!(depth(), 0, "the removed entries went with the top");
        STACK.with(|s| assert_eq!(s.spill_cap.get(), 0));
    }

    #[test]
    fn keyed_entries_leave_by_key() {
        let a = push(fake(1), 7);
        let _b = push(fake(2), 0);
        push(fake(3), 7);
        push(fake(4), 9);
        // Out of order: the innermost entry keyed 7 leaves, 9 stays current.
        let p = pop_keyed(7).unwrap();
        assert_eq!((p.scope, p.current), (fake(3), None));
        let p = pop_keyed(9).unwrap();
        assert_eq!((p.scope, p.current), (fake(4), Some(fake(2))));
        assert!(pop_keyed(9).is_none(), "already left");
        let p = pop(_b).unwrap();
        assert_eq!(p.current, Some(fake(1)));
        let p = pop_keyed(7).unwrap();
        assert_eq!((p.scope, p.current), (fake(1), Some(ptr::null())));
        assert!(pop(a).is_none());
        assert_eq!(depth(), 0);
    }

    #[test]
    fn deep_stacks_spill_and_shrink() {
        let seqs: Vec<u64> = (1..=1000).map(|n| push(fake(n), 0)).collect();
        assert_eq!(depth(), 1000);
        for (n, &seq) in seqs.iter().enumerate().rev() {
            let p = pop(seq).unwrap();
            assert_eq!(p.scope, fake(n + 1));
            let below = if n == 0 { ptr::null() } else { fake(n) };
            assert_eq!(p.current, Some(below));
        }
        STACK.with(|s| assert_eq!(s.spill_cap.get(), 0, "spill freed"));
    }
}
