//! The binary form of recorded events in the per-thread buffers, and its
//! reader.
//!
//! A record is a run of 64-bit words: a head word (`tag` in bits 0..8, two
//! lengths `a` in bits 8..32 and `b` in bits 32..64), the timestamp
//! (in [`ticks`](super::clock::ticks)), the event's integer
//! arguments, then its strings' bytes, each padded to whole words (the last
//! word zeroed first, so every word of a chunk is initialised). Strings are
//! copied (the probes borrow them for the call only), cut to
//! [`MAX_STR`] bytes at a character boundary.

use super::buffer::{Budget, ThreadBuf};

pub(crate) const ENTER: u8 = 1;
pub(crate) const EXIT: u8 = 2;
pub(crate) const LIMIT: u8 = 3;
pub(crate) const SAMPLE: u8 = 4;
pub(crate) const ALLOC: u8 = 5;
pub(crate) const FREE: u8 = 6;
pub(crate) const REALLOC: u8 = 7;
pub(crate) const USER: u8 = 8;

/// Longest string kept, in bytes.
pub(crate) const MAX_STR: usize = 1024;

/// A record's head word. `a` fits in 24 bits and `b` in 32 (string
/// lengths are at most [`MAX_STR`], a user event's index and value words
/// far below).
#[inline(always)]
pub(crate) fn head(tag: u8, a: usize, b: usize) -> u64 {
    debug_assert!(
        a <= 0xff_ffff && b as u64 <= u64::from(u32::MAX),
        "head({tag}, {a}, {b})"
    );
    tag as u64 | ((a as u64 & 0xff_ffff) << 8) | ((b as u64) << 32)
}

/// `s` cut to [`MAX_STR`] bytes at a character boundary.
#[inline(always)]
pub(crate) fn cut(s: &str) -> &str {
    if s.len() <= MAX_STR {
        return s;
    }
    let mut n = MAX_STR;
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

#[inline(always)]
pub(crate) fn str_words(len: usize) -> usize {
    len.div_ceil(8)
}

/// Writes `bytes` at `p` as `str_words(bytes.len())` words; returns the
/// word after them.
///
/// # Safety
///
/// `p` has room for `str_words(bytes.len())` words.
#[inline(always)]
pub(crate) unsafe fn put_bytes(p: *mut u64, bytes: &[u8]) -> *mut u64 {
    let n = str_words(bytes.len());
    if n > 0 {
        // SAFETY: the caller guarantees room for `n` words; the last one is
        // zeroed before the bytes (possibly fewer) are copied over it.
        unsafe {
            p.add(n - 1).write(0);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast::<u8>(), bytes.len());
        }
    }
    // SAFETY: within (or one past) the caller's room.
    unsafe { p.add(n) }
}

/// Writes `words` at `p`; returns the word after them.
///
/// # Safety
///
/// `p` has room for `words.len()` words.
#[inline(always)]
pub(crate) unsafe fn put_words(p: *mut u64, words: &[u64]) -> *mut u64 {
    // SAFETY: per the contract.
    unsafe {
        std::ptr::copy_nonoverlapping(words.as_ptr(), p, words.len());
        p.add(words.len())
    }
}

/// Records a fixed record with up to two strings: `words` (head and
/// timestamp included) then `s1` and `s2`. Returns whether it was kept.
///
/// The head's two lengths are the strings' (what [`read`] takes them for).
#[inline(always)]
pub(crate) fn write(buf: &ThreadBuf, budget: &Budget, words: &[u64], s1: &str, s2: &str) -> bool {
    debug_assert!(
        words.len() >= 2
            && (words[0] >> 8) & 0xff_ffff == s1.len() as u64
            && words[0] >> 32 == s2.len() as u64
            && s1.len() <= MAX_STR
            && s2.len() <= MAX_STR,
        "a record's head {:#x} does not match its strings' lengths {} and {}",
        words.first().copied().unwrap_or(0),
        s1.len(),
        s2.len()
    );
    let n = words.len() + str_words(s1.len()) + str_words(s2.len());
    let Some(p) = buf.reserve(n, budget) else {
        return false;
    };
    // SAFETY: `reserve` gave `n` words, exactly what is written.
    unsafe {
        let p = put_words(p, words);
        let p = put_bytes(p, s1.as_bytes());
        put_bytes(p, s2.as_bytes());
    }
    true
}

/// A decoded record, borrowing the buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Record<'a> {
    Enter {
        ts: u64,
        scope: u64,
        parent: u64,
        name: &'a str,
    },
    Exit {
        ts: u64,
        scope: u64,
        name: &'a str,
    },
    Limit {
        ts: u64,
        scope: u64,
        limit: u64,
        used: u64,
        name: &'a str,
        kind: &'a str,
    },
    /// A heap profiler sample, at the profiler's `rate`.
    Sample {
        ts: u64,
        ptr: u64,
        size: u64,
        rate: u64,
        scope: u64,
    },
    /// An allocator call that allocated a block.
    Alloc {
        ts: u64,
        ptr: u64,
        size: u64,
        align: u64,
        scope: u64,
    },
    /// An allocator call that freed a block.
    Free {
        ts: u64,
        ptr: u64,
        size: u64,
        align: u64,
        scope: u64,
    },
    Realloc {
        ts: u64,
        ptr: u64,
        old_size: u64,
        new_ptr: u64,
        new_size: u64,
        align: u64,
        scope: u64,
    },
    /// A user event: the index of its event in the recording, and its
    /// encoded values (see `user.rs`).
    User {
        ts: u64,
        event: usize,
        values: &'a [u64],
    },
}

/// The bytes of `words`.
pub(crate) fn bytes_of(words: &[u64]) -> &[u8] {
    // SAFETY: any initialised u64 memory is valid as bytes; same lifetime,
    // and `u8` has no alignment requirement.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 8) }
}

/// The string of `len` bytes at the start of `words` (empty if not UTF-8,
/// which the writer never produces), and the words after it.
pub(crate) fn take_str(words: &[u64], len: usize) -> (&str, &[u64]) {
    debug_assert!(str_words(len) <= words.len(), "a string cut short");
    let n = str_words(len).min(words.len());
    let bytes = &bytes_of(&words[..n])[..len.min(n * 8)];
    let s = std::str::from_utf8(bytes);
    debug_assert!(s.is_ok(), "a recorded string is not UTF-8");
    (s.unwrap_or(""), &words[n..])
}

/// Reads the records of one chunk. Stops at anything malformed (never
/// written by this module: a debug build asserts it).
pub(crate) fn read(mut words: &[u64]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        let (&h, rest) = words.split_first()?;
        let tag = (h & 0xff) as u8;
        let a = ((h >> 8) & 0xff_ffff) as usize;
        let b = (h >> 32) as usize;
        let fixed = |n: usize| {
            let f = rest.get(..n);
            debug_assert!(f.is_some(), "a record (tag {tag}) cut short");
            f
        };
        let (rec, rest) = match tag {
            ENTER => {
                let f = fixed(3)?;
                let (name, rest) = take_str(&rest[3..], a);
                let r = Record::Enter {
                    ts: f[0],
                    scope: f[1],
                    parent: f[2],
                    name,
                };
                (r, rest)
            }
            EXIT => {
                let f = fixed(2)?;
                let (name, rest) = take_str(&rest[2..], a);
                let r = Record::Exit {
                    ts: f[0],
                    scope: f[1],
                    name,
                };
                (r, rest)
            }
            LIMIT => {
                let f = fixed(4)?;
                let (name, rest) = take_str(&rest[4..], a);
                let (kind, rest) = take_str(rest, b);
                let r = Record::Limit {
                    ts: f[0],
                    scope: f[1],
                    limit: f[2],
                    used: f[3],
                    name,
                    kind,
                };
                (r, rest)
            }
            SAMPLE => {
                let f = fixed(5)?;
                let r = Record::Sample {
                    ts: f[0],
                    ptr: f[1],
                    size: f[2],
                    rate: f[3],
                    scope: f[4],
                };
                (r, &rest[5..])
            }
            ALLOC => {
                let f = fixed(5)?;
                let r = Record::Alloc {
                    ts: f[0],
                    ptr: f[1],
                    size: f[2],
                    align: f[3],
                    scope: f[4],
                };
                (r, &rest[5..])
            }
            FREE => {
                let f = fixed(5)?;
                let r = Record::Free {
                    ts: f[0],
                    ptr: f[1],
                    size: f[2],
                    align: f[3],
                    scope: f[4],
                };
                (r, &rest[5..])
            }
            REALLOC => {
                let f = fixed(7)?;
                let r = Record::Realloc {
                    ts: f[0],
                    ptr: f[1],
                    old_size: f[2],
                    new_ptr: f[3],
                    new_size: f[4],
                    align: f[5],
                    scope: f[6],
                };
                (r, &rest[7..])
            }
            USER => {
                // `b` is the number of value words after the timestamp.
                let f = fixed(1 + b)?;
                let r = Record::User {
                    ts: f[0],
                    event: a,
                    values: &f[1..],
                };
                (r, &rest[1 + b..])
            }
            _ => {
                debug_assert!(false, "unknown record tag {tag}");
                return None;
            }
        };
        words = rest;
        Some(rec)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::buffer::thread_number;

    #[test]
    fn records_round_trip() {
        let budget = Budget::new(1 << 20);
        let buf = ThreadBuf::new(thread_number());
        assert!(write(
            &buf,
            &budget,
            &[head(ENTER, 5, 0), 10, 7, 3],
            "parse",
            ""
        ));
        assert!(write(&buf, &budget, &[head(EXIT, 0, 0), 11, 7], "", ""));
        let long = "é".repeat(MAX_STR); // 2 bytes each
        let k = cut(&long);
        assert_eq!(k.len(), MAX_STR);
        assert!(write(
            &buf,
            &budget,
            &[head(LIMIT, k.len(), 10), 12, 7, 100, 101],
            k,
            "live_bytes"
        ));
        assert!(write(
            &buf,
            &budget,
            &[head(SAMPLE, 0, 0), 13, 0xdead, 64, 512, 7],
            "",
            ""
        ));
        let chunks: Vec<&[u64]> = buf.chunks().collect();
        assert_eq!(chunks.len(), 1);
        let recs: Vec<Record<'_>> = read(chunks[0]).collect();
        assert_eq!(recs.len(), 4);
        assert!(matches!(
            recs[0],
            Record::Enter {
                ts: 10,
                scope: 7,
                parent: 3,
                name: "parse"
            }
        ));
        assert!(matches!(
            recs[1],
            Record::Exit {
                ts: 11,
                scope: 7,
                name: ""
            }
        ));
        match recs[2] {
            Record::Limit {
                name,
                kind,
                limit: 100,
                used: 101,
                ..
            } => {
                assert_eq!(name, k);
                assert_eq!(kind, "live_bytes");
            }
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            recs[3],
            Record::Sample {
                ptr: 0xdead,
                size: 64,
                rate: 512,
                scope: 7,
                ..
            }
        ));
    }
}
