//! Loading a role's TOML config into its serde struct (a misspelt key is an
//! error that names it), and the tables every server's config shares:
//! where it listens ([`Listen`]) and where its devices are ([`Devices`]).
//!
//! A role flattens the shared tables into its own struct. serde's
//! `deny_unknown_fields` does not work with `flatten`, so the role puts a
//! flattened [`DenyUnknown`] after them: it gets whatever key no table took
//! and refuses it.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config {path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

/// Reads and parses `path`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses config text; `origin` names it in errors.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: origin.to_string(),
        message: e.to_string(),
    })
}

/// The address a role listens on when its config names none.
pub trait ListenDefaults {
    const BIND_IP: &'static str;
    const BIND_PORT: u16;
}

/// Every address, port `PORT` unless the config says otherwise (storage servers).
#[derive(Debug, Clone)]
pub struct AllAddresses<const PORT: u16>;

impl<const PORT: u16> ListenDefaults for AllAddresses<PORT> {
    const BIND_IP: &'static str = "0.0.0.0";
    const BIND_PORT: u16 = PORT;
}

/// Loopback only, port `PORT` unless the config says otherwise (the proxy).
#[derive(Debug, Clone)]
pub struct Loopback<const PORT: u16>;

impl<const PORT: u16> ListenDefaults for Loopback<PORT> {
    const BIND_IP: &'static str = "127.0.0.1";
    const BIND_PORT: u16 = PORT;
}

/// Where a server listens (Swift's `bind_ip`, `bind_port`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct Listen<D: ListenDefaults> {
    /// Address to listen on.
    #[serde(default = "default_bind_ip::<D>")]
    pub bind_ip: String,
    /// Port to listen on; 0 lets the OS choose (tests).
    #[serde(default = "default_bind_port::<D>")]
    pub bind_port: u16,
    /// Seconds a client may take to send a request's headers, or to start
    /// its next request on a kept-alive connection, and (where a role reads
    /// a body) to send each chunk of its body: Swift's `client_timeout`.
    #[serde(default = "default_client_timeout")]
    pub client_timeout: f64,
    /// Connections this listener serves at once (Swift's `max_clients`);
    /// the next ones wait in the kernel's backlog until one ends.
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    #[serde(skip)]
    role: PhantomData<fn() -> D>,
}

fn default_bind_ip<D: ListenDefaults>() -> String {
    D::BIND_IP.to_string()
}
fn default_bind_port<D: ListenDefaults>() -> u16 {
    D::BIND_PORT
}
fn default_client_timeout() -> f64 {
    60.0
}
fn default_max_clients() -> usize {
    1024
}

impl<D: ListenDefaults> Listen<D> {
    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(self.client_timeout.is_finite() && self.client_timeout > 0.0) {
            return Err((
                "client_timeout".into(),
                "must be a positive number of seconds".into(),
            ));
        }
        if self.max_clients == 0 {
            return Err(("max_clients".into(), "must be at least 1".into()));
        }
        Ok(())
    }

    /// [`Self::client_timeout`] as a duration (60 s if it is not one).
    pub fn client_timeout(&self) -> std::time::Duration {
        std::time::Duration::try_from_secs_f64(self.client_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .unwrap_or(std::time::Duration::from_secs(60))
    }

    /// `bind_ip:bind_port`, an IPv6 address in brackets.
    pub fn addr(&self) -> String {
        if self.bind_ip.contains(':') {
            format!("[{}]:{}", self.bind_ip, self.bind_port)
        } else {
            format!("{}:{}", self.bind_ip, self.bind_port)
        }
    }
}

/// Where a storage server's devices are (Swift's `devices`, `mount_check`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Devices {
    /// Parent directory of the devices (one subdirectory per device).
    #[serde(default = "default_devices")]
    pub devices: PathBuf,
    /// Require each device to be a mount point (refuse writes to the root disk).
    #[serde(default = "default_mount_check")]
    pub mount_check: bool,
}

fn default_devices() -> PathBuf {
    PathBuf::from("/srv/node")
}
fn default_mount_check() -> bool {
    true
}

/// Flattened into a role's config after its shared tables: refuses any key
/// that neither the role's own fields nor those tables took.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyUnknown;

impl<'de> Deserialize<'de> for DenyUnknown {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct Leftovers;
        impl<'de> Visitor<'de> for Leftovers {
            type Value = DenyUnknown;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("no other keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DenyUnknown, A::Error> {
                match map.next_key::<String>()? {
                    Some(key) => Err(de::Error::custom(format!("unknown field `{key}`"))),
                    None => Ok(DenyUnknown),
                }
            }
        }
        d.deserialize_map(Leftovers)
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct C {
        #[allow(dead_code)]
        bind_port: u16,
    }

    #[test]
    fn unknown_key_is_named() {
        let e = super::parse::<C>("bind_port = 1\nbind_prot = 2\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("bind_prot"), "{e}");
    }

    /// A role's config as the roles write theirs.
    #[derive(serde::Deserialize, Debug)]
    struct Role {
        #[serde(flatten)]
        listen: super::Listen<super::AllAddresses<6200>>,
        #[serde(flatten)]
        disks: super::Devices,
        #[serde(flatten)]
        _deny: super::DenyUnknown,
        #[serde(default)]
        workers: u32,
    }

    #[test]
    fn shared_tables_flatten_and_unknown_keys_still_fail() {
        let r: Role = super::parse("", "t").unwrap();
        assert_eq!(r.listen.addr(), "0.0.0.0:6200");
        assert_eq!(r.disks.devices, std::path::PathBuf::from("/srv/node"));
        assert!(r.disks.mount_check);
        let text = "bind_ip = \"::1\"\nbind_port = 0\ndevices = \"/d\"\nmount_check = false\nworkers = 3\n";
        let r: Role = super::parse(text, "t").unwrap();
        assert_eq!((r.listen.addr().as_str(), r.workers), ("[::1]:0", 3));
        assert_eq!(r.disks.devices, std::path::PathBuf::from("/d"));
        assert!(!r.disks.mount_check);
        for typo in ["devcies = \"/x\"", "bind_prot = 1", "[wrokers]\nx = 1"] {
            let e = super::parse::<Role>(typo, "t").unwrap_err().to_string();
            let key = typo
                .trim_start_matches('[')
                .split([' ', ']'])
                .next()
                .unwrap();
            assert!(e.contains(&format!("unknown field `{key}`")), "{typo}: {e}");
        }
        // A shared key of the wrong type is still refused.
        assert!(super::parse::<Role>("bind_port = \"x\"", "t").is_err());
    }
}
