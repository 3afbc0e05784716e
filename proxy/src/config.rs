//! The proxy's TOML config: Swift's `proxy-server.conf` option names, one
//! struct, unknown keys rejected.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use swirl_common::config::{DenyUnknown, Listen, Loopback};
use swirl_common::policy;

pub use swirl_common::policy::PolicyConfig;

/// `[proxy-server]` + `[DEFAULT]` options, flattened, as one TOML document.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `bind_ip`, `bind_port` (loopback port 8080 by default).
    #[serde(flatten)]
    pub listen: Listen<Loopback<8080>>,
    /// Unknown keys are refused (after the shared table took its own).
    #[serde(flatten)]
    _deny: DenyUnknown,
    /// Directory holding `account.ring.gz`, `container.ring.gz`, `object[-N].ring.gz`.
    pub swift_dir: PathBuf,
    /// Hash path secret (swift.conf `[swift-hash]`); must match the storage servers.
    #[serde(default)]
    pub swift_hash_path_prefix: String,
    /// Hash path secret (swift.conf `[swift-hash]`).
    #[serde(default)]
    pub swift_hash_path_suffix: String,
    /// Seconds to wait for a backend connection.
    #[serde(default = "default_conn_timeout")]
    pub conn_timeout: f64,
    /// Seconds to wait for a backend response or for each body chunk.
    #[serde(default = "default_node_timeout")]
    pub node_timeout: f64,
    /// Seconds to wait for a GET body chunk before resuming from another node.
    #[serde(default = "default_recoverable_node_timeout")]
    pub recoverable_node_timeout: f64,
    /// Window (seconds) over which node errors are counted, and how long a node stays limited.
    #[serde(default = "default_error_suppression_interval")]
    pub error_suppression_interval: f64,
    /// Errors within the window after which a node is skipped.
    #[serde(default = "default_error_suppression_limit")]
    pub error_suppression_limit: u32,
    /// Nodes a request may try, primaries first, then handoffs: a number,
    /// or Swift's `"N * replicas"` (default `"2 * replicas"`).
    #[serde(default)]
    pub request_node_count: RequestNodeCount,
    /// Requests to the storage servers in flight at once; a client request
    /// waits for its share (backpressure).
    #[serde(default = "default_max_backend_requests")]
    pub max_backend_requests: u32,
    /// Seconds a client request waits for its share of backend requests
    /// before it is answered 503 with Retry-After.
    #[serde(default = "default_backend_queue_timeout")]
    pub backend_queue_timeout: f64,
    /// 404s without a tombstone from primaries that a read ignores (a
    /// primary a rebalance just moved may not have the data yet), at most
    /// one fewer than the primaries. Swift's default: 1.
    #[serde(default = "default_rebalance_missing_suppression_count")]
    pub rebalance_missing_suppression_count: usize,
    /// Allow account PUT/DELETE by reseller admins.
    #[serde(default)]
    pub allow_account_management: bool,
    /// Create accounts on first write (and list a missing account as empty).
    #[serde(default)]
    pub account_autocreate: bool,
    /// Seconds container info (existence, policy, ACLs) is cached.
    #[serde(default = "default_recheck")]
    pub recheck_container_existence: f64,
    /// Seconds account info (existence, ACLs) is cached.
    #[serde(default = "default_recheck")]
    pub recheck_account_existence: f64,
    /// Serve `/info`.
    #[serde(default = "default_true")]
    pub expose_info: bool,
    /// Origins allowed for CORS on every container.
    #[serde(default)]
    pub cors_allow_origin: Vec<String>,
    /// Only expose the CORS headers Swift lists when the container names no others.
    #[serde(default = "default_true")]
    pub strict_cors_mode: bool,
    /// PEM certificate chain: with `key_file`, the public port speaks TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key for `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Storage policies (swift.conf `[storage-policy:N]`); default: policy 0 "Policy-0".
    #[serde(default = "policy::default_policies")]
    pub storage_policy: Vec<PolicyConfig>,
    /// The middleware that run, in order (Swift's `[pipeline:main]`), before
    /// the proxy's controllers; each filter's options are its own table.
    #[serde(default = "default_pipeline")]
    pub pipeline: Vec<String>,
    /// The tempauth middleware.
    #[serde(default)]
    pub tempauth: TempAuthConfig,
    /// `[backend_auth]`: the cluster's backend key, which signs every
    /// request to the storage servers. Absent: unsigned, as Swift.
    #[serde(default)]
    pub backend_auth: Option<swirl_common::backend_auth::BackendAuthConfig>,
    /// The tempurl middleware.
    #[serde(default)]
    pub tempurl: TempUrlConfig,
    /// The dlo middleware (dynamic large objects).
    #[serde(default)]
    pub dlo: DloConfig,
    /// The slo middleware (static large objects).
    #[serde(default)]
    pub slo: SloConfig,
    /// The bulk middleware (bulk delete).
    #[serde(default)]
    pub bulk: BulkConfig,
    /// The etag-quoter middleware.
    #[serde(default)]
    pub etag_quoter: EtagQuoterConfig,
}

/// Swift's `request_node_count`: how many nodes of a partition a request
/// may try, its primaries included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestNodeCount {
    /// That many nodes whatever the ring.
    Fixed(usize),
    /// `N * replicas`: N times the ring's replica count.
    TimesReplicas(usize),
}

impl Default for RequestNodeCount {
    fn default() -> Self {
        RequestNodeCount::TimesReplicas(2)
    }
}

impl RequestNodeCount {
    /// Reads Swift's syntax (`proxy/server.py`): one number, or
    /// `<number> * replicas` with the words apart, in any case.
    pub fn parse(v: &str) -> Result<Self, String> {
        let lower = v.to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        let number = |w: &str| {
            w.parse::<usize>()
                .map_err(|_| format!("invalid request_node_count value: {v:?}"))
        };
        match words.as_slice() {
            [n] => number(n).map(RequestNodeCount::Fixed),
            [n, "*", "replicas"] => number(n).map(RequestNodeCount::TimesReplicas),
            _ => Err(format!(
                "invalid request_node_count value: {v:?} (expected N or \"N * replicas\")"
            )),
        }
    }

    /// The node count for a ring of `replicas` replicas.
    pub fn for_replicas(self, replicas: usize) -> usize {
        match self {
            RequestNodeCount::Fixed(n) => n,
            RequestNodeCount::TimesReplicas(n) => n.saturating_mul(replicas),
        }
    }
}

impl<'de> Deserialize<'de> for RequestNodeCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// TOML may give the count as an integer or in Swift's string form.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => usize::try_from(n)
                .map(RequestNodeCount::Fixed)
                .map_err(serde::de::Error::custom),
            Raw::Text(t) => RequestNodeCount::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// `[filter:dlo]` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DloConfig {
    /// Segments served at full speed before rate limiting starts.
    #[serde(default = "default_rate_limit_after_segment")]
    pub rate_limit_after_segment: u64,
    /// Segments per second after that (0: no limit).
    #[serde(default = "default_rate_limit_segments_per_sec")]
    pub rate_limit_segments_per_sec: u64,
    /// Seconds a manifest GET may last; the body is cut off after that.
    #[serde(default = "default_max_get_time")]
    pub max_get_time: u64,
}

impl Default for DloConfig {
    fn default() -> Self {
        DloConfig {
            rate_limit_after_segment: default_rate_limit_after_segment(),
            rate_limit_segments_per_sec: default_rate_limit_segments_per_sec(),
            max_get_time: default_max_get_time(),
        }
    }
}

/// `[filter:slo]` options (Swift's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Object-backed segments a new manifest may have.
    #[serde(default = "default_max_manifest_segments")]
    pub max_manifest_segments: usize,
    /// Bytes a manifest PUT body may have.
    #[serde(default = "default_max_manifest_size")]
    pub max_manifest_size: u64,
    /// Seconds between the spaces a `heartbeat=on` manifest PUT sends.
    #[serde(default = "default_yield_frequency")]
    pub yield_frequency: u64,
    /// Seconds a manifest GET may last; the body is cut off after that.
    #[serde(default = "default_max_get_time")]
    pub max_get_time: u64,
    /// Segments smaller than this count toward the rate limit.
    #[serde(default = "default_rate_limit_under_size")]
    pub rate_limit_under_size: u64,
    /// Small segments served at full speed before rate limiting starts.
    #[serde(default = "default_rate_limit_after_segment")]
    pub rate_limit_after_segment: u64,
    /// Small segments per second after that (0: no limit).
    #[serde(default = "default_rate_limit_segments_per_sec")]
    pub rate_limit_segments_per_sec: u64,
    /// Segment HEADs in flight at once during a manifest PUT (0 to 1000; 0 acts as 1).
    #[serde(default = "default_slo_concurrency")]
    pub concurrency: usize,
    /// Segment deletes in flight at once (default: `concurrency`).
    #[serde(default)]
    pub delete_concurrency: Option<usize>,
}

impl SloConfig {
    /// Deletes in flight during `?multipart-manifest=delete`.
    pub fn delete_concurrency(&self) -> usize {
        self.delete_concurrency.unwrap_or(self.concurrency)
    }
}

impl Default for SloConfig {
    fn default() -> Self {
        SloConfig {
            max_manifest_segments: default_max_manifest_segments(),
            max_manifest_size: default_max_manifest_size(),
            yield_frequency: default_yield_frequency(),
            max_get_time: default_max_get_time(),
            rate_limit_under_size: default_rate_limit_under_size(),
            rate_limit_after_segment: default_rate_limit_after_segment(),
            rate_limit_segments_per_sec: default_rate_limit_segments_per_sec(),
            concurrency: default_slo_concurrency(),
            delete_concurrency: None,
        }
    }
}

/// `[filter:bulk]` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkConfig {
    /// Paths one bulk-delete request may name.
    #[serde(default = "default_max_deletes_per_request")]
    pub max_deletes_per_request: usize,
    /// Failures after which a bulk delete stops.
    #[serde(default = "default_max_failed_deletes")]
    pub max_failed_deletes: usize,
    /// Seconds between the whitespace a long bulk delete sends to keep the client waiting.
    #[serde(default = "default_yield_frequency")]
    pub yield_frequency: u64,
    /// Deletes in flight at once (1 to 1000).
    #[serde(default = "default_delete_concurrency")]
    pub delete_concurrency: usize,
    /// Retries of a container delete answered 409 (it may still be emptying).
    #[serde(default)]
    pub delete_container_retry_count: u32,
    /// Containers one extract-archive request may create.
    #[serde(default = "default_max_deletes_per_request")]
    pub max_containers_per_extraction: usize,
    /// Failures after which an extract-archive stops.
    #[serde(default = "default_max_failed_deletes")]
    pub max_failed_extractions: usize,
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            max_deletes_per_request: default_max_deletes_per_request(),
            max_failed_deletes: default_max_failed_deletes(),
            yield_frequency: default_yield_frequency(),
            delete_concurrency: default_delete_concurrency(),
            delete_container_retry_count: 0,
            max_containers_per_extraction: default_max_deletes_per_request(),
            max_failed_extractions: default_max_failed_deletes(),
        }
    }
}

/// `[filter:etag-quoter]` options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtagQuoterConfig {
    /// Quote object ETags where neither the container nor the account says otherwise.
    #[serde(default)]
    pub enable_by_default: bool,
}

/// `[filter:tempurl]` options (Swift's names; lists instead of
/// space-separated words; a name ending in `*` is a prefix).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TempUrlConfig {
    /// Methods a temporary URL may be made for.
    #[serde(default = "default_tempurl_methods")]
    pub methods: Vec<String>,
    /// HMAC digests accepted: sha256 and sha512, and sha1 (deprecated)
    /// only when named here.
    #[serde(default = "default_tempurl_digests")]
    pub allowed_digests: Vec<String>,
    /// Request headers dropped from a temporary URL's request...
    #[serde(default = "default_incoming_remove")]
    pub incoming_remove_headers: Vec<String>,
    /// ...except these.
    #[serde(default)]
    pub incoming_allow_headers: Vec<String>,
    /// Response headers dropped from a temporary URL's response...
    #[serde(default = "default_outgoing_remove")]
    pub outgoing_remove_headers: Vec<String>,
    /// ...except these.
    #[serde(default = "default_outgoing_allow")]
    pub outgoing_allow_headers: Vec<String>,
}

impl Default for TempUrlConfig {
    fn default() -> Self {
        TempUrlConfig {
            methods: default_tempurl_methods(),
            allowed_digests: default_tempurl_digests(),
            incoming_remove_headers: default_incoming_remove(),
            incoming_allow_headers: Vec::new(),
            outgoing_remove_headers: default_outgoing_remove(),
            outgoing_allow_headers: default_outgoing_allow(),
        }
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn default_tempurl_methods() -> Vec<String> {
    words(&["GET", "HEAD", "PUT", "POST", "DELETE"])
}

fn default_tempurl_digests() -> Vec<String> {
    words(&["sha256", "sha512"])
}

fn default_incoming_remove() -> Vec<String> {
    words(&["x-timestamp", "x-open-expired"])
}

fn default_outgoing_remove() -> Vec<String> {
    words(&["x-object-meta-*"])
}

fn default_outgoing_allow() -> Vec<String> {
    words(&["x-object-meta-public-*"])
}

/// `[filter:tempauth]` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TempAuthConfig {
    /// Reseller prefixes, e.g. `["AUTH", "SERVICE"]` (a trailing `_` is added as Swift does).
    #[serde(default = "default_reseller_prefix")]
    pub reseller_prefix: Vec<String>,
    /// Seconds a token lives.
    #[serde(default = "default_token_life")]
    pub token_life: u64,
    /// `<PREFIX>_require_group`: keyed by prefix (`SERVICE` or `SERVICE_`), the group a
    /// service token must carry to reach accounts with that prefix.
    #[serde(default)]
    pub require_group: BTreeMap<String, String>,
    /// `user_<account>_<user> = "<key> [group ...] [storage url]"`, Swift's syntax.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
}

impl Default for TempAuthConfig {
    fn default() -> Self {
        TempAuthConfig {
            reseller_prefix: default_reseller_prefix(),
            token_life: default_token_life(),
            require_group: BTreeMap::new(),
            users: BTreeMap::new(),
        }
    }
}

fn default_conn_timeout() -> f64 {
    0.5
}
fn default_node_timeout() -> f64 {
    10.0
}
fn default_recoverable_node_timeout() -> f64 {
    10.0
}
fn default_error_suppression_interval() -> f64 {
    60.0
}
fn default_error_suppression_limit() -> u32 {
    10
}
fn default_max_backend_requests() -> u32 {
    512
}
fn default_backend_queue_timeout() -> f64 {
    10.0
}
fn default_rebalance_missing_suppression_count() -> usize {
    1
}
fn default_recheck() -> f64 {
    60.0
}
fn default_pipeline() -> Vec<String> {
    crate::pipeline::registry::DEFAULT
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn default_true() -> bool {
    true
}
fn default_token_life() -> u64 {
    86400
}
fn default_reseller_prefix() -> Vec<String> {
    vec!["AUTH".into()]
}
fn default_rate_limit_after_segment() -> u64 {
    10
}
fn default_rate_limit_segments_per_sec() -> u64 {
    1
}
fn default_max_get_time() -> u64 {
    86400
}
fn default_max_manifest_segments() -> usize {
    1000
}
fn default_max_manifest_size() -> u64 {
    8 << 20
}
fn default_rate_limit_under_size() -> u64 {
    1 << 20
}
fn default_slo_concurrency() -> usize {
    2
}
fn default_max_deletes_per_request() -> usize {
    10_000
}
fn default_max_failed_deletes() -> usize {
    1000
}
fn default_yield_frequency() -> u64 {
    10
}
fn default_delete_concurrency() -> usize {
    2
}

/// Seconds as a Duration, refusing negative or non-finite values.
pub fn secs(v: f64) -> Duration {
    if v.is_finite() && v > 0.0 {
        Duration::from_secs_f64(v)
    } else {
        Duration::ZERO
    }
}

impl Config {
    /// Checks what serde cannot: timeouts, policies, TLS pairing. Errors name the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        for (k, v) in [
            ("conn_timeout", self.conn_timeout),
            ("node_timeout", self.node_timeout),
            ("recoverable_node_timeout", self.recoverable_node_timeout),
            ("client_timeout", self.listen.client_timeout),
            ("backend_queue_timeout", self.backend_queue_timeout),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k, "must be a positive number of seconds");
            }
        }
        self.listen.validate()?;
        if let Err(m) = crate::pipeline::registry::check(&self.pipeline) {
            return bad("pipeline", &m);
        }
        for d in &self.tempurl.allowed_digests {
            if !["sha1", "sha256", "sha512"].contains(&d.as_str()) {
                return bad(
                    "tempurl.allowed_digests",
                    &format!("unsupported digest {d:?}"),
                );
            }
        }
        if self.tempurl.allowed_digests.is_empty() {
            return bad("tempurl.allowed_digests", "names no digest");
        }
        if !(1..=1000).contains(&self.bulk.delete_concurrency) {
            return bad("bulk.delete_concurrency", "must be between 1 and 1000");
        }
        if self.slo.concurrency > 1000 {
            return bad("slo.concurrency", "must be between 0 and 1000");
        }
        if self.slo.yield_frequency == 0 {
            return bad("slo.yield_frequency", "must be at least 1 second");
        }
        if self.bulk.yield_frequency == 0 {
            return bad("bulk.yield_frequency", "must be at least 1 second");
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return bad("cert_file", "cert_file and key_file go together");
        }
        if let Err(m) = policy::validate(&self.storage_policy) {
            return bad("storage_policy", &m);
        }
        for (k, v) in &self.tempauth.users {
            if !k.starts_with("user_") || v.split_whitespace().next().is_none() {
                return bad(
                    &format!("tempauth.users.{k}"),
                    "expected user_<account>_<user> = \"<key> [groups...]\"",
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_config_parses_with_its_values() {
        let text = include_str!("../proxy-server.sample.toml");
        let c: Config = swirl_common::config::parse(text, "proxy-server.sample.toml").unwrap();
        c.validate().unwrap();
        assert_eq!(c.listen.addr(), "127.0.0.1:8080");
        assert_eq!(c.swift_dir, PathBuf::from("/etc/swift"));
        assert!(c.allow_account_management && c.account_autocreate);
        assert_eq!(c.storage_policy.len(), 2);
        assert_eq!(c.storage_policy[0].aliases, ["yellow", "orange"]);
        assert!(c.storage_policy[0].default && !c.storage_policy[1].default);
        assert_eq!(c.tempauth.reseller_prefix, ["AUTH", "SERVICE"]);
        assert_eq!(c.tempauth.require_group["SERVICE"], "service");
        assert_eq!(c.tempauth.users["user_test_tester"], "testing .admin");
        assert_eq!(c.slo.delete_concurrency(), 2);
        assert_eq!(c.bulk.max_deletes_per_request, 10_000);
        assert!(!c.etag_quoter.enable_by_default);
        assert!(c.cert_file.is_none());
        // What the sample calls defaults are the defaults.
        let d: Config = swirl_common::config::parse("swift_dir = \"/etc/swift\"", "-").unwrap();
        assert_eq!(
            (d.conn_timeout, d.node_timeout),
            (c.conn_timeout, c.node_timeout)
        );
        assert_eq!(d.recoverable_node_timeout, c.recoverable_node_timeout);
        assert_eq!(d.pipeline, c.pipeline);
        assert_eq!(d.tempurl.methods, c.tempurl.methods);
        assert_eq!(d.tempurl.allowed_digests, c.tempurl.allowed_digests);
        assert_eq!(
            d.tempurl.outgoing_allow_headers,
            c.tempurl.outgoing_allow_headers
        );
        let bad: Config = swirl_common::config::parse(
            "swift_dir = \"/e\"\npipeline = [\"tempauth\", \"ratelimit\"]",
            "-",
        )
        .unwrap();
        let (key, why) = bad.validate().unwrap_err();
        assert_eq!(key, "pipeline");
        assert!(why.contains("unknown filter \"ratelimit\""), "{why}");
        assert_eq!(d.listen.client_timeout, c.listen.client_timeout);
        assert_eq!(d.listen.max_clients, c.listen.max_clients);
        assert_eq!(d.error_suppression_limit, c.error_suppression_limit);
        assert_eq!(d.error_suppression_interval, c.error_suppression_interval);
        assert_eq!(d.request_node_count, c.request_node_count);
        assert_eq!(d.max_backend_requests, c.max_backend_requests);
        assert_eq!(d.backend_queue_timeout, c.backend_queue_timeout);
        assert_eq!(
            d.rebalance_missing_suppression_count,
            c.rebalance_missing_suppression_count
        );
        assert_eq!(d.tempauth.token_life, c.tempauth.token_life);
        assert_eq!(
            d.dlo.rate_limit_after_segment,
            c.dlo.rate_limit_after_segment
        );
        assert_eq!(d.slo.max_manifest_size, c.slo.max_manifest_size);
        assert_eq!(d.slo.rate_limit_under_size, c.slo.rate_limit_under_size);
        assert_eq!(d.bulk.max_failed_extractions, c.bulk.max_failed_extractions);
    }

    #[test]
    fn sample_parses_and_unknown_keys_fail() {
        let text = r#"
bind_port = 0
swift_dir = "/tmp/x"
swift_hash_path_suffix = "changeme"
account_autocreate = true
[tempauth]
reseller_prefix = ["AUTH", "SERVICE"]
require_group = { SERVICE = "service" }
[tempauth.users]
user_test_tester = "testing .admin"
[dlo]
rate_limit_after_segment = 20
[slo]
max_manifest_segments = 2000
delete_concurrency = 4
[bulk]
max_deletes_per_request = 100
[etag_quoter]
enable_by_default = true
"#;
        let c: Config = toml::from_str(text).unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.storage_policy[0].name, "Policy-0");
        assert_eq!(c.dlo.rate_limit_after_segment, 20);
        assert_eq!(c.dlo.max_get_time, 86400);
        assert_eq!(c.bulk.max_deletes_per_request, 100);
        assert_eq!(c.slo.max_manifest_segments, 2000);
        assert_eq!(c.slo.max_manifest_size, 8 << 20);
        assert_eq!((c.slo.concurrency, c.slo.delete_concurrency()), (2, 4));
        assert_eq!(SloConfig::default().delete_concurrency(), 2);
        assert_eq!(c.bulk.max_failed_deletes, 1000);
        assert!(c.etag_quoter.enable_by_default);
        assert!(toml::from_str::<Config>(&format!("bogus = 1\n{text}")).is_err());
        let mut c2 = c.clone();
        c2.conn_timeout = -1.0;
        assert_eq!(c2.validate().unwrap_err().0, "conn_timeout");
        assert_eq!(c.request_node_count, RequestNodeCount::TimesReplicas(2));
        assert_eq!(c.request_node_count.for_replicas(3), 6);
    }

    #[test]
    fn request_node_count_takes_swifts_syntax() {
        use RequestNodeCount::*;
        let p = RequestNodeCount::parse;
        assert_eq!(p("2 * replicas"), Ok(TimesReplicas(2)));
        assert_eq!(p(" 3  *  REPLICAS "), Ok(TimesReplicas(3)));
        assert_eq!(p("5"), Ok(Fixed(5)));
        for bad in [
            "",
            "2*replicas",
            "2 * nodes",
            "two * replicas",
            "-1",
            "2 + replicas",
            "2 *",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TimesReplicas(2).for_replicas(3), 6);
        assert_eq!(Fixed(4).for_replicas(3), 4);
        let base = "swift_dir = \"/x\"\n";
        let parse = |extra: &str| toml::from_str::<Config>(&format!("{base}{extra}"));
        let c = parse("request_node_count = \"3 * replicas\"").unwrap();
        assert_eq!(c.request_node_count.for_replicas(2), 6);
        assert_eq!(
            parse("request_node_count = 7").unwrap().request_node_count,
            Fixed(7)
        );
        let e = parse("request_node_count = \"3 x replicas\"").unwrap_err();
        assert!(e.to_string().contains("request_node_count"), "{e}");
        assert!(parse("request_node_count = -2").is_err());
    }
}
