//! A storage device as the ring knows it (Swift's device dict).

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
}
