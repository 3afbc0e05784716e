//! The `[authtoken]` and `[keystoneauth]` tables of the proxy's TOML: the
//! options of keystonemiddleware's auth_token filter and of Swift's
//! keystoneauth filter, under their own names.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A list given as a TOML array or, as in Swift's paste config, as one
/// comma-separated string (`"admin, swiftoperator"`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum StrList {
    List(Vec<String>),
    Csv(String),
}

impl StrList {
    /// The items, trimmed, empty ones dropped (Swift's `list_from_csv`).
    pub fn items(&self) -> Vec<String> {
        let raw: Vec<&str> = match self {
            StrList::List(v) => v.iter().map(String::as_str).collect(),
            StrList::Csv(s) => s.split(',').collect(),
        };
        raw.iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

fn list(items: &[&str]) -> StrList {
    StrList::List(items.iter().map(|s| s.to_string()).collect())
}

/// `[filter:authtoken]` (keystonemiddleware): where Keystone is, the
/// proxy's own service credentials, and how validated tokens are cached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthTokenConfig {
    /// Keystone's identity endpoint, with or without the `/v3` suffix
    /// (`http://127.0.0.1:5000/v3`). Plain HTTP only.
    pub auth_url: String,
    /// Sent to clients in `WWW-Authenticate: Keystone uri="..."` on a 401;
    /// default: `auth_url`.
    #[serde(default)]
    pub www_authenticate_uri: Option<String>,
    /// Only `password` is supported.
    #[serde(default = "default_auth_type")]
    pub auth_type: String,
    /// The service user (it needs the `admin` or `service` role to validate tokens).
    pub username: String,
    pub password: String,
    /// The project the service token is scoped to.
    #[serde(default = "default_project_name")]
    pub project_name: String,
    #[serde(default = "default_domain")]
    pub user_domain_id: String,
    #[serde(default = "default_domain")]
    pub project_domain_id: String,
    /// Pass requests without a valid token on, as anonymous, so that ACLs
    /// and tempurl decide (Swift needs true; keystonemiddleware's own
    /// default is false, which answers them 401 at once).
    #[serde(default = "default_true")]
    pub delay_auth_decision: bool,
    /// Seconds a validated token is trusted without asking Keystone again
    /// (never past its own expiry).
    #[serde(default = "default_token_cache_time")]
    pub token_cache_time: u64,
    /// Validated tokens kept at most (the cache's bound; swirl's own key).
    #[serde(default = "default_token_cache_size")]
    pub token_cache_size: usize,
    /// Seconds to connect to Keystone.
    #[serde(default = "default_connect_timeout")]
    pub http_connect_timeout: f64,
    /// Seconds for one Keystone request (swirl's own key).
    #[serde(default = "default_request_timeout")]
    pub http_request_timeout: f64,
    /// A service token counts only with one of these roles when
    /// `service_token_roles_required`.
    #[serde(default = "default_service_token_roles")]
    pub service_token_roles: StrList,
    #[serde(default)]
    pub service_token_roles_required: bool,
}

impl AuthTokenConfig {
    /// Password auth for `username` in `project_name`, both in `domain_id`,
    /// with every other option at its default.
    pub fn password(
        auth_url: &str,
        username: &str,
        password: &str,
        project_name: &str,
        domain_id: &str,
    ) -> Self {
        AuthTokenConfig {
            auth_url: auth_url.to_string(),
            www_authenticate_uri: None,
            auth_type: default_auth_type(),
            username: username.to_string(),
            password: password.to_string(),
            project_name: project_name.to_string(),
            user_domain_id: domain_id.to_string(),
            project_domain_id: domain_id.to_string(),
            delay_auth_decision: true,
            token_cache_time: default_token_cache_time(),
            token_cache_size: default_token_cache_size(),
            http_connect_timeout: default_connect_timeout(),
            http_request_timeout: default_request_timeout(),
            service_token_roles: default_service_token_roles(),
            service_token_roles_required: false,
        }
    }
}

/// `[filter:keystoneauth]` (Swift): how Keystone roles map to Swift's
/// accounts. Per-prefix options use Swift's names (`SERVICE_service_roles`,
/// `AUTH_operator_roles`, `SERVICE_project_reader_roles`) as keys of this table.
#[derive(Debug, Clone, Deserialize)]
pub struct KeystoneAuthConfig {
    /// Accounts are `<prefix>_<project id>`; a trailing `_` is added.
    #[serde(default = "default_reseller_prefix")]
    pub reseller_prefix: StrList,
    /// Roles that own a project's account.
    #[serde(default = "default_operator_roles")]
    pub operator_roles: StrList,
    /// Roles a service token must carry too (empty: none needed).
    #[serde(default = "empty")]
    pub service_roles: StrList,
    /// Roles that may read (GET/HEAD) their project's account.
    #[serde(default = "empty")]
    pub project_reader_roles: StrList,
    /// The role that owns every account.
    #[serde(default = "default_reseller_admin_role")]
    pub reseller_admin_role: String,
    /// Roles that may read every account.
    #[serde(default = "empty")]
    pub system_reader_roles: StrList,
    /// The domain where names in ACLs are allowed.
    #[serde(default = "default_domain")]
    pub default_domain_id: String,
    #[serde(default = "default_true")]
    pub allow_names_in_acls: bool,
    /// Middleware before (tempurl) may authorize a request itself.
    #[serde(default = "default_true")]
    pub allow_overrides: bool,
    /// No longer supported by Swift: true only logs a warning.
    #[serde(default)]
    pub is_admin: bool,
    /// `<PREFIX>_operator_roles` and the like.
    #[serde(flatten)]
    pub per_prefix: BTreeMap<String, StrList>,
}

impl Default for KeystoneAuthConfig {
    fn default() -> Self {
        KeystoneAuthConfig {
            reseller_prefix: default_reseller_prefix(),
            operator_roles: default_operator_roles(),
            service_roles: empty(),
            project_reader_roles: empty(),
            reseller_admin_role: default_reseller_admin_role(),
            system_reader_roles: empty(),
            default_domain_id: default_domain(),
            allow_names_in_acls: true,
            allow_overrides: true,
            is_admin: false,
            per_prefix: BTreeMap::new(),
        }
    }
}

/// The options that may be given per prefix.
pub const PER_PREFIX: [&str; 3] = ["operator_roles", "service_roles", "project_reader_roles"];

impl KeystoneAuthConfig {
    /// The prefixes with their `_` (Swift's `config_read_reseller_options`).
    /// `''` names the empty prefix; none at all means the empty one.
    pub fn prefixes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in self.reseller_prefix.items() {
            let p = if p == "''" { String::new() } else { p };
            let p = if p.is_empty() || p.ends_with('_') {
                p
            } else {
                format!("{p}_")
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            out.push(String::new());
        }
        out
    }

    /// Checks the per-prefix keys: `<prefix>_<option>` for a configured prefix.
    pub fn validate(&self) -> Result<(), String> {
        for key in self.per_prefix.keys() {
            if self.split_key(key).is_none() {
                return Err(format!(
                    "unknown key {key:?} (per-prefix keys are <PREFIX>_{{{}}})",
                    PER_PREFIX.join(",")
                ));
            }
        }
        Ok(())
    }

    /// `SERVICE_service_roles` -> (`SERVICE_`, `service_roles`).
    pub fn split_key(&self, key: &str) -> Option<(String, &'static str)> {
        for p in self.prefixes() {
            let written = if p.is_empty() {
                "''".to_string()
            } else {
                p.clone()
            };
            if let Some(opt) = key.strip_prefix(&written) {
                if let Some(o) = PER_PREFIX.iter().find(|o| **o == opt) {
                    return Some((p, o));
                }
            }
        }
        None
    }
}

fn default_auth_type() -> String {
    "password".into()
}
fn default_project_name() -> String {
    "service".into()
}
fn default_domain() -> String {
    "default".into()
}
fn default_true() -> bool {
    true
}
fn default_token_cache_time() -> u64 {
    300
}
fn default_token_cache_size() -> usize {
    10_000
}
fn default_connect_timeout() -> f64 {
    3.0
}
fn default_request_timeout() -> f64 {
    10.0
}
fn default_service_token_roles() -> StrList {
    list(&["service"])
}
fn default_reseller_prefix() -> StrList {
    list(&["AUTH"])
}
fn default_operator_roles() -> StrList {
    list(&["admin", "swiftoperator"])
}
fn default_reseller_admin_role() -> String {
    "ResellerAdmin".into()
}
fn empty() -> StrList {
    StrList::List(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_prefix_keys() {
        let c: KeystoneAuthConfig = toml::from_str(
            "reseller_prefix = \"AUTH, SERVICE\"\nSERVICE_service_roles = [\"service\"]\n\
             AUTH_operator_roles = \"admin, member\"\n",
        )
        .unwrap();
        assert_eq!(c.prefixes(), vec!["AUTH_", "SERVICE_"]);
        assert!(c.validate().is_ok());
        assert_eq!(
            c.split_key("SERVICE_service_roles"),
            Some(("SERVICE_".into(), "service_roles"))
        );
        assert_eq!(
            c.per_prefix["AUTH_operator_roles"].items(),
            vec!["admin", "member"]
        );
        let bad: KeystoneAuthConfig = toml::from_str("OTHER_service_roles = []\n").unwrap();
        assert!(bad.validate().is_err());
        let typo: KeystoneAuthConfig = toml::from_str("operator_role = []\n").unwrap();
        assert!(typo.validate().is_err());
    }
}
