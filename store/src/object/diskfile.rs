//! One object on one device: open the current version (classify the hash
//! directory, read and check its metadata, quarantine what is corrupt), write a
//! new `.data` from a stream, write `.meta` and `.ts` files. Blocking I/O: call
//! it from a blocking thread, never from an async worker.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};

use swirl_common::body_md5::BodyMd5;
use swirl_common::Timestamp;
use tracing::warn;

use super::block_hash::BlockHasher;
use super::blocks::BLOCK_SIZE;
use super::classify::{self, Classified};
use super::data_file::{read_metadata, DataFile};
use super::device;
use super::direct_write::{self, DirectWrite};
use super::durable::{self, TempFile};
use super::error::{Error, Result};
use super::filename::{self, FileKind};
use super::hashes;
use super::layout::{object_hash, suffix_of, DeviceLayout, HashSecret};
use super::metadata::Metadata;
use super::quarantine;

/// The store's settings (from the object server's config).
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub devices: PathBuf,
    pub mount_check: bool,
    pub reclaim_age: u64,
    pub secret: HashSecret,
    /// Percent of each device kept free (Swift's `fallocate_reserve: N%`).
    pub reserve_percent: f64,
    /// Bytes of each device kept free (Swift's `fallocate_reserve: N`).
    pub reserve_bytes: u64,
}

/// Where one object lives.
#[derive(Debug, Clone)]
pub struct ObjectRef {
    pub device: String,
    pub partition: u32,
    pub account: String,
    pub container: String,
    pub object: String,
    pub hash: String,
    pub layout: DeviceLayout,
}

impl ObjectRef {
    /// `/account/container/object`, the `name` kept in metadata.
    pub fn name(&self) -> String {
        format!("/{}/{}/{}", self.account, self.container, self.object)
    }
    pub fn hash_dir(&self) -> PathBuf {
        self.layout.hash_dir(self.partition, &self.hash)
    }
    pub fn suffix(&self) -> &str {
        suffix_of(&self.hash)
    }
}

/// What opening an object found.
#[derive(Debug)]
pub enum Opened {
    /// No data, no tombstone.
    Missing,
    /// A tombstone at this time.
    Deleted(Timestamp),
    /// A corrupt version was moved to quarantine (reads as missing).
    Quarantined(String),
    /// A current version.
    Exists(Box<OpenObject>),
}

/// An open `.data` with its merged metadata.
#[derive(Debug)]
pub struct OpenObject {
    /// The body, read with its checks.
    pub data: DataFile,
    /// Body length (checked equal to Content-Length).
    pub body_len: u64,
    /// Swift's metadata dict: the `.data`'s, with a newer `.meta` applied.
    pub metadata: BTreeMap<String, String>,
    /// The `.data`'s timestamp.
    pub data_timestamp: Timestamp,
    /// The metadata's timestamp (`X-Timestamp`: the newer `.meta`'s, or the data's).
    pub timestamp: Timestamp,
    /// Hex blake3 of the body, stored at write time.
    pub blake3: Option<String>,
    /// The `.data`'s own Content-Type (a POST may have set another; the
    /// `swift_bytes` an SLO manifest's carries still goes to its container).
    pub data_content_type: Option<String>,
    obj: ObjectRef,
}

impl OpenObject {
    /// Reads unchecked body bytes at `offset` (never past the body).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.data.read_at(buf, offset)
    }

    /// Moves this object's hash directory to quarantine (a failed digest check).
    pub fn quarantine(&self, why: &str) -> io::Result<PathBuf> {
        let dest = quarantine::quarantine_hash_dir(
            &self.obj.layout,
            self.obj.partition,
            &self.obj.hash_dir(),
        )?;
        warn!(object = %self.obj.name(), dest = %dest.display(), why, "quarantined");
        Ok(dest)
    }

    /// X-Delete-At, if set.
    pub fn delete_at(&self) -> Option<u64> {
        self.metadata
            .get("X-Delete-At")
            .and_then(|v| v.parse().ok())
    }
}

/// Swift's merge of `.data` and `.meta` metadata (`_construct_from_data_file`):
/// the `.meta` replaces user metadata and the other POSTable headers; the
/// `.data` keeps its name, size, ETag, sysmeta and (unless a newer one was
/// POSTed) its Content-Type.
pub fn merge_metadata(
    data: &Metadata,
    data_ts: Timestamp,
    meta: Option<&Metadata>,
    ctype_meta: Option<&Metadata>,
) -> BTreeMap<String, String> {
    let Some(meta) = meta else {
        return data.headers.clone();
    };
    let mut out = meta.headers.clone();
    if let Some(ct) = ctype_meta {
        for k in ["Content-Type", "Content-Type-Timestamp"] {
            if let Some(v) = ct.headers.get(k) {
                out.insert(k.to_string(), v.clone());
            }
        }
    }
    for (k, v) in &data.headers {
        let lk = k.to_ascii_lowercase();
        let keep = matches!(
            lk.as_str(),
            "name" | "content-length" | "etag" | "deleted" | "x-static-large-object"
        ) || lk.starts_with("x-object-sysmeta-");
        if keep {
            out.insert(k.clone(), v.clone());
        }
    }
    let ctype_ts = out
        .get("Content-Type-Timestamp")
        .and_then(|v| Timestamp::parse(v).ok())
        .unwrap_or_default();
    if let Some(ct) = data.headers.get("Content-Type") {
        if data_ts > ctype_ts {
            out.insert("Content-Type".into(), ct.clone());
            out.remove("Content-Type-Timestamp");
        }
    }
    out
}

fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

impl ObjectStore {
    /// The object `a/c/o` of storage policy `policy` on `device`/`partition`.
    pub fn object(
        &self,
        device: &str,
        partition: u32,
        account: &str,
        container: &str,
        object: &str,
        policy: u32,
    ) -> ObjectRef {
        ObjectRef {
            device: device.to_string(),
            partition,
            account: account.to_string(),
            container: container.to_string(),
            object: object.to_string(),
            hash: object_hash(&self.secret, account, container, object),
            layout: DeviceLayout::new(&self.devices, device, policy),
        }
    }

    /// 507 material: the device is missing (or unmounted, with mount_check).
    pub fn check_device(&self, device: &str) -> Result<()> {
        device::check_device(&self.devices, device, self.mount_check)
    }

    /// Opens the current version of `obj`.
    pub fn open(&self, obj: &ObjectRef) -> Result<Opened> {
        // A concurrent writer may delete an obsolete file between our listing
        // and our open: list again then.
        for _ in 0..3 {
            let dir = obj.hash_dir();
            let c = classify::classify(&list_dir(&dir)?);
            match self.open_classified(obj, &dir, &c) {
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::NotFound => continue,
                other => return other,
            }
        }
        Ok(Opened::Missing)
    }

    fn open_classified(&self, obj: &ObjectRef, dir: &Path, c: &Classified) -> Result<Opened> {
        let Some(data) = &c.data else {
            return Ok(match &c.tombstone {
                Some(t) => Opened::Deleted(t.timestamp),
                None => Opened::Missing,
            });
        };
        let file = File::open(dir.join(&data.name))?;
        let quarantine = |why: String| -> Result<Opened> {
            let dest = quarantine::quarantine_hash_dir(&obj.layout, obj.partition, dir)?;
            warn!(object = %obj.name(), dest = %dest.display(), why = %why, "quarantined");
            Ok(Opened::Quarantined(why))
        };
        let (dmeta, body_len) = match read_metadata(&file) {
            Ok(r) => r,
            Err(why) => return quarantine(format!("{}: {why}", data.name)),
        };
        let body = match DataFile::new(file, &dmeta, body_len) {
            Ok(d) => d,
            Err(why) => return quarantine(format!("{}: {why}", data.name)),
        };
        let read_meta = |name: &str| -> Result<std::result::Result<Metadata, String>> {
            let f = File::open(dir.join(name))?;
            Ok(read_metadata(&f).map(|r| r.0))
        };
        let meta = match &c.meta {
            Some(m) => match read_meta(&m.name)? {
                Ok(md) => Some(md),
                Err(why) => return quarantine(format!("{}: {why}", m.name)),
            },
            None => None,
        };
        let ctype = match &c.ctype_meta {
            Some(m) if Some(&m.name) != c.meta.as_ref().map(|x| &x.name) => {
                match read_meta(&m.name)? {
                    Ok(md) => Some(md),
                    Err(why) => return quarantine(format!("{}: {why}", m.name)),
                }
            }
            _ => None,
        };
        let merged = merge_metadata(&dmeta, data.timestamp, meta.as_ref(), ctype.as_ref());
        let timestamp = merged
            .get("X-Timestamp")
            .and_then(|v| Timestamp::parse(v).ok())
            .unwrap_or(data.timestamp);
        Ok(Opened::Exists(Box::new(OpenObject {
            data: body,
            body_len,
            metadata: merged,
            data_timestamp: data.timestamp,
            timestamp,
            blake3: dmeta.blake3.clone(),
            data_content_type: dmeta.headers.get("Content-Type").cloned(),
            obj: obj.clone(),
        })))
    }

    /// Starts writing a new `.data` for `obj`; `size` (if known) is checked
    /// against the free space first.
    pub fn create(&self, obj: &ObjectRef, size: Option<u64>) -> Result<ObjectWriter> {
        self.check_room(obj, size.unwrap_or(0))?;
        let mut temp =
            TempFile::create(&obj.layout.tmp()).map_err(|e| Error::from_io(e, &obj.device))?;
        // A large body of known length bypasses the page cache, into space
        // reserved for all of it first (as Swift's fallocate does): a device
        // that fills meanwhile fails the PUT now (507), not halfway, and the
        // filesystem allocates the body at once instead of at every write.
        let direct = match size {
            Some(n) if n >= direct_write::MIN_BODY => {
                let file = temp.file().map_err(|e| Error::from_io(e, &obj.device))?;
                preallocate(file, n).map_err(|e| Error::from_io(e, &obj.device))?;
                DirectWrite::start(file)
            }
            _ => None,
        };
        Ok(ObjectWriter {
            temp,
            direct,
            md5: Some(BodyMd5::new()),
            blocks: BlockHasher::new(BLOCK_SIZE),
            size: 0,
            obj: obj.clone(),
            store: self.clone(),
        })
    }

    fn check_room(&self, obj: &ObjectRef, incoming: u64) -> Result<()> {
        let space = device::space(&obj.layout.root)?;
        if !device::has_room(
            space,
            incoming.saturating_add(self.reserve_bytes),
            self.reserve_percent,
        ) {
            return Err(Error::NoSpace(obj.device.clone()));
        }
        Ok(())
    }

    /// Writes a `.meta` (POST) at `ts`; `ctype` records a Content-Type change.
    pub fn write_meta(
        &self,
        obj: &ObjectRef,
        ts: Timestamp,
        md: &Metadata,
        ctype: Option<Timestamp>,
    ) -> Result<()> {
        self.write_small(obj, &filename::make_meta(ts, ctype), md)
    }

    /// Writes a tombstone at `ts`.
    pub fn write_tombstone(&self, obj: &ObjectRef, ts: Timestamp, md: &Metadata) -> Result<()> {
        self.write_small(obj, &filename::make(FileKind::Tombstone, ts), md)
    }

    fn write_small(&self, obj: &ObjectRef, name: &str, md: &Metadata) -> Result<()> {
        self.check_room(obj, 0)?;
        let bytes = md.encode().map_err(|_| Error::MetadataTooLarge)?;
        hashes::invalidate(&obj.layout.partition(obj.partition), obj.suffix())?;
        let done = durable::write_file(&obj.layout.tmp(), &obj.hash_dir(), name, &bytes)
            .map_err(|e| Error::from_io(e, &obj.device))?;
        if !done.new_dir {
            self.cleanup(obj);
        }
        Ok(())
    }

    /// Removes files the new write made obsolete (failures only logged: the
    /// next write or the replicator's hashing retries).
    fn cleanup(&self, obj: &ObjectRef) {
        if let Err(e) =
            hashes::cleanup_hash_dir(&obj.hash_dir(), Timestamp::now(), self.reclaim_age)
        {
            warn!(object = %obj.name(), error = %e, "cleanup of old files failed");
        }
    }
}

/// Reserves `len` bytes for `file` without changing its size (fallocate with
/// FALLOC_FL_KEEP_SIZE, as Swift's object server does); a filesystem without
/// fallocate is left to allocate as the bytes come.
fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use rustix::fs::{fallocate, FallocateFlags};
    use rustix::io::Errno;
    match fallocate(file, FallocateFlags::KEEP_SIZE, 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == Errno::OPNOTSUPP || e == Errno::NOSYS => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A `.data` being written: body bytes stream through MD5 (the ETag) and
/// blake3 (the integrity digests: the body's and its blocks', one pass) once,
/// into a temp file.
pub struct ObjectWriter {
    temp: TempFile,
    /// Set while the body goes around the page cache (`direct_write`).
    direct: Option<DirectWrite>,
    /// None when the sender supplies the MD5 (checked through blake3).
    md5: Option<BodyMd5>,
    blocks: BlockHasher,
    size: u64,
    obj: ObjectRef,
    store: ObjectStore,
}

impl ObjectWriter {
    /// Appends body bytes.
    pub fn write(&mut self, buf: &[u8]) -> Result<()> {
        if let Some(m) = self.md5.as_mut() {
            m.update(buf);
        }
        self.blocks.update(buf);
        let dev = self.obj.device.clone();
        let file = self.temp.file()?;
        match self.direct.as_mut() {
            Some(d) => d.write(file, buf),
            None => file.write_all(buf),
        }
        .map_err(|e| Error::from_io(e, &dev))?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Writes the next body bytes given as several buffers (the frames a
    /// socket delivered) with as few `writev` calls as the kernel allows, so
    /// the caller need not copy them into one buffer first.
    pub fn write_all_of<B: AsRef<[u8]>>(&mut self, bufs: &[B]) -> Result<()> {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(bufs.len());
        for b in bufs {
            let b = b.as_ref();
            if let Some(m) = self.md5.as_mut() {
                m.update(b);
            }
            self.blocks.update(b);
            self.size += b.len() as u64;
            if !b.is_empty() {
                slices.push(IoSlice::new(b));
            }
        }
        let dev = self.obj.device.clone();
        let file = self.temp.file()?;
        if let Some(d) = self.direct.as_mut() {
            for b in &slices {
                d.write(file, b).map_err(|e| Error::from_io(e, &dev))?;
            }
            return Ok(());
        }
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            // The kernel takes at most IOV_MAX (1024) buffers per call.
            let upto = rest.len().min(1024);
            match file.write_vectored(&rest[..upto]) {
                Ok(0) => {
                    return Err(Error::from_io(io::ErrorKind::WriteZero.into(), &dev));
                }
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(e, &dev)),
            }
        }
        Ok(())
    }

    /// The body goes around the page cache (`direct_write`).
    pub fn is_direct(&self) -> bool {
        self.direct.as_ref().is_some_and(DirectWrite::is_on)
    }

    /// Body bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Stops computing MD5: the writer's caller has the body's MD5 from its
    /// sender and checks the bytes with [`ObjectWriter::blake3_hex`] instead.
    pub fn skip_md5(&mut self) {
        self.md5 = None;
    }

    /// Hex MD5 of the body so far (the ETag); None after `skip_md5`.
    pub fn etag(&self) -> Option<String> {
        self.md5.as_ref().map(|m| m.clone().hex())
    }

    /// Hex blake3 of the body so far.
    pub fn blake3_hex(&self) -> String {
        self.blocks.root().to_hex().to_string()
    }

    /// Appends the block digests and `md` (with the body's blake3 and the
    /// block size), makes the file durable, renames it into place as
    /// `<ts>.data` and removes what it made obsolete.
    pub fn commit(mut self, mut md: Metadata, ts: Timestamp) -> Result<()> {
        md.blake3 = Some(self.blake3_hex());
        md.block_size = Some(self.blocks.block_size());
        let mut tail = self.blocks.digest_area();
        tail.extend(md.encode().map_err(|_| Error::MetadataTooLarge)?);
        let dev = self.obj.device.clone();
        let file = self.temp.file()?;
        if let Some(d) = self.direct.as_mut() {
            d.finish(file).map_err(|e| Error::from_io(e, &dev))?;
        }
        file.write_all(&tail).map_err(|e| Error::from_io(e, &dev))?;
        // Invalidate before the new name appears: a crash in between only
        // costs a needless rehash, never a stale hash.
        hashes::invalidate(
            &self.obj.layout.partition(self.obj.partition),
            self.obj.suffix(),
        )?;
        let done = self
            .temp
            .commit(&self.obj.hash_dir(), &filename::make(FileKind::Data, ts))
            .map_err(|e| Error::from_io(e, &dev))?;
        // A directory this write created holds nothing older to remove.
        if !done.new_dir {
            self.store.cleanup(&self.obj);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> ObjectStore {
        std::fs::create_dir_all(dir.join("sda")).unwrap();
        ObjectStore {
            devices: dir.to_path_buf(),
            mount_check: false,
            reclaim_age: 604_800,
            secret: HashSecret {
                prefix: String::new(),
                suffix: "s".into(),
            },
            reserve_percent: 0.0,
            reserve_bytes: 0,
        }
    }

    fn md(ts: Timestamp, len: usize) -> Metadata {
        let mut m = Metadata::new();
        m.set("X-Timestamp", ts.internal());
        m.set("Content-Length", len.to_string());
        m.set("Content-Type", "text/plain");
        m
    }

    fn put(s: &ObjectStore, o: &ObjectRef, ts: Timestamp, body: &[u8]) {
        let mut w = s.create(o, Some(body.len() as u64)).unwrap();
        for chunk in body.chunks(3) {
            w.write(chunk).unwrap();
        }
        let mut m = md(ts, body.len());
        m.set("ETag", w.etag().unwrap());
        assert_eq!(w.blake3_hex(), blake3::hash(body).to_hex().to_string());
        w.commit(m, ts).unwrap();
    }

    #[test]
    fn write_read_meta_delete() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let o = s.object("sda", 1, "a", "c", "o", 0);
        assert!(matches!(s.open(&o).unwrap(), Opened::Missing));
        let base = Timestamp::now().secs() - 100;
        let at = |n: u64| Timestamp::from_raw((base + n) * 100_000, 0).unwrap();
        let t1 = at(1);
        put(&s, &o, t1, b"hello world");
        let Opened::Exists(f) = s.open(&o).unwrap() else {
            panic!()
        };
        assert_eq!(f.body_len, 11);
        assert_eq!(
            f.metadata["ETag"],
            super::super::layout::hex(&md5::compute(b"hello world").0)
        );
        assert_eq!(
            f.blake3.as_deref(),
            Some(blake3::hash(b"hello world").to_hex().as_str())
        );
        let mut buf = [0u8; 64];
        let n = f.read_at(&mut buf, 6).unwrap();
        assert_eq!(&buf[..n], b"world");
        // POST: user metadata replaced, size/etag/type kept.
        let t2 = at(2);
        let mut pm = Metadata::new();
        pm.set("X-Timestamp", t2.internal());
        pm.set("X-Object-Meta-K", "v");
        s.write_meta(&o, t2, &pm, None).unwrap();
        let Opened::Exists(f) = s.open(&o).unwrap() else {
            panic!()
        };
        assert_eq!(f.timestamp, t2);
        assert_eq!(f.data_timestamp, t1);
        assert_eq!(f.metadata["X-Object-Meta-K"], "v");
        assert_eq!(f.metadata["Content-Type"], "text/plain");
        assert_eq!(f.metadata["Content-Length"], "11");
        // DELETE: tombstone hides, and the old files go.
        let t3 = at(3);
        s.write_tombstone(&o, t3, &md(t3, 0)).unwrap();
        assert!(matches!(s.open(&o).unwrap(), Opened::Deleted(t) if t == t3));
        assert_eq!(std::fs::read_dir(o.hash_dir()).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(o.layout.tmp()).unwrap().count(), 0);
    }

    #[test]
    fn corrupt_files_are_quarantined() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let o = s.object("sda", 1, "a", "c", "o2", 0);
        let t1 = Timestamp::parse("1700000001").unwrap();
        put(&s, &o, t1, b"some bytes");
        let path = o.hash_dir().join(filename::make(FileKind::Data, t1));
        // Truncation (a lost tail) is caught by the trailer check.
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 1).unwrap();
        assert!(matches!(s.open(&o).unwrap(), Opened::Quarantined(_)));
        assert!(!o.hash_dir().exists());
        assert_eq!(quarantine::count(&o.layout), 1);
        assert!(matches!(s.open(&o).unwrap(), Opened::Missing));
    }

    #[test]
    fn bodies_are_written_with_block_digests() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let o = s.object("sda", 1, "a", "c", "big", 0);
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let t1 = Timestamp::parse("1700000001").unwrap();
        put(&s, &o, t1, &body);
        let Opened::Exists(f) = s.open(&o).unwrap() else {
            panic!()
        };
        assert_eq!(f.body_len, 300_000);
        assert!(f.data.checks_blocks());
        // 300,000 bytes: 5 blocks of 64 KiB, 5 digests after the body.
        let path = o.hash_dir().join(filename::make(FileKind::Data, t1));
        let (md, _) = super::super::data_file::read_metadata(&File::open(&path).unwrap()).unwrap();
        assert_eq!(md.block_size, Some(BLOCK_SIZE));
        let file_len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(
            file_len,
            300_000 + 5 * 32 + md.encode().unwrap().len() as u64
        );
        let c = f.data.read_checked(70_000, 200_000).unwrap();
        assert_eq!(c.corrupt, None);
        assert_eq!(&c.buf[c.good.clone()], &body[70_000..200_000]);
        assert_eq!(f.data.verify().unwrap(), None);
    }

    #[test]
    fn batches_of_buffers_write_what_single_writes_do() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let body: Vec<u8> = (0..2_500_000u32).map(|i| (i % 253) as u8).collect();
        let t1 = Timestamp::parse("1700000001").unwrap();
        // Uneven frames, an empty one among them, and more buffers than one
        // writev takes (IOV_MAX is 1024).
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut rest = &body[..];
        let mut n = 1usize;
        while !rest.is_empty() {
            let k = n.min(rest.len());
            parts.push(&rest[..k]);
            parts.push(&[]);
            rest = &rest[k..];
            n = n % 3000 + 7;
        }
        assert!(parts.len() > 1024);
        let o = s.object("sda", 1, "a", "c", "batched", 0);
        let mut w = s.create(&o, Some(body.len() as u64)).unwrap();
        let (a, b) = parts.split_at(parts.len() / 3);
        w.write_all_of(a).unwrap();
        w.write_all_of(b).unwrap();
        assert_eq!(w.size(), body.len() as u64);
        let etag = w.etag().unwrap();
        assert_eq!(etag, format!("{:x}", md5::compute(&body)));
        assert_eq!(w.blake3_hex(), blake3::hash(&body).to_hex().to_string());
        let mut m = md(t1, body.len());
        m.set("ETag", etag);
        w.commit(m, t1).unwrap();
        let Opened::Exists(f) = s.open(&o).unwrap() else {
            panic!()
        };
        assert_eq!(f.body_len, body.len() as u64);
        assert_eq!(f.data.verify().unwrap(), None);
        let c = f.data.read_checked(0, body.len() as u64).unwrap();
        assert_eq!(c.corrupt, None);
        assert_eq!(&c.buf[c.good.clone()], &body[..]);
    }

    #[test]
    fn policies_keep_apart() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let p0 = s.object("sda", 5, "a", "c", "same", 0);
        let p1 = s.object("sda", 5, "a", "c", "same", 1);
        assert_eq!(p0.hash, p1.hash);
        put(&s, &p1, Timestamp::parse("1700000001").unwrap(), b"silver");
        assert!(p1.hash_dir().starts_with(d.path().join("sda/objects-1/5")));
        assert!(matches!(s.open(&p0).unwrap(), Opened::Missing));
        let Opened::Exists(f) = s.open(&p1).unwrap() else {
            panic!()
        };
        assert_eq!(f.body_len, 6);
        // The temp file was made in the policy's own tmp dir.
        assert!(d.path().join("sda/tmp-1").is_dir());
        assert!(!d.path().join("sda/objects").exists());
    }

    #[test]
    fn abandoned_writer_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let o = s.object("sda", 1, "a", "c", "o3", 0);
        let mut w = s.create(&o, None).unwrap();
        w.write(b"partial").unwrap();
        drop(w);
        assert!(!o.hash_dir().exists());
        assert_eq!(std::fs::read_dir(o.layout.tmp()).unwrap().count(), 0);
    }

    /// Whether files in `dir` take O_DIRECT.
    fn takes_direct(dir: &Path) -> bool {
        let f = File::create(dir.join("direct-probe")).unwrap();
        let ok = DirectWrite::start(&f).is_some();
        std::fs::remove_file(dir.join("direct-probe")).unwrap();
        ok
    }

    /// Writes `body` as a PUT does (some plain writes, then batches of
    /// uneven frames), checks both digests, commits, and reads it back
    /// through its block digests.
    fn round_trip(s: &ObjectStore, o: &ObjectRef, body: &[u8], direct: bool) {
        let t1 = Timestamp::parse("1700000001").unwrap();
        let mut w = s.create(o, Some(body.len() as u64)).unwrap();
        assert_eq!(w.is_direct(), direct, "{} bytes", body.len());
        let (head, rest) = body.split_at(body.len() / 3);
        for c in head.chunks(65_537) {
            w.write(c).unwrap();
        }
        let frames: Vec<&[u8]> = rest.chunks(16_411).collect();
        for batch in frames.chunks(7) {
            w.write_all_of(batch).unwrap();
        }
        assert_eq!(w.size(), body.len() as u64);
        let etag = w.etag().unwrap();
        assert_eq!(etag, format!("{:x}", md5::compute(body)));
        assert_eq!(w.blake3_hex(), blake3::hash(body).to_hex().to_string());
        let mut m = md(t1, body.len());
        m.set("ETag", etag);
        w.commit(m, t1).unwrap();
        assert_eq!(std::fs::read_dir(o.layout.tmp()).unwrap().count(), 0);
        let Opened::Exists(f) = s.open(o).unwrap() else {
            panic!()
        };
        assert_eq!(f.body_len, body.len() as u64);
        assert_eq!(f.data.verify().unwrap(), None);
        let c = f.data.read_checked(0, body.len() as u64).unwrap();
        assert_eq!(c.corrupt, None);
        assert!(c.buf[c.good.clone()] == *body, "{} bytes", body.len());
        // The body, one digest per block, then the metadata: nothing more.
        let path = o.hash_dir().join(filename::make(FileKind::Data, t1));
        let (md, _) = read_metadata(&File::open(&path).unwrap()).unwrap();
        let blocks = (body.len() as u64).div_ceil(BLOCK_SIZE);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            body.len() as u64 + 32 * blocks + md.encode().unwrap().len() as u64
        );
    }

    fn body(len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn bodies_around_the_direct_threshold_are_whole() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let direct = takes_direct(d.path());
        let min = direct_write::MIN_BODY as usize;
        // Below, at and above the threshold, tails of odd sizes (not a
        // multiple of 4096, one block more or less), a last digest block
        // nearly empty, and a body ending mid-buffer.
        for len in [
            min - 1,
            min,
            min + 1,
            min + 4095,
            min + 4096,
            min + 4097,
            min + 65_535,
            min + direct_write::BUF_SIZE + 100_003,
        ] {
            let o = s.object("sda", 1, "a", "c", &format!("o{len}"), 0);
            round_trip(&s, &o, &body(len), direct && len >= min);
        }
    }

    #[test]
    fn a_large_body_is_reserved_before_its_first_byte() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let len = direct_write::MIN_BODY + 4097;
        let o = s.object("sda", 1, "a", "c", "reserved", 0);
        let mut w = s.create(&o, Some(len)).unwrap();
        let m = w.temp.file().unwrap().metadata().unwrap();
        // The space is taken, the size (what a reader sees) is not.
        assert_eq!(m.len(), 0);
        assert!(m.blocks() * 512 >= len, "{} blocks", m.blocks());
        // A small body is not reserved (it goes through the page cache).
        let o = s.object("sda", 1, "a", "c", "small", 0);
        let mut w = s.create(&o, Some(4096)).unwrap();
        assert_eq!(w.temp.file().unwrap().metadata().unwrap().blocks(), 0);
    }

    #[test]
    fn a_cut_large_upload_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let min = direct_write::MIN_BODY as usize;
        let b = body(min + 4097);
        // Cut after whole direct buffers went to disk, and with every byte
        // in but no commit (the length or ETag check failed).
        for cut in [min / 2 + 3, b.len()] {
            let o = s.object("sda", 1, "a", "c", &format!("cut{cut}"), 0);
            let mut w = s.create(&o, Some(b.len() as u64)).unwrap();
            w.write_all_of(&b[..cut].chunks(10_000).collect::<Vec<_>>())
                .unwrap();
            drop(w);
            assert!(!o.hash_dir().exists());
            assert!(matches!(s.open(&o).unwrap(), Opened::Missing));
            assert_eq!(std::fs::read_dir(o.layout.tmp()).unwrap().count(), 0);
        }
    }

    #[test]
    fn large_bodies_on_tmpfs_are_whole() {
        // tmpfs: O_DIRECT is refused on older kernels (EINVAL) and taken
        // without alignment checks on newer ones; either way the body is
        // written whole.
        let shm = Path::new("/dev/shm");
        assert!(shm.is_dir(), "no /dev/shm here");
        let d = tempfile::tempdir_in(shm).unwrap();
        let s = store(d.path());
        let direct = takes_direct(d.path());
        let len = direct_write::MIN_BODY as usize + 4097;
        let o = s.object("sda", 1, "a", "c", "shm", 0);
        round_trip(&s, &o, &body(len), direct);
    }
}
