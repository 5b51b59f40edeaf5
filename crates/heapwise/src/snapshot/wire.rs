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

/// Everything the child sent.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub(crate) blocks: Vec<BlockRecord>,
    pub(crate) roots: Vec<RootRecord>,
    pub(crate) edges: Vec<EdgeRecord>,
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the scan's output is malformed: {what}"),
    )
}

struct Reader<R: Read> {
    input: BufReader<R>,
}

impl<R: Read> Reader<R> {
    fn word(&mut self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.input.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A count of items of `words` words each; capacity reserved as they come.
    fn count(&mut self) -> io::Result<usize> {
        let n = self.word()?;
        usize::try_from(n).map_err(|_| malformed("a count beyond memory"))
    }
}

/// Reads what [`Writer`] wrote.
pub(crate) fn read(input: impl Read) -> io::Result<Received> {
    let mut r = Reader {
        input: BufReader::with_capacity(1 << 16, input),
    };
    let mut magic = [0u8; 8];
    r.input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(malformed("no header"));
    }
    let mut got = Received::default();
    let n = r.count()?;
    got.blocks.reserve(n.min(1 << 20));
    for _ in 0..n {
        got.blocks.push(BlockRecord {
            addr: r.word()?,
            size: r.word()?,
            seq: r.word()?,
            bucket: r.word()? as usize,
        });
    }
    let n = r.count()?;
    for _ in 0..n {
        let kind = *RootKind::ALL
            .get(r.word()? as usize)
            .ok_or_else(|| malformed("a root of no known kind"))?;
        let (addr, len, name_len) = (r.word()? as usize, r.word()? as usize, r.count()?);
        if name_len > 4096 {
            return Err(malformed("a root name over 4 KiB"));
        }
        let mut name = vec![0u8; name_len.div_ceil(8) * 8];
        r.input.read_exact(&mut name)?;
        name.truncate(name_len);
        got.roots.push(RootRecord {
            kind,
            name: String::from_utf8_lossy(&name).into_owned(),
            addr,
            len,
        });
    }
    loop {
        let holder = r.word()?;
        if holder == END {
            break;
        }
        got.edges.push(EdgeRecord {
            holder: holder & !BLOCK_BIT,
            from_block: holder & BLOCK_BIT != 0,
            offset: r.word()?,
            to: r.word()?,
        });
    }
    Ok(got)
}
