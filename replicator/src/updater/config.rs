//! The object updater's config: the object server's own TOML file (Swift's
//! updater reads `object-server.conf` too), its `[object-updater]` section
//! with Swift's option names and defaults, plus the node-wide keys it needs
//! (devices, hash secret, policies, swift_dir, recon cache). Other keys of
//! the file are the server's; `[object-updater]` refuses unknown ones.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use swirl_common::config::Devices;
use swirl_common::policy::{self, PolicyConfig};

use crate::config::{default_recon_cache_path, default_swift_dir, secs};

/// The node-wide keys of the object server's file the updater uses.
#[derive(Debug, Clone, Deserialize)]
pub struct UpdaterNodeConfig {
    #[serde(flatten)]
    pub disks: Devices,
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
    /// `[object-updater]`.
    #[serde(default, rename = "object-updater")]
    pub object_updater: ObjectUpdaterConfig,
}

/// `[object-updater]`: Swift's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectUpdaterConfig {
    /// Seconds between the starts of two sweeps.
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// Updates in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Async pendings taken per second (per device sweep).
    #[serde(default = "default_objects_per_second")]
    pub objects_per_second: f64,
    /// Seconds to connect to a container server.
    #[serde(default = "default_conn_timeout")]
    pub conn_timeout: f64,
    /// Seconds a container server may take to answer.
    #[serde(default = "default_node_timeout")]
    pub node_timeout: f64,
    /// Seconds between two progress lines of a sweep.
    #[serde(default = "default_report_interval")]
    pub report_interval: f64,
    /// Log level hint (RUST_LOG wins).
    #[serde(default)]
    pub log_level: Option<String>,
}

impl Default for ObjectUpdaterConfig {
    fn default() -> Self {
        ObjectUpdaterConfig {
            interval: default_interval(),
            concurrency: default_concurrency(),
            objects_per_second: default_objects_per_second(),
            conn_timeout: default_conn_timeout(),
            node_timeout: default_node_timeout(),
            report_interval: default_report_interval(),
            log_level: None,
        }
    }
}

fn default_interval() -> f64 {
    300.0
}
fn default_concurrency() -> usize {
    8
}
fn default_objects_per_second() -> f64 {
    50.0
}
fn default_conn_timeout() -> f64 {
    0.5
}
fn default_node_timeout() -> f64 {
    10.0
}
fn default_report_interval() -> f64 {
    300.0
}

/// A config checked and resolved.
#[derive(Debug, Clone)]
pub struct UpdaterSettings {
    pub node: UpdaterNodeConfig,
    pub interval: Duration,
    pub concurrency: usize,
    /// None: no limit (`objects_per_second = 0`).
    pub objects_per_second: Option<f64>,
    pub conn_timeout: Duration,
    pub node_timeout: Duration,
    pub report_interval: Duration,
}

impl UpdaterNodeConfig {
    /// Parses a config file.
    pub fn load(path: &Path) -> Result<Self, swirl_common::config::ConfigError> {
        swirl_common::config::load(path)
    }

    /// Checks values and resolves defaults; errors name the key.
    pub fn settings(self) -> Result<UpdaterSettings, (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if self.swift_hash_path_prefix.is_empty() && self.swift_hash_path_suffix.is_empty() {
            return bad(
                "swift_hash_path_suffix",
                "at least one of swift_hash_path_prefix and swift_hash_path_suffix must be set",
            );
        }
        let u = &self.object_updater;
        let s = "object-updater.";
        if u.concurrency == 0 || u.concurrency > 1024 {
            return bad(&format!("{s}concurrency"), "must be 1 to 1024");
        }
        if !(u.objects_per_second.is_finite() && u.objects_per_second >= 0.0) {
            return bad(
                &format!("{s}objects_per_second"),
                "must be 0 (no limit) or more",
            );
        }
        Ok(UpdaterSettings {
            interval: secs(&format!("{s}interval"), u.interval)?,
            concurrency: u.concurrency,
            objects_per_second: (u.objects_per_second > 0.0).then_some(u.objects_per_second),
            conn_timeout: secs(&format!("{s}conn_timeout"), u.conn_timeout)?,
            node_timeout: secs(&format!("{s}node_timeout"), u.node_timeout)?,
            report_interval: secs(&format!("{s}report_interval"), u.report_interval)?,
            node: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_swifts_and_typos_are_named() {
        let base =
            "swift_hash_path_suffix = \"s\"\nbind_port = 6200\n[object-replicator]\ninterval = 5\n";
        let c: UpdaterNodeConfig = swirl_common::config::parse(base, "t").unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.interval, Duration::from_secs(300));
        assert_eq!((s.concurrency, s.objects_per_second), (8, Some(50.0)));
        assert_eq!(s.node_timeout, Duration::from_secs(10));
        let with = |extra: &str| {
            swirl_common::config::parse::<UpdaterNodeConfig>(
                &format!("{base}[object-updater]\n{extra}"),
                "t",
            )
        };
        let s = with("interval = 1\nobjects_per_second = 0\n")
            .unwrap()
            .settings()
            .unwrap();
        assert_eq!(
            (s.interval, s.objects_per_second),
            (Duration::from_secs(1), None)
        );
        let e = with("objects_per_secnd = 5\n").unwrap_err();
        assert!(e.to_string().contains("objects_per_secnd"), "{e}");
        let e = with("concurrency = 0\n").unwrap().settings().unwrap_err();
        assert_eq!(e.0, "object-updater.concurrency");
        let c: UpdaterNodeConfig = swirl_common::config::parse("", "t").unwrap();
        assert_eq!(c.settings().unwrap_err().0, "swift_hash_path_suffix");
    }

    #[test]
    fn the_sample_shows_the_defaults() {
        let text = include_str!("../../../object-server/object-server.sample.toml");
        let c: UpdaterNodeConfig = swirl_common::config::parse(text, "sample").unwrap();
        let s = c.object_updater;
        let d = ObjectUpdaterConfig::default();
        assert_eq!(
            (s.interval, s.concurrency, s.objects_per_second),
            (d.interval, d.concurrency, d.objects_per_second)
        );
        assert_eq!(
            (s.conn_timeout, s.node_timeout, s.report_interval),
            (d.conn_timeout, d.node_timeout, d.report_interval)
        );
    }
}
