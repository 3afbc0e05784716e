//! A storage device as the ring knows it (Swift's device dict).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One device of the ring. Field names and meaning are Swift's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Device {
    pub id: u32,
    pub region: u32,
    pub zone: u32,
    pub ip: String,
    pub port: u16,
    pub replication_ip: String,
    pub replication_port: u16,
    pub device: String,
    pub weight: f64,
    pub meta: String,
    /// Keys of Swift's device dict beyond the ten above, kept verbatim so a
    /// ring read from Swift is written back byte for byte.
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}
