//! User events: any `heapwise-probe` event, recorded with its arguments
//! through the type-erased probe API ([`Event::probe_values`]).
//!
//! A user event's record is its head word (`USER`, the event's index in the
//! recording, the number of value words), the timestamp, then each value:
//! a head word (value tag in bits 0..8, byte length above) and its payload,
//! one word for numbers, booleans, characters and pointers, the bytes
//! padded to words for strings and bytes. `Debug` values are formatted
//! straight into the buffer (cut to 1 KiB), so nothing is allocated; the
//! record's room is reserved for the longest form and only what was written
//! is kept.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use heapwise_probe::{Event, NewProbe, Value};

use super::clock::ticks;
use super::probes::Shared;
use super::records::{bytes_of, cut, head, put_bytes, str_words, MAX_STR, USER};
use super::sink::{Arg, NamedArg};

// The value tags of user events' records.
const U64: u8 = 1;
const I64: u8 = 2;
const F64: u8 = 3;
const BOOL: u8 = 4;
const CHAR: u8 = 5;
const STR: u8 = 6;
const BYTES: u8 = 7;
const PTR: u8 = 8;
/// A `Debug` value, formatted.
const DEBUG: u8 = 9;
/// A `Value::Opaque`: the type's name.
const OPAQUE: u8 = 10;
/// A kind of value this recorder does not know (`Value` is
/// `#[non_exhaustive]`): its `Display` form.
const OTHER: u8 = 11;

/// The probe recording user event number `index` of the recording.
pub(crate) fn probe(event: &'static Event, index: usize, shared: Arc<Shared>) -> NewProbe {
    event.probe_values(move |values| {
        let ts = ticks();
        record(&shared, ts, index, values);
    })
}

/// The most words a value can take.
fn max_words(v: &Value<'_>) -> usize {
    1 + match v {
        Value::Str(s) => str_words(cut(s).len()),
        Value::Bytes(b) => str_words(b.len().min(MAX_STR)),
        Value::U64(_)
        | Value::I64(_)
        | Value::F64(_)
        | Value::Bool(_)
        | Value::Char(_)
        | Value::Ptr(_) => 1,
        _ => str_words(MAX_STR),
    }
}

pub(super) fn record(shared: &Shared, ts: u64, index: usize, values: &[Value<'_>]) {
    if shared.stopped.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let Some(buf) = shared.buffers.this_thread() else {
        return;
    };
    let max = 2 + values.iter().map(max_words).sum::<usize>();
    let Some(start) = buf.reserve_upto(max, &shared.buffers.budget) else {
        return;
    };
    // SAFETY: `reserve_upto` gave room for `max` words from `start`; each
    // value writes at most its `max_words`, so `p` stays within it.
    let used = unsafe {
        let mut p = start.add(2);
        for v in values {
            p = put_value(p, v);
        }
        let used = p.offset_from(start) as usize;
        debug_assert!(used <= max, "{used} words written, {max} reserved");
        start.write(head(USER, index, used - 2));
        start.add(1).write(ts);
        used
    };
    buf.commit(used);
}

/// Writes `v` at `p`; returns the word after it.
///
/// # Safety
///
/// `p` has room for `max_words(v)` words.
unsafe fn put_value(p: *mut u64, v: &Value<'_>) -> *mut u64 {
    let word = |tag: u8, x: u64| {
        // SAFETY: every value has room for its head and one word.
        unsafe {
            p.write(tag as u64);
            p.add(1).write(x);
            p.add(2)
        }
    };
    let bytes = |tag: u8, b: &[u8]| {
        // SAFETY: room for the head and `str_words(b.len())` words, as
        // `max_words` counted.
        unsafe {
            p.write(tag as u64 | (b.len() as u64) << 8);
            put_bytes(p.add(1), b)
        }
    };
    match *v {
        Value::U64(x) => word(U64, x),
        Value::I64(x) => word(I64, x as u64),
        Value::F64(x) => word(F64, x.to_bits()),
        Value::Bool(x) => word(BOOL, x as u64),
        Value::Char(x) => word(CHAR, x as u64),
        Value::Ptr(x) => word(PTR, x as u64),
        Value::Str(s) => bytes(STR, cut(s).as_bytes()),
        Value::Bytes(b) => bytes(BYTES, &b[..b.len().min(MAX_STR)]),
        Value::Opaque(ty) => bytes(OPAQUE, cut(ty).as_bytes()),
        Value::Debug(d) => {
            // SAFETY: room for the head and MAX_STR bytes after it.
            unsafe { formatted(p, DEBUG, format_args!("{d:?}")) }
        }
        ref other => {
            // SAFETY: as above.
            unsafe { formatted(p, OTHER, format_args!("{other}")) }
        }
    }
}

/// Formats `args` into the words after `p` (at most [`MAX_STR`] bytes, cut
/// at a character boundary), with its head at `p`; returns the word after.
///
/// # Safety
///
/// `p` has room for `1 + str_words(MAX_STR)` words.
unsafe fn formatted(p: *mut u64, tag: u8, args: fmt::Arguments<'_>) -> *mut u64 {
    /// Writes into the record's room, at most `MAX_STR` bytes, cut at a
    /// character boundary.
    struct CappedWriter {
        at: *mut u8,
        len: usize,
        full: bool,
    }
    impl fmt::Write for CappedWriter {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if self.full {
                return Ok(());
            }
            let mut n = s.len().min(MAX_STR - self.len);
            while !s.is_char_boundary(n) {
                n -= 1;
            }
            // SAFETY: `len + n <= MAX_STR`, within the room the caller has.
            unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), self.at.add(self.len), n) };
            self.len += n;
            self.full = n < s.len();
            Ok(())
        }
    }
    // SAFETY: the bytes go after the head word, within the caller's room.
    let at = unsafe { p.add(1) }.cast::<u8>();
    let mut w = CappedWriter {
        at,
        len: 0,
        full: false,
    };
    // A failing `Debug` impl leaves what it wrote.
    let _ = w.write_fmt(args);
    let len = w.len;
    // SAFETY: the padding up to the next word is within the room; the head
    // word is `p`.
    unsafe {
        for i in len..str_words(len) * 8 {
            w.at.add(i).write(0);
        }
        p.write(tag as u64 | (len as u64) << 8);
        p.add(1 + str_words(len))
    }
}

/// The arguments of a user event's record, named after the event's
/// arguments (`arg<i>` past the declared ones): numbers, booleans and
/// pointers typed, characters, strings, bytes (escaped as ASCII), `Debug`
/// forms and opaque types' names (`<Type>`) as strings. A value of a kind
/// this reader does not know is [`Arg::Null`] and ends the list.
pub(crate) fn args<'a>(event: &Event, mut values: &'a [u64]) -> Vec<NamedArg<'a>> {
    let names = event.args();
    let mut args = Vec::new();
    while let Some((&h, rest)) = values.split_first() {
        let tag = (h & 0xff) as u8;
        let len = (h >> 8) as usize;
        let i = args.len();
        let name: Cow<'a, str> = match names.get(i) {
            Some(a) => Cow::Borrowed(a.name),
            None => Cow::Owned(format!("arg{i}")),
        };
        let one = rest.first().copied().unwrap_or(0);
        let (arg, after) = match tag {
            U64 | I64 | F64 | BOOL | CHAR | PTR => {
                let arg = match tag {
                    U64 => Arg::Uint(one),
                    I64 => Arg::Int(one as i64),
                    F64 => Arg::Double(f64::from_bits(one)),
                    BOOL => Arg::Bool(one != 0),
                    CHAR => {
                        let c = char::from_u32(one as u32).unwrap_or(char::REPLACEMENT_CHARACTER);
                        Arg::Str(c.to_string().into())
                    }
                    _ => Arg::Pointer(one),
                };
                (arg, rest.get(1..).unwrap_or(&[]))
            }
            STR | DEBUG | OTHER | OPAQUE | BYTES => {
                let n = str_words(len).min(rest.len());
                let b = &bytes_of(&rest[..n])[..len.min(n * 8)];
                let s = match tag {
                    BYTES => b.escape_ascii().to_string().into(),
                    OPAQUE => format!("<{}>", String::from_utf8_lossy(b)).into(),
                    _ => String::from_utf8_lossy(b),
                };
                (Arg::Str(s), &rest[n..])
            }
            // A tag this reader does not know: nothing after it is readable.
            _ => (Arg::Null, &[][..]),
        };
        args.push((name, arg));
        values = after;
    }
    args
}
