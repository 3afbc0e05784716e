//! The JSON records kept in the volume container: volumes (with their
//! attachments), volume heads, snapshots, and the attachment index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What Cinder shows of a volume, plus what the gateway needs to serve it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VolumeRecord {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB.
    pub size: u64,
    /// creating, available, reserved, attaching, in-use, extending,
    /// deleting, error, error_deleting.
    pub status: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub user_id: Option<String>,
    pub project_id: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub bootable: bool,
    pub multiattach: bool,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub image_ref: Option<String>,
    pub volume_type: Option<String>,
    pub availability_zone: String,
    /// Bytes per chunk object (fixed at creation).
    pub chunk_size: u64,
    #[serde(default)]
    pub attachments: Vec<AttachmentRecord>,
    /// Why the status is error (shown in the logs, kept for operators).
    #[serde(default)]
    pub error: Option<String>,
}

impl VolumeRecord {
    pub fn size_bytes(&self) -> u64 {
        super::layout::gib(self.size)
    }

    pub fn attachment(&self, id: &str) -> Option<&AttachmentRecord> {
        self.attachments.iter().find(|a| a.id == id)
    }

    /// The status the attachments imply (Cinder: reserved without a
    /// connector, attaching until completed, in-use once attached).
    pub fn status_from_attachments(&self) -> &'static str {
        if self.attachments.iter().any(|a| a.status == "attached") {
            "in-use"
        } else if self.attachments.iter().any(|a| a.status == "attaching") {
            "attaching"
        } else if self.attachments.is_empty() {
            "available"
        } else {
            "reserved"
        }
    }
}

/// Where an attached volume is served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Connection {
    /// The gateway (its gateway_id) that serves this attachment.
    pub gateway: String,
    pub host: String,
    pub port: u16,
    /// The NBD export name: `<account>/<volume>/<attachment>`. It carries
    /// the attachment id, which only the API hands out.
    pub export: String,
    /// The gateway's NBD Unix socket, for a client on the gateway's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
}

/// One attachment of a volume (Cinder's attachments API, 3.27+).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttachmentRecord {
    pub id: String,
    pub instance_uuid: Option<String>,
    /// reserved, attaching, attached.
    pub status: String,
    /// rw, ro or null.
    pub attach_mode: String,
    pub connector: Option<serde_json::Value>,
    pub host_name: Option<String>,
    pub mountpoint: Option<String>,
    pub attached_at: Option<String>,
    pub connection: Option<Connection>,
}

/// Generation counters of a live volume and the map pages it has.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Head {
    /// Generations up to this one are shared with snapshots or clones.
    pub frozen_gen: u64,
    /// The next generation to hand out (at least).
    pub next_gen: u64,
    /// Map pages that exist.
    pub pages: Vec<u32>,
}

/// A snapshot: a frozen copy of a volume's chunk map.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotRecord {
    pub id: String,
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB (the volume's size when taken).
    pub size: u64,
    /// creating, available, deleting, error, error_deleting.
    pub status: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub user_id: Option<String>,
    pub project_id: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub chunk_size: u64,
    /// Map pages of the frozen map.
    pub pages: Vec<u32>,
}

/// `attachment/<id>`: finds the volume of an attachment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttachmentIndex {
    pub volume_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(status: &str) -> AttachmentRecord {
        AttachmentRecord {
            id: "a".into(),
            instance_uuid: None,
            status: status.into(),
            attach_mode: "rw".into(),
            connector: None,
            host_name: None,
            mountpoint: None,
            attached_at: None,
            connection: None,
        }
    }

    #[test]
    fn status_follows_attachments() {
        let mut v = VolumeRecord {
            id: "v".into(),
            name: None,
            description: None,
            size: 1,
            status: "available".into(),
            created_at: String::new(),
            updated_at: None,
            user_id: None,
            project_id: "p".into(),
            metadata: BTreeMap::new(),
            bootable: false,
            multiattach: false,
            snapshot_id: None,
            source_volid: None,
            image_ref: None,
            volume_type: None,
            availability_zone: "nova".into(),
            chunk_size: 4 << 20,
            attachments: vec![],
            error: None,
        };
        assert_eq!(v.status_from_attachments(), "available");
        v.attachments.push(att("reserved"));
        assert_eq!(v.status_from_attachments(), "reserved");
        v.attachments.push(att("attaching"));
        assert_eq!(v.status_from_attachments(), "attaching");
        v.attachments.push(att("attached"));
        assert_eq!(v.status_from_attachments(), "in-use");
        let back: VolumeRecord = serde_json::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(back, v);
        assert_eq!(v.size_bytes(), 1 << 30);
    }
}
