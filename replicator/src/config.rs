//! The replicator's config: the object server's own TOML file (Swift's
//! replicators read `object-server.conf` too), its `[object-replicator]`
//! section with Swift's option names, plus the node-wide keys it shares with
//! the server (devices, hash secret, policies, replication address, TLS).
//!
//! The top level is the object server's, which refuses unknown keys when it
//! loads the same file; here only the keys the replicator needs are read.
//! `[object-replicator]` itself refuses unknown keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use swirl_common::config::{AllAddresses, Devices, Listen};
use swirl_common::policy;
pub use swirl_common::policy::PolicyConfig;
use swirl_common::tls::ClusterTlsConfig;

/// The node-wide keys of the object server's file that the replicator uses.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeConfig {
    /// `devices`, `mount_check`.
    #[serde(flatten)]
    pub disks: Devices,
    /// `bind_ip` (the default replication address), `bind_port`.
    #[serde(flatten)]
    pub listen: Listen<AllAddresses<6200>>,
    #[serde(default)]
    pub swift_hash_path_prefix: String,
    #[serde(default)]
    pub swift_hash_path_suffix: String,
    #[serde(default = "default_reclaim_age")]
    pub reclaim_age: u64,
    #[serde(default = "policy::default_policies")]
    pub storage_policy: Vec<PolicyConfig>,
    #[serde(default)]
    pub replication_ip: Option<String>,
    #[serde(default)]
    pub replication_port: Option<u16>,
    #[serde(default)]
    pub cluster_tls: Option<ClusterTlsConfig>,
    #[serde(default = "default_swift_dir")]
    pub swift_dir: PathBuf,
    #[serde(default = "default_recon_cache_path")]
    pub recon_cache_path: PathBuf,
    /// `[object-replicator]`.
    #[serde(default, rename = "object-replicator")]
    pub object_replicator: ObjectReplicatorConfig,
}

/// `[object-replicator]` (Swift's names and defaults, plus swirl's delta knobs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectReplicatorConfig {
    /// Seconds between the starts of two passes (Swift: `interval`, 30).
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// Partitions replicated at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Seconds between two progress lines during a pass.
    #[serde(default = "default_stats_interval")]
    pub stats_interval: f64,
    /// Seconds between two looks at the ring files during a pass.
    #[serde(default = "default_ring_check_interval")]
    pub ring_check_interval: f64,
    /// Tombstones and stale temp files older than this many seconds are
    /// removed (default: the server's `reclaim_age`).
    #[serde(default)]
    pub reclaim_age: Option<u64>,
    /// Handoff partitions first; primaries wait until none is left.
    #[serde(default)]
    pub handoffs_first: bool,
    /// `auto` (every primary must confirm before a handoff partition is
    /// removed) or how many confirmations suffice.
    #[serde(default = "default_handoff_delete")]
    pub handoff_delete: toml::Value,
    /// Seconds to connect to a peer.
    #[serde(default = "default_conn_timeout")]
    pub conn_timeout: f64,
    /// Seconds after which a peer that stopped acknowledging (its link
    /// cut, its host gone) fails the exchange, whatever it was doing
    /// (keepalive probes and TCP_USER_TIMEOUT: a busy peer still answers).
    #[serde(default = "default_node_timeout")]
    pub node_timeout: f64,
    /// Seconds a REPLICATE may take.
    #[serde(default = "default_http_timeout")]
    pub http_timeout: f64,
    /// Seconds one partition's sync with one peer may take (Swift's name; swirl
    /// syncs over TLS, not rsync).
    #[serde(default = "default_rsync_timeout")]
    pub rsync_timeout: f64,
    /// Objects this large or larger are sent as a delta when the peer holds
    /// an older version.
    #[serde(default = "default_delta_min_size")]
    pub delta_min_size: u64,
    /// Bytes per delta window (memory per transfer on each side).
    #[serde(default = "default_delta_window")]
    pub delta_window: usize,
    /// rsync block size inside a window.
    #[serde(default = "default_delta_block")]
    pub delta_block_size: u32,
    /// Log level hint (RUST_LOG wins).
    #[serde(default)]
    pub log_level: Option<String>,
}

impl Default for ObjectReplicatorConfig {
    fn default() -> Self {
        ObjectReplicatorConfig {
            interval: default_interval(),
            concurrency: default_concurrency(),
            stats_interval: default_stats_interval(),
            ring_check_interval: default_ring_check_interval(),
            reclaim_age: None,
            handoffs_first: false,
            handoff_delete: default_handoff_delete(),
            conn_timeout: default_conn_timeout(),
            node_timeout: default_node_timeout(),
            http_timeout: default_http_timeout(),
            rsync_timeout: default_rsync_timeout(),
            delta_min_size: default_delta_min_size(),
            delta_window: default_delta_window(),
            delta_block_size: default_delta_block(),
            log_level: None,
        }
    }
}

pub(crate) fn default_reclaim_age() -> u64 {
    swirl_common::constraints::DEFAULT_RECLAIM_AGE
}
pub(crate) fn default_swift_dir() -> PathBuf {
    PathBuf::from("/etc/swift")
}
pub(crate) fn default_recon_cache_path() -> PathBuf {
    PathBuf::from("/var/cache/swift")
}
pub(crate) fn default_interval() -> f64 {
    30.0
}
// Swift's default is 1; ours are tasks waiting on peers, so a few in flight
// cost little and a node that missed many writes heals several times faster.
fn default_concurrency() -> usize {
    8
}
pub(crate) fn default_stats_interval() -> f64 {
    300.0
}
fn default_ring_check_interval() -> f64 {
    15.0
}
pub(crate) fn default_handoff_delete() -> toml::Value {
    toml::Value::String("auto".into())
}
pub(crate) fn default_conn_timeout() -> f64 {
    0.5
}
pub(crate) fn default_node_timeout() -> f64 {
    10.0
}
fn default_http_timeout() -> f64 {
    60.0
}
pub(crate) fn default_rsync_timeout() -> f64 {
    900.0
}
fn default_delta_min_size() -> u64 {
    1 << 20
}
pub(crate) fn default_delta_window() -> usize {
    swirl_store::object::sync::delta::DEFAULT_WINDOW
}
pub(crate) fn default_delta_block() -> u32 {
    swirl_store::object::sync::delta::DEFAULT_BLOCK
}

/// A config checked and resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node: NodeConfig,
    /// The address this node's devices carry in the ring (`replication_ip`).
    pub replication_ip: String,
    pub replication_port: u16,
    pub reclaim_age: u64,
    /// None: every primary must confirm.
    pub handoff_delete: Option<usize>,
    pub interval: Duration,
    pub stats_interval: Duration,
    pub ring_check_interval: Duration,
    pub conn_timeout: Duration,
    pub node_timeout: Duration,
    pub http_timeout: Duration,
    pub rsync_timeout: Duration,
    pub delta: swirl_store::object::sync::delta::DeltaParams,
}

/// The node-wide keys every replicator checks alike.
pub(crate) struct Identity<'a> {
    pub swift_hash_path_prefix: &'a str,
    pub swift_hash_path_suffix: &'a str,
    pub replication_ip: Option<&'a str>,
    pub bind_ip: &'a str,
    pub replication_port: Option<u16>,
    pub has_tls: bool,
}

/// Checks what a replicator needs of the node (a hash secret, the
/// replication address it finds its devices by, the TLS files) and returns
/// that address.
pub(crate) fn replication_identity(i: &Identity) -> Result<(String, u16), (String, String)> {
    let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
    if i.swift_hash_path_prefix.is_empty() && i.swift_hash_path_suffix.is_empty() {
        return bad(
            "swift_hash_path_suffix",
            "at least one of swift_hash_path_prefix and swift_hash_path_suffix must be set",
        );
    }
    let Some(port) = i.replication_port else {
        return bad(
            "replication_port",
            "the replicator sends to the ring's replication addresses and finds its own devices by this one",
        );
    };
    if !i.has_tls {
        return bad("cluster_tls", "replication needs the cluster's TLS files");
    }
    let ip = i.replication_ip.unwrap_or(i.bind_ip).to_string();
    if ip == "0.0.0.0" || ip == "::" {
        return bad(
            "replication_ip",
            "must be this node's address as the ring has it, not a wildcard",
        );
    }
    Ok((ip, port))
}

/// Swift's `handoff_delete`: `auto` (or 0) means every primary; None then.
pub(crate) fn handoff_delete(
    v: &toml::Value,
    key: &str,
) -> Result<Option<usize>, (String, String)> {
    match v {
        toml::Value::String(v) if v == "auto" => Ok(None),
        toml::Value::Integer(0) => Ok(None),
        toml::Value::Integer(n) if *n > 0 => Ok(Some(*n as usize)),
        _ => Err((key.to_string(), "\"auto\" or a positive count".to_string())),
    }
}

/// The delta window and block sizes of a replicator's section (`section`
/// ends with its dot).
pub(crate) fn delta_params(
    window: usize,
    block: u32,
    section: &str,
) -> Result<swirl_store::object::sync::delta::DeltaParams, (String, String)> {
    swirl_store::object::sync::delta::DeltaParams::checked(window, block).map_err(|_| {
        (
            format!("{section}delta_window"),
            "delta_block_size must be 512 B to 1 MiB and delta_window a multiple of it up to 64 MiB".into(),
        )
    })
}

pub(crate) fn secs(key: &str, v: f64) -> Result<Duration, (String, String)> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err((key.into(), "must be a positive number of seconds".into()))
    }
}

impl NodeConfig {
    /// Parses a config file.
    pub fn load(path: &Path) -> Result<Self, swirl_common::config::ConfigError> {
        swirl_common::config::load(path)
    }

    /// Checks values and resolves defaults; errors name the key.
    pub fn settings(self) -> Result<Settings, (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        let (ip, port) = replication_identity(&Identity {
            swift_hash_path_prefix: &self.swift_hash_path_prefix,
            swift_hash_path_suffix: &self.swift_hash_path_suffix,
            replication_ip: self.replication_ip.as_deref(),
            bind_ip: &self.listen.bind_ip,
            replication_port: self.replication_port,
            has_tls: self.cluster_tls.is_some(),
        })?;
        let r = &self.object_replicator;
        let s = "object-replicator.";
        if r.concurrency == 0 || r.concurrency > 256 {
            return bad(&format!("{s}concurrency"), "must be 1 to 256");
        }
        let handoff_delete = handoff_delete(&r.handoff_delete, &format!("{s}handoff_delete"))?;
        let delta = delta_params(r.delta_window, r.delta_block_size, s)?;
        Ok(Settings {
            replication_ip: ip,
            replication_port: port,
            reclaim_age: r.reclaim_age.unwrap_or(self.reclaim_age),
            handoff_delete,
            interval: secs(&format!("{s}interval"), r.interval)?,
            stats_interval: secs(&format!("{s}stats_interval"), r.stats_interval)?,
            ring_check_interval: secs(&format!("{s}ring_check_interval"), r.ring_check_interval)?,
            conn_timeout: secs(&format!("{s}conn_timeout"), r.conn_timeout)?,
            node_timeout: secs(&format!("{s}node_timeout"), r.node_timeout)?,
            http_timeout: secs(&format!("{s}http_timeout"), r.http_timeout)?,
            rsync_timeout: secs(&format!("{s}rsync_timeout"), r.rsync_timeout)?,
            delta,
            node: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "swift_hash_path_suffix = \"s\"\nreplication_ip = \"192.0.2.1\"\nreplication_port = 6300\n\
        bind_port = 6200\nclient_timeout = 60.0\n\
        [cluster_tls]\nca_file = \"/t/ca.pem\"\ncert_file = \"/t/node.pem\"\nkey_file = \"/t/node.key\"\n";

    #[test]
    fn defaults_and_checks() {
        let c: NodeConfig = swirl_common::config::parse(BASE, "t").unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.handoff_delete, None);
        assert_eq!(s.replication_ip, "192.0.2.1");
        let with = |extra: &str| {
            swirl_common::config::parse::<NodeConfig>(
                &format!("{BASE}[object-replicator]\n{extra}"),
                "t",
            )
        };
        let s = with("interval = 5\nhandoff_delete = 2\nhandoffs_first = true\n")
            .unwrap()
            .settings()
            .unwrap();
        assert_eq!(
            (s.interval, s.handoff_delete),
            (Duration::from_secs(5), Some(2))
        );
        let e = with("intervall = 5\n").unwrap_err();
        assert!(e.to_string().contains("intervall"), "{e}");
        let e = with("concurrency = 0\n").unwrap().settings().unwrap_err();
        assert_eq!(e.0, "object-replicator.concurrency");
        let e = with("handoff_delete = \"some\"\n")
            .unwrap()
            .settings()
            .unwrap_err();
        assert_eq!(e.0, "object-replicator.handoff_delete");
        let e = with("delta_window = 5000\n")
            .unwrap()
            .settings()
            .unwrap_err();
        assert_eq!(e.0, "object-replicator.delta_window");
        let c: NodeConfig =
            swirl_common::config::parse("swift_hash_path_suffix = \"s\"\n", "t").unwrap();
        assert_eq!(c.settings().unwrap_err().0, "replication_port");
    }
}
