//! Per-partition suffix hashes: what the replicator compares between nodes.
//!
//! A suffix's hash is Swift's: one MD5 over its hash directories in name order,
//! fed for each with `<meta ts>.meta`, `<ts ts>.ts`, `<data ts>.data` and
//! `<ctype ts>_ctype` (those present), after obsolete and reclaimable files are
//! removed (Swift `_hash_suffix_dir`). So a swirl node and a Swift node holding
//! the same versions report the same hashes.
//!
//! Cache: `<partition>/hashes.json` = `{"v":1,"hashes":{"<suffix>":"<md5>"|null}}`.
//! Every write appends its suffix to `<partition>/hashes.invalid` (under the
//! partition lock) before the new file is renamed into place; `get_hashes`
//! folds those in as `null`, recomputes every `null`, rewrites the cache and
//! empties the invalid list, all under the partition lock (`flock` on
//! `<partition>/.lock`, so another process, e.g. a replicator, can share it).
//! A missing or unreadable cache means a full listing of the partition.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use swirl_common::Timestamp;

use super::classify::{self, Classified};
use super::layout::is_suffix;

const CACHE: &str = "hashes.json";
const INVALID: &str = "hashes.invalid";
const LOCK: &str = ".lock";

/// Suffix -> hex MD5, as REPLICATE returns them.
pub type SuffixHashes = BTreeMap<String, String>;

#[derive(Serialize, Deserialize)]
struct Cache {
    v: u32,
    hashes: BTreeMap<String, Option<String>>,
}

/// The partition lock: held while it lives.
#[derive(Debug)]
pub struct PartitionLock {
    _file: File,
}

/// Takes the partition lock (creating the partition directory if needed).
///
/// An empty handoff partition is removed under this lock
/// (`sync::remove::remove_if_empty`): a writer that opened the lock file
/// before the removal and got the lock after it holds a lock on a file no
/// longer in a directory, so it starts again with the partition made anew.
pub fn lock_partition(part_dir: &Path) -> io::Result<PartitionLock> {
    use std::os::unix::fs::MetadataExt;
    let path = part_dir.join(LOCK);
    let mut tries = 0;
    loop {
        super::durable::ensure_dir(part_dir)?;
        let opened = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path);
        let file = match opened {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 5 => {
                tries += 1;
                continue;
            }
            other => other?,
        };
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(io::Error::from)?;
        let held = file.metadata()?;
        let current = std::fs::metadata(&path).ok();
        if current.is_some_and(|m| m.ino() == held.ino() && m.dev() == held.dev()) {
            return Ok(PartitionLock { _file: file });
        }
        tries += 1;
        if tries > 5 {
            return Err(io::Error::other(format!(
                "{}: partition removed while locking it, again and again",
                part_dir.display()
            )));
        }
        tracing::warn!(dir = %part_dir.display(), "partition removed while locking it; made again");
    }
}

/// Marks `suffix` of the partition as changed.
pub fn invalidate(part_dir: &Path, suffix: &str) -> io::Result<()> {
    let _lock = lock_partition(part_dir)?;
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(part_dir.join(INVALID))?;
    f.write_all(format!("{suffix}\n").as_bytes())
}

/// What one hash directory adds to its suffix's MD5 (pure).
pub fn hash_dir_input(c: &Classified) -> String {
    let mut s = String::new();
    if let Some(m) = &c.meta {
        s.push_str(&m.timestamp.internal());
        s.push_str(".meta");
    }
    if let Some(t) = &c.tombstone {
        s.push_str(&t.timestamp.internal());
        s.push_str(".ts");
    }
    if let Some(d) = &c.data {
        s.push_str(&d.timestamp.internal());
        s.push_str(".data");
    }
    if let Some(ct) = c.ctype_meta.as_ref().and_then(|m| m.ctype_timestamp) {
        s.push_str(&ct.internal());
        s.push_str("_ctype");
    }
    s
}

/// Lists a directory's entry names (empty if it does not exist).
fn list(dir: &Path) -> io::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut v = Vec::new();
            for e in rd {
                v.push(e?.file_name().to_string_lossy().into_owned());
            }
            Ok(v)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// Cleans one hash directory (obsolete files, reclaimable tombstones; removes it
/// when empty) and returns what is left, classified.
pub fn cleanup_hash_dir(dir: &Path, now: Timestamp, reclaim_age: u64) -> io::Result<Classified> {
    let names = list(dir)?;
    let c = classify::classify(&names);
    let doomed = classify::to_delete(&c, now, reclaim_age);
    if doomed.is_empty() {
        return Ok(c);
    }
    for name in &doomed {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let left: Vec<&String> = names.iter().filter(|n| !doomed.contains(n)).collect();
    if left.is_empty() {
        // Another writer may have just added a file: then the directory stays.
        let _ = std::fs::remove_dir(dir);
    }
    Ok(classify::classify(&left))
}

/// Recomputes one suffix's hash; `None` when the suffix is gone or empty (its
/// directory is then removed).
pub fn hash_suffix(
    suffix_dir: &Path,
    now: Timestamp,
    reclaim_age: u64,
) -> io::Result<Option<String>> {
    let mut dirs = list(suffix_dir)?;
    if dirs.is_empty() && !suffix_dir.is_dir() {
        return Ok(None);
    }
    dirs.sort();
    let mut md5 = md5::Context::new();
    for d in &dirs {
        let path = suffix_dir.join(d);
        if !path.is_dir() {
            continue;
        }
        let c = cleanup_hash_dir(&path, now, reclaim_age)?;
        md5.consume(hash_dir_input(&c).as_bytes());
    }
    if std::fs::remove_dir(suffix_dir).is_ok() {
        return Ok(None);
    }
    Ok(Some(super::layout::hex(&md5.finalize().0)))
}

fn read_cache(part_dir: &Path) -> Option<BTreeMap<String, Option<String>>> {
    let bytes = std::fs::read(part_dir.join(CACHE)).ok()?;
    let c: Cache = serde_json::from_slice(&bytes).ok()?;
    (c.v == 1).then_some(c.hashes)
}

/// The partition's suffix hashes, recomputing the invalidated ones and those
/// named in `recalculate`.
pub fn get_hashes(
    part_dir: &Path,
    recalculate: &[String],
    now: Timestamp,
    reclaim_age: u64,
) -> io::Result<SuffixHashes> {
    if !part_dir.is_dir() {
        return Ok(SuffixHashes::new());
    }
    let _lock = lock_partition(part_dir)?;
    let mut hashes = match read_cache(part_dir) {
        Some(h) => h,
        None => list(part_dir)?
            .into_iter()
            .filter(|n| is_suffix(n))
            .map(|n| (n, None))
            .collect(),
    };
    let invalid = std::fs::read_to_string(part_dir.join(INVALID)).unwrap_or_default();
    for s in invalid
        .lines()
        .chain(recalculate.iter().map(String::as_str))
    {
        if is_suffix(s) {
            hashes.insert(s.to_string(), None);
        }
    }
    let stale: Vec<String> = hashes
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    for s in stale {
        match hash_suffix(&part_dir.join(&s), now, reclaim_age)? {
            Some(h) => {
                hashes.insert(s, Some(h));
            }
            None => {
                hashes.remove(&s);
            }
        }
    }
    let cache = Cache {
        v: 1,
        hashes: hashes.clone(),
    };
    let bytes = serde_json::to_vec(&cache).map_err(io::Error::other)?;
    // A cache, not data: rename for atomicity, no fsync (a lost cache is rebuilt).
    let tmp = part_dir.join(format!("{CACHE}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, part_dir.join(CACHE))?;
    File::create(part_dir.join(INVALID))?;
    Ok(hashes
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// Swift's REPLICATE body: `pickle.dumps({suffix: hash}, protocol=2)`, so a
/// Swift replicator can read ours.
pub fn to_pickle(h: &SuffixHashes) -> Vec<u8> {
    fn unicode(out: &mut Vec<u8>, s: &str) {
        out.push(b'X'); // BINUNICODE
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = vec![0x80, 2, b'}']; // PROTO 2, EMPTY_DICT
    if !h.is_empty() {
        out.push(b'('); // MARK
        for (k, v) in h {
            unicode(&mut out, k);
            unicode(&mut out, v);
        }
        out.push(b'u'); // SETITEMS
    }
    out.push(b'.'); // STOP
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::filename::{make, make_meta, FileKind};

    /// A writer waiting for the lock while the partition is removed under
    /// it (an empty handoff partition) gets the lock of the partition made
    /// anew, not of the removed file, and can write into it.
    #[test]
    fn lock_waiter_outlives_the_partition_removed() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let part = d.path().join("objects/9");
        let held = lock_partition(&part).unwrap();
        let ino = std::fs::metadata(part.join(LOCK)).unwrap().ino();
        let p2 = part.clone();
        let waiter = std::thread::spawn(move || {
            let _l = lock_partition(&p2)?;
            invalidate_locked(&p2, "abc")
        });
        // Until the waiter blocks on the lock: a "->" line of /proc/locks
        // for the lock file's inode.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let blocked = format!(":{ino} ");
        while !std::fs::read_to_string("/proc/locks")
            .unwrap()
            .lines()
            .any(|l| l.contains("->") && l.contains(&blocked))
        {
            assert!(std::time::Instant::now() < deadline, "waiter never blocked");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::remove_dir_all(&part).unwrap();
        drop(held);
        waiter.join().unwrap().unwrap();
        assert_eq!(
            std::fs::read_to_string(part.join(INVALID)).unwrap(),
            "abc\n"
        );
    }

    /// `invalidate`'s write, for a caller already holding the lock.
    fn invalidate_locked(part_dir: &Path, suffix: &str) -> io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(part_dir.join(INVALID))?;
        f.write_all(format!("{suffix}\n").as_bytes())
    }

    fn t(n: u64) -> Timestamp {
        Timestamp::from_raw(1_700_000_000 * 100_000 + n, 0).unwrap()
    }

    #[test]
    fn input_follows_swift_order() {
        let c = classify::classify(&[make(FileKind::Data, t(1)), make_meta(t(2), Some(t(2)))]);
        assert_eq!(
            hash_dir_input(&c),
            format!(
                "{}.meta{}.data{}_ctype",
                t(2).internal(),
                t(1).internal(),
                t(2).internal()
            )
        );
    }

    #[test]
    fn cache_invalidation_and_reclaim() {
        let d = tempfile::tempdir().unwrap();
        let part = d.path().join("objects/5");
        let hdir = part.join("abc/0000000000000000000000000000aabc");
        std::fs::create_dir_all(&hdir).unwrap();
        std::fs::write(hdir.join(make(FileKind::Data, t(1))), b"").unwrap();
        std::fs::write(hdir.join(make(FileKind::Data, t(0))), b"").unwrap();
        let now = t(5);
        let h1 = get_hashes(&part, &[], now, 100).unwrap();
        assert_eq!(h1.len(), 1);
        // The obsolete older .data went.
        assert_eq!(std::fs::read_dir(&hdir).unwrap().count(), 1);
        let want = crate::object::layout::hex(&md5::compute(format!("{}.data", t(1).internal())).0);
        assert_eq!(h1["abc"], want);
        // Unchanged until invalidated.
        std::fs::write(hdir.join(make(FileKind::Tombstone, t(2))), b"").unwrap();
        assert_eq!(get_hashes(&part, &[], now, 100).unwrap(), h1);
        invalidate(&part, "abc").unwrap();
        let h2 = get_hashes(&part, &[], now, 100).unwrap();
        assert_ne!(h2, h1);
        // Past reclaim_age the tombstone, the hash dir and the suffix all go.
        invalidate(&part, "abc").unwrap();
        let late = Timestamp::from_raw(t(2).raw() + 200 * 100_000, 0).unwrap();
        assert!(get_hashes(&part, &[], late, 100).unwrap().is_empty());
        assert!(!part.join("abc").exists());
    }

    #[test]
    fn pickle_shape() {
        let mut h = SuffixHashes::new();
        assert_eq!(to_pickle(&h), b"\x80\x02}.");
        h.insert("abc".into(), "d41d".into());
        assert_eq!(
            to_pickle(&h),
            b"\x80\x02}(X\x03\x00\x00\x00abcX\x04\x00\x00\x00d41du."
        );
    }
}
