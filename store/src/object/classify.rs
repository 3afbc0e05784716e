//! Which files of one hash directory describe the object now, and which are
//! obsolete. Pure: it takes the file names (and, for reclaim, the time), never
//! the disk. This is Swift's `get_ondisk_files` for replicated policies:
//!
//! - the newest `.data` or `.ts` wins; on a tie the tombstone wins;
//! - a `.ts` hides every older (or same-time) `.data` and `.meta`;
//! - the newest `.meta` newer than the winning `.data` applies to it; an older
//!   `.meta` is kept as well only when it carries a newer Content-Type time;
//! - `.meta` files with no `.data` to apply to are kept until `reclaim_age`
//!   (a replica may still bring the `.data` they belong to).

use swirl_common::Timestamp;

use super::filename::{self, FileKind, OnDiskName};

/// What a hash directory holds, sorted out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classified {
    /// The current `.data`, if the object exists.
    pub data: Option<OnDiskName>,
    /// The newest `.meta` applying to `data`.
    pub meta: Option<OnDiskName>,
    /// A `.meta` whose Content-Type is newer than `data`'s (may be `meta` itself).
    pub ctype_meta: Option<OnDiskName>,
    /// The current tombstone, when no `.data` is current.
    pub tombstone: Option<OnDiskName>,
    /// Files that no longer matter and may be deleted now.
    pub obsolete: Vec<String>,
    /// `.meta` files with no `.data`: deleted once older than reclaim_age.
    pub possible_reclaim: Vec<OnDiskName>,
    /// Names that are not ours (left alone, reported).
    pub unexpected: Vec<String>,
}

/// The object's state as the files say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectState {
    /// No data and no tombstone.
    Missing,
    /// Deleted at this time.
    Deleted(Timestamp),
    /// Exists: the data's time, and the metadata's time (the newer `.meta`'s, or the data's).
    Exists { data: Timestamp, meta: Timestamp },
}

impl Classified {
    /// The state these files describe.
    pub fn state(&self) -> ObjectState {
        match (&self.data, &self.tombstone) {
            (Some(d), _) => ObjectState::Exists {
                data: d.timestamp,
                meta: self.meta.as_ref().map_or(d.timestamp, |m| m.timestamp),
            },
            (None, Some(t)) => ObjectState::Deleted(t.timestamp),
            (None, None) => ObjectState::Missing,
        }
    }

    /// The names of the files still needed, newest first.
    pub fn current_names(&self) -> Vec<&str> {
        let mut v: Vec<&OnDiskName> = [&self.data, &self.meta, &self.ctype_meta, &self.tombstone]
            .into_iter()
            .flatten()
            .collect();
        v.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(a.name.cmp(&b.name)));
        v.dedup_by(|a, b| a.name == b.name);
        v.into_iter().map(|n| n.name.as_str()).collect()
    }
}

/// Sorts the file names of one hash directory out.
pub fn classify<S: AsRef<str>>(names: &[S]) -> Classified {
    let mut out = Classified::default();
    let mut datas = Vec::new();
    let mut metas = Vec::new();
    let mut tss = Vec::new();
    for n in names {
        match filename::parse(n.as_ref()) {
            Ok(p) => match p.kind {
                FileKind::Data => datas.push(p),
                FileKind::Meta => metas.push(p),
                FileKind::Tombstone => tss.push(p),
            },
            Err(_) => out.unexpected.push(n.as_ref().to_string()),
        }
    }
    let newest_first = |v: &mut Vec<OnDiskName>| {
        v.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(b.name.cmp(&a.name)))
    };
    newest_first(&mut datas);
    newest_first(&mut metas);
    newest_first(&mut tss);

    // A tombstone hides everything at its time or older; older tombstones go.
    if let Some(ts) = tss.first().map(|t| t.timestamp) {
        for v in [&mut datas, &mut metas] {
            let (keep, old): (Vec<_>, Vec<_>) = v.drain(..).partition(|f| f.timestamp > ts);
            *v = keep;
            out.obsolete.extend(old.into_iter().map(|f| f.name));
        }
        out.obsolete.extend(tss.drain(1..).map(|f| f.name));
    }

    // Keep the newest .meta, plus the one with the newest Content-Type time
    // when that is not the newest .meta.
    if metas.len() > 1 {
        let ctype_key = |f: &OnDiskName| f.ctype_timestamp.unwrap_or_default();
        metas[1..].sort_by_key(|f| std::cmp::Reverse(ctype_key(f)));
        let mut retain = 1;
        if ctype_key(&metas[1]) > ctype_key(&metas[0]) {
            if metas[1].timestamp == metas[0].timestamp {
                metas.swap(0, 1);
            } else {
                retain = 2;
            }
        }
        out.obsolete.extend(metas.drain(retain..).map(|f| f.name));
    }

    // The newest .data wins over older .data, and over .meta/.ts at or before it.
    if let Some(dt) = datas.first().map(|d| d.timestamp) {
        out.obsolete.extend(datas.drain(1..).map(|f| f.name));
        for v in [&mut metas, &mut tss] {
            let (keep, old): (Vec<_>, Vec<_>) = v.drain(..).partition(|f| f.timestamp > dt);
            *v = keep;
            out.obsolete.extend(old.into_iter().map(|f| f.name));
        }
    }

    if let Some(data) = datas.into_iter().next() {
        if let Some(first) = metas.first() {
            out.meta = Some(first.clone());
            if let Some(last) = metas.last() {
                if last.ctype_timestamp.is_some_and(|c| c > data.timestamp) {
                    out.ctype_meta = Some(last.clone());
                }
            }
        }
        out.data = Some(data);
    } else {
        out.possible_reclaim = metas;
        out.tombstone = tss.into_iter().next();
    }
    out
}

/// The files to delete now: the obsolete ones, a tombstone older than
/// `reclaim_age` seconds, and data-less `.meta` files older than that.
pub fn to_delete(c: &Classified, now: Timestamp, reclaim_age: u64) -> Vec<String> {
    let reclaimable = |t: Timestamp| now.secs().saturating_sub(t.secs()) > reclaim_age;
    let mut v = c.obsolete.clone();
    if let Some(t) = &c.tombstone {
        if reclaimable(t.timestamp) {
            v.push(t.name.clone());
        }
    }
    for m in &c.possible_reclaim {
        if reclaimable(m.timestamp) {
            v.push(m.name.clone());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::filename::{make, make_meta};

    fn t(n: u64) -> Timestamp {
        Timestamp::from_raw(n * 100_000 + 1_400_000_000 * 100_000, 0).unwrap()
    }
    fn d(n: u64) -> String {
        make(FileKind::Data, t(n))
    }
    fn m(n: u64) -> String {
        make_meta(t(n), None)
    }
    fn ts(n: u64) -> String {
        make(FileKind::Tombstone, t(n))
    }
    fn name(o: &Option<OnDiskName>) -> Option<&str> {
        o.as_ref().map(|n| n.name.as_str())
    }

    #[test]
    fn table() {
        // (files, data, meta, tombstone, obsolete)
        type Row = (
            Vec<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Vec<String>,
        );
        let rows: Vec<Row> = vec![
            (vec![], None, None, None, vec![]),
            (vec![d(1)], Some(d(1)), None, None, vec![]),
            (vec![d(1), d(2)], Some(d(2)), None, None, vec![d(1)]),
            (vec![d(1), ts(2)], None, None, Some(ts(2)), vec![d(1)]),
            (vec![ts(1), d(2)], Some(d(2)), None, None, vec![ts(1)]),
            (vec![d(2), ts(2)], None, None, Some(ts(2)), vec![d(2)]),
            (vec![d(1), m(2)], Some(d(1)), Some(m(2)), None, vec![]),
            (vec![m(1), d(2)], Some(d(2)), None, None, vec![m(1)]),
            (
                vec![d(1), m(2), m(3)],
                Some(d(1)),
                Some(m(3)),
                None,
                vec![m(2)],
            ),
            (
                vec![d(1), m(2), ts(3)],
                None,
                None,
                Some(ts(3)),
                vec![d(1), m(2)],
            ),
            (
                vec![ts(1), ts(2), ts(3)],
                None,
                None,
                Some(ts(3)),
                vec![ts(2), ts(1)],
            ),
            (vec![ts(1), m(2)], None, None, Some(ts(1)), vec![]),
            (vec![m(2)], None, None, None, vec![]),
        ];
        for (files, data, meta, tomb, obsolete) in rows {
            let c = classify(&files);
            assert_eq!(name(&c.data), data.as_deref(), "{files:?}");
            assert_eq!(name(&c.meta), meta.as_deref(), "{files:?}");
            assert_eq!(name(&c.tombstone), tomb.as_deref(), "{files:?}");
            let mut got = c.obsolete.clone();
            got.sort();
            let mut want = obsolete.clone();
            want.sort();
            assert_eq!(got, want, "{files:?}");
        }
    }

    #[test]
    fn foreign_files_are_reported_not_touched() {
        let c = classify(&[d(1), ".1400000001.00000.data.abc123".to_string()]);
        assert_eq!(name(&c.data), Some(d(1).as_str()));
        assert_eq!(c.unexpected.len(), 1);
        assert!(c.obsolete.is_empty());
    }

    #[test]
    fn newer_content_type_meta_is_kept() {
        // meta(3) has new user metadata; meta(2) set a Content-Type at time 2.
        let ctype = make_meta(t(2), Some(t(2)));
        let c = classify(&[d(1), ctype.clone(), m(3)]);
        assert_eq!(name(&c.meta), Some(m(3).as_str()));
        assert_eq!(name(&c.ctype_meta), Some(ctype.as_str()));
        assert!(c.obsolete.is_empty());
        // Both at one time: only the one with the content type stays.
        let same = make_meta(t(3), Some(t(3)));
        let c = classify(&[d(1), same.clone(), m(3)]);
        assert_eq!(name(&c.meta), Some(same.as_str()));
        assert_eq!(c.obsolete, vec![m(3)]);
    }

    #[test]
    fn reclaim() {
        let c = classify(&[ts(1), m(2)]);
        let soon = t(1 + 10);
        assert!(to_delete(&c, soon, 100).is_empty());
        let late = t(2 + 101);
        let mut got = to_delete(&c, late, 100);
        got.sort();
        assert_eq!(got, vec![ts(1), m(2)]);
        // A current .data is never reclaimed.
        let c = classify(&[d(1)]);
        assert!(to_delete(&c, t(10_000), 100).is_empty());
    }

    /// Every set of files drawn from {data, meta, ts} x {t1, t2, t3} (512 sets),
    /// checked against a plain statement of the rules.
    #[test]
    fn exhaustive_against_the_rules() {
        let all: Vec<(FileKind, u64)> = [FileKind::Data, FileKind::Meta, FileKind::Tombstone]
            .into_iter()
            .flat_map(|k| (1..=3).map(move |n| (k, n)))
            .collect();
        for mask in 0u32..(1 << all.len()) {
            let files: Vec<(FileKind, u64)> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, f)| *f)
                .collect();
            let names: Vec<String> = files
                .iter()
                .map(|(k, n)| match k {
                    FileKind::Meta => m(*n),
                    other => make(*other, t(*n)),
                })
                .collect();
            let c = classify(&names);
            let newest = |kind: FileKind| files.iter().filter(|f| f.0 == kind).map(|f| f.1).max();
            let (nd, nt) = (newest(FileKind::Data), newest(FileKind::Tombstone));
            // The winner: the newest data or tombstone, the tombstone on a tie.
            let data_wins = match (nd, nt) {
                (Some(a), Some(b)) => a > b,
                (Some(_), None) => true,
                _ => false,
            };
            let ctx = format!("{names:?} -> {c:?}");
            if data_wins {
                let dn = nd.unwrap();
                assert_eq!(name(&c.data), Some(d(dn).as_str()), "{ctx}");
                assert!(c.tombstone.is_none(), "{ctx}");
                let nm = files
                    .iter()
                    .filter(|f| f.0 == FileKind::Meta && f.1 > dn)
                    .map(|f| f.1)
                    .max();
                assert_eq!(name(&c.meta), nm.map(m).as_deref(), "{ctx}");
                assert!(c.possible_reclaim.is_empty(), "{ctx}");
                assert!(
                    matches!(c.state(), ObjectState::Exists { data, .. } if data == t(dn)),
                    "{ctx}"
                );
            } else {
                assert!(c.data.is_none() && c.meta.is_none(), "{ctx}");
                assert_eq!(name(&c.tombstone), nt.map(ts).as_deref(), "{ctx}");
                // Metas newer than the tombstone (or all, without one) wait for reclaim,
                // but only the newest is retained.
                let floor = nt.unwrap_or(0);
                let newer: Vec<u64> = files
                    .iter()
                    .filter(|f| f.0 == FileKind::Meta && f.1 > floor)
                    .map(|f| f.1)
                    .collect();
                let want: Vec<String> = newer.iter().max().map(|n| m(*n)).into_iter().collect();
                let got: Vec<String> = c.possible_reclaim.iter().map(|f| f.name.clone()).collect();
                assert_eq!(got, want, "{ctx}");
                match nt {
                    Some(n) => assert_eq!(c.state(), ObjectState::Deleted(t(n)), "{ctx}"),
                    None => assert_eq!(c.state(), ObjectState::Missing, "{ctx}"),
                }
            }
            // Every file is exactly one of: current, waiting for reclaim, obsolete.
            let mut seen: Vec<String> = c.current_names().iter().map(|s| s.to_string()).collect();
            seen.extend(c.possible_reclaim.iter().map(|f| f.name.clone()));
            seen.extend(c.obsolete.iter().cloned());
            seen.sort();
            let mut want = names.clone();
            want.sort();
            assert_eq!(seen, want, "{ctx}");
            // Deleting the obsolete files changes nothing about the state.
            let left: Vec<String> = names
                .iter()
                .filter(|n| !c.obsolete.contains(n))
                .cloned()
                .collect();
            let again = classify(&left);
            assert_eq!(again.state(), c.state(), "{ctx}");
            assert!(again.obsolete.is_empty(), "{ctx}");
        }
    }
}
