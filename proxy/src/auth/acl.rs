//! Container ACLs (v1: `.r:<referrer>`, `.rlistings`, `account:user`) and
//! account ACLs (v2 JSON), parsed and normalised as Swift's
//! `swift/common/middleware/acl.py` does. Pure.

use std::collections::BTreeMap;

/// Swift's `clean_acl`: normalises an X-Container-Read/Write value, or says
/// why it is invalid (the text of the 400).
pub fn clean_acl(header: &str, value: &str) -> Result<String, String> {
    let is_write = header.to_ascii_lowercase().contains("write");
    let mut out = Vec::new();
    for raw in value.split(',') {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let Some((first, second)) = raw.split_once(':') else {
            out.push(raw.to_string());
            continue;
        };
        let (first, second) = (first.trim(), second.trim());
        if first.is_empty() || !first.starts_with('.') {
            out.push(raw.to_string());
        } else if matches!(first, ".r" | ".ref" | ".referer" | ".referrer") {
            if is_write {
                return Err(format!("Referrers not allowed in write ACL: '{raw}'"));
            }
            let (negate, mut host) = match second.strip_prefix('-') {
                Some(rest) => (true, rest.trim()),
                None => (false, second),
            };
            if host != "*" {
                if let Some(rest) = host.strip_prefix('*') {
                    host = rest.trim();
                }
            }
            if host.is_empty() || host == "." {
                return Err(format!(
                    "No host/domain value after referrer designation in ACL: '{raw}'"
                ));
            }
            out.push(format!(".r:{}{}", if negate { "-" } else { "" }, host));
        } else {
            return Err(format!("Unknown designator '{first}' in ACL: '{raw}'"));
        }
    }
    Ok(out.join(","))
}

/// Swift's `parse_acl` (v1): (referrers, groups).
pub fn parse_acl(value: Option<&str>) -> (Vec<String>, Vec<String>) {
    let mut referrers = Vec::new();
    let mut groups = Vec::new();
    if let Some(v) = value {
        for item in v.split(',') {
            if item.is_empty() {
                continue;
            }
            match item.strip_prefix(".r:") {
                Some(r) => referrers.push(r.to_string()),
                None => groups.push(
                    percent_encoding::percent_decode_str(item)
                        .decode_utf8_lossy()
                        .into_owned(),
                ),
            }
        }
    }
    (referrers, groups)
}

/// Swift's `referrer_allowed`: does the Referer's host match the `.r:` list?
pub fn referrer_allowed(referer: Option<&str>, referrers: &[String]) -> bool {
    let host = referer
        .and_then(url_host)
        .unwrap_or_else(|| "unknown".into());
    let mut allow = false;
    for m in referrers {
        if let Some(neg) = m.strip_prefix('-') {
            if neg == host || (neg.starts_with('.') && host.ends_with(neg)) {
                allow = false;
            }
        } else if m == "*" || *m == host || (m.starts_with('.') && host.ends_with(m.as_str())) {
            allow = true;
        }
    }
    allow
}

/// The lower-cased host of an absolute URL (`urlparse(...).hostname`).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?;
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        hostport.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Tempauth's account ACL: who is admin, read-write, read-only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountAcl {
    pub admin: Vec<String>,
    pub read_write: Vec<String>,
    pub read_only: Vec<String>,
}

const ACCOUNT_ACL_KEYS: [&str; 3] = ["admin", "read-write", "read-only"];

/// Validates an X-Account-Access-Control value as tempauth does
/// (`extract_acl_and_report_errors`), returning the error text.
pub fn check_account_acl(value: &str) -> Result<(), String> {
    let parsed: serde_json::Value = if value.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_str(value).map_err(|_| format!("Syntax error in input ('{value}')"))?
    };
    let serde_json::Value::Object(map) = parsed else {
        return Err(format!("Syntax error in input ('{value}')"));
    };
    for (k, v) in &map {
        if !ACCOUNT_ACL_KEYS.contains(&k.as_str()) {
            return Err(format!("Key \"{k}\" not recognized"));
        }
        let serde_json::Value::Array(items) = v else {
            return Err(format!("Value for key \"{k}\" must be a list"));
        };
        if items.iter().any(|i| !i.is_string()) {
            return Err(format!("Elements of \"{k}\" list must be strings"));
        }
    }
    Ok(())
}

/// Parses stored account ACL JSON (`None` for empty or invalid, as Swift treats it).
pub fn parse_account_acl(value: &str) -> Option<AccountAcl> {
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(value).ok()?;
    if map.is_empty() {
        return None;
    }
    let list = |k: &str| -> Vec<String> {
        map.get(k)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(AccountAcl {
        admin: list("admin"),
        read_write: list("read-write"),
        read_only: list("read-only"),
    })
}

/// Swift's `format_acl_v2`: compact JSON with sorted keys and ASCII escapes.
pub fn format_account_acl(value: &str) -> Option<String> {
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(value).ok()?;
    if map.is_empty() {
        return None;
    }
    let json = serde_json::to_string(&map).ok()?;
    // serde_json writes UTF-8; Swift forces \uXXXX escapes.
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean() {
        assert_eq!(
            clean_acl("x-container-read", ".r:*,.rlistings").unwrap(),
            ".r:*,.rlistings"
        );
        assert_eq!(
            clean_acl("x-container-read", " .ref : *.example.com ").unwrap(),
            ".r:.example.com"
        );
        assert_eq!(
            clean_acl("x-container-read", ".r:-bad.com").unwrap(),
            ".r:-bad.com"
        );
        assert_eq!(
            clean_acl("x-container-read", "a:b, c:*").unwrap(),
            "a:b,c:*"
        );
        assert!(clean_acl("x-container-write", ".r:*").is_err());
        assert!(clean_acl("x-container-read", ".r:").is_err());
        assert!(clean_acl("x-container-read", ".bogus:x").is_err());
    }

    #[test]
    fn referrers() {
        let (r, g) = parse_acl(Some(".r:*,.rlistings,test:tester"));
        assert_eq!(r, vec!["*"]);
        assert_eq!(g, vec![".rlistings", "test:tester"]);
        assert!(referrer_allowed(None, &r));
        let r = vec![".example.com".to_string(), "-bad.example.com".to_string()];
        assert!(referrer_allowed(Some("http://www.example.com/x"), &r));
        assert!(!referrer_allowed(Some("http://bad.example.com/x"), &r));
        assert!(!referrer_allowed(Some("http://other.org/"), &r));
        assert!(!referrer_allowed(None, &r));
    }

    #[test]
    fn account_acls() {
        assert!(check_account_acl(r#"{"admin":["a:b"]}"#).is_ok());
        assert!(check_account_acl(r#"{"bogus":["a"]}"#).is_err());
        assert!(check_account_acl(r#"{"admin":"a"}"#).is_err());
        assert!(check_account_acl("not json").is_err());
        let a = parse_account_acl(r#"{"read-only":["x"],"admin":["y"]}"#).unwrap();
        assert_eq!(a.read_only, vec!["x"]);
        assert_eq!(
            format_account_acl(r#"{"read-only":["x"],"admin":["é"]}"#).unwrap(),
            r#"{"admin":["\u00e9"],"read-only":["x"]}"#
        );
        assert_eq!(parse_account_acl("{}"), None);
    }
}
