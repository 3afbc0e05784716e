//! Storage policies by name, alias and index (swift.conf `[storage-policy:N]`).

use crate::config::PolicyConfig;

/// The cluster's policies.
#[derive(Debug, Clone)]
pub struct Policies {
    list: Vec<PolicyConfig>,
}

impl Policies {
    pub fn new(list: Vec<PolicyConfig>) -> Self {
        Policies { list }
    }

    /// The default policy (the one marked default, else index 0, else the first).
    pub fn default_policy(&self) -> Option<&PolicyConfig> {
        self.list
            .iter()
            .find(|p| p.default)
            .or_else(|| self.list.iter().find(|p| p.index == 0))
            .or_else(|| self.list.first())
    }

    /// A policy by name or alias, case-insensitively.
    pub fn by_name(&self, name: &str) -> Option<&PolicyConfig> {
        let n = name.trim();
        self.list.iter().find(|p| {
            p.name.eq_ignore_ascii_case(n) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(n))
        })
    }

    /// A policy by index.
    pub fn by_index(&self, index: u32) -> Option<&PolicyConfig> {
        self.list.iter().find(|p| p.index == index)
    }

    pub fn all(&self) -> &[PolicyConfig] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        let p = Policies::new(vec![
            PolicyConfig {
                index: 0,
                name: "gold".into(),
                aliases: vec!["yellow".into()],
                default: false,
                deprecated: false,
            },
            PolicyConfig {
                index: 1,
                name: "silver".into(),
                aliases: vec![],
                default: true,
                deprecated: false,
            },
        ]);
        assert_eq!(p.default_policy().unwrap().index, 1);
        assert_eq!(p.by_name("YELLOW").unwrap().index, 0);
        assert!(p.by_name("bronze").is_none());
        assert_eq!(p.by_index(1).unwrap().name, "silver");
    }
}
