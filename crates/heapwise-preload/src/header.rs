//! The 16 bytes before each block the preload returns: the size the program
//! asked for, and a tag that names the block as the preload's and holds its
//! alignment. (Why a header: the crate docs.)
//!
//! The tag is the block's address XORed with a constant whose low 4 bits
//! are `0xf`, with log2 of the alignment in the top byte. The word before a
//! block of glibc's malloc is its chunk's size field, a multiple of 16 with
//! flags in bits 0-2, so bit 3 is never set there: a foreign block is never
//! taken for one of the preload's.

/// The header's size, and the alignment every block has at least.
pub(crate) const SIZE: usize = 16;
/// XORed with the address; bits 0-3 all set (see the module docs).
const MAGIC: u64 = 0x0068_6561_7077_697f;
/// Addresses and the constant fit below the top byte.
const LOW: u64 = (1 << 56) - 1;
/// What [`write()`] XORs with the address of a block of `malloc`'s alignment
/// (16: log2 4 in the top byte), which [`read()`] checks with one compare.
const MALLOC_TAG: u64 = MAGIC | ((SIZE.trailing_zeros() as u64) << 56);

/// Writes the header of the block `p` (`size` bytes, aligned to `align`).
///
/// # Safety
///
/// `p` was returned by the preload's inner allocator ([`crate::next::Next`]),
/// which keeps the 16 bytes before it for this.
#[inline(always)]
pub(crate) unsafe fn write(p: *mut u8, size: usize, align: usize) {
    debug_assert!((p as u64) <= LOW, "addresses fit below the top byte");
    let tag = p as u64 ^ (MAGIC | (u64::from(align.trailing_zeros()) << 56));
    // SAFETY: the caller's contract; `p` is at least 16-aligned.
    unsafe {
        p.sub(16).cast::<u64>().write(size as u64);
        p.sub(8).cast::<u64>().write(tag);
    }
}

/// The size and alignment of the block `p` if the preload allocated it.
/// `malloc`'s blocks (aligned to 16) are recognised with one compare.
///
/// # Safety
///
/// `p` is a live block of the preload or of the next allocator (glibc's
/// malloc, whose blocks have a 16-byte chunk header before them).
#[inline(always)]
pub(crate) unsafe fn read(p: *const u8) -> Option<(usize, usize)> {
    // SAFETY: the caller's contract.
    if let Some(size) = unsafe { read_malloc(p) } {
        return Some((size, SIZE));
    }
    // SAFETY: the caller's contract: the 16 bytes before `p` are readable
    // (read unaligned: a foreign `p` need not be aligned).
    let (size, tag) = unsafe {
        (
            p.sub(16).cast::<u64>().read_unaligned(),
            p.sub(8).cast::<u64>().read_unaligned(),
        )
    };
    read_other(p, size, tag)
}

/// The size of the block `p` if the preload allocated it with `malloc`'s
/// alignment (one compare); `None` for any other block.
///
/// # Safety
///
/// As for [`read`].
#[inline(always)]
pub(crate) unsafe fn read_malloc(p: *const u8) -> Option<usize> {
    // SAFETY: the caller's contract: the 16 bytes before `p` are readable
    // (read unaligned: a foreign `p` need not be aligned).
    let tag = unsafe { p.sub(8).cast::<u64>().read_unaligned() };
    if tag ^ p as u64 != MALLOC_TAG {
        return None;
    }
    // SAFETY: as above.
    Some(unsafe { p.sub(16).cast::<u64>().read_unaligned() } as usize)
}

/// [`read`] of a block with a larger alignment, or not the preload's.
/// (Inline: returned from a call, the result went through the stack on
/// `free`'s common path too.)
#[inline(always)]
fn read_other(p: *const u8, size: u64, tag: u64) -> Option<(usize, usize)> {
    if p as usize % SIZE != 0 || (tag ^ p as u64) & LOW != MAGIC {
        return None;
    }
    let shift = tag >> 56;
    if !(4..48).contains(&shift) {
        return None;
    }
    Some((size as usize, 1 << shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `write` wrote, `read` reads, for every alignment; glibc's
    /// chunk header is not taken for one.
    #[test]
    fn headers_read_back() {
        let mut buf = [0u64; 8];
        // SAFETY: 32 bytes into the 64-byte buffer.
        let p = unsafe { buf.as_mut_ptr().cast::<u8>().add(32) };
        for shift in 4..12 {
            let align = 1usize << shift;
            // SAFETY: the 16 bytes before `p` are in the buffer.
            unsafe { write(p, 123, align) };
            // SAFETY: the header is in the buffer.
            assert_eq!(unsafe { read(p) }, Some((123, align)));
        }
        // A glibc chunk header: a size with flag bits (bit 3 clear), no tag.
        // SAFETY: the 16 bytes before `p` are in the buffer.
        unsafe {
            p.sub(16).cast::<u64>().write(0);
            p.sub(8).cast::<u64>().write(0x31);
            assert_eq!(read(p), None);
        }
    }
}
