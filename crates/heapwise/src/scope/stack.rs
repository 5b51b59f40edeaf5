//! The scopes a thread has entered, as a stack of guards.
//!
//! # Why a stack
//!
//! A [`ScopeGuard`](crate::ScopeGuard) held across an `.await` can be
//! dropped out of order: two tasks on one thread each enter a scope, the
//! first finishes while the second still holds its guard. Restoring "the
//! scope before me" on drop (what a guard did before) then puts the thread
//! back into the second task's scope after both ended. So each thread keeps
//! the guards it entered, innermost last, and each guard knows its entry's
//! position. Dropping a guard removes *its* entry wherever it is: the
//! innermost one makes the next one current; one further down only leaves
//! the stack, and the current scope stays (its entry is marked removed and
//! dropped once everything above it has gone, so nothing moves and an
//! out-of-order drop costs no search). After every guard is dropped, in
//! any order, the thread is outside every scope again, as it started
//! (tracing-subscriber's registry treats out-of-order span exits the same
//! way). A position names one entry for the guard's whole life: entries
//! never move, and a position is reused only after its entry is gone,
//! which only its own guard can do (guards are not `Send`).
//!
//! [`Scope::enter_keyed`](crate::Scope::enter_keyed) puts an entry with a
//! caller's key (a span id) on the same stack, and
//! [`Scope::leave_keyed`](crate::Scope::leave_keyed) removes the innermost
//! entry with that key: no guard to keep, so an integration with separate
//! enter and exit callbacks needs no stack of its own. The innermost entry
//! is checked first, so leaving in order costs no search.
//!
//! Each entry owns the thread's reference (weight `THREAD_REF` in
//! `inner.rs`) on its scope, so a scope stays alive while any entry names
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
    /// The entered scope (null: outside every scope, `untracked`), or
    /// [`REMOVED`].
    scope: *const ScopeInner,
    /// The caller's key of an entry made by `Scope::enter_keyed`, 0 for a
    /// guard's.
    key: u64,
}

/// The scope of an entry left out of order, until the entries above it go.
/// Never a scope's address (those are aligned).
const REMOVED: *const ScopeInner = ptr::without_provenance(1);

const EMPTY: Entry = Entry {
    scope: ptr::null(),
    key: 0,
};

impl Entry {
    fn is_removed(self) -> bool {
        self.scope == REMOVED
    }
}

/// One thread's stack. See the module docs.
struct Stack {
    inline: [Cell<Entry>; INLINE],
    /// Entries beyond `INLINE`, from `System`; null when none.
    spill: Cell<*mut Entry>,
    spill_cap: Cell<usize>,
    len: Cell<usize>,
}

thread_local! {
    static STACK: Stack = const {
        Stack {
            inline: [const { Cell::new(EMPTY) }; INLINE],
            spill: Cell::new(ptr::null_mut()),
            spill_cap: Cell::new(0),
            len: Cell::new(0),
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
    fn push(&self, scope: *const ScopeInner, key: u64) -> usize {
        debug_assert!(scope != REMOVED);
        let len = self.len.get();
        if len >= INLINE {
            return self.push_spilled(scope, key);
        }
        self.len.set(len + 1);
        self.inline[len].set(Entry { scope, key });
        len
    }

    /// [`push`](Self::push) beyond the inline entries.
    #[cold]
    #[inline(never)]
    fn push_spilled(&self, scope: *const ScopeInner, key: u64) -> usize {
        let len = self.len.get();
        if len >= INLINE + self.spill_cap.get() {
            self.resize_spill((self.spill_cap.get() * 2).max(INLINE));
        }
        self.len.set(len + 1);
        self.set(len, Entry { scope, key });
        len
    }

    /// The innermost entry's scope (null if none).
    fn top(&self) -> *const ScopeInner {
        match self.len.get() {
            0 => ptr::null(),
            n => {
                let e = self.get(n - 1);
                debug_assert!(!e.is_removed(), "removed entries never stay on top");
                e.scope
            }
        }
    }

    /// Removes the entry at `at`. See [`pop`].
    #[inline]
    fn pop(&self, at: usize) -> Option<Popped> {
        if at + 1 == self.len.get() {
            if let Some(popped) = self.pop_top_inline(at) {
                return Some(popped);
            }
        }
        self.remove(at)
    }

    /// Removes the innermost entry, at `at`, if it is inline and the one
    /// below is not removed (the usual exit, in order); `None` otherwise.
    #[inline]
    fn pop_top_inline(&self, at: usize) -> Option<Popped> {
        debug_assert_eq!(at + 1, self.len.get());
        let top = self.inline.get(at)?.get();
        let below = match at.checked_sub(1) {
            Some(i) => self.inline[i].get(),
            None => EMPTY,
        };
        if below.is_removed() {
            return None;
        }
        debug_assert!(!top.is_removed());
        debug_assert_eq!(self.spill_cap.get(), 0);
        self.len.set(at);
        Some(Popped {
            scope: top.scope,
            current: Some(below.scope),
        })
    }

    /// [`pop`](Self::pop) out of order, deep, or with removed entries
    /// below.
    #[inline(never)]
    fn remove(&self, at: usize) -> Option<Popped> {
        let mut len = self.len.get();
        let e = (at < len)
            .then(|| self.get(at))
            .filter(|e| !e.is_removed())?;
        if at + 1 < len {
            self.set(
                at,
                Entry {
                    scope: REMOVED,
                    key: 0,
                },
            );
            return Some(Popped {
                scope: e.scope,
                current: None,
            });
        }
        len -= 1;
        while len > 0 && self.get(len - 1).is_removed() {
            len -= 1;
        }
        self.len.set(len);
        let cap = self.spill_cap.get();
        if cap > 0 && len <= INLINE + cap / 4 {
            // Shrunk well below the spill: give memory back.
            self.resize_spill(if len <= INLINE { 0 } else { cap / 2 });
        }
        Some(Popped {
            scope: e.scope,
            current: Some(self.top()),
        })
    }

    /// The position of the innermost live entry with `key`.
    #[inline(never)]
    fn find_key(&self, key: u64) -> Option<usize> {
        (0..self.len.get())
            .rev()
            .find(|&i| self.get(i).key == key && !self.get(i).is_removed())
    }
}

/// Pushes an entry for `scope` (which carries the thread's reference) with
/// `key` (0: a guard's) and returns its position. The caller makes `scope`
/// current.
#[inline]
pub(crate) fn push(scope: *const ScopeInner, key: u64) -> usize {
    STACK.with(|s| s.push(scope, key))
}

/// What removing an entry changes.
#[derive(Debug)]
pub(crate) struct Popped {
    /// The entry's scope, whose thread reference the caller releases.
    pub(crate) scope: *const ScopeInner,
    /// `Some(new current scope)` if the entry was the innermost.
    pub(crate) current: Option<*const ScopeInner>,
}

/// Removes the entry at `at` (a guard's). `None` if there is none there
/// (a guard can only be dropped on its thread, so never in practice).
#[inline]
pub(crate) fn pop(at: usize) -> Option<Popped> {
    STACK.with(|s| s.pop(at))
}

/// Removes the innermost entry made with `key` (non-zero). `None` if there
/// is none on this thread's stack.
#[inline]
pub(crate) fn pop_keyed(key: u64) -> Option<Popped> {
    debug_assert_ne!(key, 0, "0 is the key of guards' entries");
    STACK.with(|s| {
        if let Some(at) = s.len.get().checked_sub(1) {
            if s.inline.get(at).is_some_and(|e| e.get().key == key) {
                if let Some(popped) = s.pop_top_inline(at) {
                    return Some(popped);
                }
            }
        }
        let at = s.find_key(key)?;
        s.pop(at)
    })
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
        let ats: Vec<usize> = (1..=100).map(|n| push(fake(n), 0)).collect();
        // Bottom up: every drop but the last leaves the top current.
        for &at in &ats[..99] {
            assert_eq!(pop(at).unwrap().current, None);
        }
        let p = pop(ats[99]).unwrap();
        assert_eq!((p.scope, p.current), (fake(100), Some(ptr::null())));
        assert_eq!(depth(), 0, "the removed entries went with the top");
        STACK.with(|s| assert_eq!(s.spill_cap.get(), 0));
    }

    #[test]
    fn entries_keep_their_positions_across_out_of_order_removals() {
        let a = push(fake(1), 0);
        let b = push(fake(2), 0);
        assert!(pop(a).unwrap().current.is_none());
        let c = push(fake(3), 0);
        assert_eq!(c, 2, "a removed entry keeps its place until the top goes");
        assert!(pop(b).unwrap().current.is_none());
        let p = pop(c).unwrap();
        assert_eq!((p.scope, p.current), (fake(3), Some(ptr::null())));
        assert_eq!(depth(), 0);
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
        let ats: Vec<usize> = (1..=1000).map(|n| push(fake(n), 0)).collect();
        assert_eq!(depth(), 1000);
        for (n, &at) in ats.iter().enumerate().rev() {
            let p = pop(at).unwrap();
            assert_eq!(p.scope, fake(n + 1));
            let below = if n == 0 { ptr::null() } else { fake(n) };
            assert_eq!(p.current, Some(below));
        }
        STACK.with(|s| assert_eq!(s.spill_cap.get(), 0, "spill freed"));
    }
}
