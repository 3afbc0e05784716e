//! The object server's config: one TOML file, Swift's option names
//! (`etc/object-server.conf-sample`), unknown keys refused.

use std::path::PathBuf;

use serde::Deserialize;
use swirl_common::config::{AllAddresses, DenyUnknown, Devices, Listen};
use swirl_common::policy;

pub use swirl_common::policy::PolicyConfig;

/// `[DEFAULT]` + `[app:object-server]` of Swift, flattened into one table.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `bind_ip`, `bind_port` (Swift's object-server port by default).
    #[serde(flatten)]
    pub listen: Listen<AllAddresses<6200>>,
    /// `devices`, `mount_check`.
    #[serde(flatten)]
    pub disks: Devices,
    /// Unknown keys are refused (after the shared tables took theirs).
    #[serde(flatten)]
    _deny: DenyUnknown,
    /// The cluster's hash-path secret (swift.conf `[swift-hash]`); at least one is required.
    #[serde(default)]
    pub swift_hash_path_prefix: String,
    #[serde(default)]
    pub swift_hash_path_suffix: String,
    /// Seconds tombstones (and data-less .meta files) are kept.
    #[serde(default = "default_reclaim_age")]
    pub reclaim_age: u64,
    /// Space kept free on each device, Swift's syntax: `"1%"` or a byte count.
    #[serde(default = "default_fallocate_reserve")]
    pub fallocate_reserve: String,
    /// Seconds to connect to a container server.
    #[serde(default = "default_conn_timeout")]
    pub conn_timeout: f64,
    /// Seconds a container server may take to answer an update.
    #[serde(default = "default_node_timeout")]
    pub node_timeout: f64,
    /// Seconds a PUT/DELETE waits for its container updates before answering.
    #[serde(default = "default_container_update_timeout")]
    pub container_update_timeout: f64,
    /// Bytes per disk read and per write batch.
    #[serde(default = "default_disk_chunk_size")]
    pub disk_chunk_size: usize,
    /// Headers a PUT/POST may set besides X-Object-Meta-* (Swift's list).
    #[serde(default = "default_allowed_headers")]
    pub allowed_headers: Vec<String>,
    /// Log level hint (RUST_LOG wins); accepted for Swift-config familiarity.
    #[serde(default)]
    pub log_level: Option<String>,
    /// The cluster's storage policies; a request for any other
    /// X-Backend-Storage-Policy-Index gets 503, as in Swift. Default: Swift's
    /// single `Policy-0`.
    #[serde(default = "policy::default_policies")]
    pub storage_policy: Vec<PolicyConfig>,

    // Replication (the listener here; the daemon is `swirl object-replicator`).
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
    /// Directory of the rings (the replicator's; the server checks container
    /// update targets against the container ring). Swift's `swift_dir`.
    #[serde(default = "default_swift_dir")]
    pub swift_dir: PathBuf,
    /// Where the daemons keep `object.recon` (Swift's `recon_cache_path`).
    #[serde(default = "default_recon_cache_path")]
    pub recon_cache_path: PathBuf,
    /// `[object-replicator]`: the replicator's own section (read and checked
    /// by `swirl object-replicator`; the server only carries it).
    #[serde(default, rename = "object-replicator")]
    pub object_replicator: Option<toml::Table>,
    /// `[object-auditor]`: the auditor's section (read and checked by
    /// `swirl object-auditor`; the server only carries it).
    #[serde(default, rename = "object-auditor")]
    pub object_auditor: Option<toml::Table>,
    /// `[object-updater]`: read and checked by `swirl object-updater`.
    #[serde(default, rename = "object-updater")]
    pub object_updater: Option<toml::Table>,
    /// `[object-expirer]`: read and checked by `swirl object-expirer`.
    #[serde(default, rename = "object-expirer")]
    pub object_expirer: Option<toml::Table>,
}

fn default_swift_dir() -> PathBuf {
    PathBuf::from("/etc/swift")
}
fn default_recon_cache_path() -> PathBuf {
    PathBuf::from("/var/cache/swift")
}

fn default_reclaim_age() -> u64 {
    swirl_common::constraints::DEFAULT_RECLAIM_AGE
}
fn default_fallocate_reserve() -> String {
    "1%".into()
}
fn default_conn_timeout() -> f64 {
    0.5
}
fn default_node_timeout() -> f64 {
    3.0
}
fn default_container_update_timeout() -> f64 {
    1.0
}
fn default_disk_chunk_size() -> usize {
    256 * 1024
}
fn default_allowed_headers() -> Vec<String> {
    [
        "content-disposition",
        "content-encoding",
        "x-delete-at",
        "x-object-manifest",
        "x-static-large-object",
        "cache-control",
        "content-language",
        "expires",
        "x-robots-tag",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The reserve as parsed from `fallocate_reserve`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reserve {
    Percent(f64),
    Bytes(u64),
}

impl Config {
    /// Checks values serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if self.swift_hash_path_prefix.is_empty() && self.swift_hash_path_suffix.is_empty() {
            return bad(
                "swift_hash_path_suffix",
                "at least one of swift_hash_path_prefix and swift_hash_path_suffix must be set",
            );
        }
        self.listen.validate()?;
        if self.reserve().is_none() {
            return bad(
                "fallocate_reserve",
                "expected a percentage like \"1%\" or a byte count",
            );
        }
        for (k, v) in [
            ("client_timeout", self.listen.client_timeout),
            ("conn_timeout", self.conn_timeout),
            ("node_timeout", self.node_timeout),
            ("container_update_timeout", self.container_update_timeout),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k, "must be a positive number of seconds");
            }
        }
        if !(4096..=16 << 20).contains(&self.disk_chunk_size) {
            return bad("disk_chunk_size", "must be between 4096 and 16 MiB");
        }
        if self.replication_port.is_some() && self.cluster_tls.is_none() {
            return bad(
                "cluster_tls",
                "the replication listener (replication_port) needs [cluster_tls] ca_file, cert_file and key_file",
            );
        }
        policy::validate(&self.storage_policy).or_else(|m| bad("storage_policy", &m))
    }

    /// The policy an X-Backend-Storage-Policy-Index names (none: policy 0), if
    /// the cluster has it. Swift takes the header as Python's `int()` does.
    pub fn policy(&self, header: Option<&str>) -> Option<u32> {
        let index = match header {
            None => 0,
            Some(v) => v.trim().parse::<u32>().ok()?,
        };
        self.storage_policy
            .iter()
            .any(|p| p.index == index)
            .then_some(index)
    }

    /// `fallocate_reserve` parsed.
    pub fn reserve(&self) -> Option<Reserve> {
        let v = self.fallocate_reserve.trim();
        match v.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..100.0).contains(p))
                .map(Reserve::Percent),
            None => v.parse::<u64>().ok().map(Reserve::Bytes),
        }
    }

    /// The replication listener's address, when one is configured.
    pub fn replication_addr(&self) -> Option<String> {
        let port = self.replication_port?;
        let ip = self
            .replication_ip
            .as_deref()
            .unwrap_or(&self.listen.bind_ip);
        Some(if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        })
    }

    /// `bind_ip:bind_port`, IPv6 bracketed.
    pub fn bind_addr(&self) -> String {
        self.listen.addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_parses_and_typos_are_named() {
        let text = include_str!("../object-server.sample.toml");
        let c: Config = swirl_common::config::parse(text, "sample").unwrap();
        c.validate().unwrap();
        assert_eq!(c.reserve(), Some(Reserve::Percent(1.0)));
        let e = swirl_common::config::parse::<Config>("devcies = \"/x\"\n", "t").unwrap_err();
        assert!(e.to_string().contains("devcies"), "{e}");
        let c: Config = swirl_common::config::parse("", "t").unwrap();
        assert_eq!(c.validate().unwrap_err().0, "swift_hash_path_suffix");
    }

    #[test]
    fn sample_shows_the_defaults() {
        let s: Config =
            swirl_common::config::parse(include_str!("../object-server.sample.toml"), "s").unwrap();
        let d: Config = swirl_common::config::parse("", "defaults").unwrap();
        assert_eq!(
            (&s.disks.devices, s.disks.mount_check, s.listen.bind_port),
            (&d.disks.devices, d.disks.mount_check, d.listen.bind_port)
        );
        assert_eq!(
            (s.reclaim_age, &s.fallocate_reserve),
            (d.reclaim_age, &d.fallocate_reserve)
        );
        assert_eq!(
            (s.listen.client_timeout, s.conn_timeout),
            (d.listen.client_timeout, d.conn_timeout)
        );
        assert_eq!(
            (s.node_timeout, s.container_update_timeout),
            (d.node_timeout, d.container_update_timeout)
        );
        assert_eq!(
            (s.disk_chunk_size, &s.allowed_headers),
            (d.disk_chunk_size, &d.allowed_headers)
        );
        assert_eq!(
            (&s.swift_dir, &s.recon_cache_path),
            (&d.swift_dir, &d.recon_cache_path)
        );
        assert_eq!(
            s.storage_policy.iter().map(|p| p.index).collect::<Vec<_>>(),
            [0, 1]
        );
    }

    #[test]
    fn policies() {
        let text = "swift_hash_path_suffix = \"s\"\n\
            [[storage_policy]]\nindex = 0\nname = \"gold\"\ndefault = true\n\
            [[storage_policy]]\nindex = 1\nname = \"silver\"\n";
        let c: Config = swirl_common::config::parse(text, "t").unwrap();
        c.validate().unwrap();
        assert_eq!(c.policy(None), Some(0));
        assert_eq!(c.policy(Some("1")), Some(1));
        assert_eq!(c.policy(Some(" 1 ")), Some(1));
        assert_eq!(c.policy(Some("2")), None);
        assert_eq!(c.policy(Some("-1")), None);
        assert_eq!(c.policy(Some("one")), None);
        let c: Config = swirl_common::config::parse("swift_hash_path_suffix = \"s\"", "t").unwrap();
        assert_eq!(c.policy(Some("0")), Some(0));
        assert_eq!(c.policy(Some("1")), None);
        let dup = format!("{text}[[storage_policy]]\nindex = 1\nname = \"x\"\n");
        let c: Config = swirl_common::config::parse(&dup, "t").unwrap();
        assert_eq!(c.validate().unwrap_err().0, "storage_policy");
    }
}
