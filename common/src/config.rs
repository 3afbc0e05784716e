//! Loading a role's TOML config into its serde struct (which uses
//! `deny_unknown_fields`, so a misspelt key is an error that names it).

use std::path::Path;

use serde::de::DeserializeOwned;

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
}
