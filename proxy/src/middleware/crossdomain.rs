//! Swift's crossdomain middleware (`swift/common/middleware/crossdomain.py`,
//! 2.30): `GET /crossdomain.xml` answers the cross-domain policy document
//! that Flash, Java and Silverlight clients fetch before they talk to the
//! API from pages hosted elsewhere. Its body wraps the configured
//! `cross_domain_policy` (by default any domain, `secure="false"`). Any
//! other method or path goes on down the pipeline (a HEAD of the file is
//! the proxy's 404, as in Swift). It goes before the auth filters: the
//! document is public.

use http::{Method, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::app::Proxy;
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// `[crossdomain]` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossDomainConfig {
    /// The policy elements put inside `<cross-domain-policy>`.
    #[serde(default = "default_policy")]
    pub cross_domain_policy: String,
}

impl Default for CrossDomainConfig {
    fn default() -> Self {
        CrossDomainConfig {
            cross_domain_policy: default_policy(),
        }
    }
}

fn default_policy() -> String {
    "<allow-access-from domain=\"*\" secure=\"false\" />".into()
}

/// The path the document is served at.
pub const PATH: &str = "/crossdomain.xml";

/// The crossdomain filter.
pub struct CrossDomain;

/// The document for `policy`, byte for byte Swift's.
pub fn document(policy: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n\
         <!DOCTYPE cross-domain-policy SYSTEM \
         \"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd\" >\n\
         <cross-domain-policy>\n{policy}\n</cross-domain-policy>"
    )
}

impl Filter for CrossDomain {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let ours = req.ctx.method == Method::GET
            && matches!(&req.endpoint, Endpoint::Other(p) if p == PATH);
        if !ours {
            return next.run(req);
        }
        Box::pin(async move {
            let body = document(&next.proxy().cfg.crossdomain.cross_domain_policy);
            let len = body.len().to_string();
            let mut r = Response::new(swirl_common::body::full(body));
            headers::set(r.headers_mut(), "content-type", "application/xml");
            headers::set(r.headers_mut(), "content-length", &len);
            Ok(r)
        })
    }

    fn info(&self, _proxy: &Proxy, out: &mut Map<String, Value>) {
        out.insert("crossdomain".into(), json!({}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_document_is_swifts() {
        // What Swift 2.30's middleware answers with its default policy.
        let swift = "<?xml version=\"1.0\"?>\n<!DOCTYPE cross-domain-policy SYSTEM \"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd\" >\n<cross-domain-policy>\n<allow-access-from domain=\"*\" secure=\"false\" />\n</cross-domain-policy>";
        assert_eq!(
            document(&CrossDomainConfig::default().cross_domain_policy),
            swift
        );
        assert_eq!(swift.len(), 209);
    }
}
