//! Request paths: percent-decoding and Swift's `split_path` rules for
//! `/device/partition/account[/container[/object]]` and `/v1/account/...`.

/// Why a path was refused (each becomes a 400 or 412 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("Invalid path: {0}")]
    Invalid(String),
    #[error("Invalid UTF8 or contains NULL")]
    BadUtf8,
}

/// Percent-decodes a raw URI path into UTF-8; NUL bytes and invalid UTF-8 are
/// refused (Swift answers 412 "Invalid UTF8 or contains NULL").
pub fn decode(raw: &str) -> Result<String, PathError> {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    let s = String::from_utf8(bytes).map_err(|_| PathError::BadUtf8)?;
    if s.contains('\0') {
        return Err(PathError::BadUtf8);
    }
    Ok(s)
}

/// Percent-decodes a raw URI path into UTF-8, NUL allowed (Swift's
/// `check_utf8(..., internal=True)` of the storage servers, which keep
/// the reserved namespace; `crate::reserved` judges where a NUL may be).
pub fn decode_internal(raw: &str) -> Result<String, PathError> {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    String::from_utf8(bytes).map_err(|_| PathError::BadUtf8)
}

/// Swift's `split_path(path, minsegs, maxsegs, rest_with_last)`: splits a
/// decoded path into between `minsegs` and `maxsegs` segments. The first
/// `minsegs` must be non-empty; with `rest_with_last` the last segment keeps
/// any further slashes (object names contain '/').
pub fn split_path(
    path: &str,
    minsegs: usize,
    maxsegs: usize,
    rest_with_last: bool,
) -> Result<Vec<Option<String>>, PathError> {
    let invalid = || PathError::Invalid(path.to_string());
    if !path.starts_with('/') {
        return Err(invalid());
    }
    let body = &path[1..];
    let segs: Vec<&str> = if rest_with_last {
        body.splitn(maxsegs, '/').collect()
    } else {
        body.split('/').collect()
    };
    let count = segs.len();
    if count < minsegs || segs[..minsegs.min(count)].iter().any(|s| s.is_empty()) {
        return Err(invalid());
    }
    if rest_with_last {
        if count > maxsegs {
            return Err(invalid());
        }
    } else if count > maxsegs + 1 || (count == maxsegs + 1 && !segs[maxsegs].is_empty()) {
        return Err(invalid());
    }
    let mut out: Vec<Option<String>> = segs
        .iter()
        .take(maxsegs)
        .map(|s| Some(s.to_string()))
        .collect();
    // Trailing empty optional segments read as absent, as in Swift.
    for s in out.iter_mut().skip(minsegs) {
        if s.as_deref() == Some("") {
            *s = None;
        }
    }
    out.resize(maxsegs, None);
    Ok(out)
}

/// Swift's `validate_device_partition`: no empty, `.`, `..` or `/`-containing
/// device, and a partition that is a plain non-negative integer.
pub fn validate_device_partition(device: &str, partition: &str) -> Result<u32, PathError> {
    let bad_dev = device.is_empty() || device == "." || device == ".." || device.contains('/');
    if bad_dev {
        return Err(PathError::Invalid(format!("Invalid device: {device}")));
    }
    if partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PathError::Invalid(format!(
            "Invalid partition: {partition}"
        )));
    }
    partition
        .parse()
        .map_err(|_| PathError::Invalid(format!("Invalid partition: {partition}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|x| x.map(str::to_string)).collect()
    }

    #[test]
    fn swift_split_path_cases() {
        assert_eq!(split_path("/a", 1, 1, false).unwrap(), s(&[Some("a")]));
        assert!(split_path("//a", 1, 1, false).is_err());
        assert!(split_path("/a/", 1, 1, false).is_ok());
        assert!(split_path("/a/c", 1, 1, false).is_err());
        assert_eq!(
            split_path("/a/c", 1, 2, false).unwrap(),
            s(&[Some("a"), Some("c")])
        );
        assert_eq!(
            split_path("/a/c/o", 1, 3, false).unwrap(),
            s(&[Some("a"), Some("c"), Some("o")])
        );
        assert!(split_path("/a/c/o/r", 1, 3, false).is_err());
        assert_eq!(
            split_path("/a/c/o/r", 1, 3, true).unwrap(),
            s(&[Some("a"), Some("c"), Some("o/r")])
        );
        assert_eq!(
            split_path("/a/c", 2, 3, true).unwrap(),
            s(&[Some("a"), Some("c"), None])
        );
        assert!(split_path("/a", 2, 3, true).is_err());
        assert!(split_path("a/c", 1, 2, false).is_err());
        assert_eq!(
            split_path("/d/p/a/c/o/with/slash/", 5, 5, true).unwrap(),
            s(&[
                Some("d"),
                Some("p"),
                Some("a"),
                Some("c"),
                Some("o/with/slash/")
            ])
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("/a%20b").unwrap(), "/a b");
        assert_eq!(decode("/a%00b"), Err(PathError::BadUtf8));
        assert_eq!(decode_internal("/a%00b").unwrap(), "/a\0b");
        assert_eq!(decode_internal("/a%ffb"), Err(PathError::BadUtf8));
        assert_eq!(decode("/a%ffb"), Err(PathError::BadUtf8));
    }

    #[test]
    fn device_partition() {
        assert_eq!(validate_device_partition("sda1", "12").unwrap(), 12);
        for (d, p) in [
            ("..", "1"),
            (".", "1"),
            ("a/b", "1"),
            ("", "1"),
            ("d", "x"),
            ("d", "-1"),
            ("d", ""),
        ] {
            assert!(validate_device_partition(d, p).is_err(), "{d} {p}");
        }
    }
}
