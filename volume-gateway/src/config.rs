//! The gateway's TOML config (`swirl volume-gateway <config.toml>`); the
//! annotated sample is `volume-gateway.sample.toml`.

use serde::Deserialize;

/// Everything the gateway reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the Cinder v3 API (Cinder's osapi_volume_listen).
    #[serde(default = "default_ip")]
    pub bind_ip: String,
    /// Port of the Cinder v3 API; 0 picks a free one (printed on READY).
    #[serde(default = "default_api_port")]
    pub bind_port: u16,
    /// Address NBD clients connect to.
    #[serde(default = "default_ip")]
    pub nbd_bind_ip: String,
    /// NBD port; 0 picks a free one.
    #[serde(default = "default_nbd_port")]
    pub nbd_bind_port: u16,
    /// A Unix socket serving the same exports to clients on this host
    /// (qemu and libvirt beside the gateway), reachable only as the socket
    /// file's permissions allow. connection_info then adds its `nbd+unix`
    /// URI.
    #[serde(default)]
    pub nbd_socket: Option<std::path::PathBuf>,
    /// Host put into attachments' connection_info (default: the NBD address).
    #[serde(default)]
    pub nbd_public_host: Option<String>,
    /// Port put into connection_info (default: the bound NBD port).
    #[serde(default)]
    pub nbd_public_port: Option<u16>,
    /// This gateway's name in attachment records (default: its public NBD
    /// host:port). Attachments are served only by the gateway named in them.
    #[serde(default)]
    pub gateway_id: Option<String>,
    /// The cluster's proxy, e.g. `http://127.0.0.1:8080`.
    pub proxy_url: String,
    /// Run the proxy inside the gateway instead, from this proxy-server
    /// config (its rings, swift.conf and backend key on this node; its
    /// listener is not used), as Swift's internal client does: every chunk
    /// then goes straight to the storage servers, one network hop fewer.
    /// `auth_url` then names only a path; clients' tokens are still checked
    /// at `proxy_url` (a tempauth token is known only where it was issued).
    #[serde(default)]
    pub proxy_config: Option<std::path::PathBuf>,
    /// Where the gateway signs in: tempauth's v1 URL (`.../auth/v1.0`), or
    /// Keystone's v3 URL (ending in `/v3`).
    pub auth_url: String,
    /// Tempauth: a user the proxy makes a reseller admin, as
    /// `account:user`. Keystone: a user of `auth_domain` holding the
    /// ResellerAdmin role. Either way it reads and writes every project's
    /// volumes.
    pub auth_user: String,
    pub auth_key: String,
    /// Keystone: the project the gateway's token is scoped to.
    #[serde(default = "default_auth_project")]
    pub auth_project: String,
    /// Keystone: the domain id of `auth_user` and `auth_project`.
    #[serde(default = "default_auth_domain")]
    pub auth_domain: String,
    /// A project id maps to account `<reseller_prefix><project_id>` (an id
    /// that already starts with the prefix is the account itself).
    #[serde(default = "default_reseller_prefix")]
    pub reseller_prefix: String,
    /// Container of each project's volume, snapshot and map records.
    #[serde(default = "default_volume_container")]
    pub volume_container: String,
    /// Container of each project's chunk objects.
    #[serde(default = "default_chunk_container")]
    pub chunk_container: String,
    /// Storage policy of those containers when the gateway creates them.
    #[serde(default)]
    pub storage_policy: Option<String>,
    /// Bytes per chunk object of new volumes (a power of two, 64 KiB-64 MiB).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: u64,
    /// Write-back cache per attached volume, in bytes.
    #[serde(default = "default_cache_size")]
    pub cache_size: u64,
    /// Chunk PUTs in flight per volume.
    #[serde(default = "default_upload_concurrency")]
    pub upload_concurrency: usize,
    /// Seconds one request to the proxy may take.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: f64,
    /// Seconds a token the proxy accepted is trusted without asking again.
    #[serde(default = "default_token_cache_time")]
    pub token_cache_time: f64,
    /// Availability zone reported for volumes.
    #[serde(default = "default_zone")]
    pub availability_zone: String,
    /// Account holding Glance's single-tenant images (`imageRef` by id).
    #[serde(default)]
    pub image_account: Option<String>,
    /// Container of Glance's single-tenant images.
    #[serde(default = "default_image_container")]
    pub image_container: String,
}

fn default_ip() -> String {
    "127.0.0.1".into()
}
fn default_api_port() -> u16 {
    8776
}
fn default_nbd_port() -> u16 {
    10809
}
fn default_auth_project() -> String {
    "service".into()
}
fn default_auth_domain() -> String {
    "default".into()
}
fn default_reseller_prefix() -> String {
    "AUTH_".into()
}
fn default_volume_container() -> String {
    "swirl-volumes".into()
}
fn default_chunk_container() -> String {
    "swirl-volume-chunks".into()
}
fn default_chunk_size() -> u64 {
    4 << 20
}
fn default_cache_size() -> u64 {
    256 << 20
}
fn default_upload_concurrency() -> usize {
    8
}
fn default_request_timeout() -> f64 {
    60.0
}
fn default_token_cache_time() -> f64 {
    60.0
}
fn default_zone() -> String {
    "nova".into()
}
fn default_image_container() -> String {
    "glance".into()
}

impl Config {
    /// Whether the gateway signs in with Keystone (v3) rather than tempauth.
    pub fn keystone_auth(&self) -> bool {
        self.auth_url.trim_end_matches('/').ends_with("/v3")
    }

    /// Checks values serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        let cs = self.chunk_size;
        if !cs.is_power_of_two() || !(64 << 10..=64 << 20).contains(&cs) {
            return bad(
                "chunk_size",
                "must be a power of two from 65536 to 67108864",
            );
        }
        if self.cache_size < 4 * cs {
            return bad("cache_size", "must hold at least four chunks");
        }
        if self.nbd_socket.as_ref().is_some_and(|p| !p.is_absolute()) {
            // connection_info hands the path to clients in other directories.
            return bad("nbd_socket", "must be an absolute path");
        }
        if !(1..=256).contains(&self.upload_concurrency) {
            return bad("upload_concurrency", "must be 1 to 256");
        }
        if !self.proxy_url.starts_with("http://") {
            return bad("proxy_url", "must be an http:// URL");
        }
        if !self.auth_url.starts_with("http://") {
            return bad("auth_url", "must be an http:// URL");
        }
        if !self.keystone_auth() && !self.auth_user.contains(':') {
            return bad(
                "auth_user",
                "must be account:user (or auth_url Keystone's, ending in /v3)",
            );
        }
        if !self.request_timeout.is_finite() || self.request_timeout <= 0.0 {
            return bad("request_timeout", "must be positive");
        }
        if !self.token_cache_time.is_finite() || self.token_cache_time < 0.0 {
            return bad("token_cache_time", "must not be negative");
        }
        for (k, v) in [
            ("volume_container", &self.volume_container),
            ("chunk_container", &self.chunk_container),
            ("image_container", &self.image_container),
        ] {
            if v.is_empty() || v.contains('/') || v.len() > 256 {
                return bad(k, "must be a container name (no '/', at most 256 bytes)");
            }
        }
        if self.reseller_prefix.is_empty() {
            return bad("reseller_prefix", "must not be empty");
        }
        Ok(())
    }

    /// The proxy's base URL without a trailing slash.
    pub fn proxy_base(&self) -> &str {
        self.proxy_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_parses() {
        let text = include_str!("../volume-gateway.sample.toml");
        let c: Config = swirl_common::config::parse(text, "sample").unwrap();
        c.validate().unwrap();
        assert_eq!(c.bind_port, 8776);
        assert_eq!(c.nbd_bind_port, 10809);
        assert_eq!(c.chunk_size, 4 << 20);
        assert_eq!(c.proxy_base(), "http://127.0.0.1:8080");
    }

    #[test]
    fn bad_values_are_named() {
        let base = "proxy_url = \"http://p\"\nauth_url = \"http://p/auth/v1.0\"\n\
                    auth_user = \"admin:admin\"\nauth_key = \"k\"\n";
        let c: Config = swirl_common::config::parse(base, "x").unwrap();
        c.validate().unwrap();
        for (extra, key) in [
            ("chunk_size = 1000\n", "chunk_size"),
            ("chunk_size = 4194304\ncache_size = 4194304\n", "cache_size"),
            ("upload_concurrency = 0\n", "upload_concurrency"),
            ("chunk_container = \"a/b\"\n", "chunk_container"),
            ("nbd_socket = \"run/nbd.sock\"\n", "nbd_socket"),
        ] {
            let c: Config = swirl_common::config::parse(&format!("{base}{extra}"), "x").unwrap();
            assert_eq!(c.validate().unwrap_err().0, key);
        }
        let e = swirl_common::config::parse::<Config>(&format!("{base}bind_prot = 1\n"), "x")
            .unwrap_err();
        assert!(e.to_string().contains("bind_prot"));
    }

    #[test]
    fn a_keystone_auth_url_takes_a_plain_user_name() {
        let ks = "proxy_url = \"http://p\"\nauth_url = \"http://k:5000/v3/\"\n\
                  auth_user = \"swift\"\nauth_key = \"k\"\n";
        let c: Config = swirl_common::config::parse(ks, "x").unwrap();
        assert!(c.keystone_auth());
        c.validate().unwrap();
        assert_eq!(
            (c.auth_project.as_str(), c.auth_domain.as_str()),
            ("service", "default")
        );
        let v1 = ks.replace("http://k:5000/v3/", "http://p/auth/v1.0");
        let c: Config = swirl_common::config::parse(&v1, "x").unwrap();
        assert!(!c.keystone_auth());
        assert_eq!(c.validate().unwrap_err().0, "auth_user");
    }
}
