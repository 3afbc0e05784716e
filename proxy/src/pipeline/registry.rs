//! The filters a pipeline may name (Swift's `egg:swift#<name>` entry
//! points, with `-` and `_` alike, as Swift's sample names its sections),
//! the default pipeline, and building one from the config.

use super::{Filter, Pipeline};
use crate::config::Config;
use crate::middleware;

/// Swift 2.30's default pipeline, less what swirl does outside it
/// (catch_errors, proxy-logging: common's server loop; cache: in-process)
/// and what it does not have. The proxy's controllers end every pipeline.
pub const DEFAULT: [&str; 15] = [
    "gatekeeper",
    "healthcheck",
    "etag_quoter",
    "bulk",
    "tempurl",
    "tempauth",
    "staticweb",
    "copy",
    "container_quotas",
    "account_quotas",
    "slo",
    "dlo",
    "versioned_writes",
    "object_versioning",
    "symlink",
];

/// Every filter name a pipeline may hold: the default ones and Keystone's,
/// then those a config may add.
pub const KNOWN: [&str; 22] = [
    "gatekeeper",
    "healthcheck",
    "etag_quoter",
    "bulk",
    "tempurl",
    "authtoken",
    "keystoneauth",
    "tempauth",
    "staticweb",
    "copy",
    "container_quotas",
    "account_quotas",
    "slo",
    "dlo",
    "versioned_writes",
    "object_versioning",
    "symlink",
    "domain_remap",
    "formpost",
    "ratelimit",
    "crossdomain",
    "list_endpoints",
];

/// Filters that only work after another: authtoken confirms the identity
/// keystoneauth reads, and keystoneauth (which, as in Swift, always sets
/// the authorizer) must run before tempauth for both to work side by side.
const BEFORE: [(&str, &str); 2] = [("authtoken", "keystoneauth"), ("keystoneauth", "tempauth")];

/// Where a filter that is not in `DEFAULT` goes in a pipeline built from
/// it (the aio's): right after this one, as in Swift's development cluster
/// (`... bulk tempurl formpost ratelimit crossdomain ... tempauth`);
/// list_endpoints, unauthenticated too, follows crossdomain. A filter
/// whose predecessor is left out goes where that one would have gone.
pub const EXTRA: [(&str, &str); 5] = [
    ("domain_remap", "etag_quoter"),
    ("formpost", "tempurl"),
    ("ratelimit", "formpost"),
    ("crossdomain", "ratelimit"),
    ("list_endpoints", "crossdomain"),
];

/// `DEFAULT` with the filters `extra` names, each in its place (`EXTRA`).
pub fn default_with(extra: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = DEFAULT.iter().map(|s| s.to_string()).collect();
    for (name, after) in EXTRA.iter().filter(|(n, _)| extra.contains(n)) {
        // The nearest predecessor present, following EXTRA's chain.
        let mut anchor = *after;
        let at = loop {
            if let Some(i) = out.iter().position(|n| n == anchor) {
                break i + 1;
            }
            match EXTRA.iter().find(|(n, _)| *n == anchor) {
                Some((_, prev)) => anchor = prev,
                None => break out.len(),
            }
        };
        out.insert(at, name.to_string());
    }
    out
}

/// The canonical name of `name`: lower case, `-` read as `_`.
fn canonical(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

/// Checks a configured pipeline: every name known, none twice, and
/// `proxy_server` (if named) last. Returns the filters' canonical names.
pub fn check(names: &[String]) -> Result<Vec<&'static str>, String> {
    let mut out: Vec<&'static str> = Vec::new();
    for (i, raw) in names.iter().enumerate() {
        let name = canonical(raw);
        if name == "proxy_server" {
            if i + 1 != names.len() {
                return Err("proxy-server must end the pipeline".into());
            }
            continue;
        }
        let Some(known) = KNOWN.iter().find(|k| **k == name) else {
            return Err(format!(
                "unknown filter {raw:?} (known: {})",
                KNOWN.join(", ")
            ));
        };
        if out.contains(known) {
            return Err(format!("filter {raw:?} named twice"));
        }
        out.push(known);
    }
    for (first, then) in BEFORE {
        let at = |n: &str| out.iter().position(|x| *x == n);
        if let (Some(a), Some(b)) = (at(first), at(then)) {
            if a > b {
                return Err(format!("{first} must come before {then}"));
            }
        }
    }
    if out.contains(&"keystoneauth") && !out.contains(&"authtoken") {
        return Err("keystoneauth needs authtoken before it".into());
    }
    Ok(out)
}

/// Builds the configured pipeline (checked by `check` at config validation).
pub fn build(cfg: &Config) -> Result<Pipeline, String> {
    let names = check(&cfg.pipeline)?;
    let filters = names
        .into_iter()
        .map(|n| (n, make(n)))
        .collect::<Vec<(&'static str, Box<dyn Filter>)>>();
    Ok(Pipeline::new(filters))
}

fn make(name: &str) -> Box<dyn Filter> {
    match name {
        "gatekeeper" => Box::new(middleware::gatekeeper::Gatekeeper),
        "healthcheck" => Box::new(middleware::healthcheck::Healthcheck),
        "etag_quoter" => Box::new(middleware::etag_quoter::EtagQuoter),
        "bulk" => Box::new(middleware::bulk::Bulk),
        "tempurl" => Box::new(middleware::tempurl::TempUrl),
        "tempauth" => Box::new(crate::auth::filter::TempAuthFilter),
        "authtoken" => Box::new(crate::auth::keystone::authtoken::AuthTokenFilter),
        "keystoneauth" => Box::new(crate::auth::keystone::keystoneauth::KeystoneAuthFilter),
        "copy" => Box::new(middleware::copy::Copy),
        "container_quotas" => Box::new(middleware::container_quotas::ContainerQuotas),
        "account_quotas" => Box::new(middleware::account_quotas::AccountQuotas),
        "slo" => Box::new(middleware::slo::Slo),
        "staticweb" => Box::new(middleware::staticweb::StaticWeb),
        "domain_remap" => Box::new(middleware::domain_remap::DomainRemap),
        "formpost" => Box::new(middleware::formpost::FormPost),
        "versioned_writes" => Box::new(middleware::versioned_writes::VersionedWrites),
        "object_versioning" => Box::new(middleware::object_versioning::ObjectVersioning),
        "symlink" => Box::new(middleware::symlink::Symlink),
        "ratelimit" => Box::new(middleware::ratelimit::RateLimit::new()),
        "crossdomain" => Box::new(middleware::crossdomain::CrossDomain),
        "list_endpoints" => Box::new(middleware::list_endpoints::ListEndpoints),
        // `check` let only KNOWN names through.
        _ => Box::new(middleware::dlo::Dlo),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(
            check(&s(&["gatekeeper", "container-quotas", "proxy-server"])),
            Ok(vec!["gatekeeper", "container_quotas"])
        );
        let e = check(&s(&["gatekeeper", "memcache"])).unwrap_err();
        assert!(e.contains("unknown filter \"memcache\""), "{e}");
        assert!(check(&s(&["list-endpoints", "ratelimit", "crossdomain"])).is_ok());
        assert!(check(&s(&["slo", "slo"])).is_err());
        assert!(check(&s(&["proxy-server", "slo"])).is_err());
        assert_eq!(check(&s(&DEFAULT)).map(|v| v.len()), Ok(DEFAULT.len()));
        assert!(check(&s(&["authtoken", "keystoneauth", "tempauth"])).is_ok());
        assert!(check(&s(&["keystoneauth", "authtoken"])).is_err());
        assert!(check(&s(&["authtoken", "tempauth", "keystoneauth"])).is_err());
        assert!(check(&s(&["keystoneauth"])).is_err());
    }

    #[test]
    fn extras_go_where_swifts_saio_has_them() {
        let all = default_with(&["formpost", "ratelimit", "crossdomain", "list_endpoints"]);
        let at = |n: &str| all.iter().position(|x| x == n).unwrap();
        assert_eq!(at("formpost"), at("tempurl") + 1);
        assert_eq!(at("ratelimit"), at("formpost") + 1);
        assert_eq!(at("crossdomain"), at("ratelimit") + 1);
        assert_eq!(at("list_endpoints"), at("crossdomain") + 1);
        assert_eq!(at("tempauth"), at("list_endpoints") + 1);
        // Without its predecessors, a filter takes their place: still before auth.
        let some = default_with(&["crossdomain"]);
        let at = |n: &str| some.iter().position(|x| x == n).unwrap();
        assert_eq!(at("crossdomain"), at("tempurl") + 1);
        assert_eq!(some.len(), DEFAULT.len() + 1);
    }
}
