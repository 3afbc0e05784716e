//! fast_rsync deltas over fixed windows, so memory stays bounded whatever
//! the object size (fast_rsync works on whole slices): the receiver sends the
//! signature of each window of its older version (the basis), the sender
//! diffs each window of its new file against the signature of the same basis
//! window, and the receiver applies each delta to that basis window with
//! `apply_limited`. A window whose delta would not be smaller than the window
//! itself is sent literally, so a delta never costs more than a whole copy
//! plus the signatures (12 bytes per block: 0.3% at 4 KiB blocks).
//!
//! Windows are aligned: data rewritten in place (an image, a volume) deltas
//! well; data shifted by an insertion does not, and ends up sent literally.
//! MD4 (fast_rsync's only format) is weak: the result is only trusted after
//! the receiver has checked the whole file's blake3 (see `receive`).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use fast_rsync::{Signature, SignatureOptions};

use super::{SyncError, SyncResult};

/// Default window: the unit of signature, diff and apply.
pub const DEFAULT_WINDOW: usize = 4 << 20;
/// Default rsync block inside a window.
pub const DEFAULT_BLOCK: u32 = 4096;
/// Bytes of each block's MD4 kept in a signature.
const HASH_SIZE: u32 = 8;

/// Window and block sizes of one delta exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaParams {
    pub window: usize,
    pub block: u32,
}

impl Default for DeltaParams {
    fn default() -> Self {
        DeltaParams {
            window: DEFAULT_WINDOW,
            block: DEFAULT_BLOCK,
        }
    }
}

impl DeltaParams {
    /// Sizes a peer may ask for: blocks of 512 B to 1 MiB, windows of whole
    /// blocks up to 64 MiB (the memory a window costs each side).
    pub fn checked(window: usize, block: u32) -> SyncResult<Self> {
        let ok = (512..=1 << 20).contains(&block)
            && window >= block as usize
            && window <= 64 << 20
            && window.is_multiple_of(block as usize);
        if !ok {
            return Err(SyncError::Invalid(format!(
                "delta window {window} / block {block}"
            )));
        }
        Ok(DeltaParams { window, block })
    }

    /// Windows in a file of `len` bytes.
    pub fn windows(&self, len: u64) -> u64 {
        len.div_ceil(self.window as u64)
    }

    /// The byte range of window `i` of a file of `len` bytes.
    pub fn range(&self, len: u64, i: u64) -> (u64, usize) {
        let start = i.saturating_mul(self.window as u64).min(len);
        let n = (len - start).min(self.window as u64) as usize;
        (start, n)
    }

    /// Reads window `i` of `file` (`len` bytes long) into `buf`.
    pub fn read_window(&self, file: &File, len: u64, i: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        let (start, n) = self.range(len, i);
        buf.resize(n, 0);
        file.read_exact_at(buf, start)
    }

    /// The receiver's signature of one basis window.
    pub fn signature(&self, basis: &[u8]) -> Vec<u8> {
        Signature::calculate(
            basis,
            SignatureOptions {
                block_size: self.block,
                crypto_hash_size: HASH_SIZE,
            },
        )
        .into_serialized()
    }
}

/// What the sender sends for one window.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// A delta against the basis window of the same index.
    Delta(Vec<u8>),
    /// The window's bytes as they are (no basis window, or no gain).
    Literal,
}

/// The sender's piece for a new window, given the signature of the basis
/// window at the same index (None when the basis is shorter).
pub fn diff_window(signature: Option<&[u8]>, new: &[u8]) -> SyncResult<Piece> {
    let Some(sig) = signature else {
        return Ok(Piece::Literal);
    };
    let sig = Signature::deserialize(sig.to_vec())
        .map_err(|_| SyncError::Invalid("delta signature".into()))?;
    let mut delta = Vec::new();
    fast_rsync::diff(&sig.index(), new, &mut delta)
        .map_err(|e| SyncError::Invalid(format!("delta: {e}")))?;
    if delta.len() >= new.len() {
        return Ok(Piece::Literal);
    }
    Ok(Piece::Delta(delta))
}

/// The receiver: applies a delta to its basis window, producing at most
/// `limit` bytes into `out`.
pub fn apply_window(basis: &[u8], delta: &[u8], limit: usize, out: &mut Vec<u8>) -> SyncResult<()> {
    out.clear();
    fast_rsync::apply_limited(basis, delta, out, limit)
        .map_err(|e| SyncError::Mismatch(format!("delta does not apply: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn params_are_checked() {
        assert!(DeltaParams::checked(4 << 20, 4096).is_ok());
        assert!(DeltaParams::checked(4096 * 3 + 1, 4096).is_err());
        assert!(DeltaParams::checked(128 << 20, 4096).is_err());
        assert!(DeltaParams::checked(1 << 20, 100).is_err());
        let p = DeltaParams::checked(8192, 4096).unwrap();
        assert_eq!(p.windows(0), 0);
        assert_eq!(p.windows(8192), 1);
        assert_eq!(p.windows(8193), 2);
        assert_eq!(p.range(8193, 1), (8192, 1));
    }

    /// A 1% in-place rewrite costs about 1% plus the signature; a window
    /// with nothing in common goes literally; the result is byte-exact.
    #[test]
    fn rewrite_in_place() {
        let p = DeltaParams::checked(1 << 20, 4096).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut old = vec![0u8; 4 << 20];
        rng.fill(&mut old[..]);
        let mut new = old.clone();
        // 1% changed: 42 KiB in one run, across a window edge.
        let at = (1 << 20) - 20_000;
        rng.fill(&mut new[at..at + 42_000]);
        new.extend_from_slice(&[9u8; 1000]); // and it grew
        let (mut sent, mut sig_bytes) = (0usize, 0usize);
        let mut rebuilt = Vec::new();
        for i in 0..p.windows(new.len() as u64) {
            let (s, n) = p.range(new.len() as u64, i);
            let nw = &new[s as usize..s as usize + n];
            let (bs, bn) = p.range(old.len() as u64, i);
            let bw = &old[bs as usize..bs as usize + bn];
            let sig = (bn > 0).then(|| p.signature(bw));
            sig_bytes += sig.as_ref().map_or(0, Vec::len);
            match diff_window(sig.as_deref(), nw).unwrap() {
                Piece::Delta(d) => {
                    sent += d.len();
                    let mut out = Vec::new();
                    apply_window(bw, &d, p.window, &mut out).unwrap();
                    rebuilt.extend(out);
                }
                Piece::Literal => {
                    sent += nw.len();
                    rebuilt.extend_from_slice(nw);
                }
            }
        }
        assert_eq!(rebuilt, new);
        assert!(sent < new.len() / 50, "sent {sent} of {}", new.len());
        assert!(sig_bytes < new.len() / 200, "signature {sig_bytes}");
        // Nothing in common: literal.
        let mut other = vec![0u8; 1 << 20];
        rng.fill(&mut other[..]);
        let sig = p.signature(&old[..1 << 20]);
        assert_eq!(diff_window(Some(&sig), &other).unwrap(), Piece::Literal);
        // A corrupt delta or signature is an error, not a panic.
        assert!(diff_window(Some(b"junk"), &other).is_err());
        let mut out = Vec::new();
        assert!(apply_window(&old, b"\x72\x73\x02\x36\x45\xff", 100, &mut out).is_err());
    }
}
