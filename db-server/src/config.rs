//! The account/container server config: TOML with Swift's option names
//! (`[DEFAULT]` + `[app:*-server]` of account-server.conf flattened into one table).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use swirl_common::config::{AllAddresses, DenyUnknown, Devices, Listen};
use swirl_common::constraints::DEFAULT_RECLAIM_AGE;
use swirl_common::policy;

use crate::error::{Error, Result};

pub use swirl_common::policy::PolicyConfig;

/// Config of `swirl account-server` / `swirl container-server`.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `bind_ip`, `bind_port` (an OS-chosen port by default: one config
    /// type serves both kinds, so neither of Swift's ports is the default).
    #[serde(flatten)]
    pub listen: Listen<AllAddresses<0>>,
    /// `devices`, `mount_check` (read as `cfg.devices`, `cfg.mount_check`
    /// through `Deref`).
    #[serde(flatten)]
    pub disks: Devices,
    /// Unknown keys are refused (after the shared tables took theirs).
    #[serde(flatten)]
    _deny: DenyUnknown,
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
    #[serde(default = "policy::default_policies")]
    pub storage_policy: Vec<PolicyConfig>,
    /// Log every request (Swift's `log_requests`).
    #[serde(default = "default_true")]
    pub log_requests: bool,
    /// Open databases kept in the cache.
    #[serde(default = "default_db_cache")]
    pub db_cache_size: usize,

    // Replication (the listener here; the daemons are `swirl
    // account-replicator` and `swirl container-replicator`).
    /// Address of the replication listener: the ring's `replication_ip` for
    /// this node's devices. Default: `bind_ip`.
    #[serde(default)]
    pub replication_ip: Option<String>,
    /// Port of the replication listener (mutual TLS, replication requests
    /// only): the ring's `replication_port` for this node's devices. Unset:
    /// no replication listener.
    #[serde(default)]
    pub replication_port: Option<u16>,
    /// The cluster's mutual TLS files; required with `replication_port`.
    #[serde(default)]
    pub cluster_tls: Option<swirl_common::tls::ClusterTlsConfig>,
    /// `[backend_auth]`: the cluster's backend key, and whether requests
    /// without its signature are refused. Absent: plain, as Swift.
    #[serde(default)]
    pub backend_auth: Option<swirl_common::backend_auth::BackendAuthConfig>,
    /// Directory of the rings (read by the replicators). Swift's `swift_dir`.
    #[serde(default = "default_swift_dir")]
    pub swift_dir: PathBuf,
    /// Where the replicators keep `account.recon` / `container.recon`.
    #[serde(default = "default_recon_cache_path")]
    pub recon_cache_path: PathBuf,
    /// `[account-replicator]`: the replicator's own section (read and checked
    /// by `swirl account-replicator`; the server only carries it).
    #[serde(default, rename = "account-replicator")]
    pub account_replicator: Option<toml::Table>,
    /// `[container-replicator]`, as `[account-replicator]`.
    #[serde(default, rename = "container-replicator")]
    pub container_replicator: Option<toml::Table>,
    /// `[account-auditor]` and `[container-auditor]`: the auditors' sections
    /// (read and checked by `swirl account-auditor` / `container-auditor`).
    #[serde(default, rename = "account-auditor")]
    pub account_auditor: Option<toml::Table>,
    #[serde(default, rename = "container-auditor")]
    pub container_auditor: Option<toml::Table>,
}

fn default_swift_dir() -> PathBuf {
    PathBuf::from("/etc/swift")
}
fn default_recon_cache_path() -> PathBuf {
    PathBuf::from("/var/cache/swift")
}

fn default_true() -> bool {
    true
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

impl Config {
    /// Checks values serde cannot, naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, msg: &str| Err(Error::Config(format!("{key}: {msg}")));
        if let Err((key, msg)) = self.listen.validate() {
            return bad(&key, &msg);
        }
        if self.swift_hash_path_prefix.is_empty() && self.swift_hash_path_suffix.is_empty() {
            return bad(
                "swift_hash_path_suffix",
                "swift_hash_path_prefix and swift_hash_path_suffix are both empty",
            );
        }
        if let Err(m) = policy::validate(&self.storage_policy) {
            return bad("storage_policy", &m);
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
        if self.replication_port.is_some() && self.cluster_tls.is_none() {
            return bad(
                "cluster_tls",
                "the replication listener (replication_port) needs [cluster_tls] ca_file, cert_file and key_file",
            );
        }
        Ok(())
    }

    /// The replication listener's address, when one is configured.
    pub fn replication_addr(&self) -> Option<String> {
        let port = self.replication_port?;
        let ip = self
            .replication_ip
            .as_deref()
            .unwrap_or(&self.listen.bind_ip);
        Some(match ip.parse::<std::net::IpAddr>() {
            Ok(a) => SocketAddr::new(a, port).to_string(),
            Err(_) => format!("{ip}:{port}"),
        })
    }

    /// `bind_ip:bind_port`.
    pub fn bind_addr(&self) -> String {
        self.listen.addr()
    }

    /// The default policy's index (the first policy when none is marked).
    pub fn default_policy(&self) -> i64 {
        self.storage_policy
            .iter()
            .find(|p| p.default)
            .or(self.storage_policy.first())
            .map_or(0, |p| i64::from(p.index))
    }

    /// The policy's name, if configured.
    pub fn policy_name(&self, index: i64) -> Option<&str> {
        self.storage_policy
            .iter()
            .find(|p| i64::from(p.index) == index)
            .map(|p| p.name.as_str())
    }
}

impl std::ops::Deref for Config {
    type Target = Devices;

    /// The server's code reads `cfg.devices` and `cfg.mount_check`.
    fn deref(&self) -> &Devices {
        &self.disks
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
        // A replication listener needs the cluster's TLS files.
        let c: Config = swirl_common::config::parse(
            "swift_hash_path_suffix = \"s\"\nreplication_port = 6301\n\
             [container-replicator]\nper_diff = 10\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.validate().unwrap_err().to_string(), "config: cluster_tls: the replication listener (replication_port) needs [cluster_tls] ca_file, cert_file and key_file");
        assert_eq!(c.replication_addr().as_deref(), Some("0.0.0.0:6301"));
    }
}
