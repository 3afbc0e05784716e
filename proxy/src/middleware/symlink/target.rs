//! The pure rules of Swift's symlink middleware: the header names, what a
//! PUT's `X-Symlink-Target` (`<container>/<object>`, URL-quoted),
//! `X-Symlink-Target-Account` and `X-Symlink-Target-Etag` may be
//! (`_validate_and_prep_request_headers`), the path a stored link points
//! at, and the link parameters a container listing's `hash` carries.

use crate::backend::quote_path;
use crate::object_path::ObjectPath;

/// The client's headers on a link PUT (and on `?symlink=get` answers).
pub const TARGET: &str = "x-symlink-target";
pub const TARGET_ACCOUNT: &str = "x-symlink-target-account";
pub const TARGET_ETAG: &str = "x-symlink-target-etag";
pub const TARGET_BYTES: &str = "x-symlink-target-bytes";
/// Where the object server keeps them (object sysmeta).
pub const SYS_TARGET: &str = "x-object-sysmeta-symlink-target";
pub const SYS_TARGET_ACCOUNT: &str = "x-object-sysmeta-symlink-target-account";
pub const SYS_TARGET_ETAG: &str = "x-object-sysmeta-symlink-target-etag";
pub const SYS_TARGET_BYTES: &str = "x-object-sysmeta-symlink-target-bytes";
/// A link that does not count against `symloop_max` (object versioning's).
pub const SYS_SYMLOOP_EXTEND: &str = "x-object-sysmeta-symloop-extend";
/// The container update's ETag override, where listings learn of links.
pub const OVERRIDE_ETAG: &str = "x-object-sysmeta-container-update-override-etag";
/// The MD5 of no bytes: a link's own ETag.
pub const MD5_OF_EMPTY: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// The text of a 412 for a target that is not `<container>/<object>`.
pub const FORM: &str = "X-Symlink-Target header must be of the form <container name>/<object name>";

/// Why a link PUT's headers are refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    /// 412 with this text.
    Precondition(String),
    /// 400 with this text.
    Bad(String),
}

/// A link PUT's checked target.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// `X-Symlink-Target` normalised: `quote(container/object)`.
    pub quoted: String,
    /// `X-Symlink-Target-Account` normalised (`quote(account)`), if sent.
    pub account_quoted: Option<String>,
    /// The target (unquoted).
    pub path: ObjectPath,
    /// The static link's ETag (quotes around it dropped), if any.
    pub etag: Option<String>,
}

/// Swift's `wsgi_unquote`: %XX decoded, anything else kept.
pub fn unquote(v: &str) -> String {
    percent_encoding::percent_decode_str(v)
        .decode_utf8_lossy()
        .into_owned()
}

/// Swift's `normalize_etag`: one pair of surrounding quotes dropped.
pub fn normalize_etag(e: &str) -> &str {
    if e.len() >= 2 && e.starts_with('"') && e.ends_with('"') {
        &e[1..e.len() - 1]
    } else {
        e
    }
}

/// Checks a link PUT's target headers against the link's own path.
pub fn validate(
    target: &str,
    account: Option<&str>,
    etag: Option<&str>,
    link: &ObjectPath,
) -> Result<Target, Invalid> {
    let form = || Invalid::Precondition(FORM.to_string());
    let decoded = unquote(target);
    if decoded.starts_with('/') {
        return Err(form());
    }
    // Swift's check_path_header + split_path(2, 2, rest_with_last).
    let (container, object) = decoded.split_once('/').ok_or_else(form)?;
    if container.is_empty() || object.is_empty() {
        return Err(form());
    }
    let account = match account {
        Some(a) => {
            let a = unquote(a);
            if a.is_empty() {
                return Err(Invalid::Precondition("Account name cannot be empty".into()));
            }
            if a.contains('/') {
                return Err(Invalid::Precondition(
                    "Account name cannot contain slashes".into(),
                ));
            }
            Some(a)
        }
        None => None,
    };
    let path = ObjectPath::new(
        account.clone().unwrap_or_else(|| link.account.clone()),
        container.to_string(),
        object.to_string(),
    );
    if path.account == link.account
        && path.container == link.container
        && path.object == link.object
    {
        return Err(Invalid::Bad("Symlink cannot target itself".into()));
    }
    let etag = etag.map(normalize_etag).filter(|e| !e.is_empty());
    if etag.is_some_and(|e| e.contains([';', '"', '\\'])) {
        return Err(Invalid::Bad("Bad X-Symlink-Target-Etag format".into()));
    }
    Ok(Target {
        quoted: quote_path(&format!("{container}/{object}")),
        account_quoted: account.as_deref().map(quote_path),
        path,
        etag: etag.map(str::to_string),
    })
}

/// The path a stored link points at, as Swift writes it in Content-Location
/// and Location: `/<version>/<account>/<target>`, both as stored (quoted);
/// the link's own account (quoted) when it names none.
pub fn location(
    version: &str,
    link_account: &str,
    sys_account: Option<&str>,
    sys_target: &str,
) -> String {
    let account = sys_account
        .map(str::to_string)
        .unwrap_or_else(|| quote_path(link_account));
    format!(
        "/{version}/{account}/{}",
        sys_target.trim_start_matches('/')
    )
}

/// The object a `location` names (unquoted), if it names one.
pub fn object_of(location: &str) -> Option<ObjectPath> {
    let mut it = location.trim_start_matches('/').splitn(4, '/');
    let (_v, a, c, o) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let (a, c, o) = (unquote(a), unquote(c), unquote(o));
    (!a.is_empty() && !c.is_empty() && !o.is_empty()).then(|| ObjectPath::new(a, c, o))
}

/// The container update's ETag for a link (Swift's `handle_put`): the
/// override already set (or the empty body's MD5), then the link's
/// parameters.
pub fn override_etag(
    base: Option<&str>,
    sys_target: &str,
    sys_account: Option<&str>,
    etag_bytes: Option<(&str, &str)>,
) -> String {
    let mut parts = vec![
        base.unwrap_or(MD5_OF_EMPTY).to_string(),
        format!("symlink_target={sys_target}"),
    ];
    if let Some(a) = sys_account {
        parts.push(format!("symlink_target_account={a}"));
    }
    if let Some((e, b)) = etag_bytes {
        parts.push(format!("symlink_target_etag={e}"));
        parts.push(format!("symlink_target_bytes={b}"));
    }
    parts.join("; ")
}

/// What a listing entry's `hash` says of a link (Swift's
/// `_extract_symlink_path_json`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListedLink {
    /// The hash without the link's parameters (others kept).
    pub hash: String,
    pub target: Option<String>,
    pub account: Option<String>,
    pub etag: Option<String>,
    pub bytes: Option<i64>,
}

/// Splits a listing `hash` (`<etag>; key=value; ...`, Swift's
/// `parse_header`) into the link's parameters and the rest.
pub fn parse_listed(hash: &str) -> ListedLink {
    let mut parts = hash.split(';');
    let mut out = ListedLink {
        hash: parts.next().unwrap_or("").trim().to_string(),
        ..ListedLink::default()
    };
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let mut v = v.trim();
        if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            v = &v[1..v.len() - 1];
        }
        match k.as_str() {
            "symlink_target" => out.target = Some(v.to_string()),
            "symlink_target_account" => out.account = Some(v.to_string()),
            "symlink_target_etag" => out.etag = Some(v.to_string()),
            "symlink_target_bytes" => out.bytes = v.parse().ok(),
            _ => {
                out.hash.push_str(&format!("; {k}={v}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> ObjectPath {
        ObjectPath::new("AUTH_a", "c", "link")
    }

    #[test]
    fn targets_are_normalised() {
        let t = validate(
            "tc/dealde%2Fl04 011e%204c8df/flash.png",
            None,
            None,
            &link(),
        )
        .unwrap();
        assert_eq!(t.quoted, "tc/dealde/l04%20011e%204c8df/flash.png");
        assert_eq!(t.path.object, "dealde/l04 011e 4c8df/flash.png");
        assert_eq!(t.path.account, "AUTH_a");
        assert_eq!(t.account_quoted, None);
        let t = validate("c/o", Some("AUTH_%C3%A9"), Some("\"abc\""), &link()).unwrap();
        assert_eq!(t.account_quoted.as_deref(), Some("AUTH_%C3%A9"));
        assert_eq!(t.path.account, "AUTH_é");
        assert_eq!(t.etag.as_deref(), Some("abc"));
        // An empty ETag makes no static link.
        assert_eq!(validate("c/o", None, Some(""), &link()).unwrap().etag, None);
    }

    #[test]
    fn bad_targets_are_refused() {
        let form = Err(Invalid::Precondition(FORM.into()));
        for t in ["/c/o", "%2Fc/o", "c", "c/", "/c", "", "c%2F"] {
            assert_eq!(validate(t, None, None, &link()), form, "{t:?}");
        }
        assert_eq!(
            validate("c/o", Some(""), None, &link()),
            Err(Invalid::Precondition("Account name cannot be empty".into()))
        );
        assert_eq!(
            validate("c/o", Some("a%2Fb"), None, &link()),
            Err(Invalid::Precondition(
                "Account name cannot contain slashes".into()
            ))
        );
        assert_eq!(
            validate("c/link", None, None, &link()),
            Err(Invalid::Bad("Symlink cannot target itself".into()))
        );
        assert_eq!(
            validate("c/link", Some("AUTH_a"), None, &link()),
            Err(Invalid::Bad("Symlink cannot target itself".into()))
        );
        assert!(validate("c/link", Some("AUTH_b"), None, &link()).is_ok());
        for e in ["a;b", "a\\b", "a\"b"] {
            assert_eq!(
                validate("c/o", None, Some(e), &link()),
                Err(Invalid::Bad("Bad X-Symlink-Target-Etag format".into()))
            );
        }
    }

    #[test]
    fn locations() {
        assert_eq!(
            location("v1", "AUTH_a b", None, "c/o%20x"),
            "/v1/AUTH_a%20b/c/o%20x"
        );
        assert_eq!(
            location("v1", "AUTH_a", Some("AUTH_b"), "/c/o"),
            "/v1/AUTH_b/c/o"
        );
        let p = object_of("/v1/AUTH_a/c/o%20x/y").unwrap();
        assert_eq!(
            (p.account.as_str(), p.container.as_str(), p.object.as_str()),
            ("AUTH_a", "c", "o x/y")
        );
        assert!(object_of("/v1/AUTH_a/c").is_none());
    }

    #[test]
    fn listing_params() {
        let h = override_etag(None, "c/o", Some("AUTH_b"), Some(("e", "5")));
        assert_eq!(
            h,
            format!("{MD5_OF_EMPTY}; symlink_target=c/o; symlink_target_account=AUTH_b; symlink_target_etag=e; symlink_target_bytes=5")
        );
        let l = parse_listed(&h);
        assert_eq!(l.hash, MD5_OF_EMPTY);
        assert_eq!(l.target.as_deref(), Some("c/o"));
        assert_eq!(l.account.as_deref(), Some("AUTH_b"));
        assert_eq!(l.etag.as_deref(), Some("e"));
        assert_eq!(l.bytes, Some(5));
        let l = parse_listed(&format!("{MD5_OF_EMPTY}; slo_etag=x; symlink_target=c/o"));
        assert_eq!(l.hash, format!("{MD5_OF_EMPTY}; slo_etag=x"));
        let plain = parse_listed("abc");
        assert_eq!(
            plain,
            ListedLink {
                hash: "abc".into(),
                ..ListedLink::default()
            }
        );
    }
}
