//! The aio's `etc/swift.conf`: Swift's own file for the cluster's hash path
//! suffix and storage policies, rendered from the proxy's TOML settings, so
//! Swift's tools pointed at `--swiftdir DIR/etc` (swift-recon, swift-get-nodes)
//! read the cluster as it is. swirl's servers never read it.

use std::path::Path;

use swirl_common::policy::PolicyConfig;

/// swift.conf text for `suffix` and `policies` (Swift's ConfigParser format).
pub fn render(suffix: &str, policies: &[PolicyConfig]) -> String {
    let mut t = format!(
        "# Written by swirl aio for Swift's tools (swirl reads its TOML files, not this).\n\
         [swift-hash]\nswift_hash_path_suffix = {suffix}\nswift_hash_path_prefix =\n"
    );
    for p in policies {
        t.push_str(&format!(
            "\n[storage-policy:{}]\nname = {}\n",
            p.index, p.name
        ));
        if !p.aliases.is_empty() {
            t.push_str(&format!("aliases = {}\n", p.aliases.join(", ")));
        }
        if p.default {
            t.push_str("default = yes\n");
        }
        if p.deprecated {
            t.push_str("deprecated = yes\n");
        }
    }
    t
}

/// Writes `etc/swift.conf` when it is missing (a file already there is the
/// operator's and stays).
pub fn ensure(etc: &Path, suffix: &str, policies: &[PolicyConfig]) -> Result<(), String> {
    let path = etc.join("swift.conf");
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, render(suffix, policies))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swift_reads_the_suffix_and_policies_back() {
        let pols = vec![
            PolicyConfig {
                index: 0,
                name: "gold".into(),
                aliases: vec!["yellow".into()],
                default: true,
                deprecated: false,
            },
            PolicyConfig {
                index: 1,
                name: "silver".into(),
                aliases: vec![],
                default: false,
                deprecated: false,
            },
        ];
        let text = render("abc123", &pols);
        let secret = swirl_common::swift_conf::parse_hash_path_secret(text.as_bytes()).unwrap();
        assert_eq!(secret.suffix, b"abc123");
        let read = swirl_common::swift_conf::parse_storage_policies(text.as_bytes()).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].ring_name(), "object-1");
    }
}
