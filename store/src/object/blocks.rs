//! The block layout of an object body: which fixed-size blocks hold which
//! bytes, and where their digests sit in the file. Pure arithmetic.
//!
//! A body of `len` bytes is cut into blocks of `size` bytes (a power of two,
//! at least one blake3 chunk), the last one short. A body of more than one
//! block stores one 32-byte digest per block right after the body (the
//! "digest area"); a body of one block or none stores none, since the
//! whole-body blake3 in the metadata is then that block's digest.

use std::ops::Range;

/// The block size swirl writes: 64 KiB. Measured, blake3 of 64 KiB blocks
/// costs the same CPU per byte as one whole-body blake3 (the blocks are
/// subtrees of the same hash), and a small ranged read reads at most two
/// blocks more than it sends.
pub const BLOCK_SIZE: u64 = 64 * 1024;
/// Smallest block size a reader accepts: one blake3 chunk.
pub const MIN_BLOCK_SIZE: u64 = 1024;
/// Largest block size a reader accepts.
pub const MAX_BLOCK_SIZE: u64 = 16 << 20;
/// Bytes of one stored block digest (a blake3 chaining value).
pub const DIGEST_LEN: u64 = 32;

/// The blocks of one body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocks {
    size: u64,
    len: u64,
}

impl Blocks {
    /// The layout of a `len`-byte body in `size`-byte blocks, or None when
    /// `size` is not a power of two in [`MIN_BLOCK_SIZE`]..=[`MAX_BLOCK_SIZE`].
    pub fn new(size: u64, len: u64) -> Option<Blocks> {
        let ok = size.is_power_of_two() && (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&size);
        ok.then_some(Blocks { size, len })
    }

    /// Block size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Body length in bytes.
    pub fn body_len(&self) -> u64 {
        self.len
    }

    /// Number of blocks (0 for an empty body).
    pub fn count(&self) -> u64 {
        self.len.div_ceil(self.size)
    }

    /// Whether per-block digests are stored (more than one block).
    pub fn has_digests(&self) -> bool {
        self.count() > 1
    }

    /// Bytes of the digest area after the body.
    pub fn digest_area_len(&self) -> u64 {
        if self.has_digests() {
            self.count() * DIGEST_LEN
        } else {
            0
        }
    }

    /// File offset of block `i`'s stored digest (the area follows the body).
    pub fn digest_offset(&self, i: u64) -> u64 {
        self.len + i * DIGEST_LEN
    }

    /// Body bytes `[start, end)` of block `i`.
    pub fn span(&self, i: u64) -> Range<u64> {
        let start = i.saturating_mul(self.size).min(self.len);
        start..start.saturating_add(self.size).min(self.len)
    }

    /// The blocks holding body bytes `[start, end)` (clipped to the body);
    /// empty when the range is.
    pub fn covering(&self, start: u64, end: u64) -> Range<u64> {
        let end = end.min(self.len);
        if start >= end {
            return 0..0;
        }
        start / self.size..end.div_ceil(self.size)
    }

    /// The body bytes of blocks `blocks`.
    pub fn bytes_of(&self, blocks: Range<u64>) -> Range<u64> {
        if blocks.is_empty() {
            return 0..0;
        }
        self.span(blocks.start).start..self.span(blocks.end - 1).end
    }

    /// Where body bytes `[start, end)` end when cut after at most `max`
    /// bytes of whole blocks: the piece a reader reads and checks at once
    /// (at least one block, and ending on a block boundary unless at `end`).
    pub fn piece_end(&self, start: u64, end: u64, max: u64) -> u64 {
        let first = start / self.size * self.size;
        let blocks = (max / self.size).max(1);
        end.min(first.saturating_add(blocks * self.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;

    fn b(len: u64) -> Blocks {
        Blocks::new(64 * K, len).unwrap()
    }

    #[test]
    fn sizes_must_be_powers_of_two_in_range() {
        assert!(Blocks::new(64 * K, 0).is_some());
        assert!(Blocks::new(1024, 0).is_some());
        assert!(Blocks::new(16 << 20, 0).is_some());
        for bad in [0, 512, 1000, 3 * K, 32 << 20] {
            assert!(Blocks::new(bad, 10).is_none(), "{bad}");
        }
    }

    #[test]
    fn counts_and_digest_area() {
        // Empty: no block, no digests.
        assert_eq!((b(0).count(), b(0).digest_area_len()), (0, 0));
        // One block, whole or short: the whole-body digest covers it.
        assert_eq!((b(1).count(), b(1).digest_area_len()), (1, 0));
        assert_eq!((b(64 * K).count(), b(64 * K).digest_area_len()), (1, 0));
        // Two blocks, the second one byte long.
        assert_eq!(
            (b(64 * K + 1).count(), b(64 * K + 1).digest_area_len()),
            (2, 64)
        );
        let m8 = b(8 << 20);
        assert_eq!((m8.count(), m8.digest_area_len()), (128, 128 * 32));
        assert_eq!(m8.digest_offset(0), 8 << 20);
        assert_eq!(m8.digest_offset(3), (8 << 20) + 96);
    }

    #[test]
    fn spans_and_last_short_block() {
        let x = b(2 * 64 * K + 100);
        assert_eq!(x.count(), 3);
        assert_eq!(x.span(0), 0..64 * K);
        assert_eq!(x.span(1), 64 * K..128 * K);
        assert_eq!(x.span(2), 128 * K..128 * K + 100);
        // Past the end: empty at the end.
        assert_eq!(x.span(3), 128 * K + 100..128 * K + 100);
        assert_eq!(x.bytes_of(1..3), 64 * K..128 * K + 100);
        assert_eq!(x.bytes_of(2..2), 0..0);
    }

    #[test]
    fn covering_blocks_at_boundaries() {
        let x = b(4 * 64 * K);
        // Whole body.
        assert_eq!(x.covering(0, 4 * 64 * K), 0..4);
        // One byte at the very start and at the very end.
        assert_eq!(x.covering(0, 1), 0..1);
        assert_eq!(x.covering(4 * 64 * K - 1, 4 * 64 * K), 3..4);
        // The last byte of a block, the first byte of the next.
        assert_eq!(x.covering(64 * K - 1, 64 * K), 0..1);
        assert_eq!(x.covering(64 * K, 64 * K + 1), 1..2);
        // Across one boundary.
        assert_eq!(x.covering(64 * K - 1, 64 * K + 1), 0..2);
        // Exactly one block, aligned.
        assert_eq!(x.covering(64 * K, 128 * K), 1..2);
        // Empty and out-of-body ranges cover nothing; an end past the body is clipped.
        assert_eq!(x.covering(5, 5), 0..0);
        assert_eq!(x.covering(4 * 64 * K, 5 * 64 * K), 0..0);
        assert_eq!(x.covering(3 * 64 * K, u64::MAX), 3..4);
        // Empty body.
        assert_eq!(b(0).covering(0, 10), 0..0);
        // Short last block.
        let y = b(64 * K + 10);
        assert_eq!(y.covering(64 * K + 9, 64 * K + 10), 1..2);
        assert_eq!(y.covering(0, 64 * K + 10), 0..2);
    }

    #[test]
    fn pieces_end_on_block_boundaries() {
        let x = b(10 * 64 * K);
        // A 256 KiB piece from an aligned start is four blocks.
        assert_eq!(x.piece_end(0, 10 * 64 * K, 256 * K), 256 * K);
        // From mid-block: up to the boundary four blocks on from its block.
        assert_eq!(x.piece_end(100, 10 * 64 * K, 256 * K), 256 * K);
        // Never past the range's end.
        assert_eq!(x.piece_end(100, 200, 256 * K), 200);
        // A piece smaller than a block still takes a whole block.
        assert_eq!(x.piece_end(64 * K + 5, 10 * 64 * K, 4 * K), 128 * K);
    }
}
