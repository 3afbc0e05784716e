//! The missing check (Swift's ssync `missing_check`): the sender offers each
//! object of the suffixes it syncs as one line, and the receiver answers for
//! each object it wants something of. Pure except [`list_offers`].
//!
//! Offer line: `<hash> <ts_data> <ts_meta> <ts_ctype>` (internal timestamps;
//! `ts_data` is the tombstone's time for a deleted object; `ts_meta` and
//! `ts_ctype` equal `ts_data` when no `.meta` says otherwise).
//!
//! Want line: `<hash> <d|m|dm>[ <basis file> <basis length>]`: `d` asks for the
//! data (the `.data` or the tombstone), `m` for the newer metadata (the
//! `.meta` files). The basis names an older `.data` the receiver holds, which
//! the sender may send a delta against instead of the whole file.

use std::path::Path;

use swirl_common::Timestamp;

use crate::object::classify::{Classified, ObjectState};
use crate::object::hashes;
use crate::object::layout::is_suffix;

/// One object as the sender offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub hash: String,
    pub ts_data: Timestamp,
    pub ts_meta: Timestamp,
    pub ts_ctype: Timestamp,
    /// The sender's current files: `.data` or `.ts` first, then `.meta` files.
    pub data_file: String,
    pub meta_files: Vec<String>,
}

/// What the receiver wants of one offered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub hash: String,
    pub data: bool,
    pub meta: bool,
    /// An older `.data` of the receiver and its length (a delta basis).
    pub basis: Option<(String, u64)>,
}

/// Why a protocol line is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad sync line {0:?}")]
pub struct LineError(pub String);

/// A Swift object hash: 32 lower-case hex digits.
pub fn is_hash(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Offer {
    /// What a hash directory offers (None: nothing current, e.g. only a
    /// `.meta` waiting for its data, which is not replicated; Swift neither).
    pub fn from_classified(hash: &str, c: &Classified) -> Option<Offer> {
        let (ts_data, data_file) = match (&c.data, &c.tombstone) {
            (Some(d), _) => (d.timestamp, d.name.clone()),
            (None, Some(t)) => (t.timestamp, t.name.clone()),
            (None, None) => return None,
        };
        let mut meta_files = Vec::new();
        let mut ts_meta = ts_data;
        let mut ts_ctype = ts_data;
        if let ObjectState::Exists { meta, .. } = c.state() {
            ts_meta = meta;
            if let Some(m) = &c.meta {
                meta_files.push(m.name.clone());
            }
            if let Some(ct) = &c.ctype_meta {
                if let Some(t) = ct.ctype_timestamp {
                    ts_ctype = ts_ctype.max(t);
                }
                if !meta_files.contains(&ct.name) {
                    meta_files.push(ct.name.clone());
                }
            }
        }
        Some(Offer {
            hash: hash.to_string(),
            ts_data,
            ts_meta,
            ts_ctype,
            data_file,
            meta_files,
        })
    }

    /// The offer line (no newline).
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {}",
            self.hash,
            self.ts_data.internal(),
            self.ts_meta.internal(),
            self.ts_ctype.internal()
        )
    }

    /// Parses an offer line (the file names stay empty: they are the sender's).
    pub fn parse(line: &str) -> Result<Offer, LineError> {
        let bad = || LineError(line.to_string());
        let mut it = line.split_ascii_whitespace();
        let hash = it.next().filter(|h| is_hash(h)).ok_or_else(bad)?;
        let mut ts = || -> Result<Timestamp, LineError> {
            it.next()
                .and_then(|t| Timestamp::parse(t).ok())
                .ok_or_else(bad)
        };
        let (ts_data, ts_meta, ts_ctype) = (ts()?, ts()?, ts()?);
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(Offer {
            hash: hash.to_string(),
            ts_data,
            ts_meta,
            ts_ctype,
            data_file: String::new(),
            meta_files: Vec::new(),
        })
    }

    /// The files to send for `want`, in the order to send them.
    pub fn files_for(&self, want: &Want) -> Vec<&str> {
        let mut v = Vec::new();
        if want.data {
            v.push(self.data_file.as_str());
        }
        // After the data, as Swift sends the POST after the PUT.
        if want.meta {
            v.extend(self.meta_files.iter().map(String::as_str));
        }
        v
    }
}

/// Swift's `encode_wanted`: what the receiver (holding `local`) wants of `remote`.
pub fn wanted(remote: &Offer, local: &Classified) -> Option<Want> {
    let mut basis = None;
    let (data, mut meta);
    match local.state() {
        ObjectState::Missing => {
            data = true;
            meta = true;
        }
        ObjectState::Deleted(ts) => {
            data = remote.ts_data > ts;
            meta = false;
        }
        ObjectState::Exists {
            data: local_data,
            meta: local_meta,
        } => {
            data = remote.ts_data > local_data;
            if data {
                basis = local.data.as_ref().map(|d| (d.name.clone(), 0));
            }
            meta = remote.ts_meta > local_meta;
            let local_ctype = local
                .ctype_meta
                .as_ref()
                .and_then(|m| m.ctype_timestamp)
                .unwrap_or(local_data)
                .max(local_data);
            if remote.ts_ctype > local_ctype && remote.ts_ctype > remote.ts_data {
                meta = true;
            }
        }
    }
    (data || meta).then(|| Want {
        hash: remote.hash.clone(),
        data,
        meta,
        basis,
    })
}

impl Want {
    /// The want line (no newline).
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} {}{}",
            self.hash,
            if self.data { "d" } else { "" },
            if self.meta { "m" } else { "" }
        );
        if let Some((name, len)) = &self.basis {
            s.push_str(&format!(" {name} {len}"));
        }
        s
    }

    /// Parses a want line.
    pub fn parse(line: &str) -> Result<Want, LineError> {
        let bad = || LineError(line.to_string());
        let mut it = line.split_ascii_whitespace();
        let hash = it.next().filter(|h| is_hash(h)).ok_or_else(bad)?;
        let parts = it.next().ok_or_else(bad)?;
        let (data, meta) = match parts {
            "d" => (true, false),
            "m" => (false, true),
            "dm" => (true, true),
            _ => return Err(bad()),
        };
        let basis = match (it.next(), it.next()) {
            (None, None) => None,
            (Some(name), Some(len)) => {
                let parsed = crate::object::filename::parse(name).map_err(|_| bad())?;
                if parsed.kind != crate::object::filename::FileKind::Data {
                    return Err(bad());
                }
                Some((name.to_string(), len.parse().map_err(|_| bad())?))
            }
            _ => return Err(bad()),
        };
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(Want {
            hash: hash.to_string(),
            data,
            meta,
            basis,
        })
    }
}

/// The offers of the named suffixes of a partition directory, hash order,
/// after the same cleanup suffix hashing does (obsolete files, tombstones
/// past `reclaim_age`).
pub fn list_offers(
    part_dir: &Path,
    suffixes: &[String],
    now: Timestamp,
    reclaim_age: u64,
) -> std::io::Result<Vec<Offer>> {
    let mut out = Vec::new();
    for sfx in suffixes.iter().filter(|s| is_suffix(s)) {
        let dir = part_dir.join(sfx);
        let mut hashes_in = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| is_hash(n))
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        hashes_in.sort();
        for h in hashes_in {
            let c = hashes::cleanup_hash_dir(&dir.join(&h), now, reclaim_age)?;
            if let Some(o) = Offer::from_classified(&h, &c) {
                out.push(o);
            }
        }
    }
    Ok(out)
}

/// The suffix directories a partition directory holds.
pub fn list_suffixes(part_dir: &Path) -> std::io::Result<Vec<String>> {
    let mut v: Vec<String> = match std::fs::read_dir(part_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_suffix(n))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::classify::classify;
    use crate::object::filename::{make, make_meta, FileKind};

    fn t(n: u64) -> Timestamp {
        Timestamp::from_raw(1_700_000_000 * 100_000 + n * 100_000, 0).unwrap()
    }
    const H: &str = "0123456789abcdef0123456789abcdef";

    fn offer(files: &[String]) -> Offer {
        Offer::from_classified(H, &classify(files)).unwrap()
    }

    #[test]
    fn lines_round_trip() {
        let o = offer(&[make(FileKind::Data, t(1)), make_meta(t(3), Some(t(2)))]);
        assert_eq!((o.ts_data, o.ts_meta, o.ts_ctype), (t(1), t(3), t(2)));
        let back = Offer::parse(&o.line()).unwrap();
        assert_eq!(
            (back.ts_data, back.ts_meta, back.ts_ctype),
            (t(1), t(3), t(2))
        );
        assert!(Offer::parse("nothex 1 2 3").is_err());
        assert!(Offer::parse(&format!("{H} 1 2")).is_err());
        let w = Want {
            hash: H.into(),
            data: true,
            meta: false,
            basis: Some((make(FileKind::Data, t(1)), 77)),
        };
        assert_eq!(Want::parse(&w.line()).unwrap(), w);
        assert!(Want::parse(&format!("{H} x")).is_err());
        assert!(Want::parse(&format!("{H} d {} 5", make(FileKind::Tombstone, t(1)))).is_err());
        assert!(Offer::from_classified(H, &classify(&[make_meta(t(1), None)])).is_none());
    }

    /// Swift's encode_wanted, case by case.
    #[test]
    fn wanted_follows_swift() {
        let d = |n| make(FileKind::Data, t(n));
        let ts = |n| make(FileKind::Tombstone, t(n));
        let m = |n| make_meta(t(n), None);
        let want = |remote: &[String], local: &[String]| {
            wanted(&offer(remote), &classify(local)).map(|w| {
                let mut s = String::new();
                if w.data {
                    s.push('d');
                }
                if w.meta {
                    s.push('m');
                }
                if w.basis.is_some() {
                    s.push('b');
                }
                s
            })
        };
        assert_eq!(want(&[d(1)], &[]), Some("dm".into()));
        assert_eq!(want(&[d(1)], &[d(1)]), None);
        assert_eq!(want(&[d(2)], &[d(1)]), Some("dmb".into()));
        assert_eq!(want(&[d(1)], &[d(2)]), None);
        assert_eq!(want(&[d(1), m(3)], &[d(1)]), Some("m".into()));
        assert_eq!(want(&[d(1), m(3)], &[d(1), m(4)]), None);
        assert_eq!(want(&[d(2), m(3)], &[d(1), m(4)]), Some("db".into()));
        assert_eq!(want(&[ts(3)], &[d(1)]), Some("dmb".into()));
        assert_eq!(want(&[ts(1)], &[d(2)]), None);
        assert_eq!(want(&[d(3)], &[ts(2)]), Some("d".into()));
        assert_eq!(want(&[d(1)], &[ts(2)]), None);
        // A newer Content-Type alone is wanted as metadata.
        let ct = make_meta(t(3), Some(t(3)));
        assert_eq!(want(&[d(1), ct.clone()], &[d(1), m(4)]), Some("m".into()));
        let o = offer(&[d(1), ct.clone(), m(4)]);
        assert_eq!(o.meta_files.len(), 2);
        let w = Want {
            hash: H.into(),
            data: false,
            meta: true,
            basis: None,
        };
        assert_eq!(o.files_for(&w), vec![m(4).as_str(), ct.as_str()]);
        let w = Want {
            data: true,
            meta: false,
            ..w
        };
        assert_eq!(o.files_for(&w), vec![d(1).as_str()]);
    }
}
