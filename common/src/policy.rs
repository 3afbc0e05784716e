//! Storage policies as every role's config lists them (swift.conf's
//! `[storage-policy:N]`, as `[[storage_policy]]` tables): one definition, so
//! the proxy and the storage servers can share one list.

use serde::Deserialize;

/// One storage policy.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy index: its ring is `object.ring.gz` for 0,
    /// `object-N.ring.gz` otherwise; its objects live in `objects[-N]`.
    pub index: u32,
    /// Its name, matched case-insensitively (shown in
    /// `X-Account-Storage-Policy-<name>-*` headers).
    pub name: String,
    /// Other names of the policy.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The policy new containers get without X-Storage-Policy.
    #[serde(default)]
    pub default: bool,
    /// Deprecated policies cannot be chosen for new containers.
    #[serde(default)]
    pub deprecated: bool,
}

/// Swift's list when swift.conf names no policy: `Policy-0`, the default.
pub fn default_policies() -> Vec<PolicyConfig> {
    vec![PolicyConfig {
        index: 0,
        name: "Policy-0".into(),
        aliases: Vec::new(),
        default: true,
        deprecated: false,
    }]
}

/// Checks a policy list as Swift's `StoragePolicyCollection` does: at least
/// one policy, each index once, at most one default. The message is for the
/// `storage_policy` key.
pub fn validate(list: &[PolicyConfig]) -> Result<(), String> {
    if list.is_empty() {
        return Err("at least one policy is needed".into());
    }
    if list.iter().filter(|p| p.default).count() > 1 {
        return Err("more than one default policy".into());
    }
    for (i, p) in list.iter().enumerate() {
        if list[..i].iter().any(|q| q.index == p.index) {
            return Err(format!("duplicate index {}", p.index));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(index: u32, default: bool) -> PolicyConfig {
        PolicyConfig {
            index,
            name: format!("p{index}"),
            aliases: Vec::new(),
            default,
            deprecated: false,
        }
    }

    #[test]
    fn lists_swift_refuses() {
        assert!(validate(&default_policies()).is_ok());
        assert!(validate(&[policy(0, false), policy(1, true)]).is_ok());
        assert!(validate(&[]).is_err());
        let dup = validate(&[policy(1, false), policy(1, false)]).unwrap_err();
        assert_eq!(dup, "duplicate index 1");
        assert!(validate(&[policy(0, true), policy(1, true)]).is_err());
    }
}
