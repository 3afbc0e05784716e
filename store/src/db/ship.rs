//! Whole database files between replicas. Swift's replicator rsyncs a
//! database to the peer's `<device>/tmp/<its id>` and then names that file
//! in a REPLICATE `complete_rsync` or `rsync_then_merge`; swirl ships a
//! consistent snapshot ([`super::broker::Broker::snapshot`]) to the same
//! place over the replication network, streamed whole or as a windowed
//! fast_rsync delta against a snapshot of the receiver's own older copy.
//!
//! The receiver writes a private temp file, checks its length and blake3
//! against the sender's, makes it durable and only then gives it the name
//! the REPLICATE call will use: a file under that name is always whole.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rand::Rng;

use super::dbfile::fsync_dir;
use super::error::{DbError, DbResult};
use crate::object::sync::delta::{self, DeltaParams};

/// Whether `name` may name a shipped file: one plain path component of
/// the characters a database id has.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn checked_name(name: &str) -> DbResult<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(DbError::Invalid(format!("bad shipped file name {name:?}")))
    }
}

/// A private temp file beside the final name, removed unless finished.
fn temp_path(dir: &Path, name: &str, what: &str) -> PathBuf {
    let r: u64 = rand::rng().random();
    dir.join(format!("{name}.{what}-{r:016x}"))
}

/// Length and hex blake3 of a file (the sender's figures for a snapshot).
pub fn file_digest(path: &Path) -> DbResult<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, h.finalize().to_hex().to_string()))
}

/// A database file being received into `<tmp_dir>/<name>`.
pub struct Incoming {
    dir: PathBuf,
    name: String,
    temp: PathBuf,
    file: Option<File>,
    len: u64,
    written: u64,
    hasher: blake3::Hasher,
}

impl Incoming {
    /// Starts receiving `len` bytes for `<tmp_dir>/<name>`.
    pub fn create(tmp_dir: &Path, name: &str, len: u64) -> DbResult<Self> {
        checked_name(name)?;
        std::fs::create_dir_all(tmp_dir)?;
        let temp = temp_path(tmp_dir, name, "part");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        Ok(Incoming {
            dir: tmp_dir.to_path_buf(),
            name: name.to_string(),
            temp,
            file: Some(file),
            len,
            written: 0,
            hasher: blake3::Hasher::new(),
        })
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.len - self.written
    }

    /// Appends received bytes (never past the announced length).
    pub fn write(&mut self, buf: &[u8]) -> DbResult<()> {
        if buf.len() as u64 > self.remaining() {
            return Err(DbError::Mismatch(format!(
                "more than the {} bytes announced",
                self.len
            )));
        }
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| DbError::Invalid("shipped file already finished".into()))?;
        f.write_all(buf)?;
        self.hasher.update(buf);
        self.written += buf.len() as u64;
        Ok(())
    }

    /// Applies one window of a delta against `basis` (see
    /// [`delta::apply_window`]) and appends the result.
    pub fn write_delta(
        &mut self,
        basis: &Basis,
        params: DeltaParams,
        window: u64,
        delta_bytes: &[u8],
        scratch: &mut (Vec<u8>, Vec<u8>),
    ) -> DbResult<()> {
        if window >= params.windows(basis.len) {
            return Err(DbError::Invalid(format!(
                "delta for window {window} past the basis"
            )));
        }
        let (base, out) = scratch;
        params.read_window(&basis.file, basis.len, window, base)?;
        delta::apply_window(base, delta_bytes, params.window, out)
            .map_err(|e| DbError::Mismatch(e.to_string()))?;
        let rebuilt = std::mem::take(out);
        let r = self.write(&rebuilt);
        *out = rebuilt;
        r
    }

    /// Checks the length and the sender's blake3, makes the file durable
    /// and names it; returns its path.
    pub fn finish(mut self, blake3_hex: &str) -> DbResult<PathBuf> {
        if self.written != self.len {
            return Err(DbError::Mismatch(format!(
                "{} bytes received of {}",
                self.written, self.len
            )));
        }
        let got = self.hasher.finalize().to_hex();
        if got.as_str() != blake3_hex {
            return Err(DbError::Mismatch(format!(
                "blake3 {got}, sender's {blake3_hex}"
            )));
        }
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        let dest = self.dir.join(&self.name);
        std::fs::rename(&self.temp, &dest)?;
        fsync_dir(&self.dir)?;
        // Renamed: nothing left for Drop to remove.
        self.temp = PathBuf::new();
        Ok(dest)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// The receiver's basis for a delta: a snapshot of its own copy, stable
/// while the delta is applied (its live file changes under writes).
pub struct Basis {
    path: PathBuf,
    file: File,
    len: u64,
}

impl Basis {
    /// Snapshots `db` (by `snapshot`, which writes a consistent copy to the
    /// path it is given) into `<tmp_dir>` for the shipment named `name`.
    pub fn take(
        tmp_dir: &Path,
        name: &str,
        snapshot: impl FnOnce(&Path) -> DbResult<()>,
    ) -> DbResult<Self> {
        checked_name(name)?;
        std::fs::create_dir_all(tmp_dir)?;
        let path = temp_path(tmp_dir, name, "basis");
        if let Err(e) = snapshot(&path) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e.into());
            }
        };
        let len = file.metadata()?.len();
        Ok(Basis { path, file, len })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The signature of basis window `i` (sent to the sender).
    pub fn signature(&self, params: DeltaParams, i: u64, buf: &mut Vec<u8>) -> DbResult<Vec<u8>> {
        params.read_window(&self.file, self.len, i, buf)?;
        Ok(params.signature(buf))
    }
}

impl Drop for Basis {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::container::tests::upd;
    use crate::db::container::ContainerBroker;
    use crate::object::sync::delta::{diff_window, Piece};

    fn t(i: u64) -> String {
        format!("{}.00000", 1_600_000_000 + i)
    }

    #[test]
    fn names() {
        assert!(valid_name("0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"));
        for bad in ["", ".", "..", "a/b", "a b", "x\0"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn whole_file_is_named_only_when_checked() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("tmp");
        let body = b"some database bytes".to_vec();
        let digest = blake3::hash(&body).to_hex().to_string();
        // Too long, too short, wrong digest: nothing is named.
        let mut inc = Incoming::create(&tmp, "id1", 5).unwrap();
        assert!(matches!(inc.write(&body), Err(DbError::Mismatch(_))));
        drop(inc);
        let mut inc = Incoming::create(&tmp, "id1", body.len() as u64).unwrap();
        inc.write(&body[..4]).unwrap();
        assert!(inc.finish(&digest).is_err());
        let mut inc = Incoming::create(&tmp, "id1", body.len() as u64).unwrap();
        inc.write(&body).unwrap();
        assert!(inc.finish(&"0".repeat(64)).is_err());
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "temps removed");
        let mut inc = Incoming::create(&tmp, "id1", body.len() as u64).unwrap();
        inc.write(&body).unwrap();
        let p = inc.finish(&digest).unwrap();
        assert_eq!(p, tmp.join("id1"));
        assert_eq!(std::fs::read(&p).unwrap(), body);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 1);
        assert!(Incoming::create(&tmp, "../x", 1).is_err());
    }

    /// A grown database shipped as a delta against the receiver's older
    /// copy: rebuilt byte for byte, far smaller than the file on the wire.
    #[test]
    fn delta_against_an_older_copy() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.db");
        assert!(ContainerBroker::initialize(&p, "a", "c", &t(1), 0).unwrap());
        let b = ContainerBroker::open(&p).unwrap();
        let rows = |from: u64, to: u64| {
            (from..to)
                .map(|i| upd(&format!("obj-{i:06}"), &t(2 + i), i as i64, false))
                .collect::<Vec<_>>()
        };
        b.put_rows(rows(0, 3000)).unwrap();
        let tmp = d.path().join("tmp");
        let basis = Basis::take(&tmp, "sender-id", |dest| b.snapshot(dest)).unwrap();
        b.put_rows(rows(3000, 4000)).unwrap();
        let new_path = d.path().join("new.db");
        b.snapshot(&new_path).unwrap();
        let new = std::fs::read(&new_path).unwrap();
        let (len, digest) = file_digest(&new_path).unwrap();
        assert_eq!(len, new.len() as u64);

        let params = DeltaParams::checked(64 * 1024, 4096).unwrap();
        let mut inc = Incoming::create(&tmp, "sender-id", len).unwrap();
        let (mut buf, mut scratch, mut wire) = (Vec::new(), (Vec::new(), Vec::new()), 0usize);
        for i in 0..params.windows(len) {
            let (s, n) = params.range(len, i);
            let w = &new[s as usize..s as usize + n];
            let sig = (i < params.windows(basis.len()))
                .then(|| basis.signature(params, i, &mut buf).unwrap());
            match diff_window(sig.as_deref(), w).unwrap() {
                Piece::Delta(dl) => {
                    wire += dl.len();
                    inc.write_delta(&basis, params, i, &dl, &mut scratch)
                        .unwrap();
                }
                Piece::Literal => {
                    wire += w.len();
                    inc.write(w).unwrap();
                }
            }
        }
        let got = inc.finish(&digest).unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), new);
        assert!(
            wire < new.len() / 2,
            "{wire} bytes on the wire for a {} byte file",
            new.len()
        );
        let copy = ContainerBroker::open(&got).unwrap();
        assert_eq!(copy.info().unwrap().object_count, 4000);
        drop(basis);
        // No temp file or basis is left behind.
        let left: Vec<String> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".part-") || n.contains(".basis-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
