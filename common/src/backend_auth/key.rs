//! The cluster's backend key and a node's `[backend_auth]` table.
//!
//! The key is 32 random bytes, written as 64 hex digits in one file
//! (`backend.key`, mode 0600) that every node of the cluster holds, beside
//! its cluster TLS files; `swirl cluster-ca backend-key` creates it and
//! `swirl aio` creates its own.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::BackendAuth;

/// The key file's name in a cluster CA or node directory.
pub const KEY_FILE: &str = "backend.key";

/// Default `max_skew` (seconds): a request's time may be this far from the
/// server's clock either way.
pub const DEFAULT_MAX_SKEW: f64 = 60.0;

/// The cluster's shared MAC key.
#[derive(Clone)]
pub struct BackendKey([u8; 32]);

impl std::fmt::Debug for BackendKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackendKey(..)")
    }
}

impl BackendKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        BackendKey(b)
    }

    /// A new random key.
    pub fn generate() -> Self {
        BackendKey(rand::random())
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The file's text: 64 hex digits (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if t.len() != 64 || !t.is_ascii() {
            return None;
        }
        let mut b = [0u8; 32];
        for (i, out) in b.iter_mut().enumerate() {
            *out = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(BackendKey(b))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text).ok_or_else(|| KeyError::File {
            path: path.display().to_string(),
            message: "expected 64 hex digits".into(),
        })
    }

    /// Writes a new key to `path` (mode 0600) unless a file is there
    /// already; either way returns the key the file holds.
    pub fn create(path: &Path) -> Result<Self, KeyError> {
        if path.exists() {
            return Self::load(path);
        }
        let err = |e: std::io::Error| KeyError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let key = Self::generate();
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(err)?;
            f.write_all(format!("{}\n", key.to_hex()).as_bytes())
                .map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, path).map_err(err)?;
        Ok(key)
    }
}

/// Why backend authentication could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("backend_auth key_file {path}: {message}")]
    File { path: String, message: String },
    #[error("backend_auth: {0}")]
    Config(String),
}

/// What a node does with backend credentials.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Sign every backend request and refuse unsigned ones (the default).
    #[default]
    Signed,
    /// Check nothing, as Swift's servers: for a cluster mixing swirl and
    /// Swift nodes. With a `key_file`, requests are still signed.
    Plain,
}

/// `[backend_auth]` of a node's config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackendAuthConfig {
    #[serde(default)]
    pub mode: Mode,
    /// The cluster's backend key (required when signed).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Seconds a request's time may differ from this node's clock.
    #[serde(default = "default_max_skew")]
    pub max_skew: f64,
}

fn default_max_skew() -> f64 {
    DEFAULT_MAX_SKEW
}

impl BackendAuthConfig {
    /// Signed with the key file at `path`.
    pub fn signed(path: PathBuf) -> Self {
        BackendAuthConfig {
            mode: Mode::Signed,
            key_file: Some(path),
            max_skew: DEFAULT_MAX_SKEW,
        }
    }

    /// Loads the key and builds the node's [`BackendAuth`].
    pub fn load(&self) -> Result<BackendAuth, KeyError> {
        if !(self.max_skew.is_finite() && self.max_skew > 0.0) {
            return Err(KeyError::Config("max_skew must be above 0".into()));
        }
        let key = match (&self.key_file, self.mode) {
            (Some(p), _) => Some(BackendKey::load(p)?),
            (None, Mode::Plain) => None,
            (None, Mode::Signed) => {
                return Err(KeyError::Config(
                    "mode = \"signed\" needs key_file (or mode = \"plain\")".into(),
                ))
            }
        };
        let max_skew_ms = (self.max_skew * 1000.0) as u64;
        Ok(match key {
            Some(k) => BackendAuth::new(k, self.mode == Mode::Signed, max_skew_ms),
            None => BackendAuth::plain(),
        })
    }
}

/// A node's backend auth from its optional `[backend_auth]` table: without
/// one, plain (Swift's behaviour), with a warning in the log.
pub fn from_config(
    c: Option<&BackendAuthConfig>,
    role: &str,
) -> Result<std::sync::Arc<BackendAuth>, KeyError> {
    match c {
        Some(c) => Ok(std::sync::Arc::new(c.load()?)),
        None => {
            tracing::warn!(
                role,
                "no [backend_auth] in the config: backend requests are neither signed nor checked"
            );
            Ok(std::sync::Arc::new(BackendAuth::plain()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tls").join(KEY_FILE);
        let k = BackendKey::create(&p).unwrap();
        let again = BackendKey::create(&p).unwrap();
        assert_eq!(k.bytes(), again.bytes(), "an existing key is kept");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(BackendKey::load(&p).unwrap().to_hex(), k.to_hex());
        assert!(BackendKey::parse("abc").is_none());
        assert!(BackendKey::parse(&"zz".repeat(32)).is_none());
        assert!(format!("{k:?}").contains(".."), "Debug hides the key");
    }

    #[test]
    fn config_modes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(KEY_FILE);
        BackendKey::create(&p).unwrap();
        let c: BackendAuthConfig =
            toml::from_str(&format!("key_file = {:?}", p.display().to_string())).unwrap();
        assert_eq!(c.mode, Mode::Signed);
        assert!(c.load().unwrap().verifies());
        let c: BackendAuthConfig = toml::from_str("mode = \"plain\"").unwrap();
        assert!(!c.load().unwrap().verifies());
        let c: BackendAuthConfig = toml::from_str("mode = \"signed\"").unwrap();
        assert!(c.load().is_err());
        assert!(toml::from_str::<BackendAuthConfig>("mode = \"open\"").is_err());
        assert!(toml::from_str::<BackendAuthConfig>("keyfile = \"x\"").is_err());
        assert!(!from_config(None, "object").unwrap().verifies());
    }
}
