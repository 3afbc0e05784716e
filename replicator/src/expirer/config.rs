//! The object expirer's config: the object server's own TOML file, its
//! `[object-expirer]` section with Swift's option names and defaults, plus
//! the node-wide keys it needs (hash secret, policies, swift_dir, recon
//! cache). `[object-expirer]` refuses unknown keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use swirl_common::policy::{self, PolicyConfig};

use crate::config::{default_recon_cache_path, default_swift_dir, secs};

/// The node-wide keys of the object server's file the expirer uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpirerNodeConfig {
    #[serde(default)]
    pub swift_hash_path_prefix: String,
    #[serde(default)]
    pub swift_hash_path_suffix: String,
    #[serde(default = "policy::default_policies")]
    pub storage_policy: Vec<PolicyConfig>,
    #[serde(default = "default_swift_dir")]
    pub swift_dir: PathBuf,
    #[serde(default = "default_recon_cache_path")]
    pub recon_cache_path: PathBuf,
    /// `[backend_auth]`: the cluster key its requests are signed with.
    #[serde(default)]
    pub backend_auth: Option<swirl_common::backend_auth::BackendAuthConfig>,
    /// `[object-expirer]`.
    #[serde(default, rename = "object-expirer")]
    pub object_expirer: ObjectExpirerConfig,
}

/// `[object-expirer]`: Swift's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectExpirerConfig {
    /// Seconds between the starts of two passes.
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// Expirations started per second.
    #[serde(default = "default_tasks_per_second")]
    pub tasks_per_second: f64,
    /// Expirations in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// With several expirers: how many share the queue (0: this one alone)...
    #[serde(default)]
    pub processes: u64,
    /// ... and which share is this one's (0 to processes - 1).
    #[serde(default)]
    pub process: u64,
    /// Seconds after which a queue row whose object is gone (404) or was
    /// rewritten (412) is dropped anyway.
    #[serde(default = "default_reclaim_age")]
    pub reclaim_age: u64,
    /// Seconds between two progress lines of a pass.
    #[serde(default = "default_report_interval")]
    pub report_interval: f64,
    /// Seconds to connect to a storage server.
    #[serde(default = "default_conn_timeout")]
    pub conn_timeout: f64,
    /// Seconds a storage server may take to answer.
    #[serde(default = "default_node_timeout")]
    pub node_timeout: f64,
    /// Log level hint (RUST_LOG wins).
    #[serde(default)]
    pub log_level: Option<String>,
}

impl Default for ObjectExpirerConfig {
    fn default() -> Self {
        ObjectExpirerConfig {
            interval: default_interval(),
            tasks_per_second: default_tasks_per_second(),
            concurrency: default_concurrency(),
            processes: 0,
            process: 0,
            reclaim_age: default_reclaim_age(),
            report_interval: default_report_interval(),
            conn_timeout: default_conn_timeout(),
            node_timeout: default_node_timeout(),
            log_level: None,
        }
    }
}

fn default_interval() -> f64 {
    300.0
}
fn default_tasks_per_second() -> f64 {
    50.0
}
fn default_concurrency() -> usize {
    1
}
fn default_reclaim_age() -> u64 {
    604_800
}
fn default_report_interval() -> f64 {
    300.0
}
fn default_conn_timeout() -> f64 {
    0.5
}
fn default_node_timeout() -> f64 {
    10.0
}

/// A config checked and resolved.
#[derive(Debug, Clone)]
pub struct ExpirerSettings {
    pub node: ExpirerNodeConfig,
    pub interval: Duration,
    /// None: no limit (`tasks_per_second = 0`).
    pub tasks_per_second: Option<f64>,
    pub concurrency: usize,
    pub processes: u64,
    pub process: u64,
    pub reclaim_age: u64,
    pub report_interval: Duration,
    pub conn_timeout: Duration,
    pub node_timeout: Duration,
}

impl ExpirerNodeConfig {
    /// Parses a config file.
    pub fn load(path: &Path) -> Result<Self, swirl_common::config::ConfigError> {
        swirl_common::config::load(path)
    }

    /// Checks values and resolves defaults; errors name the key.
    pub fn settings(self) -> Result<ExpirerSettings, (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if self.swift_hash_path_prefix.is_empty() && self.swift_hash_path_suffix.is_empty() {
            return bad(
                "swift_hash_path_suffix",
                "at least one of swift_hash_path_prefix and swift_hash_path_suffix must be set",
            );
        }
        let e = &self.object_expirer;
        let s = "object-expirer.";
        if e.concurrency == 0 || e.concurrency > 1024 {
            return bad(&format!("{s}concurrency"), "must be 1 to 1024");
        }
        if !(e.tasks_per_second.is_finite() && e.tasks_per_second >= 0.0) {
            return bad(
                &format!("{s}tasks_per_second"),
                "must be 0 (no limit) or more",
            );
        }
        if e.processes > 0 && e.process >= e.processes {
            return bad(&format!("{s}process"), "must be less than processes");
        }
        Ok(ExpirerSettings {
            interval: secs(&format!("{s}interval"), e.interval)?,
            tasks_per_second: (e.tasks_per_second > 0.0).then_some(e.tasks_per_second),
            concurrency: e.concurrency,
            processes: e.processes,
            process: e.process,
            reclaim_age: e.reclaim_age,
            report_interval: secs(&format!("{s}report_interval"), e.report_interval)?,
            conn_timeout: secs(&format!("{s}conn_timeout"), e.conn_timeout)?,
            node_timeout: secs(&format!("{s}node_timeout"), e.node_timeout)?,
            node: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_swifts_and_typos_are_named() {
        let base = "swift_hash_path_suffix = \"s\"\ndevices = \"/srv\"\n";
        let c: ExpirerNodeConfig = swirl_common::config::parse(base, "t").unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.interval, Duration::from_secs(300));
        assert_eq!((s.concurrency, s.tasks_per_second), (1, Some(50.0)));
        assert_eq!((s.processes, s.process, s.reclaim_age), (0, 0, 604_800));
        let with = |extra: &str| {
            swirl_common::config::parse::<ExpirerNodeConfig>(
                &format!("{base}[object-expirer]\n{extra}"),
                "t",
            )
        };
        let e = with("processes = 2\nprocess = 2\n")
            .unwrap()
            .settings()
            .unwrap_err();
        assert_eq!(e.0, "object-expirer.process");
        let e = with("task_per_second = 5\n").unwrap_err();
        assert!(e.to_string().contains("task_per_second"), "{e}");
    }

    #[test]
    fn the_sample_shows_the_defaults() {
        let text = include_str!("../../../object-server/object-server.sample.toml");
        let c: ExpirerNodeConfig = swirl_common::config::parse(text, "sample").unwrap();
        let s = c.object_expirer;
        let d = ObjectExpirerConfig::default();
        assert_eq!(
            (s.interval, s.tasks_per_second, s.concurrency),
            (d.interval, d.tasks_per_second, d.concurrency)
        );
        assert_eq!(
            (s.processes, s.process, s.reclaim_age, s.report_interval),
            (d.processes, d.process, d.reclaim_age, d.report_interval)
        );
        assert_eq!(
            (s.conn_timeout, s.node_timeout),
            (d.conn_timeout, d.node_timeout)
        );
    }
}
