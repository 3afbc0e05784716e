//! The account and container replicators' config: the server's own TOML
//! file (Swift's replicators read `account-server.conf` /
//! `container-server.conf`), its `[account-replicator]` or
//! `[container-replicator]` section with Swift's option names, plus the
//! node-wide keys it shares with the server (devices, hash secret,
//! replication address, TLS, rings, recon cache).
//!
//! The top level is the server's, which refuses unknown keys when it loads
//! the same file; here only the keys the replicator needs are read. The
//! replicator's section itself refuses unknown keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use swirl_common::tls::ClusterTlsConfig;
use swirl_ring::hash::HashPathConfig;
use swirl_store::db::placement::DbKind;
use swirl_store::object::sync::delta::DeltaParams;

use crate::config::{
    default_conn_timeout, default_delta_block, default_delta_window, default_handoff_delete,
    default_interval, default_node_timeout, default_reclaim_age, default_recon_cache_path,
    default_rsync_timeout, default_stats_interval, default_swift_dir, delta_params, handoff_delete,
    replication_identity, secs, Identity,
};
use swirl_common::config::{AllAddresses, Devices, Listen};
use swirl_common::policy::{self, PolicyConfig};

/// The node-wide keys of the server's file that the replicator uses.
#[derive(Debug, Clone, Deserialize)]
pub struct DbNodeConfig {
    /// `devices`, `mount_check`.
    #[serde(flatten)]
    pub disks: Devices,
    /// `bind_ip` (the default replication address); the port is not used.
    #[serde(flatten)]
    pub listen: Listen<AllAddresses<6201>>,
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
    /// `[account-replicator]`.
    #[serde(default, rename = "account-replicator")]
    pub account_replicator: DbReplicatorConfig,
    /// `[container-replicator]`.
    #[serde(default, rename = "container-replicator")]
    pub container_replicator: DbReplicatorConfig,
}

/// `[account-replicator]` / `[container-replicator]`: Swift's names and
/// defaults (swift/common/db_replicator.py), plus swirl's shipping knobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbReplicatorConfig {
    /// Seconds between the starts of two passes.
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// Databases replicated at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Rows per `merge_items` batch.
    #[serde(default = "default_per_diff")]
    pub per_diff: usize,
    /// Batches per database and peer in one pass; a peer further behind
    /// gets the rest on the next pass.
    #[serde(default = "default_max_diffs")]
    pub max_diffs: usize,
    /// Databases started per second at most (0: no limit).
    #[serde(default = "default_databases_per_second")]
    pub databases_per_second: f64,
    /// Deleted rows and deleted databases older than this many seconds are
    /// reclaimed (default: the server's `reclaim_age`).
    #[serde(default)]
    pub reclaim_age: Option<u64>,
    /// Replicate only handoff databases (to drain a node).
    #[serde(default)]
    pub handoffs_only: bool,
    /// `auto` (every primary must have it before a handoff database is
    /// removed) or how many successes suffice.
    #[serde(default = "default_handoff_delete")]
    pub handoff_delete: toml::Value,
    /// Seconds to connect to a peer.
    #[serde(default = "default_conn_timeout")]
    pub conn_timeout: f64,
    /// Seconds a REPLICATE call may take.
    #[serde(default = "default_node_timeout")]
    pub node_timeout: f64,
    /// Seconds shipping one whole database may take (Swift's name: it
    /// rsyncs them; swirl ships them over the replication network).
    #[serde(default = "default_rsync_timeout")]
    pub rsync_timeout: f64,
    /// Seconds between two progress lines during a pass.
    #[serde(default = "default_stats_interval")]
    pub stats_interval: f64,
    /// A database this large or larger goes as a fast_rsync delta to a
    /// replica that holds an older copy; smaller ones stream whole.
    #[serde(default = "default_delta_min_size")]
    pub delta_min_size: u64,
    /// Bytes per delta window (memory per transfer on each side).
    #[serde(default = "default_delta_window")]
    pub delta_window: usize,
    /// rsync block size inside a window (SQLite's page size fits).
    #[serde(default = "default_delta_block")]
    pub delta_block_size: u32,
    /// Log level hint (RUST_LOG wins).
    #[serde(default)]
    pub log_level: Option<String>,
}

impl Default for DbReplicatorConfig {
    fn default() -> Self {
        DbReplicatorConfig {
            interval: default_interval(),
            concurrency: default_concurrency(),
            per_diff: default_per_diff(),
            max_diffs: default_max_diffs(),
            databases_per_second: default_databases_per_second(),
            reclaim_age: None,
            handoffs_only: false,
            handoff_delete: default_handoff_delete(),
            conn_timeout: default_conn_timeout(),
            node_timeout: default_node_timeout(),
            rsync_timeout: default_rsync_timeout(),
            stats_interval: default_stats_interval(),
            delta_min_size: default_delta_min_size(),
            delta_window: default_delta_window(),
            delta_block_size: default_delta_block(),
            log_level: None,
        }
    }
}

fn default_concurrency() -> usize {
    8
}
fn default_per_diff() -> usize {
    1000
}
fn default_max_diffs() -> usize {
    100
}
fn default_databases_per_second() -> f64 {
    50.0
}
fn default_delta_min_size() -> u64 {
    256 << 10
}

/// A config checked and resolved for one kind of database.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub kind: DbKind,
    pub node: DbNodeConfig,
    pub hash_cfg: HashPathConfig,
    /// The address this node's devices carry in the ring (`replication_ip`).
    pub replication_ip: String,
    pub replication_port: u16,
    pub reclaim_age: u64,
    /// None: every primary must have a handoff database before it goes.
    pub handoff_delete: Option<usize>,
    pub handoffs_only: bool,
    pub concurrency: usize,
    pub per_diff: usize,
    pub max_diffs: usize,
    /// 0: no limit.
    pub databases_per_second: f64,
    pub interval: Duration,
    pub stats_interval: Duration,
    pub conn_timeout: Duration,
    pub node_timeout: Duration,
    pub rsync_timeout: Duration,
    pub delta_min_size: u64,
    pub delta: DeltaParams,
}

impl DbNodeConfig {
    /// Parses a config file.
    pub fn load(path: &Path) -> Result<Self, swirl_common::config::ConfigError> {
        swirl_common::config::load(path)
    }

    /// Checks values and resolves defaults for `kind`'s replicator; errors
    /// name the key.
    pub fn settings(self, kind: DbKind) -> Result<DbSettings, (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        let (ip, port) = replication_identity(&Identity {
            swift_hash_path_prefix: &self.swift_hash_path_prefix,
            swift_hash_path_suffix: &self.swift_hash_path_suffix,
            replication_ip: self.replication_ip.as_deref(),
            bind_ip: &self.listen.bind_ip,
            replication_port: self.replication_port,
            has_tls: self.cluster_tls.is_some(),
        })?;
        let (r, s) = match kind {
            DbKind::Account => (&self.account_replicator, "account-replicator."),
            DbKind::Container => (&self.container_replicator, "container-replicator."),
        };
        if r.concurrency == 0 || r.concurrency > 256 {
            return bad(&format!("{s}concurrency"), "must be 1 to 256");
        }
        if r.per_diff == 0 {
            return bad(&format!("{s}per_diff"), "must be at least 1");
        }
        if r.max_diffs == 0 {
            return bad(&format!("{s}max_diffs"), "must be at least 1");
        }
        if !(r.databases_per_second.is_finite() && r.databases_per_second >= 0.0) {
            return bad(
                &format!("{s}databases_per_second"),
                "must be a number, 0 for no limit",
            );
        }
        let handoff_delete = handoff_delete(&r.handoff_delete, &format!("{s}handoff_delete"))?;
        let delta = delta_params(r.delta_window, r.delta_block_size, s)?;
        Ok(DbSettings {
            kind,
            hash_cfg: HashPathConfig::new(
                self.swift_hash_path_prefix.as_bytes(),
                self.swift_hash_path_suffix.as_bytes(),
            ),
            replication_ip: ip,
            replication_port: port,
            reclaim_age: r.reclaim_age.unwrap_or(self.reclaim_age),
            handoff_delete,
            handoffs_only: r.handoffs_only,
            concurrency: r.concurrency,
            per_diff: r.per_diff,
            max_diffs: r.max_diffs,
            databases_per_second: r.databases_per_second,
            interval: secs(&format!("{s}interval"), r.interval)?,
            stats_interval: secs(&format!("{s}stats_interval"), r.stats_interval)?,
            conn_timeout: secs(&format!("{s}conn_timeout"), r.conn_timeout)?,
            node_timeout: secs(&format!("{s}node_timeout"), r.node_timeout)?,
            rsync_timeout: secs(&format!("{s}rsync_timeout"), r.rsync_timeout)?,
            delta_min_size: r.delta_min_size,
            delta,
            node: self,
        })
    }

    /// The ring file of `kind` (`account.ring.gz`, `container.ring.gz`).
    pub fn ring_path(&self, kind: DbKind) -> PathBuf {
        self.swift_dir.join(format!("{}.ring.gz", kind.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "swift_hash_path_suffix = \"s\"\nreplication_ip = \"192.0.2.1\"\nreplication_port = 6301\n\
        bind_port = 6201\naccount_update_interval = 5.0\nreclaim_age = 1000\n\
        [cluster_tls]\nca_file = \"/t/ca.pem\"\ncert_file = \"/t/node.pem\"\nkey_file = \"/t/node.key\"\n";

    fn with(extra: &str) -> Result<DbNodeConfig, swirl_common::config::ConfigError> {
        swirl_common::config::parse::<DbNodeConfig>(&format!("{BASE}{extra}"), "t")
    }

    #[test]
    fn defaults_and_checks() {
        let s = with("").unwrap().settings(DbKind::Container).unwrap();
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!((s.per_diff, s.max_diffs, s.concurrency), (1000, 100, 8));
        assert_eq!(s.reclaim_age, 1000, "the server's reclaim_age");
        assert_eq!(s.handoff_delete, None);
        assert_eq!(s.replication_ip, "192.0.2.1");
        // Each kind reads its own section.
        let c = with(
            "[container-replicator]\nper_diff = 10\nreclaim_age = 5\nhandoff_delete = 2\n\
                      [account-replicator]\nper_diff = 20\n",
        )
        .unwrap();
        let cs = c.clone().settings(DbKind::Container).unwrap();
        assert_eq!(
            (cs.per_diff, cs.reclaim_age, cs.handoff_delete),
            (10, 5, Some(2))
        );
        assert_eq!(c.settings(DbKind::Account).unwrap().per_diff, 20);
        let e = with("[container-replicator]\nper_dif = 5\n").unwrap_err();
        assert!(e.to_string().contains("per_dif"), "{e}");
        let bad = |extra: &str| {
            with(extra)
                .unwrap()
                .settings(DbKind::Container)
                .unwrap_err()
                .0
        };
        assert_eq!(
            bad("[container-replicator]\nconcurrency = 0\n"),
            "container-replicator.concurrency"
        );
        assert_eq!(
            bad("[container-replicator]\nper_diff = 0\n"),
            "container-replicator.per_diff"
        );
        assert_eq!(
            bad("[container-replicator]\nhandoff_delete = \"x\"\n"),
            "container-replicator.handoff_delete"
        );
        assert_eq!(
            bad("[container-replicator]\ninterval = 0\n"),
            "container-replicator.interval"
        );
        let c: DbNodeConfig =
            swirl_common::config::parse("swift_hash_path_suffix = \"s\"\n", "t").unwrap();
        assert_eq!(
            c.settings(DbKind::Account).unwrap_err().0,
            "replication_port"
        );
    }

    /// The servers' sample files carry every replicator key, with the defaults.
    #[test]
    fn samples_show_the_defaults() {
        for (kind, text) in [
            (
                DbKind::Container,
                include_str!("../../../db-server/container-server.sample.toml"),
            ),
            (
                DbKind::Account,
                include_str!("../../../db-server/account-server.sample.toml"),
            ),
        ] {
            // Written out, not merely defaulted by a missing section.
            let section = format!("[{}-replicator]", kind.name());
            assert!(text.contains(&section), "{section}");
            for key in [
                "interval",
                "concurrency",
                "per_diff",
                "max_diffs",
                "delta_min_size",
                "delta_window",
                "delta_block_size",
                "databases_per_second",
            ] {
                assert!(text.contains(&format!("\n{key} = ")), "{section} {key}");
            }
            let c: DbNodeConfig = swirl_common::config::parse(text, "sample").unwrap();
            let r = match kind {
                DbKind::Account => &c.account_replicator,
                DbKind::Container => &c.container_replicator,
            };
            sample_defaults(r);
        }
    }

    fn sample_defaults(r: &DbReplicatorConfig) {
        let d = DbReplicatorConfig::default();
        assert_eq!(
            (r.interval, r.concurrency, r.per_diff, r.max_diffs),
            (d.interval, d.concurrency, d.per_diff, d.max_diffs)
        );
        assert_eq!(
            (r.delta_min_size, r.delta_window, r.delta_block_size),
            (d.delta_min_size, d.delta_window, d.delta_block_size)
        );
        assert_eq!(r.databases_per_second, d.databases_per_second);
    }
}
