//! A scope's name, kept in heapwise's own memory.
//!
//! A name given as a `String` is a block of the program's, and the scope
//! that holds it (`ScopeInner`) lives in memory from [`System`], which a
//! heap snapshot does not scan (`snapshot/scan.rs`: the C library's heap is
//! no root). Kept as given, the name would be held by nothing a snapshot
//! sees, and every leak check would report it. So an owned name is copied
//! into memory from `System` (counted as heapwise's own) and the `String`
//! is dropped; a `&'static str` is kept as it is.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::fmt;
use std::ptr::NonNull;

/// See the module docs.
pub(crate) struct Name {
    ptr: NonNull<u8>,
    len: usize,
    /// The bytes are a copy from `System`, freed with the name.
    own: bool,
}

// SAFETY: a `Name` is an immutable string: a `&'static str` or a buffer it
// owns alone.
unsafe impl Send for Name {}
// SAFETY: as above.
unsafe impl Sync for Name {}

impl Name {
    pub(crate) fn new(name: Cow<'static, str>) -> Name {
        let s = match name {
            Cow::Borrowed(s) => return Name::borrowed(s),
            Cow::Owned(s) => s,
        };
        if s.is_empty() {
            return Name::borrowed("");
        }
        let layout = Layout::for_value(s.as_bytes());
        // SAFETY: `layout` has a non-zero size.
        let p = unsafe { System.alloc(layout) };
        let Some(ptr) = NonNull::new(p) else {
            std::alloc::handle_alloc_error(layout);
        };
        // SAFETY: `ptr` is a fresh buffer of `s.len()` bytes.
        unsafe { ptr.as_ptr().copy_from_nonoverlapping(s.as_ptr(), s.len()) };
        crate::local::process::own(s.len() as isize);
        Name {
            ptr,
            len: s.len(),
            own: true,
        }
    }

    fn borrowed(s: &'static str) -> Name {
        Name {
            // SAFETY: a `&str`'s pointer is never null.
            ptr: unsafe { NonNull::new_unchecked(s.as_ptr().cast_mut()) },
            len: s.len(),
            own: false,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // SAFETY: `ptr..ptr + len` is a `&'static str` or a copy of a `str`,
        // alive as long as `self`.
        unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr.as_ptr(), self.len))
        }
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        if self.own {
            // SAFETY: allocated in `new` from `System` with this layout.
            unsafe {
                System.dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.len, 1),
                )
            };
            crate::local::process::own(-(self.len as isize));
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_names_are_copied_and_static_ones_kept() {
        let s: &'static str = "parse";
        let n = Name::new(Cow::Borrowed(s));
        assert_eq!((n.as_str(), n.as_str().as_ptr()), ("parse", s.as_ptr()));
        let owned = String::from("request-42");
        let at = owned.as_ptr();
        let n = Name::new(Cow::Owned(owned));
        assert_eq!(n.as_str(), "request-42");
        assert_ne!(n.as_str().as_ptr(), at, "a copy, not the String's block");
        assert_eq!(Name::new(Cow::Owned(String::new())).as_str(), "");
        assert_eq!(format!("{n:?}"), "\"request-42\"");
    }
}
