//! Swift's domain_remap middleware (`swift/common/middleware/domain_remap.py`,
//! 2.30): a request to `<container>.<account>.<storage_domain>/<object>` or
//! `<account>.<storage_domain>/<container>/<object>` is served as
//! `/<path_root>/<account>/<container>/<object>`. The account must start
//! with one of `reseller_prefixes` (any case, `-` for `_`; the configured
//! spelling is used), else `default_reseller_prefix` is put in front, else
//! the request is left alone. Redirects in the answer (`Location`,
//! `Content-Location`) name the path the client sent. The path is
//! rewritten before routing (`Filter::remap`), so it is the routed path the
//! rest of the pipeline sees, as Swift's PATH_INFO.

use http::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::app::Proxy;
use crate::error::{Error, Result};
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};

/// `[domain_remap]` options (Swift's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainRemapConfig {
    /// The domains whose subdomains name accounts and containers.
    #[serde(default = "default_storage_domain")]
    pub storage_domain: Vec<String>,
    /// The version segment put in front of remapped paths.
    #[serde(default = "default_path_root")]
    pub path_root: String,
    /// Account prefixes a remapped account must start with.
    #[serde(default = "default_reseller_prefixes")]
    pub reseller_prefixes: Vec<String>,
    /// Prefix (`<prefix>_`) put before an account that has none of them.
    #[serde(default)]
    pub default_reseller_prefix: Option<String>,
    /// Drop a leading `/<path_root>` the client sent itself.
    #[serde(default)]
    pub mangle_client_paths: bool,
}

fn default_storage_domain() -> Vec<String> {
    vec!["example.com".into()]
}

fn default_path_root() -> String {
    "v1".into()
}

fn default_reseller_prefixes() -> Vec<String> {
    vec!["AUTH".into()]
}

impl Default for DomainRemapConfig {
    fn default() -> Self {
        DomainRemapConfig {
            storage_domain: default_storage_domain(),
            path_root: default_path_root(),
            reseller_prefixes: default_reseller_prefixes(),
            default_reseller_prefix: None,
            mangle_client_paths: false,
        }
    }
}

/// The domain_remap filter.
pub struct DomainRemap;

impl Filter for DomainRemap {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let Some(path) = req.path.as_ref().filter(|p| p.routed != p.sent) else {
            return next.run(req);
        };
        let (sent, routed) = (requoted(&path.sent), requoted(&path.routed));
        Box::pin(async move {
            let mut resp = next.run(req).await?;
            relocate(resp.headers_mut(), &routed, &sent);
            Ok(resp)
        })
    }

    fn remap(&self, proxy: &Proxy, h: &HeaderMap, path: &str) -> Result<Option<String>> {
        // A container's name in the host may be UTF-8 (Swift reads the
        // header's bytes as they are).
        let host =
            headers::get_utf8(h, "host").unwrap_or_else(|| proxy.cfg.listen.bind_ip.to_string());
        remap(&proxy.cfg.domain_remap, &host, path)
    }

    fn info(&self, proxy: &Proxy, out: &mut Map<String, Value>) {
        out.insert(
            "domain_remap".into(),
            json!({"default_reseller_prefix": proxy.cfg.domain_remap.default_reseller_prefix}),
        );
    }
}

/// A path decoded and quoted again, as Swift's `wsgi_quote(PATH_INFO)`.
fn requoted(raw: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    crate::backend::quote_path(&decoded)
}

/// The path `host` and `path` remap to, if any (Swift's `__call__`).
fn remap(cfg: &DomainRemapConfig, host: &str, path: &str) -> Result<Option<String>> {
    // Swift's order: the names given without a leading dot, then the others.
    let dotless = cfg
        .storage_domain
        .iter()
        .filter(|d| !d.is_empty() && !d.starts_with('.'))
        .map(|d| format!(".{d}"));
    let dotted = cfg
        .storage_domain
        .iter()
        .filter(|d| d.starts_with('.'))
        .cloned();
    let given = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let Some(domain) = dotless.chain(dotted).find(|d| given.ends_with(d.as_str())) else {
        return Ok(None);
    };
    let parts: Vec<&str> = given[..given.len() - domain.len()]
        .trim_matches('.')
        .split('.')
        .collect();
    let (container, account) = match parts.as_slice() {
        [c, a] => (Some(*c), *a),
        [a] => (None, *a),
        _ => return Err(Error::BadRequest("Bad domain in host header".into())),
    };
    let mut account = account.to_string();
    if !cfg.reseller_prefixes.is_empty() {
        if !account.contains('_') && account.contains('-') {
            account = account.replacen('-', "_", 1);
        }
        let found = account.split('_').next().unwrap_or("").to_lowercase();
        if let Some(real) = cfg
            .reseller_prefixes
            .iter()
            .find(|p| p.to_lowercase() == found)
        {
            if !account.starts_with(real.as_str()) {
                account = format!("{real}{}", &account[real.len()..]);
            }
        } else if let Some(default) = &cfg.default_reseller_prefix {
            account = format!("{default}_{account}");
        } else {
            return Ok(None);
        }
    }
    let root = format!("{}/", cfg.path_root.trim_matches('/'));
    let mut rest = path.strip_prefix('/').unwrap_or(path);
    if cfg.mangle_client_paths && format!("{rest}/").starts_with(&root) {
        rest = rest.get(root.len()..).unwrap_or("");
    }
    let quote = crate::backend::quote_path;
    let mut out = format!("/{}/{}", &root[..root.len() - 1], quote(&account));
    if let Some(c) = container {
        out.push('/');
        out.push_str(&quote(c));
    }
    out.push('/');
    out.push_str(rest);
    Ok(Some(out))
}

/// Swift's `RewriteContext`: redirects to the remapped path name the one
/// the client sent.
fn relocate(h: &mut HeaderMap, rewritten: &str, requested: &str) {
    for name in ["location", "content-location"] {
        let Some(v) = headers::get(h, name) else {
            continue;
        };
        let Some(scheme_end) = v
            .strip_prefix("http://")
            .map(|_| 7)
            .or_else(|| v.strip_prefix("https://").map(|_| 8))
        else {
            continue;
        };
        let host_end = v[scheme_end..]
            .find('/')
            .map_or(v.len(), |i| scheme_end + i);
        if host_end == scheme_end {
            continue;
        }
        if let Some(tail) = v[host_end..].strip_prefix(rewritten) {
            let new = format!("{}{requested}{tail}", &v[..host_end]);
            if let Ok(value) = HeaderValue::from_str(&new) {
                h.insert(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DomainRemapConfig {
        DomainRemapConfig {
            storage_domain: vec!["example.net".into()],
            ..Default::default()
        }
    }

    #[test]
    fn hosts_name_accounts_and_containers() {
        let c = cfg();
        let r = |host: &str, path: &str| remap(&c, host, path).unwrap();
        assert_eq!(
            r("AUTH_test.example.net", "/"),
            Some("/v1/AUTH_test/".into())
        );
        assert_eq!(
            r("auth-test.example.net:8080", "/c/o"),
            Some("/v1/AUTH_test/c/o".into())
        );
        assert_eq!(
            r("c.AUTH-test.example.net", "/o"),
            Some("/v1/AUTH_test/c/o".into())
        );
        assert_eq!(
            r("c.AUTH_test.example.net", "//v1"),
            Some("/v1/AUTH_test/c//v1".into())
        );
        assert_eq!(r("c.test.example.net", "/o"), None);
        assert_eq!(r("127.0.0.1:8080", "/v1/AUTH_test"), None);
        assert!(remap(&c, "a.b.c.example.net", "/").is_err());
        let d = DomainRemapConfig {
            default_reseller_prefix: Some("AUTH".into()),
            mangle_client_paths: true,
            ..cfg()
        };
        assert_eq!(
            remap(&d, "c.test.example.net", "/v1/o").unwrap(),
            Some("/v1/AUTH_test/c/o".into())
        );
    }

    #[test]
    fn redirects_name_the_sent_path() {
        let mut h = HeaderMap::new();
        headers::set(
            &mut h,
            "location",
            "http://c.AUTH_a.example.net/v1/AUTH_a/c/d/",
        );
        relocate(&mut h, "/v1/AUTH_a/c/d", "/d");
        assert_eq!(
            headers::get(&h, "location"),
            Some("http://c.AUTH_a.example.net/d/")
        );
        headers::set(&mut h, "location", "/v1/AUTH_a/c/d/");
        relocate(&mut h, "/v1/AUTH_a/c/d", "/d");
        assert_eq!(headers::get(&h, "location"), Some("/v1/AUTH_a/c/d/"));
    }
}
