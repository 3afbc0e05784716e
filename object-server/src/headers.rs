//! Request headers: X-Timestamp, Swift's object-creation and metadata
//! constraints (`swift/common/constraints.py`), and which headers are stored
//! with an object. Pure.

use http::HeaderMap;
use swirl_common::backend_headers as bh;
use swirl_common::constraints as c;
use swirl_common::Timestamp;

use crate::error::Error;

/// A header's value as text (Latin-1 bytes are kept as their chars, as WSGI does).
pub fn value(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| match v.to_str() {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
    })
}

/// A comma-separated list of header names, lower-cased (empty when absent).
pub fn name_list(h: &HeaderMap, name: &str) -> Vec<String> {
    value(h, name)
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Python's `str.title()`: a letter is upper-cased after a non-letter and
/// lower-cased after a letter; how WSGI spells header names (`X-Object-Meta-Color`).
pub fn title(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_letter = false;
    for ch in name.chars() {
        if ch.is_alphabetic() {
            if prev_letter {
                out.extend(ch.to_lowercase());
            } else {
                out.extend(ch.to_uppercase());
            }
            prev_letter = true;
        } else {
            out.push(ch);
            prev_letter = false;
        }
    }
    out
}

/// The request's X-Timestamp (Swift's `valid_timestamp`).
pub fn timestamp(h: &HeaderMap) -> Result<Timestamp, Error> {
    let v = value(h, "x-timestamp")
        .ok_or_else(|| Error::BadRequest("Missing X-Timestamp header".into()))?;
    Timestamp::parse(&v).map_err(|_| Error::BadRequest("Invalid X-Timestamp header".into()))
}

/// X-Timestamp, or now when absent (GET and HEAD).
pub fn timestamp_or_now(h: &HeaderMap) -> Result<Timestamp, Error> {
    if h.contains_key("x-timestamp") {
        timestamp(h)
    } else {
        Ok(Timestamp::now())
    }
}

/// A Swift boolean (`config_true_value`).
pub fn is_true(h: &HeaderMap, name: &str) -> bool {
    value(h, name).is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    })
}

/// User metadata or sysmeta of an object (`is_sys_or_user_meta('object', k)`),
/// or transient sysmeta.
pub fn is_object_meta(lower: &str) -> bool {
    let longer = |p: &str| lower.len() > p.len() && lower.starts_with(p);
    longer("x-object-meta-") || longer("x-object-sysmeta-") || longer("x-object-transient-sysmeta-")
}

/// Swift's `check_metadata(req, 'object')`.
pub fn check_metadata(h: &HeaderMap) -> Result<(), Error> {
    const PREFIX: &str = "x-object-meta-";
    let mut count = 0usize;
    let mut size = 0usize;
    for (k, v) in h {
        let key = k.as_str();
        if v.len() > c::MAX_HEADER_SIZE {
            let shown: String = title(key).chars().take(c::MAX_META_NAME_LENGTH).collect();
            return Err(Error::BadRequest(format!("Header value too long: {shown}")));
        }
        let Some(name) = key.strip_prefix(PREFIX) else {
            continue;
        };
        if name.is_empty() {
            return Err(Error::BadRequest("Metadata name cannot be empty".into()));
        }
        count += 1;
        size += name.len() + v.len();
        // Swift names the header as the lower-case prefix plus WSGI's spelling of the rest.
        let shown = format!("{PREFIX}{}", &title(key)[PREFIX.len()..]);
        if name.len() > c::MAX_META_NAME_LENGTH {
            return Err(Error::BadRequest(format!(
                "Metadata name too long: {shown}"
            )));
        }
        if v.len() > c::MAX_META_VALUE_LENGTH {
            return Err(Error::BadRequest(format!(
                "Metadata value longer than {}: {shown}",
                c::MAX_META_VALUE_LENGTH
            )));
        }
        if count > c::MAX_META_COUNT {
            return Err(Error::BadRequest(format!(
                "Too many metadata items; max {}",
                c::MAX_META_COUNT
            )));
        }
        if size > c::MAX_META_OVERALL_SIZE {
            return Err(Error::BadRequest(format!(
                "Total metadata too large; max {}",
                c::MAX_META_OVERALL_SIZE
            )));
        }
    }
    Ok(())
}

/// How the body's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    Known(u64),
    Chunked,
}

/// Swift's `message_length` plus the size checks of `check_object_creation`.
pub fn body_length(h: &HeaderMap) -> Result<BodyLength, Error> {
    if let Some(te) = value(h, "transfer-encoding") {
        let codings: Vec<&str> = te.split(',').map(str::trim).collect();
        if codings.len() > 1 {
            return Err(Error::NotImplemented(
                "Unsupported Transfer-Coding header value specified in Transfer-Encoding header"
                    .into(),
            ));
        }
        if codings[0].eq_ignore_ascii_case("chunked") {
            return Ok(BodyLength::Chunked);
        }
        return Err(Error::BadRequest(
            "Invalid Transfer-Encoding header value".into(),
        ));
    }
    match value(h, "content-length") {
        None => Err(Error::LengthRequired),
        Some(v) => {
            let n: u64 = v
                .trim()
                .parse()
                .map_err(|_| Error::BadRequest("Invalid Content-Length header value".into()))?;
            if n > c::MAX_FILE_SIZE {
                return Err(Error::TooLarge);
            }
            Ok(BodyLength::Known(n))
        }
    }
}

/// `X-Delete-At` (or `X-Delete-After`, converted) checked against the request
/// time, as `check_delete_headers` does. Returns the delete-at second, if any.
pub fn delete_at(h: &HeaderMap, now: Timestamp) -> Result<Option<u64>, Error> {
    let replication = is_true(h, bh::REPLICATION);
    let now_f = now.as_f64();
    if let Some(after) = value(h, "x-delete-after") {
        let after: i64 = after
            .trim()
            .parse()
            .map_err(|_| Error::BadRequest("Non-integer X-Delete-After".into()))?;
        let at = (now_f + after as f64) as i64;
        if (at as f64) <= now_f {
            return Err(Error::BadRequest("X-Delete-After in past".into()));
        }
        return Ok(Some(at as u64));
    }
    let Some(at) = value(h, "x-delete-at") else {
        return Ok(None);
    };
    let at: i64 = at
        .trim()
        .parse()
        .map_err(|_| Error::BadRequest("Non-integer X-Delete-At".into()))?;
    if (at as f64) <= now_f && !replication {
        return Err(Error::BadRequest("X-Delete-At in past".into()));
    }
    Ok(Some(at.max(0) as u64))
}

/// Swift's `check_object_creation` (after the length checks).
pub fn check_object_creation(h: &HeaderMap, object: &str) -> Result<(), Error> {
    let n = object.chars().count();
    if n > c::MAX_OBJECT_NAME_LENGTH {
        return Err(Error::BadRequest(format!(
            "Object name length of {n} longer than {}",
            c::MAX_OBJECT_NAME_LENGTH
        )));
    }
    // Swift's WSGI server gives a missing Content-Type as "", which fails the
    // UTF-8 check: so "Invalid Content-Type" for missing, empty or not UTF-8.
    match h.get("content-type") {
        Some(v) if !v.is_empty() && std::str::from_utf8(v.as_bytes()).is_ok() => {}
        _ => return Err(Error::BadRequest("Invalid Content-Type".into())),
    }
    check_metadata(h)
}

/// The request headers stored with an object: user metadata, sysmeta,
/// transient sysmeta and the allowed headers, under WSGI's spelling.
pub fn stored_headers(h: &HeaderMap, allowed: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for k in h.keys() {
        let lower = k.as_str();
        if is_object_meta(lower) || allowed.iter().any(|a| a == lower) {
            if let Some(v) = value(h, lower) {
                out.push((title(lower), v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn title_like_python() {
        assert_eq!(title("x-object-meta-color"), "X-Object-Meta-Color");
        assert_eq!(title("x-object-meta-a1b"), "X-Object-Meta-A1B");
        assert_eq!(title("content-type"), "Content-Type");
    }

    #[test]
    fn timestamps() {
        assert!(
            matches!(timestamp(&hm(&[])), Err(Error::BadRequest(m)) if m == "Missing X-Timestamp header")
        );
        assert!(
            matches!(timestamp(&hm(&[("x-timestamp", "abc")])), Err(Error::BadRequest(m)) if m == "Invalid X-Timestamp header")
        );
        assert!(timestamp(&hm(&[("x-timestamp", "1402464677.04188")])).is_ok());
    }

    #[test]
    fn metadata_limits() {
        let ok = hm(&[("x-object-meta-a", "b")]);
        assert!(check_metadata(&ok).is_ok());
        let long_name = format!("x-object-meta-{}", "n".repeat(129));
        let e = check_metadata(&hm(&[(long_name.as_str(), "v")])).unwrap_err();
        assert!(e.to_string().contains("Metadata name too long"), "{e}");
        let v = "v".repeat(257);
        let e = check_metadata(&hm(&[("x-object-meta-a", v.as_str())])).unwrap_err();
        assert!(
            e.to_string().contains("Metadata value longer than 256"),
            "{e}"
        );
        let many: Vec<(String, String)> = (0..91)
            .map(|i| (format!("x-object-meta-k{i}"), "v".into()))
            .collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let e = check_metadata(&hm(&refs)).unwrap_err();
        assert!(e.to_string().contains("Too many metadata items"), "{e}");
        let big: Vec<(String, String)> = (0..20)
            .map(|i| (format!("x-object-meta-k{i}"), "v".repeat(250)))
            .collect();
        let refs: Vec<(&str, &str)> = big.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let e = check_metadata(&hm(&refs)).unwrap_err();
        assert!(e.to_string().contains("Total metadata too large"), "{e}");
    }

    #[test]
    fn lengths_and_expiry() {
        assert_eq!(
            body_length(&hm(&[("content-length", "5")])).unwrap(),
            BodyLength::Known(5)
        );
        assert_eq!(
            body_length(&hm(&[("transfer-encoding", "chunked")])).unwrap(),
            BodyLength::Chunked
        );
        assert!(matches!(body_length(&hm(&[])), Err(Error::LengthRequired)));
        assert!(matches!(
            body_length(&hm(&[("content-length", "5368709123")])),
            Err(Error::TooLarge)
        ));
        assert!(matches!(
            body_length(&hm(&[("content-length", "x")])),
            Err(Error::BadRequest(_))
        ));
        let now = Timestamp::parse("1000").unwrap();
        assert_eq!(
            delete_at(&hm(&[("x-delete-at", "2000")]), now).unwrap(),
            Some(2000)
        );
        assert!(delete_at(&hm(&[("x-delete-at", "999")]), now).is_err());
        assert!(delete_at(&hm(&[("x-delete-at", "soon")]), now).is_err());
        assert_eq!(
            delete_at(&hm(&[("x-delete-after", "10")]), now).unwrap(),
            Some(1010)
        );
        let e = check_object_creation(&hm(&[]), &"o".repeat(1025)).unwrap_err();
        assert!(e
            .to_string()
            .contains("Object name length of 1025 longer than 1024"));
        let e = check_object_creation(&hm(&[]), "o").unwrap_err();
        assert!(e.to_string().contains("Invalid Content-Type"));
        assert!(check_object_creation(&hm(&[("content-type", "text/plain")]), "o").is_ok());
    }

    #[test]
    fn stored() {
        let h = hm(&[
            ("x-object-meta-color", "blue"),
            ("x-object-sysmeta-x", "1"),
            ("content-encoding", "gzip"),
            ("x-object-meta-", "empty name is not stored"),
            ("authorization", "no"),
        ]);
        let allowed = vec!["content-encoding".to_string()];
        let mut got = stored_headers(&h, &allowed);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("Content-Encoding".to_string(), "gzip".to_string()),
                ("X-Object-Meta-Color".to_string(), "blue".to_string()),
                ("X-Object-Sysmeta-X".to_string(), "1".to_string()),
            ]
        );
    }
}
