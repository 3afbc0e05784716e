//! Reading a `.data` file's body with its checks: any range block by block,
//! each covering block checked against its stored digest before a byte of it
//! is handed out, and the whole file at once (what the auditor and the
//! replicator call). A file without block digests (written before they
//! existed) can only be checked whole, against its whole-body blake3.
//! Blocking I/O.
//!
//! Large bodies can be read around the page cache ([`DataFile::use_direct`]):
//! the device then writes straight into the buffer that goes out, where a
//! buffered read copies every byte out of page-cache pages filled just for
//! this read (perf on a 64 MiB GET: that copy was 29% of the machine's CPU).
//! Swift too keeps large objects out of the page cache after a read
//! (`keep_cache_size`).

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use bytes::Bytes;

use super::block_hash;
use super::blocks::{Blocks, DIGEST_LEN};
use super::metadata::{self, Metadata, TRAILER_LEN};
use super::read_buf::{ReadBuf, ALIGN};

/// Bytes read and checked at once by [`DataFile::verify`].
const VERIFY_PIECE: u64 = 1 << 20;

/// A body that failed its check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt {
    /// Body offset of the first byte not verified (the bad block's start;
    /// 0 for a failed whole-body check or bad metadata).
    pub offset: u64,
    pub why: String,
}

/// Body bytes read for a range, as far as they passed their checks.
#[derive(Debug)]
pub struct Checked {
    /// The bytes of the blocks covering the range.
    pub buf: Bytes,
    /// Where in `buf` the wanted bytes that passed are: the whole range, or
    /// the part of it before the first bad block.
    pub good: Range<usize>,
    /// The first bad block, if one failed.
    pub corrupt: Option<Corrupt>,
}

/// An open `.data` file: its body, block layout and digests.
#[derive(Debug)]
pub struct DataFile {
    file: File,
    /// The same file opened again with O_DIRECT, once asked for and allowed.
    direct: Option<File>,
    body_len: u64,
    blocks: Option<Blocks>,
    root: Option<blake3::Hash>,
}

/// Reads the metadata at a file's end; returns it with the body length.
pub fn read_metadata(file: &File) -> Result<(Metadata, u64), String> {
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    // One read of the tail usually covers trailer and metadata.
    let want = len.min(4096);
    let mut tail = vec![0u8; want as usize];
    file.read_exact_at(&mut tail, len - want)
        .map_err(|e| e.to_string())?;
    match metadata::decode_tail(&tail, len).map_err(|e| e.to_string())? {
        Some(r) => Ok(r),
        None => {
            let (mlen, _) = metadata::parse_trailer(&tail[tail.len() - TRAILER_LEN..], len)
                .map_err(|e| e.to_string())?;
            let need = mlen + TRAILER_LEN as u64;
            let mut tail = vec![0u8; need as usize];
            file.read_exact_at(&mut tail, len - need)
                .map_err(|e| e.to_string())?;
            metadata::decode_tail(&tail, len)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "metadata tail".to_string())
        }
    }
}

/// Checks a whole `.data` file at `path`: its metadata and every body byte.
/// `Ok(Some(_))` says why it is corrupt (quarantine it); `Err` is an I/O
/// failure that says nothing about the file.
pub fn verify_path(path: &Path) -> io::Result<Option<Corrupt>> {
    let file = File::open(path)?;
    let (md, body_len) = match read_metadata(&file) {
        Ok(r) => r,
        Err(why) => return Ok(Some(Corrupt { offset: 0, why })),
    };
    match DataFile::new(file, &md, body_len) {
        Ok(d) => d.verify(),
        Err(why) => Ok(Some(Corrupt { offset: 0, why })),
    }
}

impl DataFile {
    /// The body of `file`, whose metadata `md` says `body_len` bytes; Err
    /// when the metadata does not fit the file.
    pub fn new(file: File, md: &Metadata, body_len: u64) -> Result<DataFile, String> {
        if md.content_length() != Some(body_len) {
            return Err(format!(
                "body is {body_len} bytes, metadata says {:?}",
                md.get("Content-Length")
            ));
        }
        let blocks = md.blocks().map_err(|e| e.to_string())?;
        let root = match &md.blake3 {
            Some(hex) => Some(
                blake3::Hash::from_hex(hex).map_err(|e| format!("stored blake3 {hex:?}: {e}"))?,
            ),
            None => None,
        };
        if blocks.is_some() && root.is_none() {
            return Err("block digests without a body digest".into());
        }
        Ok(DataFile {
            file,
            direct: None,
            body_len,
            blocks,
            root,
        })
    }

    /// Body length.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Whether every range is checked block by block (false for a file
    /// written before block digests, checked only whole).
    pub fn checks_blocks(&self) -> bool {
        self.blocks.is_some()
    }

    /// The block layout, for a file with block digests.
    pub fn blocks(&self) -> Option<Blocks> {
        self.blocks
    }

    /// Reads unchecked body bytes at `offset` (never past the body).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let left = self.body_len.saturating_sub(offset);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.file.read_at(&mut buf[..n], offset)
    }

    /// Reads body bytes `[start, end)` and checks every block they touch.
    /// Only for a file that [`checks_blocks`](Self::checks_blocks).
    pub fn read_checked(&self, start: u64, end: u64) -> io::Result<Checked> {
        let blocks = self.blocks.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no block digests to check")
        })?;
        let end = end.min(self.body_len);
        if start >= end {
            return Ok(Checked {
                buf: Bytes::new(),
                good: 0..0,
                corrupt: None,
            });
        }
        let cover = blocks.covering(start, end);
        let bytes = blocks.bytes_of(cover.clone());
        let n = (bytes.end - bytes.start) as usize;
        let buf = match self.read_direct(bytes.start, n)? {
            Some(b) => b,
            None => {
                let mut buf = vec![0u8; n];
                self.file.read_exact_at(&mut buf, bytes.start)?;
                Bytes::from(buf)
            }
        };
        let digests = self.read_digests(&blocks, cover.clone())?;
        let bad = first_bad(&blocks, cover, &buf, bytes.start, &digests, self.root);
        let good_end = bad.as_ref().map_or(end, |c| c.offset.clamp(start, end));
        let at = |o: u64| (o - bytes.start) as usize;
        Ok(Checked {
            good: at(start)..at(good_end),
            buf,
            corrupt: bad,
        })
    }

    /// Reads whole blocks around the page cache from now on, through a
    /// second descriptor of the file opened with O_DIRECT; false where the
    /// filesystem refuses it (reads then stay buffered). For large bodies:
    /// reading them does not fill the page cache, and the copy out of it
    /// goes.
    pub fn use_direct(&mut self) -> bool {
        if self.direct.is_none() {
            // A new open file description of the same inode: the flag must
            // not reach the descriptor that reads digests and metadata at
            // unaligned offsets. Works for an unlinked file too.
            let path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
            self.direct = OpenOptions::new()
                .read(true)
                .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
                .open(path)
                .ok();
        }
        self.direct.is_some()
    }

    /// Reads `n` bytes at `offset` directly into a pooled aligned buffer;
    /// None when there is no direct descriptor or the kernel refuses this
    /// read (the caller then reads buffered).
    fn read_direct(&self, offset: u64, n: usize) -> io::Result<Option<Bytes>> {
        let Some(d) = &self.direct else {
            return Ok(None);
        };
        if !offset.is_multiple_of(ALIGN as u64) {
            return Ok(None);
        }
        // The length rounds up to the alignment: the read may run on into
        // the digests after the body, or stop short at the file's end.
        let Some(mut rb) = ReadBuf::take(n.next_multiple_of(ALIGN)) else {
            return Ok(None);
        };
        let window = rb.window();
        let mut got = 0;
        while got < n {
            match d.read_at(&mut window[got..], offset + got as u64) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "object file shorter than its metadata says",
                    ))
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Alignment the device does not accept (or a short read
                // that left the offset unaligned): read it buffered.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(rb.into_bytes(n)))
    }

    /// The stored digests of blocks `cover` (empty for a one-block body,
    /// whose digest is the body's).
    fn read_digests(&self, blocks: &Blocks, cover: Range<u64>) -> io::Result<Vec<u8>> {
        if !blocks.has_digests() || cover.is_empty() {
            return Ok(Vec::new());
        }
        let mut d = vec![0u8; ((cover.end - cover.start) * DIGEST_LEN) as usize];
        self.file
            .read_exact_at(&mut d, blocks.digest_offset(cover.start))?;
        Ok(d)
    }

    /// Checks the whole body: each block and that the block digests make up
    /// the body's digest, or for a file without block digests, the body's
    /// blake3. `Ok(Some(_))` says where and why it is corrupt.
    pub fn verify(&self) -> io::Result<Option<Corrupt>> {
        self.verify_paced(&mut |_| Ok(()))
    }

    /// As [`verify`](Self::verify), calling `pace` with the number of body
    /// bytes about to be read before each read (at most 1 MiB at a time), so
    /// a caller can hold its reading rate down (the auditor's
    /// `bytes_per_second`); an `Err` from `pace` ends the check with it
    /// (an auditor told to stop).
    pub fn verify_paced(
        &self,
        pace: &mut dyn FnMut(u64) -> io::Result<()>,
    ) -> io::Result<Option<Corrupt>> {
        match self.blocks {
            Some(blocks) => self.verify_blocks(&blocks, pace),
            None => self.verify_whole(pace),
        }
    }

    fn verify_blocks(
        &self,
        blocks: &Blocks,
        pace: &mut dyn FnMut(u64) -> io::Result<()>,
    ) -> io::Result<Option<Corrupt>> {
        let root = self
            .root
            .ok_or_else(|| io::Error::other("no body digest"))?;
        let all = self.read_digests(blocks, 0..blocks.count())?;
        if blocks.has_digests() && block_hash::root_of(&all) != Some(root) {
            return Ok(Some(Corrupt {
                offset: 0,
                why: "block digests do not make up the body digest".into(),
            }));
        }
        let per = (VERIFY_PIECE / blocks.size()).max(1);
        let mut first = 0;
        while first < blocks.count() {
            let cover = first..(first + per).min(blocks.count());
            let bytes = blocks.bytes_of(cover.clone());
            pace(bytes.end - bytes.start)?;
            let mut buf = vec![0u8; (bytes.end - bytes.start) as usize];
            self.file.read_exact_at(&mut buf, bytes.start)?;
            let d = DIGEST_LEN as usize;
            let digests = all
                .get(first as usize * d..cover.end as usize * d)
                .unwrap_or_default();
            if let Some(c) = first_bad(
                blocks,
                cover.clone(),
                &buf,
                bytes.start,
                digests,
                Some(root),
            ) {
                return Ok(Some(c));
            }
            first = cover.end;
        }
        Ok(None)
    }

    fn verify_whole(
        &self,
        pace: &mut dyn FnMut(u64) -> io::Result<()>,
    ) -> io::Result<Option<Corrupt>> {
        let Some(root) = self.root else {
            return Ok(None);
        };
        let mut h = blake3::Hasher::new();
        let mut buf = vec![0u8; VERIFY_PIECE as usize];
        let mut off = 0;
        while off < self.body_len {
            let n = (self.body_len - off).min(VERIFY_PIECE) as usize;
            pace(n as u64)?;
            self.file.read_exact_at(&mut buf[..n], off)?;
            h.update(&buf[..n]);
            off += n as u64;
        }
        Ok((h.finalize() != root).then(|| Corrupt {
            offset: 0,
            why: "blake3 mismatch".into(),
        }))
    }
}

/// The first block of `cover` whose bytes (in `buf`, which starts at body
/// offset `buf_start`) do not match its digest (`digests`, 32 bytes per
/// block of `cover`; for a one-block body, `root`).
fn first_bad(
    blocks: &Blocks,
    cover: Range<u64>,
    buf: &[u8],
    buf_start: u64,
    digests: &[u8],
    root: Option<blake3::Hash>,
) -> Option<Corrupt> {
    let d = DIGEST_LEN as usize;
    for (k, i) in cover.enumerate() {
        let span = blocks.span(i);
        let bytes = buf.get((span.start - buf_start) as usize..(span.end - buf_start) as usize);
        let want: Option<[u8; 32]> = if blocks.has_digests() {
            digests
                .get(k * d..(k + 1) * d)
                .and_then(|s| s.try_into().ok())
        } else {
            root.map(|r| *r.as_bytes())
        };
        let ok = match (bytes, want) {
            (Some(b), Some(w)) => block_hash::block_digest(blocks, i, b) == w,
            _ => false,
        };
        if !ok {
            return Some(Corrupt {
                offset: span.start,
                why: format!(
                    "block {i} (bytes {}-{}) failed its blake3 check",
                    span.start, span.end
                ),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::block_hash::BlockHasher;
    use crate::object::blocks::BLOCK_SIZE;

    const B: u64 = BLOCK_SIZE;

    fn body(n: usize) -> Vec<u8> {
        (0..n as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect()
    }

    /// Writes a `.data` as the writer does (`blocks`) or as files were
    /// written before block digests (no `block_size`, no digest area).
    fn write(dir: &Path, name: &str, body: &[u8], blocks: bool) -> std::path::PathBuf {
        let mut h = BlockHasher::new(B);
        h.update(body);
        let mut md = Metadata::new();
        md.set("Content-Length", body.len().to_string());
        md.blake3 = Some(h.root().to_hex().to_string());
        let mut file = body.to_vec();
        if blocks {
            md.block_size = Some(B);
            file.extend(h.digest_area());
        }
        file.extend(md.encode().unwrap());
        let p = dir.join(name);
        std::fs::write(&p, file).unwrap();
        p
    }

    fn open(p: &Path) -> DataFile {
        let f = File::open(p).unwrap();
        let (md, len) = read_metadata(&f).unwrap();
        DataFile::new(f, &md, len).unwrap()
    }

    /// Opened buffered and, where the filesystem takes O_DIRECT, direct.
    fn both_ways(p: &Path) -> Vec<DataFile> {
        let mut direct = open(p);
        if direct.use_direct() {
            vec![open(p), direct]
        } else {
            vec![open(p)]
        }
    }

    fn flip(p: &Path, at: u64) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(p)
            .unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
    }

    fn wanted(c: &Checked) -> &[u8] {
        &c.buf[c.good.clone()]
    }

    #[test]
    fn ranges_read_checked_exactly() {
        let d = tempfile::tempdir().unwrap();
        let data = body(10 * B as usize + 123);
        for f in both_ways(&write(d.path(), "a.data", &data, true)) {
            ranges_of(&f, &data);
        }
    }

    fn ranges_of(f: &DataFile, data: &[u8]) {
        assert!(f.checks_blocks());
        assert_eq!(f.body_len(), data.len() as u64);
        let n = data.len() as u64;
        for (s, e) in [
            (0, n),
            (0, 1),
            (B - 1, B + 1),
            (B, 2 * B),
            (3 * B + 7, 7 * B - 3),
            (n - 1, n),
            (10 * B, n),
            (5, 5),
            (n, n + 10),
            (n - 5, n + 10),
        ] {
            let c = f.read_checked(s, e).unwrap();
            assert_eq!(c.corrupt, None, "{s}-{e}");
            let e2 = e.min(n);
            let want = if s < e2 {
                &data[s as usize..e2 as usize]
            } else {
                &[][..]
            };
            assert_eq!(wanted(&c), want, "{s}-{e}");
        }
        assert_eq!(f.verify().unwrap(), None);
    }

    #[test]
    fn a_bad_byte_stops_the_read_at_its_block() {
        let d = tempfile::tempdir().unwrap();
        let data = body(10 * B as usize + 123);
        // In the middle of block 3, and on the first byte of block 5.
        for (bad, block) in [(3 * B + B / 2, 3), (5 * B, 5)] {
            let p = write(d.path(), "b.data", &data, true);
            flip(&p, bad);
            for f in both_ways(&p) {
                bad_block_of(&f, &data, block);
            }
            assert_eq!(verify_path(&p).unwrap().map(|c| c.offset), Some(block * B));
        }
    }

    fn bad_block_of(f: &DataFile, data: &[u8], block: u64) {
        let n = data.len() as u64;
        let c = f.read_checked(0, n).unwrap();
        let cor = c.corrupt.clone().unwrap();
        assert_eq!(cor.offset, block * B);
        // Everything before the bad block, nothing of it.
        assert_eq!(wanted(&c), &data[..(block * B) as usize]);
        // A range starting inside the bad block yields nothing.
        let c = f.read_checked(block * B + 10, n).unwrap();
        assert!(c.good.is_empty() && c.corrupt.is_some());
        // A range that ends before it is fine; one that only touches its
        // block's last byte is not.
        let c = f.read_checked(B, block * B).unwrap();
        assert_eq!(c.corrupt, None);
        assert_eq!(wanted(&c), &data[B as usize..(block * B) as usize]);
        let c = f
            .read_checked((block + 1) * B - 1, (block + 1) * B)
            .unwrap();
        assert!(c.good.is_empty() && c.corrupt.is_some());
        // Later blocks still read.
        let c = f.read_checked((block + 1) * B, n).unwrap();
        assert_eq!(c.corrupt, None);
        assert_eq!(f.verify().unwrap().map(|c| c.offset), Some(block * B));
    }

    #[test]
    fn short_last_block_and_one_block_bodies() {
        let d = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            1000,
            B as usize - 1,
            B as usize,
            B as usize + 1,
            3 * B as usize + 1,
        ] {
            let data = body(len);
            let p = write(d.path(), "c.data", &data, true);
            let f = open(&p);
            let c = f.read_checked(0, len as u64).unwrap();
            assert_eq!(c.corrupt, None, "len {len}");
            assert_eq!(wanted(&c), &data[..], "len {len}");
            assert_eq!(f.verify().unwrap(), None);
            if len > 0 {
                // The last byte is in the last (maybe short, maybe only) block.
                flip(&p, len as u64 - 1);
                let f = open(&p);
                let last = (len as u64 - 1) / B * B;
                let c = f.read_checked(0, len as u64).unwrap();
                assert_eq!(
                    c.corrupt.as_ref().map(|c| c.offset),
                    Some(last),
                    "len {len}"
                );
                assert_eq!(wanted(&c), &data[..last as usize]);
                assert!(f.verify().unwrap().is_some());
            }
        }
    }

    #[test]
    fn a_bad_digest_fails_its_block_and_the_whole_check() {
        let d = tempfile::tempdir().unwrap();
        let data = body(4 * B as usize);
        let p = write(d.path(), "d.data", &data, true);
        // The digest of block 2.
        flip(&p, data.len() as u64 + 2 * 32 + 5);
        let f = open(&p);
        let c = f.read_checked(0, data.len() as u64).unwrap();
        assert_eq!(c.corrupt.map(|c| c.offset), Some(2 * B));
        let v = f.verify().unwrap().unwrap();
        assert!(v.why.contains("make up"), "{v:?}");
    }

    #[test]
    fn files_without_block_digests_check_whole() {
        let d = tempfile::tempdir().unwrap();
        let data = body(3 * B as usize + 5);
        let p = write(d.path(), "old.data", &data, false);
        let f = open(&p);
        assert!(!f.checks_blocks());
        assert_eq!(f.body_len(), data.len() as u64);
        assert!(f.read_checked(0, 10).is_err());
        let mut buf = vec![0u8; 100];
        assert_eq!(f.read_at(&mut buf, B).unwrap(), 100);
        assert_eq!(buf, data[B as usize..B as usize + 100]);
        assert_eq!(f.verify().unwrap(), None);
        flip(&p, 2 * B + 3);
        assert_eq!(verify_path(&p).unwrap().map(|c| c.offset), Some(0));
    }

    #[test]
    fn paced_verify_reports_every_body_byte() {
        let d = tempfile::tempdir().unwrap();
        let data = body(3 * (1 << 20) + 77);
        for blocks in [true, false] {
            let f = open(&write(d.path(), "p.data", &data, blocks));
            let mut seen = 0;
            let mut count = |n| {
                seen += n;
                Ok(())
            };
            assert_eq!(f.verify_paced(&mut count).unwrap(), None);
            assert_eq!(seen, data.len() as u64, "blocks {blocks}");
            // Stopped after the first piece.
            let mut stop = |_| Err(io::Error::from(io::ErrorKind::Interrupted));
            let e = f.verify_paced(&mut stop).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        }
    }

    #[test]
    fn bad_metadata_is_corrupt() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "e.data", &body(100), true);
        let len = std::fs::metadata(&p).unwrap().len();
        flip(&p, len - 20);
        assert!(verify_path(&p).unwrap().is_some());
    }
}
