//! Receiving one object file from a peer: bytes go to a temp file under the
//! device's `tmp/` while two blake3 digests run (the body's, and the whole
//! file's), and what follows the body (block digests, metadata) is kept
//! aside. [`IncomingFile::finish`] checks the length, that the metadata
//! decodes, that it names the same timestamp as the file name, that the body
//! matches the digest the metadata carries and that the block digests are
//! the body's own; only then may [`commit`] rename the file into place
//! (with the suffix invalidated first and one filesystem sync per batch, as
//! object PUTs do it one at a time).

use std::io::Write;
use std::path::PathBuf;

use swirl_common::Timestamp;
use tracing::warn;

use super::{SyncError, SyncResult};
use crate::object::block_hash;
use crate::object::blocks::{DIGEST_LEN, MIN_BLOCK_SIZE};
use crate::object::durable::{self, TempFile};
use crate::object::filename::{self, FileKind, OnDiskName};
use crate::object::hashes;
use crate::object::layout::{suffix_of, DeviceLayout};
use crate::object::metadata::{self, MAX_METADATA_LEN, TRAILER_LEN};

/// A file being received.
pub struct IncomingFile {
    hash: String,
    name: OnDiskName,
    file_len: u64,
    body_len: u64,
    written: u64,
    temp: TempFile,
    body: blake3::Hasher,
    whole: blake3::Hasher,
    tail: Vec<u8>,
    part_dir: PathBuf,
    hash_dir: PathBuf,
}

/// A received file that passed every check, ready to commit.
pub struct Received {
    temp: TempFile,
    pub hash: String,
    pub name: String,
    part_dir: PathBuf,
    hash_dir: PathBuf,
    /// Hex blake3 of the whole file.
    pub file_blake3: String,
}

impl IncomingFile {
    /// Starts receiving `name` of object `hash` in `partition`: `file_len`
    /// bytes in all, the first `body_len` of them the body.
    pub fn create(
        layout: &DeviceLayout,
        partition: u32,
        hash: &str,
        name: &str,
        file_len: u64,
        body_len: u64,
    ) -> SyncResult<Self> {
        if !super::offer::is_hash(hash) {
            return Err(SyncError::Invalid(format!("object hash {hash:?}")));
        }
        let parsed =
            filename::parse(name).map_err(|e| SyncError::Invalid(format!("file name: {e}")))?;
        let meta_len = file_len.saturating_sub(body_len);
        if body_len > file_len
            || meta_len < TRAILER_LEN as u64
            || meta_len > (MAX_METADATA_LEN + TRAILER_LEN) as u64 + max_digest_area(body_len)
            || (parsed.kind != FileKind::Data && body_len != 0)
        {
            return Err(SyncError::Invalid(format!(
                "{name}: lengths {file_len}/{body_len} do not fit the file format"
            )));
        }
        let temp = TempFile::create(&layout.tmp())
            .map_err(|e| crate::object::Error::from_io(e, &layout.root.display().to_string()))?;
        Ok(IncomingFile {
            hash: hash.to_string(),
            name: parsed,
            file_len,
            body_len,
            written: 0,
            temp,
            body: blake3::Hasher::new(),
            whole: blake3::Hasher::new(),
            tail: Vec::with_capacity(meta_len as usize),
            part_dir: layout.partition(partition),
            hash_dir: layout.hash_dir(partition, hash),
        })
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.file_len - self.written
    }

    /// Appends the next bytes of the file.
    pub fn write(&mut self, buf: &[u8]) -> SyncResult<()> {
        if buf.len() as u64 > self.remaining() {
            return Err(SyncError::Invalid(format!(
                "{}: more than the {} bytes announced",
                self.name.name, self.file_len
            )));
        }
        let in_body = (self.body_len.saturating_sub(self.written) as usize).min(buf.len());
        self.body.update(&buf[..in_body]);
        self.tail.extend_from_slice(&buf[in_body..]);
        self.whole.update(buf);
        self.temp.file()?.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(())
    }

    /// Checks what arrived; the file is not visible until [`commit`].
    pub fn finish(self) -> SyncResult<Received> {
        let name = &self.name.name;
        let mismatch = |m: String| SyncError::Mismatch(format!("{name}: {m}"));
        if self.written != self.file_len {
            return Err(mismatch(format!(
                "{} of {} bytes arrived",
                self.written, self.file_len
            )));
        }
        let (md, body_len) = metadata::decode_tail(&self.tail, self.file_len)
            .map_err(|e| mismatch(e.to_string()))?
            .ok_or_else(|| mismatch("metadata longer than announced".into()))?;
        if body_len != self.body_len {
            return Err(mismatch(format!(
                "body is {body_len} bytes, {} announced",
                self.body_len
            )));
        }
        let ts = md.get("X-Timestamp").and_then(|v| Timestamp::parse(v).ok());
        if ts != Some(self.name.timestamp) {
            return Err(mismatch(format!(
                "metadata X-Timestamp {:?} does not match the name",
                md.get("X-Timestamp")
            )));
        }
        if self.name.kind == FileKind::Data {
            if md.content_length() != Some(body_len) {
                return Err(mismatch(format!(
                    "Content-Length {:?} but {body_len} body bytes",
                    md.get("Content-Length")
                )));
            }
            let body = self.body.finalize();
            let got = body.to_hex().to_string();
            match &md.blake3 {
                Some(want) if *want == got => {}
                Some(want) => {
                    return Err(mismatch(format!("body blake3 {got}, metadata says {want}")))
                }
                None => return Err(mismatch("no blake3 digest in metadata".into())),
            }
            // The block digests after the body: readers check every block
            // against them, so a damaged one would get this good body
            // quarantined on its first read. They merge into the body's
            // blake3 (just checked) only if each one is its block's.
            let blocks = md.blocks().map_err(|e| mismatch(e.to_string()))?;
            if let Some(b) = blocks.filter(|b| b.has_digests()) {
                let area = self
                    .tail
                    .get(..b.digest_area_len() as usize)
                    .ok_or_else(|| mismatch("block digests cut short".into()))?;
                if block_hash::root_of(area) != Some(body) {
                    return Err(mismatch(
                        "block digests do not match the body's blake3".into(),
                    ));
                }
            }
        }
        Ok(Received {
            temp: self.temp,
            hash: self.hash,
            name: self.name.name,
            part_dir: self.part_dir,
            hash_dir: self.hash_dir,
            file_blake3: self.whole.finalize().to_hex().to_string(),
        })
    }
}

/// The largest block digest area a body of `body_len` bytes may carry (the
/// smallest blocks a reader accepts).
fn max_digest_area(body_len: u64) -> u64 {
    match body_len.div_ceil(MIN_BLOCK_SIZE) {
        0 | 1 => 0,
        blocks => blocks * DIGEST_LEN,
    }
}

/// Makes received files visible, durably: each suffix is invalidated before
/// its new names appear (a crash in between costs a rehash, never a stale
/// hash), all files are committed in one batch, then files they made
/// obsolete are removed. Returns how many were committed.
pub fn commit(files: Vec<Received>, reclaim_age: u64) -> SyncResult<usize> {
    let mut invalidated: Vec<(PathBuf, String)> = Vec::new();
    for f in &files {
        let key = (f.part_dir.clone(), suffix_of(&f.hash).to_string());
        if !invalidated.contains(&key) {
            hashes::invalidate(&key.0, &key.1)?;
            invalidated.push(key);
        }
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    let batch: Vec<(TempFile, PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            if !dirs.contains(&f.hash_dir) {
                dirs.push(f.hash_dir.clone());
            }
            (f.temp, f.hash_dir, f.name)
        })
        .collect();
    let n = batch.len();
    durable::commit_batch(batch)?;
    let now = Timestamp::now();
    for d in dirs {
        if let Err(e) = hashes::cleanup_hash_dir(&d, now, reclaim_age) {
            warn!(dir = %d.display(), error = %e, "cleanup after replication failed");
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::metadata::Metadata;

    fn data_file(ts: Timestamp, body: &[u8]) -> Vec<u8> {
        let mut m = Metadata::new();
        m.set("X-Timestamp", ts.internal());
        m.set("Content-Length", body.len().to_string());
        m.blake3 = Some(blake3::hash(body).to_hex().to_string());
        let mut f = body.to_vec();
        f.extend(m.encode().unwrap());
        f
    }

    const H: &str = "0123456789abcdef0123456789abcabc";

    /// A `.data` with block digests, as the object server writes it.
    fn data_file_with_blocks(ts: Timestamp, body: &[u8]) -> Vec<u8> {
        use crate::object::block_hash::BlockHasher;
        use crate::object::blocks::BLOCK_SIZE;
        let mut h = BlockHasher::new(BLOCK_SIZE);
        h.update(body);
        let mut m = Metadata::new();
        m.set("X-Timestamp", ts.internal());
        m.set("Content-Length", body.len().to_string());
        m.blake3 = Some(h.root().to_hex().to_string());
        m.block_size = Some(BLOCK_SIZE);
        let mut f = body.to_vec();
        f.extend(h.digest_area());
        f.extend(m.encode().unwrap());
        f
    }

    #[test]
    fn block_digests_must_be_the_bodys() {
        let d = tempfile::tempdir().unwrap();
        let layout = DeviceLayout::new(d.path(), "sda", 0);
        let ts = Timestamp::parse("1700000003.00000").unwrap();
        let name = filename::make(FileKind::Data, ts);
        let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 300) as u8).collect();
        let file = data_file_with_blocks(ts, &body);
        let receive = |bytes: &[u8]| {
            let mut f =
                IncomingFile::create(&layout, 3, H, &name, bytes.len() as u64, body.len() as u64)
                    .unwrap();
            for c in bytes.chunks(65_000) {
                f.write(c).unwrap();
            }
            f.finish()
        };
        assert!(receive(&file).is_ok());
        // Block 1's digest damaged, the body intact: refused.
        let mut bad = file.clone();
        bad[body.len() + 40] ^= 1;
        match receive(&bad) {
            Err(SyncError::Mismatch(m)) => assert!(m.contains("block digests"), "{m}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a file with a bad block digest was accepted"),
        }
        // The last block's digest too.
        let mut bad = file.clone();
        bad[body.len() + 4 * 32 - 1] ^= 1;
        assert!(matches!(receive(&bad), Err(SyncError::Mismatch(_))));
    }

    #[test]
    fn large_bodies_digest_areas_are_not_metadata() {
        let d = tempfile::tempdir().unwrap();
        let layout = DeviceLayout::new(d.path(), "sda", 0);
        let name = filename::make(FileKind::Data, Timestamp::parse("1700000004").unwrap());
        // 3 GiB in 64 KiB blocks: a 1.5 MiB digest area, more than any metadata.
        let body = 3u64 << 30;
        let area = body / (64 << 10) * 32;
        assert!(IncomingFile::create(&layout, 3, H, &name, body + area + 300, body).is_ok());
        // Metadata alone may still not exceed its limit.
        let huge = (MAX_METADATA_LEN + TRAILER_LEN) as u64 + 1;
        assert!(IncomingFile::create(&layout, 3, H, &name, 100 + huge, 100).is_err());
    }

    #[test]
    fn good_file_commits_bad_ones_do_not() {
        let d = tempfile::tempdir().unwrap();
        let layout = DeviceLayout::new(d.path(), "sda", 0);
        let ts = Timestamp::parse("1700000001.00000").unwrap();
        let name = filename::make(FileKind::Data, ts);
        let file = data_file(ts, b"hello replication");
        let mk = |len: u64, body: u64| IncomingFile::create(&layout, 3, H, &name, len, body);
        let mut f = mk(file.len() as u64, 17).unwrap();
        for c in file.chunks(5) {
            f.write(c).unwrap();
        }
        let r = f.finish().unwrap();
        assert_eq!(r.file_blake3, blake3::hash(&file).to_hex().to_string());
        assert_eq!(commit(vec![r], 604_800).unwrap(), 1);
        let on_disk = std::fs::read(layout.hash_dir(3, H).join(&name)).unwrap();
        assert_eq!(on_disk, file);
        assert!(
            std::fs::read_to_string(layout.partition(3).join("hashes.invalid"))
                .unwrap()
                .contains("abc")
        );

        // A flipped body byte: refused, nothing left behind.
        let mut bad = file.clone();
        bad[0] ^= 1;
        let mut f = mk(bad.len() as u64, 17).unwrap();
        f.write(&bad).unwrap();
        assert!(matches!(f.finish(), Err(SyncError::Mismatch(_))));
        // Short, long, and a name that does not match the metadata.
        let mut f = mk(file.len() as u64, 17).unwrap();
        f.write(&file[..10]).unwrap();
        assert!(f.finish().is_err());
        let mut f = mk(file.len() as u64, 17).unwrap();
        assert!(f.write(&[file.clone(), vec![0]].concat()).is_err());
        drop(f);
        let other = filename::make(FileKind::Data, Timestamp::parse("1700000002").unwrap());
        let mut f = IncomingFile::create(&layout, 3, H, &other, file.len() as u64, 17).unwrap();
        f.write(&file).unwrap();
        assert!(f.finish().is_err());
        // Bad names and lengths are refused up front.
        assert!(IncomingFile::create(&layout, 3, "x", &name, 100, 1).is_err());
        assert!(IncomingFile::create(&layout, 3, H, "junk", 100, 1).is_err());
        assert!(IncomingFile::create(&layout, 3, H, &name, 10, 11).is_err());
        let left: Vec<_> = std::fs::read_dir(layout.tmp())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
