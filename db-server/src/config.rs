//! The account/container server config: TOML with Swift's option names
//! (`[DEFAULT]` + `[app:*-server]` of account-server.conf flattened into one table).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use swirl_common::constraints::DEFAULT_RECLAIM_AGE;

use crate::error::{Error, Result};

/// One storage policy, as swift.conf's `[storage-policy:N]` names it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy index.
    pub index: i64,
    /// Its name (shown in `X-Account-Storage-Policy-<name>-*` headers).
    pub name: String,
    /// Whether new containers get it by default.
    #[serde(default)]
    pub default: bool,
}

/// Config of `swirl account-server` / `swirl container-server`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory holding one directory per device (Swift's `devices`).
    #[serde(default = "default_devices")]
    pub devices: PathBuf,
    /// Refuse devices that are not mount points (Swift's `mount_check`).
    #[serde(default = "default_true")]
    pub mount_check: bool,
    /// Address to listen on.
    #[serde(default = "default_bind_ip")]
    pub bind_ip: String,
    /// Port to listen on (0: any free port).
    #[serde(default)]
    pub bind_port: u16,
    /// The hash-path secret prefix (swift.conf `[swift-hash]`).
    #[serde(default)]
    pub swift_hash_path_prefix: String,
    /// The hash-path secret suffix (swift.conf `[swift-hash]`).
    #[serde(default)]
    pub swift_hash_path_suffix: String,
    /// Seconds a deleted database and deleted rows are kept (tombstones).
    #[serde(default = "default_reclaim_age")]
    pub reclaim_age: u64,
    /// Seconds to connect to an account server (container -> account updates).
    #[serde(default = "default_conn_timeout")]
    pub conn_timeout: f64,
    /// Seconds to wait for an account server's answer.
    #[serde(default = "default_node_timeout")]
    pub node_timeout: f64,
    /// Seconds between retries of pending account updates.
    #[serde(default = "default_pending_interval")]
    pub account_update_interval: f64,
    /// Accounts with this prefix are created on first use (Swift's `auto_create_account_prefix`).
    #[serde(default = "default_auto_create")]
    pub auto_create_account_prefix: String,
    /// Storage policies; default is Swift's single `Policy-0`.
    #[serde(default = "default_policies")]
    pub storage_policy: Vec<PolicyConfig>,
    /// Log every request (Swift's `log_requests`).
    #[serde(default = "default_true")]
    pub log_requests: bool,
    /// Open databases kept in the cache.
    #[serde(default = "default_db_cache")]
    pub db_cache_size: usize,
}

fn default_devices() -> PathBuf {
    PathBuf::from("/srv/node")
}
fn default_true() -> bool {
    true
}
fn default_bind_ip() -> String {
    "0.0.0.0".into()
}
fn default_reclaim_age() -> u64 {
    DEFAULT_RECLAIM_AGE
}
fn default_conn_timeout() -> f64 {
    0.5
}
fn default_node_timeout() -> f64 {
    3.0
}
fn default_pending_interval() -> f64 {
    5.0
}
fn default_auto_create() -> String {
    ".".into()
}
fn default_db_cache() -> usize {
    1024
}
fn default_policies() -> Vec<PolicyConfig> {
    vec![PolicyConfig {
        index: 0,
        name: "Policy-0".into(),
        default: true,
    }]
}

impl Config {
    /// Checks values serde cannot, naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, msg: &str| Err(Error::Config(format!("{key}: {msg}")));
        if self.swift_hash_path_prefix.is_empty() && self.swift_hash_path_suffix.is_empty() {
            return bad(
                "swift_hash_path_suffix",
                "swift_hash_path_prefix and swift_hash_path_suffix are both empty",
            );
        }
        if self.storage_policy.is_empty() {
            return bad("storage_policy", "at least one policy is needed");
        }
        if self.storage_policy.iter().filter(|p| p.default).count() > 1 {
            return bad("storage_policy", "more than one default policy");
        }
        for (k, v) in [
            ("conn_timeout", self.conn_timeout),
            ("node_timeout", self.node_timeout),
            ("account_update_interval", self.account_update_interval),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k, "must be a positive number of seconds");
            }
        }
        if self.db_cache_size == 0 {
            return bad("db_cache_size", "must be at least 1");
        }
        Ok(())
    }

    /// `bind_ip:bind_port`.
    pub fn bind_addr(&self) -> String {
        match self.bind_ip.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, self.bind_port).to_string(),
            Err(_) => format!("{}:{}", self.bind_ip, self.bind_port),
        }
    }

    /// The default policy's index (the first policy when none is marked).
    pub fn default_policy(&self) -> i64 {
        self.storage_policy
            .iter()
            .find(|p| p.default)
            .or(self.storage_policy.first())
            .map_or(0, |p| p.index)
    }

    /// The policy's name, if configured.
    pub fn policy_name(&self, index: i64) -> Option<&str> {
        self.storage_policy
            .iter()
            .find(|p| p.index == index)
            .map(|p| p.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_parse_and_show_the_defaults() {
        let d: Config = swirl_common::config::parse("", "defaults").unwrap();
        for (name, text) in [
            ("container", include_str!("../container-server.sample.toml")),
            ("account", include_str!("../account-server.sample.toml")),
        ] {
            let s: Config = swirl_common::config::parse(text, name).unwrap();
            s.validate().unwrap();
            assert_eq!(s.default_policy(), 0, "{name}");
            assert_eq!(s.policy_name(1), Some("silver"), "{name}");
            assert_eq!(
                (&s.devices, s.reclaim_age),
                (&d.devices, d.reclaim_age),
                "{name}"
            );
            assert_eq!(
                (s.conn_timeout, s.node_timeout),
                (d.conn_timeout, d.node_timeout),
                "{name}"
            );
            assert_eq!(
                s.account_update_interval, d.account_update_interval,
                "{name}"
            );
            assert_eq!(
                s.auto_create_account_prefix, d.auto_create_account_prefix,
                "{name}"
            );
            assert_eq!(
                (s.log_requests, s.db_cache_size),
                (d.log_requests, d.db_cache_size),
                "{name}"
            );
        }
        assert!(swirl_common::config::parse::<Config>("bind_prot = 1", "x").is_err());
        let c: Config = swirl_common::config::parse("bind_port = 1", "x").unwrap();
        assert!(c.validate().is_err());
    }
}
