//! Per-block digests that are part of the body's own blake3 hash.
//!
//! blake3 hashes a body as a binary tree over 1 KiB chunks, whose left
//! subtrees are always whole powers of two. A block of 2^k chunks that starts
//! on a multiple of its size is therefore a whole subtree, and its "chaining
//! value" (blake3's hash of a subtree, `blake3::hazmat`) is the block's
//! digest. Merging the block digests in blake3's tree order yields exactly
//! `blake3::hash(body)`: the writer hashes every byte once and gets both the
//! whole-body digest (the one the PUT path compares with the proxy's) and the
//! block digests; a reader checks any block alone.
//!
//! Pure: no I/O. A body of at most one block has no block digests; its one
//! block is checked against the whole-body hash.

use blake3::hazmat::{
    merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

use super::blocks::{Blocks, DIGEST_LEN};

/// Merges block digests, left to right, into blake3's tree (blake3's own
/// lazily merged stack of subtrees).
#[derive(Debug, Clone, Default)]
struct Tree {
    /// Subtrees of the blocks pushed so far, largest first.
    stack: Vec<ChainingValue>,
    /// Blocks pushed so far.
    done: u64,
}

impl Tree {
    /// Merges the subtrees that are complete: after `done` blocks, one per
    /// set bit of `done`. The newest block stays unmerged until another
    /// comes, since the last block's parent is merged as the root.
    fn merge_complete(stack: &mut Vec<ChainingValue>, done: u64) {
        let keep = done.count_ones() as usize;
        while stack.len() > keep {
            let (Some(right), Some(left)) = (stack.pop(), stack.pop()) else {
                return;
            };
            stack.push(merge_subtrees_non_root(&left, &right, Mode::Hash));
        }
    }

    fn push(&mut self, cv: ChainingValue) {
        Self::merge_complete(&mut self.stack, self.done);
        self.stack.push(cv);
        self.done += 1;
    }

    /// The root hash, `last` being the final block's digest; None when no
    /// block came before it (a one-block body's root is not a merge).
    fn root(&self, last: &ChainingValue) -> Option<blake3::Hash> {
        let mut stack = self.stack.clone();
        Self::merge_complete(&mut stack, self.done);
        let (first, rest) = stack.split_first()?;
        let right = rest.iter().rev().fold(*last, |right, left| {
            merge_subtrees_non_root(left, &right, Mode::Hash)
        });
        Some(merge_subtrees_root(first, &right, Mode::Hash))
    }
}

/// Hashes a body as it is written: the whole-body blake3 and, for a body of
/// more than one block, each block's digest.
#[derive(Debug, Clone)]
pub struct BlockHasher {
    size: u64,
    /// The block being filled.
    block: blake3::Hasher,
    filled: u64,
    tree: Tree,
    /// Digests of the blocks before the current one, 32 bytes each.
    digests: Vec<u8>,
}

impl BlockHasher {
    /// A hasher for `blocks`-sized blocks (a size [`Blocks::new`] accepts).
    pub fn new(blocks: u64) -> Self {
        BlockHasher {
            size: blocks,
            block: blake3::Hasher::new(),
            filled: 0,
            tree: Tree::default(),
            digests: Vec::new(),
        }
    }

    /// The block size.
    pub fn block_size(&self) -> u64 {
        self.size
    }

    /// Hashes the next body bytes.
    pub fn update(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            if self.filled == self.size {
                // More bytes: the full block is not the last, so not the root.
                let cv = self.block.finalize_non_root();
                self.tree.push(cv);
                self.digests.extend_from_slice(&cv);
                self.block = blake3::Hasher::new();
                self.block.set_input_offset(self.tree.done * self.size);
                self.filled = 0;
            }
            let n = buf.len().min((self.size - self.filled) as usize);
            self.block.update(&buf[..n]);
            self.filled += n as u64;
            buf = &buf[n..];
        }
    }

    /// blake3 of the body so far (what `blake3::hash` gives).
    pub fn root(&self) -> blake3::Hash {
        if self.tree.done == 0 {
            return self.block.finalize();
        }
        let last = self.block.finalize_non_root();
        self.tree
            .root(&last)
            .unwrap_or_else(|| self.block.finalize())
    }

    /// The digest area to store after the body: every block's digest when
    /// there is more than one block, else nothing.
    pub fn digest_area(&self) -> Vec<u8> {
        if self.tree.done == 0 {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(self.digests.len() + DIGEST_LEN as usize);
        out.extend_from_slice(&self.digests);
        out.extend_from_slice(&self.block.finalize_non_root());
        out
    }
}

/// The digest block `i` of `blocks` must match, given its bytes: its
/// chaining value, or for a body of one block, the whole-body hash.
pub fn block_digest(blocks: &Blocks, i: u64, data: &[u8]) -> [u8; 32] {
    if !blocks.has_digests() {
        return *blake3::hash(data).as_bytes();
    }
    if data.is_empty() || data.len() as u64 > blocks.size() {
        // Not a block's bytes: no digest matches this (and blake3's tree
        // functions would refuse it).
        return [0; 32];
    }
    let mut h = blake3::Hasher::new();
    h.set_input_offset(blocks.span(i).start);
    h.update(data);
    h.finalize_non_root()
}

/// The whole-body hash that a digest area merges into, or None when it is
/// not a list of at least two digests.
pub fn root_of(area: &[u8]) -> Option<blake3::Hash> {
    let d = DIGEST_LEN as usize;
    if !area.len().is_multiple_of(d) || area.len() < 2 * d {
        return None;
    }
    let mut tree = Tree::default();
    let mut digests = area.chunks_exact(d).map(|c| {
        let mut cv = [0u8; 32];
        cv.copy_from_slice(c);
        cv
    });
    let mut prev = digests.next()?;
    for cv in digests {
        tree.push(prev);
        prev = cv;
    }
    tree.root(&prev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::blocks::BLOCK_SIZE;

    fn body(n: usize) -> Vec<u8> {
        (0..n as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    const K: usize = 1024;
    const SIZES: &[usize] = &[
        0,
        1,
        1023,
        1024,
        1025,
        64 * K - 1,
        64 * K,
        64 * K + 1,
        128 * K,
        128 * K + 1,
        3 * 64 * K + 5,
        4 * 64 * K,
        5 * 64 * K + 777,
        8 * 64 * K,
        9 * 64 * K - 1,
        1 << 20,
        (1 << 20) + 64 * K + 3,
    ];

    #[test]
    fn root_is_blake3_of_the_body_for_every_shape() {
        for &n in SIZES {
            let data = body(n);
            for step in [1000, 64 * K, 100_003, n.max(1)] {
                let mut h = BlockHasher::new(BLOCK_SIZE);
                for piece in data.chunks(step) {
                    h.update(piece);
                }
                assert_eq!(h.root(), blake3::hash(&data), "len {n} step {step}");
                let blocks = Blocks::new(BLOCK_SIZE, n as u64).unwrap();
                let area = h.digest_area();
                assert_eq!(area.len() as u64, blocks.digest_area_len(), "len {n}");
                if blocks.has_digests() {
                    assert_eq!(root_of(&area), Some(blake3::hash(&data)), "len {n}");
                }
            }
        }
    }

    #[test]
    fn each_block_checks_alone() {
        for &n in SIZES {
            let data = body(n);
            let mut h = BlockHasher::new(BLOCK_SIZE);
            h.update(&data);
            let blocks = Blocks::new(BLOCK_SIZE, n as u64).unwrap();
            let area = h.digest_area();
            for i in 0..blocks.count() {
                let span = blocks.span(i);
                let bytes = &data[span.start as usize..span.end as usize];
                let want: [u8; 32] = if blocks.has_digests() {
                    area[i as usize * 32..][..32].try_into().unwrap()
                } else {
                    *h.root().as_bytes()
                };
                assert_eq!(block_digest(&blocks, i, bytes), want, "len {n} block {i}");
                // One flipped bit anywhere in the block fails it.
                let mut bad = bytes.to_vec();
                let at = bad.len() / 2;
                bad[at] ^= 1;
                assert_ne!(block_digest(&blocks, i, &bad), want, "len {n} block {i}");
                // So does the right block's bytes checked as another block.
                if blocks.count() > 1 && span.end - span.start == BLOCK_SIZE {
                    let other = (i + 1) % (blocks.count() - 1);
                    if other != i {
                        assert_ne!(block_digest(&blocks, other, bytes), want);
                    }
                }
            }
        }
    }

    #[test]
    fn other_block_sizes() {
        let data = body(300 * K + 17);
        for size in [1024u64, 4096, 256 * 1024, 1 << 20] {
            let mut h = BlockHasher::new(size);
            h.update(&data);
            assert_eq!(h.root(), blake3::hash(&data), "block {size}");
            let blocks = Blocks::new(size, data.len() as u64).unwrap();
            assert_eq!(h.digest_area().len() as u64, blocks.digest_area_len());
        }
    }

    #[test]
    fn bad_areas_have_no_root() {
        assert_eq!(root_of(&[]), None);
        assert_eq!(root_of(&[0; 32]), None);
        assert_eq!(root_of(&[0; 65]), None);
        assert!(root_of(&[0; 64]).is_some());
    }
}
