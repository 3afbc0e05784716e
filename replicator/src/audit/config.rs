//! The auditors' config: the matching server's own TOML file (Swift's
//! auditors read `object-server.conf` / `account-server.conf` /
//! `container-server.conf`), its `[object-auditor]`, `[account-auditor]` or
//! `[container-auditor]` section with Swift's option names and defaults,
//! plus the node-wide keys it shares with the server (devices, policies,
//! recon cache). The auditors need no ring, hash secret or TLS: they only
//! read local files.
//!
//! As with the replicators, the top level is the server's (which refuses
//! unknown keys when it loads the same file); the auditor's section itself
//! refuses unknown keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use swirl_common::config::Devices;
use swirl_common::policy::{self, PolicyConfig};
use swirl_store::db::placement::DbKind;

use crate::config::{default_recon_cache_path, secs};

/// The object server's keys the object auditor uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectAuditNodeConfig {
    /// `devices`, `mount_check`.
    #[serde(flatten)]
    pub disks: Devices,
    #[serde(default = "policy::default_policies")]
    pub storage_policy: Vec<PolicyConfig>,
    #[serde(default = "default_recon_cache_path")]
    pub recon_cache_path: PathBuf,
    /// `[object-auditor]`.
    #[serde(default, rename = "object-auditor")]
    pub object_auditor: ObjectAuditorConfig,
}

/// `[object-auditor]`: Swift's names and defaults (swift/obj/auditor.py).
/// A rate of 0 is no limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectAuditorConfig {
    /// Seconds between the starts of two passes.
    #[serde(default = "default_object_interval")]
    pub interval: f64,
    /// Objects checked per second by the full (`ALL`) pass.
    #[serde(default = "default_files_per_second")]
    pub files_per_second: f64,
    /// Body bytes read per second by the full pass.
    #[serde(default = "default_bytes_per_second")]
    pub bytes_per_second: f64,
    /// Objects checked per second by the zero-byte-files (`ZBF`) pass,
    /// which reads metadata and lengths only.
    #[serde(default = "default_zbf_per_second")]
    pub zero_byte_files_per_second: f64,
    /// Seconds between two progress lines (and recon updates) in a pass.
    #[serde(default = "default_log_time")]
    pub log_time: f64,
    /// Seconds between two saves of a device's checkpoint (swirl's).
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: f64,
    /// Log level hint (RUST_LOG wins).
    #[serde(default)]
    pub log_level: Option<String>,
}

impl Default for ObjectAuditorConfig {
    fn default() -> Self {
        ObjectAuditorConfig {
            interval: default_object_interval(),
            files_per_second: default_files_per_second(),
            bytes_per_second: default_bytes_per_second(),
            zero_byte_files_per_second: default_zbf_per_second(),
            log_time: default_log_time(),
            checkpoint_interval: default_checkpoint_interval(),
            log_level: None,
        }
    }
}

fn default_object_interval() -> f64 {
    30.0
}
fn default_files_per_second() -> f64 {
    20.0
}
fn default_bytes_per_second() -> f64 {
    10_000_000.0
}
fn default_zbf_per_second() -> f64 {
    50.0
}
fn default_log_time() -> f64 {
    3600.0
}
fn default_checkpoint_interval() -> f64 {
    60.0
}

/// The object auditor's resolved settings.
#[derive(Debug, Clone)]
pub struct ObjectAuditSettings {
    pub devices: PathBuf,
    pub mount_check: bool,
    /// Policy indexes, ascending (the walk's order).
    pub policies: Vec<u32>,
    pub recon_cache_path: PathBuf,
    pub interval: Duration,
    pub files_per_second: f64,
    pub bytes_per_second: f64,
    pub zero_byte_files_per_second: f64,
    pub log_time: Duration,
    pub checkpoint_interval: Duration,
}

fn rate(key: &str, v: f64) -> Result<f64, (String, String)> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err((key.into(), "must be 0 (no limit) or a positive rate".into()))
    }
}

impl ObjectAuditNodeConfig {
    pub fn load(path: &Path) -> Result<Self, swirl_common::config::ConfigError> {
        swirl_common::config::load(path)
    }

    /// Checks values; errors name the key.
    pub fn settings(self) -> Result<ObjectAuditSettings, (String, String)> {
        let a = &self.object_auditor;
        let s = "object-auditor.";
        let mut policies: Vec<u32> = self.storage_policy.iter().map(|p| p.index).collect();
        policies.sort_unstable();
        policies.dedup();
        Ok(ObjectAuditSettings {
            interval: secs(&format!("{s}interval"), a.interval)?,
            files_per_second: rate(&format!("{s}files_per_second"), a.files_per_second)?,
            bytes_per_second: rate(&format!("{s}bytes_per_second"), a.bytes_per_second)?,
            zero_byte_files_per_second: rate(
                &format!("{s}zero_byte_files_per_second"),
                a.zero_byte_files_per_second,
            )?,
            log_time: secs(&format!("{s}log_time"), a.log_time)?,
            checkpoint_interval: secs(&format!("{s}checkpoint_interval"), a.checkpoint_interval)?,
            devices: self.disks.devices,
            mount_check: self.disks.mount_check,
            policies,
            recon_cache_path: self.recon_cache_path,
        })
    }
}

/// The account or container server's keys its auditor uses.
#[derive(Debug, Clone, Deserialize)]
pub struct DbAuditNodeConfig {
    #[serde(flatten)]
    pub disks: Devices,
    #[serde(default = "default_recon_cache_path")]
    pub recon_cache_path: PathBuf,
    /// `[account-auditor]`.
    #[serde(default, rename = "account-auditor")]
    pub account_auditor: DbAuditorConfig,
    /// `[container-auditor]`.
    #[serde(default, rename = "container-auditor")]
    pub container_auditor: DbAuditorConfig,
}

/// `[account-auditor]` / `[container-auditor]`: Swift's names and defaults
/// (swift/common/db_auditor.py).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbAuditorConfig {
    /// Seconds between the starts of two passes.
    #[serde(default = "default_db_interval")]
    pub interval: f64,
    /// Databases checked per second (Swift's `accounts_per_second` /
    /// `containers_per_second`; 0: no limit).
    #[serde(
        default = "default_dbs_per_second",
        alias = "accounts_per_second",
        alias = "containers_per_second"
    )]
    pub databases_per_second: f64,
    /// `PRAGMA integrity_check` (indexes too) instead of `quick_check`.
    #[serde(default)]
    pub integrity_check: bool,
    /// Seconds between two progress lines (and recon updates) in a pass.
    #[serde(default = "default_log_time")]
    pub log_time: f64,
    /// Log level hint (RUST_LOG wins).
    #[serde(default)]
    pub log_level: Option<String>,
}

impl Default for DbAuditorConfig {
    fn default() -> Self {
        DbAuditorConfig {
            interval: default_db_interval(),
            databases_per_second: default_dbs_per_second(),
            integrity_check: false,
            log_time: default_log_time(),
            log_level: None,
        }
    }
}

fn default_db_interval() -> f64 {
    1800.0
}
fn default_dbs_per_second() -> f64 {
    200.0
}

/// A database auditor's resolved settings.
#[derive(Debug, Clone)]
pub struct DbAuditSettings {
    pub kind: DbKind,
    pub devices: PathBuf,
    pub mount_check: bool,
    pub recon_cache_path: PathBuf,
    pub interval: Duration,
    pub databases_per_second: f64,
    pub integrity_check: bool,
    pub log_time: Duration,
}

impl DbAuditNodeConfig {
    pub fn load(path: &Path) -> Result<Self, swirl_common::config::ConfigError> {
        swirl_common::config::load(path)
    }

    /// Checks the section of `kind`; errors name the key.
    pub fn settings(self, kind: DbKind) -> Result<DbAuditSettings, (String, String)> {
        let (a, s) = match kind {
            DbKind::Account => (&self.account_auditor, "account-auditor."),
            DbKind::Container => (&self.container_auditor, "container-auditor."),
        };
        Ok(DbAuditSettings {
            kind,
            interval: secs(&format!("{s}interval"), a.interval)?,
            databases_per_second: rate(
                &format!("{s}databases_per_second"),
                a.databases_per_second,
            )?,
            integrity_check: a.integrity_check,
            log_time: secs(&format!("{s}log_time"), a.log_time)?,
            devices: self.disks.devices,
            mount_check: self.disks.mount_check,
            recon_cache_path: self.recon_cache_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swift_defaults_and_checks() {
        let s = swirl_common::config::parse::<ObjectAuditNodeConfig>("bind_port = 6200\n", "t")
            .unwrap()
            .settings()
            .unwrap();
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(
            (
                s.files_per_second,
                s.bytes_per_second,
                s.zero_byte_files_per_second
            ),
            (20.0, 10_000_000.0, 50.0)
        );
        assert_eq!(s.policies, vec![0]);
        let e = swirl_common::config::parse::<ObjectAuditNodeConfig>(
            "[object-auditor]\nbytes_per_sec = 5\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("bytes_per_sec"), "{e}");
        let e = swirl_common::config::parse::<ObjectAuditNodeConfig>(
            "[object-auditor]\nbytes_per_second = -5\n",
            "t",
        )
        .unwrap()
        .settings()
        .unwrap_err();
        assert_eq!(e.0, "object-auditor.bytes_per_second");
        let c = swirl_common::config::parse::<DbAuditNodeConfig>(
            "[container-auditor]\ncontainers_per_second = 7\nintegrity_check = true\n",
            "t",
        )
        .unwrap();
        let s = c.clone().settings(DbKind::Container).unwrap();
        assert_eq!((s.databases_per_second, s.integrity_check), (7.0, true));
        let s = c.settings(DbKind::Account).unwrap();
        assert_eq!(
            (s.databases_per_second, s.interval),
            (200.0, Duration::from_secs(1800))
        );
    }

    #[test]
    fn the_samples_are_the_defaults() {
        let c: ObjectAuditNodeConfig = swirl_common::config::parse(
            include_str!("../../../object-server/object-server.sample.toml"),
            "object-server.sample.toml",
        )
        .unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.policies, vec![0, 1]);
        assert_eq!(s.checkpoint_interval, Duration::from_secs(60));
        for (kind, text) in [
            (
                DbKind::Account,
                include_str!("../../../db-server/account-server.sample.toml"),
            ),
            (
                DbKind::Container,
                include_str!("../../../db-server/container-server.sample.toml"),
            ),
        ] {
            let c: DbAuditNodeConfig = swirl_common::config::parse(text, "sample").unwrap();
            let s = c.settings(kind).unwrap();
            assert_eq!(s.databases_per_second, 200.0);
            assert_eq!(s.interval, Duration::from_secs(1800));
            assert!(!s.integrity_check);
        }
    }
}
