//! What the scanning child sends its parent through a pipe: the blocks,
//! the roots, then the edges, as little-endian 64-bit words.
//!
//! ```text
//! "hwsnap01"
//! n, n × (address, size, sequence number, bucket)
//! n, n × (kind, address, length, name length, name bytes padded to 8)
//! edges × (holder, offset, block index), holder's bit 63 set for a block
//! u64::MAX
//! ```
//!
//! The parent trusts the child (it is the same program), but reads with
//! checks all the same: counts bounded by what the pipe carried, indices
//! checked when the graph is built.

use crate::profile::trailer::Carried;
use heapwise_heapgraph::RootKind;
use std::io::{self, BufReader, BufWriter, Read, Write};

const MAGIC: &[u8; 8] = b"hwsnap01";
const BLOCK_BIT: u64 = 1 << 63;
const END: u64 = u64::MAX;

/// A root as the child found it.
#[derive(Debug, Clone)]
pub(crate) struct RootRecord {
    pub(crate) kind: RootKind,
    pub(crate) name: String,
    pub(crate) addr: usize,
    pub(crate) len: usize,
}

/// A block as the parent reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockRecord {
    pub(crate) addr: u64,
    pub(crate) size: u64,
    pub(crate) seq: u64,
    pub(crate) bucket: usize,
}

/// An edge: from root `holder` (or block, if `from_block`) at `offset`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EdgeRecord {
    pub(crate) holder: u64,
    pub(crate) from_block: bool,
    pub(crate) offset: u64,
    pub(crate) to: u64,
}

pub(crate) struct Writer<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> Writer<W> {
    pub(crate) fn new(out: W) -> Writer<W> {
        Writer {
            out: BufWriter::with_capacity(1 << 16, out),
        }
    }

    fn word(&mut self, w: u64) -> io::Result<()> {
        self.out.write_all(&w.to_le_bytes())
    }

    pub(crate) fn blocks(&mut self, blocks: &[Carried]) -> io::Result<()> {
        self.out.write_all(MAGIC)?;
        self.word(blocks.len() as u64)?;
        for b in blocks {
            self.word(b.addr as u64)?;
            self.word(b.size as u64)?;
            self.word(b.seq)?;
            self.word(b.bucket as u64)?;
        }
        Ok(())
    }

    pub(crate) fn roots(&mut self, roots: &[RootRecord]) -> io::Result<()> {
        self.word(roots.len() as u64)?;
        for r in roots {
            let kind = RootKind::ALL.iter().position(|&k| k == r.kind).unwrap_or(0);
            self.word(kind as u64)?;
            self.word(r.addr as u64)?;
            self.word(r.len as u64)?;
            self.word(r.name.len() as u64)?;
            self.out.write_all(r.name.as_bytes())?;
            self.out.write_all(&[0; 8][..(8 - r.name.len() % 8) % 8])?;
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn edge(
        &mut self,
        holder: u64,
        from_block: bool,
        offset: u64,
        to: u64,
    ) -> io::Result<()> {
        self.word(holder | if from_block { BLOCK_BIT } else { 0 })?;
        self.word(offset)?;
        self.word(to)
    }

    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.word(END)?;
        self.out.flush()
    }
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the scan's output is malformed: {what}"),
    )
}

/// Reads what [`Writer`] wrote, part by part, so that nothing but the graph
/// being built is held.
pub(crate) struct Reader<R: Read> {
    input: BufReader<R>,
}

impl<R: Read> Reader<R> {
    /// Checks the header.
    pub(crate) fn new(input: R) -> io::Result<Reader<R>> {
        let mut r = Reader {
            input: BufReader::with_capacity(1 << 16, input),
        };
        let mut magic = [0u8; 8];
        r.input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(malformed("no header"));
        }
        Ok(r)
    }

    fn word(&mut self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.input.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn count(&mut self) -> io::Result<usize> {
        let n = self.word()?;
        usize::try_from(n).map_err(|_| malformed("a count beyond memory"))
    }

    /// The number of blocks, then `f` with each.
    pub(crate) fn blocks(&mut self, mut f: impl FnMut(usize, BlockRecord)) -> io::Result<()> {
        let n = self.count()?;
        for _ in 0..n {
            let b = BlockRecord {
                addr: self.word()?,
                size: self.word()?,
                seq: self.word()?,
                bucket: self.word()? as usize,
            };
            f(n, b);
        }
        Ok(())
    }

    pub(crate) fn roots(&mut self) -> io::Result<Vec<RootRecord>> {
        let n = self.count()?;
        let mut roots = Vec::new();
        for _ in 0..n {
            let kind = *RootKind::ALL
                .get(self.word()? as usize)
                .ok_or_else(|| malformed("a root of no known kind"))?;
            let (addr, len, name_len) =
                (self.word()? as usize, self.word()? as usize, self.count()?);
            if name_len > 4096 {
                return Err(malformed("a root name over 4 KiB"));
            }
            let mut name = vec![0u8; name_len.div_ceil(8) * 8];
            self.input.read_exact(&mut name)?;
            name.truncate(name_len);
            roots.push(RootRecord {
                kind,
                name: String::from_utf8_lossy(&name).into_owned(),
                addr,
                len,
            });
        }
        Ok(roots)
    }

    /// `f` with each edge, until the end mark.
    pub(crate) fn edges(
        &mut self,
        mut f: impl FnMut(EdgeRecord) -> io::Result<()>,
    ) -> io::Result<()> {
        loop {
            let holder = self.word()?;
            if holder == END {
                return Ok(());
            }
            f(EdgeRecord {
                holder: holder & !BLOCK_BIT,
                from_block: holder & BLOCK_BIT != 0,
                offset: self.word()?,
                to: self.word()?,
            })?;
        }
    }
}
