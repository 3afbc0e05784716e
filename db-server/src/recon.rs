//! The recon checks a Swift account or container server answers
//! (`GET /recon/<check>`, Swift's recon middleware) that `swift-recon account`
//! / `swift-recon container` read: `replication/<kind>` and `auditor/<kind>`
//! (the daemons' entries in `account.recon` / `container.recon`), `ringmd5`
//! and `swiftconfmd5`. Like Swift's, any server answers for either kind: the
//! figures come from the node's shared recon cache.

use serde_json::Value;
use swirl_store::{recon_cache, recon_md5};

use crate::config::Config;

const REPLICATION: [&str; 3] = ["replication_time", "replication_stats", "replication_last"];

/// The answer to `check`, or None for a check this server does not know.
pub fn answer(cfg: &Config, check: &str) -> Option<Value> {
    let cache =
        |file: &str, keys: &[&str]| recon_cache::pick(&cfg.recon_cache_path.join(file), keys);
    Some(match check {
        "replication/account" => cache(recon_cache::ACCOUNT, &REPLICATION),
        "replication/container" => cache(recon_cache::CONTAINER, &REPLICATION),
        "auditor/account" => cache(
            recon_cache::ACCOUNT,
            &[
                "account_audits_passed",
                "account_auditor_pass_completed",
                "account_audits_since",
                "account_audits_failed",
            ],
        ),
        "auditor/container" => cache(
            recon_cache::CONTAINER,
            &[
                "container_audits_passed",
                "container_auditor_pass_completed",
                "container_audits_since",
                "container_audits_failed",
            ],
        ),
        "ringmd5" => {
            let mut names = vec!["account".to_string(), "container".to_string()];
            names.extend(cfg.storage_policy.iter().map(|p| match p.index {
                0 => "object".to_string(),
                n => format!("object-{n}"),
            }));
            recon_md5::rings(&cfg.swift_dir, &names)
        }
        "swiftconfmd5" => recon_md5::swift_conf(&cfg.swift_dir),
        _ => return None,
    })
}
