//! On-disk file names of one object version: `<timestamp>.data`, `<timestamp>.ts`
//! and `<timestamp>[<+|-><hex delta>].meta`, with timestamps in Swift's internal
//! form, so that a Swift node and a swirl node name the same version the same way
//! (Swift `diskfile.py`: `make_on_disk_filename` / `parse_on_disk_filename`).
//!
//! A `.meta` name may carry a second, content-type timestamp encoded as a signed
//! hex delta of 10 µs units from the first (Swift's `encode_timestamps`).

use swirl_common::Timestamp;

/// The three kinds of file a hash directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// The object's bytes and its metadata.
    Data,
    /// Metadata from a POST, applied on top of an older `.data`.
    Meta,
    /// A tombstone: the object was deleted at this time.
    Tombstone,
}

impl FileKind {
    /// The extension, with its dot, as Swift writes it.
    pub fn ext(self) -> &'static str {
        match self {
            FileKind::Data => ".data",
            FileKind::Meta => ".meta",
            FileKind::Tombstone => ".ts",
        }
    }
}

/// A parsed file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDiskName {
    pub kind: FileKind,
    pub timestamp: Timestamp,
    /// For `.meta` only: the time its Content-Type was set, when the name says.
    pub ctype_timestamp: Option<Timestamp>,
    /// The file name itself.
    pub name: String,
}

/// Why a file name is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("unexpected file {0:?}: unknown extension")]
    Extension(String),
    #[error("unexpected file {0:?}: bad timestamp")]
    Timestamp(String),
}

/// `<ts>.data` or `<ts>.ts`.
pub fn make(kind: FileKind, timestamp: Timestamp) -> String {
    format!("{}{}", timestamp.internal(), kind.ext())
}

/// `<ts>.meta`, or with `ctype` the explicit form `<ts><+|-><hex>.meta` that
/// records when the Content-Type it carries was set.
pub fn make_meta(timestamp: Timestamp, ctype: Option<Timestamp>) -> String {
    match ctype {
        None => format!("{}.meta", timestamp.internal()),
        Some(c) => {
            let delta = i128::from(c.raw()) - i128::from(timestamp.raw());
            let sign = if delta < 0 { '-' } else { '+' };
            format!(
                "{}{}{:x}.meta",
                timestamp.internal(),
                sign,
                delta.unsigned_abs()
            )
        }
    }
}

/// Parses one file name of a hash directory.
pub fn parse(name: &str) -> Result<OnDiskName, NameError> {
    let (stem, kind) = if let Some(s) = name.strip_suffix(".data") {
        (s, FileKind::Data)
    } else if let Some(s) = name.strip_suffix(".meta") {
        (s, FileKind::Meta)
    } else if let Some(s) = name.strip_suffix(".ts") {
        (s, FileKind::Tombstone)
    } else {
        return Err(NameError::Extension(name.to_string()));
    };
    let bad_ts = || NameError::Timestamp(name.to_string());
    let (ts_part, delta) = match kind {
        FileKind::Meta => split_delta(stem).ok_or_else(bad_ts)?,
        FileKind::Data | FileKind::Tombstone => (stem, None),
    };
    let timestamp = parse_internal(ts_part).ok_or_else(bad_ts)?;
    let ctype_timestamp = match delta {
        None => None,
        Some(d) => {
            let raw = i128::from(timestamp.raw()) + d;
            let raw = u64::try_from(raw).map_err(|_| bad_ts())?;
            Some(Timestamp::from_raw(raw, 0).map_err(|_| bad_ts())?)
        }
    };
    Ok(OnDiskName {
        kind,
        timestamp,
        ctype_timestamp,
        name: name.to_string(),
    })
}

/// Splits `<ts>[+|-<hex>]` into the timestamp text and the signed delta.
fn split_delta(stem: &str) -> Option<(&str, Option<i128>)> {
    // The timestamp itself never contains '+' or '-'.
    match stem.find(['+', '-']) {
        None => Some((stem, None)),
        Some(i) => {
            let (ts, rest) = stem.split_at(i);
            let neg = rest.starts_with('-');
            let hex = &rest[1..];
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let v = i128::from(u64::from_str_radix(hex, 16).ok()?);
            Some((ts, Some(if neg { -v } else { v })))
        }
    }
}

/// Strictly the internal form: `dddddddddd.ddddd` with an optional `_` + 16 hex
/// digits. Anything else (a float, a short form) is not a name we or Swift write.
fn parse_internal(s: &str) -> Option<Timestamp> {
    let (base, offset) = match s.split_once('_') {
        Some((b, o)) => {
            if o.len() != 16 || !o.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            (b, u64::from_str_radix(o, 16).ok()?)
        }
        None => (s, 0),
    };
    let (secs, frac) = base.split_once('.')?;
    if secs.len() != 10
        || frac.len() != 5
        || !secs.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let raw = secs.parse::<u64>().ok()? * 100_000 + frac.parse::<u64>().ok()?;
    Timestamp::from_raw(raw, offset).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn round_trips() {
        let t = ts("1402464677.04188");
        for kind in [FileKind::Data, FileKind::Tombstone] {
            let n = make(kind, t);
            let p = parse(&n).unwrap();
            assert_eq!((p.kind, p.timestamp, p.ctype_timestamp), (kind, t, None));
        }
        let t2 = t.with_offset(3);
        assert_eq!(
            make(FileKind::Data, t2),
            "1402464677.04188_0000000000000003.data"
        );
        assert_eq!(parse(&make(FileKind::Data, t2)).unwrap().timestamp, t2);
    }

    #[test]
    fn meta_with_content_type_time() {
        let t = ts("1402464677.04188");
        assert_eq!(make_meta(t, None), "1402464677.04188.meta");
        assert_eq!(make_meta(t, Some(t)), "1402464677.04188+0.meta");
        let older = ts("1402464677.00000");
        let n = make_meta(t, Some(older));
        assert_eq!(n, "1402464677.04188-105c.meta");
        let p = parse(&n).unwrap();
        assert_eq!(p.timestamp, t);
        assert_eq!(p.ctype_timestamp, Some(older));
        let newer = ts("1402464678.00000");
        assert_eq!(
            parse(&make_meta(t, Some(newer))).unwrap().ctype_timestamp,
            Some(newer)
        );
        assert_eq!(
            parse("1402464677.04188+0.meta").unwrap().ctype_timestamp,
            Some(t)
        );
    }

    #[test]
    fn refuses_foreign_names() {
        for bad in [
            "x.data",
            "1402464677.04188.durable",
            "1402464677.04188",
            ".1402464677.04188.data.Xy12ab",
            "1402464677.0418.data",
            "1402464677.04188_1.data",
            "1402464677.04188_000000000000000g.data",
            "140246467.04188.data",
            "1402464677.04188-.meta",
            "1402464677.04188-zz.meta",
            "1402464677.04188-1.data",
            "1402464677.04188+1.ts",
            "00000000001.04188.ts",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
