//! `GET /info`: the cluster's constraints and the capabilities this proxy
//! actually has enabled: the filters of its pipeline add their entries (clients such as swiftclient decide features from it).

use serde_json::{json, Map, Value};
use swirl_common::constraints as c;

use crate::app::Proxy;

/// The /info document.
pub fn document(proxy: &Proxy) -> Value {
    let policies: Vec<Value> = proxy
        .policies
        .all()
        .iter()
        .filter(|p| !p.deprecated)
        .map(|p| {
            let mut names = vec![p.name.clone()];
            names.extend(p.aliases.iter().cloned());
            let mut m = Map::new();
            m.insert("name".into(), json!(p.name));
            m.insert("aliases".into(), json!(names.join(", ")));
            let is_default = proxy.policies.default_policy().map(|d| d.index) == Some(p.index);
            if is_default {
                m.insert("default".into(), json!(true));
            }
            Value::Object(m)
        })
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "swift".into(),
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "policies": policies,
            "strict_cors_mode": proxy.cfg.strict_cors_mode,
            "allow_account_management": proxy.cfg.allow_account_management,
            "account_autocreate": proxy.cfg.account_autocreate,
            "max_file_size": c::MAX_FILE_SIZE,
            "max_meta_name_length": c::MAX_META_NAME_LENGTH,
            "max_meta_value_length": c::MAX_META_VALUE_LENGTH,
            "max_meta_count": c::MAX_META_COUNT,
            "max_meta_overall_size": c::MAX_META_OVERALL_SIZE,
            "max_header_size": c::MAX_HEADER_SIZE,
            "extra_header_count": 0,
            "max_object_name_length": c::MAX_OBJECT_NAME_LENGTH,
            "container_listing_limit": c::CONTAINER_LISTING_LIMIT,
            "account_listing_limit": c::ACCOUNT_LISTING_LIMIT,
            "max_account_name_length": c::MAX_ACCOUNT_NAME_LENGTH,
            "max_container_name_length": c::MAX_CONTAINER_NAME_LENGTH,
            "valid_api_versions": ["v1", "v1.0"],
        }),
    );
    // Each filter that runs registers its own capabilities, as in Swift.
    proxy.pipeline.info(proxy, &mut doc);
    Value::Object(doc)
}
