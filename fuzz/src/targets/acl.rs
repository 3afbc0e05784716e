//! ACL strings: container read/write ACLs (`.r:` referrers, `.rlistings`,
//! `account:user`), cleaned as Swift's `clean_acl` does and then parsed and
//! judged against a Referer and a user by tempauth's authorize; and account
//! ACLs (X-Account-Access-Control JSON), validated, parsed and re-formatted.
//!
//! Input: `<flags><ACL>\0<Referer>\0<account ACL JSON>`; flag bit 0: a write
//! ACL.

use http::Method;
use swirl_proxy::auth::acl;
use swirl_proxy::auth::tempauth::{AuthzRequest, Identity, TempAuth};
use swirl_proxy::config::TempAuthConfig;

use crate::input::{text, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let value = text(input.field()).into_owned();
    let referer = text(input.field()).into_owned();
    let account_acl = text(input.rest()).into_owned();

    let header = if flags & 1 == 1 {
        "X-Container-Write"
    } else {
        "X-Container-Read"
    };
    // Swift's clean_acl is not idempotent (`.r:**x` cleans to `.r:*x`,
    // then to `.r:x`), so a cleaned value is only read, not cleaned again.
    let cleaned = acl::clean_acl(header, &value);
    let stored = cleaned.as_deref().unwrap_or(&value);
    let (referrers, groups) = acl::parse_acl(Some(stored));
    let _ = acl::referrer_allowed(Some(&referer), &referrers);
    let _ = groups.len();

    let _ = acl::check_account_acl(&account_acl);
    let parsed = acl::parse_account_acl(&account_acl);
    if cleaned.is_ok() || parsed.is_some() {
        crate::accepted();
    }
    if let Some(formatted) = acl::format_account_acl(&account_acl) {
        assert!(formatted.is_ascii());
        assert_eq!(acl::parse_account_acl(&formatted), parsed);
    }

    if let Ok(auth) = TempAuth::new(&TempAuthConfig::default()) {
        let who = Identity {
            groups: vec!["AUTH_other".into(), "other:user".into()],
        };
        for method in [Method::GET, Method::PUT] {
            let req = AuthzRequest {
                method: &method,
                account: "AUTH_test",
                container: Some("c"),
                object: Some("o"),
                acl: Some(stored),
                referer: Some(&referer),
            };
            let _ = auth.authorize(&who, &req, parsed.as_ref());
            let _ = auth.authorize(&Identity::default(), &req, parsed.as_ref());
        }
    }
}
