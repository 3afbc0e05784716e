//! The aio's backend authentication: a cluster backend key in its CA
//! directory (`etc/tls/ca/backend.key`, copied to the node's
//! `etc/tls/node/backend.key`) and a `[backend_auth]` table naming it in
//! every server's and the proxy's file, so the storage servers refuse
//! requests that do not come from the cluster. A DIR made before gets them
//! on its next start; a table the operator wrote (`mode = "plain"`, say)
//! stays as it is.

use std::path::Path;

use swirl_common::tls::issue::BACKEND_KEY;

/// Just whether a config file has `[backend_auth]`.
#[derive(serde::Deserialize)]
struct HasBackendAuth {
    backend_auth: Option<serde::de::IgnoredAny>,
}

/// Creates the key if missing and gives each file lacking one the table.
pub fn ensure(dir: &Path) -> Result<(), String> {
    let tls = dir.join("etc").join("tls");
    let (ca, node) = (tls.join("ca"), tls.join("node"));
    swirl_common::tls::issue::create_backend_key(&ca).map_err(|e| e.to_string())?;
    let key = node.join(BACKEND_KEY);
    if !key.exists() {
        let k = swirl_common::backend_auth::BackendKey::load(&ca.join(BACKEND_KEY))
            .map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&node).map_err(|e| format!("{}: {e}", node.display()))?;
        // Written through the same 0600 path as a new key, then replaced
        // by the cluster's.
        let tmp = node.join(format!("{BACKEND_KEY}.new"));
        swirl_common::backend_auth::BackendKey::create(&tmp).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, format!("{}\n", k.to_hex()))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &key).map_err(|e| format!("{}: {e}", key.display()))?;
    }
    let etc = dir.join("etc");
    for file in [
        "object-server.toml",
        "container-server.toml",
        "account-server.toml",
        "proxy-server.toml",
    ] {
        let path = etc.join(file);
        let has: HasBackendAuth = swirl_common::config::load(&path).map_err(|e| e.to_string())?;
        if has.backend_auth.is_some() {
            continue;
        }
        let mut text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // A table may follow anything, so appending is valid TOML.
        text.push_str(&format!(
            "\n# Backend requests are signed with the cluster's key; the storage\n\
             # servers refuse unsigned ones (mode = \"plain\": no checks, for Swift nodes).\n\
             [backend_auth]\nkey_file = {}\n",
            crate::aio::toml_str(&key.display().to_string())
        ));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!(
            "swirl aio: {file}: backend requests signed with {}",
            key.display()
        );
    }
    Ok(())
}
