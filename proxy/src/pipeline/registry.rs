//! The filters a pipeline may name (Swift's `egg:swift#<name>` entry
//! points, with `-` and `_` alike, as Swift's sample names its sections),
//! the default pipeline, and building one from the config.

use super::{Filter, Pipeline};
use crate::config::Config;
use crate::middleware;

/// Swift 2.30's default pipeline, less what swirl does outside it
/// (catch_errors, proxy-logging: common's server loop; cache: in-process)
/// and what it does not have. The proxy's controllers end every pipeline.
pub const DEFAULT: [&str; 10] = [
    "gatekeeper",
    "healthcheck",
    "etag_quoter",
    "bulk",
    "tempurl",
    "tempauth",
    "copy",
    "container_quotas",
    "slo",
    "dlo",
];

/// Every filter name a pipeline may hold, in the order Swift's sample lists them.
pub const KNOWN: [&str; 10] = DEFAULT;

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
        "copy" => Box::new(middleware::copy::Copy),
        "container_quotas" => Box::new(middleware::container_quotas::ContainerQuotas),
        "slo" => Box::new(middleware::slo::Slo),
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
        let e = check(&s(&["gatekeeper", "ratelimit"])).unwrap_err();
        assert!(e.contains("unknown filter \"ratelimit\""), "{e}");
        assert!(check(&s(&["slo", "slo"])).is_err());
        assert!(check(&s(&["proxy-server", "slo"])).is_err());
        assert_eq!(check(&s(&DEFAULT)).map(|v| v.len()), Ok(DEFAULT.len()));
    }
}
