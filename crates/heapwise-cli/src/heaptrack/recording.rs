//! A heaptrack recording read into memory: its strings, instruction
//! pointers, trace tree and allocation infos, with how many blocks of each
//! were allocated and freed.
//!
//! # The format
//!
//! heaptrack's data file (what `heaptrack_interpret` writes; see heaptrack's
//! `src/analyze/accumulatedtracedata.cpp`) is text, one record a line, the
//! first character saying what the line is, then fields in lowercase
//! hexadecimal separated by single spaces:
//!
//! | line | meaning |
//! |---|---|
//! | `v VERSION FORMAT` | heaptrack's version (`10400` is 1.4.0) and the file format (0 to 3) |
//! | `X COMMAND` | the command line recorded |
//! | `I PAGE_SIZE PAGES` | the system's page size and physical pages |
//! | `s LEN TEXT` | the next string (1, 2, …); before format 3 the rest of the line, without `LEN` |
//! | `i IP MODULE [FUNCTION [FILE LINE [FUNCTION FILE LINE]…]]` | the next instruction pointer (1, 2, …): its address, and string indices of its module, function and file; the first frame is the innermost, the ones after it the functions it is inlined into, outward |
//! | `t IP PARENT` | the next trace node (1, 2, …): an instruction pointer and the node of its caller (0 for none) |
//! | `a SIZE TRACE` | the next allocation info (0, 1, …): a block size and the trace that allocates it |
//! | `+ INFO` / `- INFO` | a block of that allocation info allocated / freed |
//! | `c MILLISECONDS` | the time since the start |
//! | `R PAGES` | the resident set size |
//! | `A` | heaptrack attached to a running process here |
//! | `S PATTERN` | an embedded leak suppression |
//! | `# TEXT`, empty | a comment |
//!
//! Index 0 of strings, instruction pointers and traces means "none".
//! Format 0 (before heaptrack 1.0) has no `a` lines: `+ SIZE TRACE POINTER`
//! and `- POINTER`. A raw recording (`heaptrack --raw`, with `m` module and
//! `x` executable lines and addresses in `t` lines) must go through
//! `heaptrack_interpret` first.
//!
//! Every index is checked against what the file has defined so far (a
//! trace node's parent must come before it, so the tree has no cycles), and
//! the memory the recording takes is counted against a limit before it is
//! taken.

use std::collections::HashMap;
use std::mem::size_of;

use super::error::{Error, ErrorKind, Result};
use super::lines::{mib, Lines};
use super::replay::Replay;

/// The newest file format this importer reads (what heaptrack 1.4 writes).
pub(crate) const NEWEST_FORMAT: u64 = 3;

/// One source frame of an instruction pointer: string indices and a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) function: u32,
    pub(crate) file: u32,
    pub(crate) line: u32,
}

/// An instruction pointer: its address, module and frames (innermost
/// first; empty if heaptrack could not symbolize it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ip {
    pub(crate) address: u64,
    pub(crate) module: u32,
    pub(crate) frames: Vec<Frame>,
}

/// A trace node: an instruction pointer and its caller's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trace {
    pub(crate) ip: u32,
    pub(crate) parent: u32,
}

/// An allocation info: a block size at a trace, how many such blocks were
/// allocated and freed, how many frees were temporary, and what the
/// replay keeps for the peak (see `replay`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Info {
    pub(crate) size: u64,
    pub(crate) trace: u32,
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    pub(crate) temporary: u64,
    /// Blocks live at the highest so far, kept at the first change after it.
    pub(crate) live_at_peak: u64,
    /// The replay's event that changed this info last (0: none).
    pub(crate) changed_at: u64,
}

/// A recording read into memory.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    /// The file format (0 to [`NEWEST_FORMAT`]).
    pub(crate) format: u64,
    /// heaptrack's version, as written (`0x010400` for 1.4.0); 0 if absent.
    pub(crate) heaptrack_version: u64,
    /// The command line, if recorded.
    pub(crate) command: Option<String>,
    /// Strings; index `i` in the file is `strings[i - 1]`.
    pub(crate) strings: Vec<String>,
    /// Instruction pointers; index `i` is `ips[i - 1]`.
    pub(crate) ips: Vec<Ip>,
    /// Trace nodes; index `i` is `traces[i - 1]`.
    pub(crate) traces: Vec<Trace>,
    /// Allocation infos; index `i` is `infos[i]`.
    pub(crate) infos: Vec<Info>,
    /// The last time stamp, in milliseconds since the start.
    pub(crate) duration_ms: u64,
    /// The largest resident set size, in pages, and the page size.
    pub(crate) peak_rss_pages: u64,
    pub(crate) page_size: u64,
    /// Whether heaptrack attached to a running process (allocations made
    /// before are missing).
    pub(crate) attached: bool,
    /// The allocations and frees replayed: the peak and temporary frees.
    pub(crate) replay: Replay,
}

impl Recording {
    /// The string at a 1-based index (`""` for 0).
    pub(crate) fn string(&self, index: u32) -> &str {
        match index.checked_sub(1) {
            Some(i) => &self.strings[i as usize],
            None => "",
        }
    }
}

/// Memory the recording may still take, in bytes.
#[derive(Debug)]
pub(crate) struct Budget {
    left: u64,
    limit: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget { left: limit, limit }
    }

    /// Takes `bytes` from the budget, or fails naming `what`.
    pub(crate) fn charge(&mut self, bytes: u64, what: impl FnOnce() -> String) -> Result<()> {
        if bytes > self.left {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "importing would take more than the {} memory limit ({}; see --max-memory)",
                    mib(self.limit),
                    what()
                ),
            ));
        }
        self.left -= bytes;
        Ok(())
    }

    /// Pushes `item` onto `v`, charging the budget for any growth first.
    pub(crate) fn push<T>(
        &mut self,
        v: &mut Vec<T>,
        item: T,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        if v.len() == v.capacity() {
            let grow = v.capacity().max(16);
            self.charge((grow * size_of::<T>()) as u64, what)?;
            v.reserve_exact(grow);
        }
        v.push(item);
        Ok(())
    }
}

/// The fields of one line after its record character.
struct Fields<'a> {
    rest: &'a [u8],
    line: u64,
}

impl<'a> Fields<'a> {
    fn new(line: &'a [u8], number: u64) -> Fields<'a> {
        // "x fields": the record character, a space, the fields.
        let rest = if line.len() > 2 { &line[2..] } else { &[] };
        Fields { rest, line: number }
    }

    fn malformed(&self, what: impl std::fmt::Display) -> Error {
        Error::new(ErrorKind::Malformed, format!("line {}: {what}", self.line))
    }

    /// The next hexadecimal field, or `None` at the end of the line.
    fn next_hex(&mut self) -> Result<Option<u64>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let end = self
            .rest
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(self.rest.len());
        let (field, rest) = self.rest.split_at(end);
        self.rest = rest.strip_prefix(b" ").unwrap_or(rest);
        if field.is_empty() {
            return Err(self.malformed("empty field (two spaces in a row)"));
        }
        let mut value: u64 = 0;
        for &b in field {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => {
                    return Err(self
                        .malformed(format_args!("{} is not a hexadecimal number", quote(field))))
                }
            };
            value = value
                .checked_mul(16)
                .and_then(|v| v.checked_add(u64::from(digit)))
                .ok_or_else(|| {
                    self.malformed(format_args!("{} does not fit in 64 bits", quote(field)))
                })?;
        }
        Ok(Some(value))
    }

    /// The next field, which must be there.
    fn hex(&mut self, what: &str) -> Result<u64> {
        self.next_hex()?
            .ok_or_else(|| self.malformed(format_args!("missing {what}")))
    }

    /// Fails if anything is left on the line.
    fn end(&self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.malformed(format_args!(
                "unexpected {} at the end of the line",
                quote(self.rest)
            )))
        }
    }

    /// An index into a table of `count` items, 1-based (0 for none).
    fn index(&mut self, what: &str, count: usize) -> Result<u32> {
        let i = self.hex(what)?;
        if i > count as u64 {
            return Err(self.malformed(format_args!(
                "{what} {i:#x} does not exist ({count} defined so far)"
            )));
        }
        Ok(i as u32)
    }
}

/// Whether `line` starts as a heaptrack record does: a known record type,
/// then a space or the end of the line.
fn reads_as_record(line: &[u8]) -> bool {
    const KINDS: &[u8] = b"vXIstia+-cRASmx#";
    match line {
        [kind] | [kind, b' ', ..] => KINDS.contains(kind),
        _ => false,
    }
}

/// What the C allocator takes for a block of `len` bytes: a 16-byte
/// granule with an 8-byte header, 32 bytes at least (glibc). A recording of
/// 4 million one-letter strings took 2.4 times its budget when each was
/// charged its length.
fn heap_block(len: usize) -> u64 {
    if len == 0 {
        0
    } else {
        (len as u64 + 8).next_multiple_of(16).max(32)
    }
}

/// Reads a recording from `lines`, taking at most what `budget` allows.
pub(crate) fn read(lines: &mut Lines<'_>, budget: &mut Budget) -> Result<Recording> {
    let mut r = Recording::default();
    // Format 0: live blocks by address.
    let mut pointers: HashMap<u64, u32> = HashMap::new();
    let mut v0_infos: HashMap<(u64, u32), u32> = HashMap::new();
    let mut seen_version = false;
    let mut any = false;
    // heaptrack writes the command line as it is, so an argument holding a
    // newline continues the `X` record on the next lines: until a line
    // reads as a record, it is more of the command.
    let mut in_command = false;
    while let Some((number, line)) = lines.next_line()? {
        if in_command {
            if !reads_as_record(line) {
                let text = String::from_utf8_lossy(line);
                budget.charge(text.len() as u64 + 1, || "the command line".into())?;
                let command = r.command.get_or_insert_with(String::new);
                command.push('\n');
                command.push_str(&text);
                continue;
            }
            in_command = false;
        }
        let Some(&kind) = line.first() else {
            continue; // an empty line is a comment
        };
        if kind == b'#' {
            continue;
        }
        if line.len() > 1 && line[1] != b' ' {
            return Err(Error::new(
                ErrorKind::Malformed,
                format!(
                    "line {number}: not a heaptrack record (no space after {:?})",
                    kind as char
                ),
            ));
        }
        let mut f = Fields::new(line, number);
        match kind {
            b'v' => {
                if seen_version || any {
                    return Err(f.malformed("the version line is not the first record"));
                }
                seen_version = true;
                r.heaptrack_version = f.hex("heaptrack version")?;
                r.format = match f.next_hex()? {
                    Some(format) => format,
                    // heaptrack 1.0's pre-releases wrote 0x010200 as the
                    // version and no format: format 1.
                    None if r.heaptrack_version == 0x010200 => 1,
                    None => 0,
                };
                f.end()?;
                if r.format > NEWEST_FORMAT {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "heaptrack file format {} (written by heaptrack {}) is newer than the formats this importer reads (0 to {NEWEST_FORMAT})",
                            r.format,
                            version_text(r.heaptrack_version)
                        ),
                    ));
                }
            }
            b'X' => {
                let text = String::from_utf8_lossy(f.rest).into_owned();
                budget.charge(text.len() as u64, || "the command line".into())?;
                r.command = Some(text);
                in_command = true;
            }
            b'I' => {
                r.page_size = f.hex("page size")?;
                let _pages = f.hex("page count")?;
                f.end()?;
            }
            b's' => {
                let text = if r.format >= 3 {
                    let len = f.hex("string length")?;
                    if len > f.rest.len() as u64 {
                        return Err(f.malformed(format_args!(
                            "string of {len} bytes, but the line holds {}",
                            f.rest.len()
                        )));
                    }
                    let (text, rest) = f.rest.split_at(len as usize);
                    f.rest = rest;
                    f.end()?;
                    text
                } else {
                    f.rest
                };
                if r.strings.len() >= u32::MAX as usize {
                    return Err(f.malformed("more than 2^32 strings"));
                }
                let text = String::from_utf8_lossy(text).into_owned();
                let n = r.strings.len();
                budget.charge(heap_block(text.len()), || format!("{n} strings"))?;
                budget.push(&mut r.strings, text, || format!("{n} strings"))?;
            }
            b'i' => {
                let address = f.hex("instruction pointer")?;
                let module = f.index("module string", r.strings.len())?;
                let mut frames = Vec::new();
                if let Some(function) = f.next_hex()? {
                    check_index(&f, "function string", function, r.strings.len())?;
                    let mut frame = Frame {
                        function: function as u32,
                        file: 0,
                        line: 0,
                    };
                    if let Some(file) = f.next_hex()? {
                        check_index(&f, "file string", file, r.strings.len())?;
                        frame.file = file as u32;
                        let line = f.hex("line number")?;
                        frame.line = line_number(&f, line)?;
                    }
                    frames.push(frame);
                    while let Some(function) = f.next_hex()? {
                        check_index(&f, "function string", function, r.strings.len())?;
                        let file = f.index("file string", r.strings.len())?;
                        let line = f.hex("line number")?;
                        let line = line_number(&f, line)?;
                        let n = frames.len();
                        budget.push(
                            &mut frames,
                            Frame {
                                function: function as u32,
                                file,
                                line,
                            },
                            || format!("{n} inlined frames at line {number}"),
                        )?;
                    }
                }
                if r.ips.len() >= u32::MAX as usize {
                    return Err(f.malformed("more than 2^32 instruction pointers"));
                }
                let n = r.ips.len();
                budget.charge((frames.capacity() * size_of::<Frame>()) as u64, || {
                    format!("{n} instruction pointers")
                })?;
                budget.push(
                    &mut r.ips,
                    Ip {
                        address,
                        module,
                        frames,
                    },
                    || format!("{n} instruction pointers"),
                )?;
            }
            b't' => {
                let ip = f.index("instruction pointer", r.ips.len())?;
                let parent = f.index("parent trace", r.traces.len())?;
                f.end()?;
                if r.traces.len() >= u32::MAX as usize {
                    return Err(f.malformed("more than 2^32 traces"));
                }
                let n = r.traces.len();
                budget.push(&mut r.traces, Trace { ip, parent }, || {
                    format!("{n} trace nodes")
                })?;
            }
            b'a' => {
                let size = f.hex("size")?;
                let trace = f.index("trace", r.traces.len())?;
                f.end()?;
                if r.format == 0 {
                    return Err(f.malformed("an allocation info line in format 0"));
                }
                add_info(&mut r, budget, &f, size, trace)?;
            }
            b'+' if r.format == 0 => {
                let size = f.hex("size")?;
                let trace = f.index("trace", r.traces.len())?;
                let pointer = f.hex("pointer")?;
                f.end()?;
                let i = match v0_infos.get(&(size, trace)) {
                    Some(&i) => i,
                    None => {
                        let i = add_info(&mut r, budget, &f, size, trace)?;
                        budget.charge(32, || format!("{} allocation infos", r.infos.len()))?;
                        v0_infos.insert((size, trace), i);
                        i
                    }
                };
                r.replay
                    .allocated(&mut r.infos[i as usize], pointer, number)?;
                if pointers.insert(pointer, i).is_none() {
                    budget.charge(32, || format!("{} live blocks", pointers.len()))?;
                }
            }
            b'+' => {
                let i = info_at(&mut f, &r)?;
                f.end()?;
                r.replay.allocated(&mut r.infos[i], i as u64, number)?;
            }
            b'-' if r.format == 0 => {
                let pointer = f.hex("pointer")?;
                f.end()?;
                // Blocks allocated before heaptrack attached are not known
                // (and, as in heaptrack, their frees are no event at all).
                // An address maps to an info with a block live.
                if let Some(i) = pointers.remove(&pointer) {
                    r.replay.freed(&mut r.infos[i as usize], pointer);
                }
            }
            b'-' => {
                let i = info_at(&mut f, &r)?;
                f.end()?;
                let info = &mut r.infos[i];
                if info.frees >= info.allocs {
                    return Err(f.malformed(format_args!(
                        "allocation {i:#x} is freed more often than it is allocated"
                    )));
                }
                r.replay.freed(info, i as u64);
            }
            b'c' => {
                r.duration_ms = f.hex("time stamp")?;
                f.end()?;
            }
            b'R' => {
                r.peak_rss_pages = r.peak_rss_pages.max(f.hex("resident set size")?);
                f.end()?;
            }
            b'A' => r.attached = true,
            b'S' => {} // leak suppressions: heaptrack_print's business
            b'm' | b'x' => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "line {number}: a raw heaptrack recording (made with --raw); symbolize it first: heaptrack_interpret < FILE | zstd > FILE.zst"
                    ),
                ))
            }
            other => {
                return Err(f.malformed(format_args!(
                    "unknown record type {:?}",
                    char::from(other)
                )))
            }
        }
        any = true;
    }
    if !any {
        return Err(Error::new(
            ErrorKind::Malformed,
            "no heaptrack records: the data is empty".to_owned(),
        ));
    }
    Ok(r)
}

fn check_index(f: &Fields<'_>, what: &str, i: u64, count: usize) -> Result<()> {
    if i > count as u64 {
        return Err(f.malformed(format_args!(
            "{what} {i:#x} does not exist ({count} defined so far)"
        )));
    }
    Ok(())
}

fn line_number(f: &Fields<'_>, line: u64) -> Result<u32> {
    u32::try_from(line).map_err(|_| f.malformed(format_args!("line number {line:#x} is too large")))
}

fn add_info(
    r: &mut Recording,
    budget: &mut Budget,
    f: &Fields<'_>,
    size: u64,
    trace: u32,
) -> Result<u32> {
    if r.infos.len() >= u32::MAX as usize {
        return Err(f.malformed("more than 2^32 allocation infos"));
    }
    let n = r.infos.len();
    budget.push(
        &mut r.infos,
        Info {
            size,
            trace,
            ..Info::default()
        },
        || format!("{n} allocation infos"),
    )?;
    Ok(n as u32)
}

fn info_at(f: &mut Fields<'_>, r: &Recording) -> Result<usize> {
    let i = f.hex("allocation")?;
    if i >= r.infos.len() as u64 {
        return Err(f.malformed(format_args!(
            "allocation {i:#x} does not exist ({} defined so far)",
            r.infos.len()
        )));
    }
    Ok(i as usize)
}

/// `bytes` quoted and escaped for a message, cut after 40 bytes.
fn quote(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}

/// heaptrack's version as written in `v` lines (`0x010400`) as `1.4.0`.
pub(crate) fn version_text(v: u64) -> String {
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}
