//! Records as Cinder shows them (cinder/api/v3/views): the JSON shapes
//! python-cinderclient and python-openstackclient read.

use serde_json::{json, Value};

use super::version::Micro;
use crate::store::records::{AttachmentRecord, SnapshotRecord, VolumeRecord};

/// What the views need from the request.
pub struct Ctx<'a> {
    /// `http://host:port`, for links.
    pub base: &'a str,
    pub project: &'a str,
    pub micro: Micro,
}

impl Ctx<'_> {
    fn links(&self, kind: &str, id: &str) -> Value {
        json!([
            {"rel": "self", "href": format!("{}/v3/{}/{kind}/{id}", self.base, self.project)},
            {"rel": "bookmark", "href": format!("{}/{}/{kind}/{id}", self.base, self.project)},
        ])
    }
}

/// The volume type name every volume reports.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";

/// `{"volume": ...}` detail of a volume.
pub fn volume(ctx: &Ctx, v: &VolumeRecord) -> Value {
    // Cinder lists only attachments that reached "attached".
    let attachments: Vec<Value> = v
        .attachments
        .iter()
        .filter(|a| a.status == "attached")
        .map(|a| {
            json!({
                "id": v.id, "attachment_id": a.id, "volume_id": v.id,
                "server_id": a.instance_uuid, "host_name": a.host_name,
                "device": a.mountpoint, "attached_at": a.attached_at,
            })
        })
        .collect();
    let mut d = json!({
        "id": v.id,
        "status": v.status,
        "size": v.size,
        "availability_zone": v.availability_zone,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
        "name": v.name,
        "description": v.description,
        "volume_type": v.volume_type.as_deref().unwrap_or(DEFAULT_TYPE),
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "metadata": v.metadata,
        "links": ctx.links("volumes", &v.id),
        "user_id": v.user_id,
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "replication_status": Value::Null,
        "consistencygroup_id": Value::Null,
        "multiattach": v.multiattach,
        "attachments": attachments,
        "os-vol-tenant-attr:tenant_id": v.project_id,
    });
    if ctx.micro.at_least(3, 13) {
        d["group_id"] = Value::Null;
    }
    if ctx.micro.at_least(3, 48) {
        d["shared_targets"] = json!(false);
        d["service_uuid"] = Value::Null;
    }
    if ctx.micro.at_least(3, 63) {
        d["volume_type_id"] = Value::Null;
    }
    if ctx.micro.at_least(3, 65) {
        d["consumes_quota"] = json!(true);
    }
    if let Some(image) = &v.image_ref {
        d["volume_image_metadata"] = json!({ "image_id": image });
    }
    d
}

/// The summary entry of a volume list.
pub fn volume_summary(ctx: &Ctx, v: &VolumeRecord) -> Value {
    json!({"id": v.id, "name": v.name, "links": ctx.links("volumes", &v.id)})
}

/// A snapshot.
pub fn snapshot(ctx: &Ctx, s: &SnapshotRecord) -> Value {
    let mut d = json!({
        "id": s.id,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "name": s.name,
        "description": s.description,
        "volume_id": s.volume_id,
        "status": s.status,
        "size": s.size,
        "metadata": s.metadata,
        "os-extended-snapshot-attributes:progress": "100%",
        "os-extended-snapshot-attributes:project_id": s.project_id,
    });
    if ctx.micro.at_least(3, 14) {
        d["group_snapshot_id"] = Value::Null;
    }
    if ctx.micro.at_least(3, 41) {
        d["user_id"] = json!(s.user_id);
    }
    if ctx.micro.at_least(3, 65) {
        d["consumes_quota"] = json!(true);
    }
    d
}

/// The connection info an attached volume is reached with.
pub fn connection_info(v: &VolumeRecord, a: &AttachmentRecord) -> Value {
    match &a.connection {
        None => json!({}),
        Some(c) => {
            let mut data = json!({
                "host": c.host,
                "port": c.port,
                "export": c.export,
                "uri": format!("nbd://{}:{}/{}", uri_host(&c.host), c.port, c.export),
                "volume_id": v.id,
                "access_mode": if a.attach_mode == "ro" { "ro" } else { "rw" },
                "gateway": c.gateway,
            });
            if let Some(sock) = &c.socket {
                // The same export for a client on the gateway's host.
                data["socket"] = json!(sock);
                data["local_uri"] = json!(format!(
                    "nbd+unix:///{}?socket={}",
                    c.export,
                    query_value(sock)
                ));
            }
            json!({ "driver_volume_type": "nbd", "data": data })
        }
    }
}

/// A socket path as a URI query value (RFC 3986: `&`, `#`, `%`, `+` and
/// anything outside printable ASCII escaped).
fn query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b'&' | b'#' | b'%' | b'+' | b'?') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An IPv6 literal goes in brackets in a URI.
fn uri_host(h: &str) -> String {
    if h.contains(':') && !h.starts_with('[') {
        format!("[{h}]")
    } else {
        h.to_string()
    }
}

/// An attachment (summary, or detail with connection info).
pub fn attachment(v: &VolumeRecord, a: &AttachmentRecord, detail: bool) -> Value {
    let mut d = json!({
        "id": a.id,
        "status": a.status,
        "instance": a.instance_uuid,
        "volume_id": v.id,
    });
    if detail {
        d["attached_at"] = json!(a.attached_at.clone().unwrap_or_default());
        d["detached_at"] = json!("");
        d["attach_mode"] = json!(a.attach_mode);
        d["connection_info"] = connection_info(v, a);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::Connection;
    use std::collections::BTreeMap;

    fn vol() -> VolumeRecord {
        VolumeRecord {
            id: "v1".into(),
            name: Some("n".into()),
            description: None,
            size: 2,
            status: "in-use".into(),
            created_at: "2026-12-04T14:30:52.000000".into(),
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
            attachments: vec![AttachmentRecord {
                id: "a1".into(),
                instance_uuid: Some("i".into()),
                status: "attached".into(),
                attach_mode: "null".into(),
                connector: None,
                host_name: Some("h".into()),
                mountpoint: None,
                attached_at: Some("t".into()),
                connection: Some(Connection {
                    gateway: "g".into(),
                    host: "::1".into(),
                    port: 10809,
                    export: "AUTH_p/v1/a1".into(),
                    socket: None,
                }),
            }],
            error: None,
        }
    }

    #[test]
    fn volume_view_has_what_clients_pop() {
        let ctx = Ctx {
            base: "http://h:8776",
            project: "p",
            micro: Micro(3, 70),
        };
        let v = volume(&ctx, &vol());
        // python-openstackclient pops these; they must be present.
        assert!(v.get("metadata").is_some());
        assert_eq!(v["volume_type"], DEFAULT_TYPE);
        assert_eq!(v["bootable"], "false");
        assert_eq!(v["attachments"][0]["attachment_id"], "a1");
        assert_eq!(v["links"][0]["href"], "http://h:8776/v3/p/volumes/v1");
        assert_eq!(v["consumes_quota"], true);
        let old = volume(
            &Ctx {
                micro: Micro(3, 0),
                ..ctx
            },
            &vol(),
        );
        assert!(old.get("consumes_quota").is_none());
    }

    #[test]
    fn attachment_view_carries_the_nbd_uri() {
        let v = vol();
        let a = attachment(&v, &v.attachments[0], true);
        assert_eq!(a["connection_info"]["driver_volume_type"], "nbd");
        assert_eq!(
            a["connection_info"]["data"]["uri"],
            "nbd://[::1]:10809/AUTH_p/v1/a1"
        );
        assert_eq!(a["connection_info"]["data"]["access_mode"], "rw");
        assert!(a["connection_info"]["data"].get("local_uri").is_none());
        let mut local = vol();
        local.attachments[0].connection.as_mut().unwrap().socket =
            Some("/run/swirl vol/nbd&1.sock".into());
        let a = attachment(&local, &local.attachments[0], true);
        assert_eq!(
            a["connection_info"]["data"]["local_uri"],
            "nbd+unix:///AUTH_p/v1/a1?socket=/run/swirl%20vol/nbd%261.sock"
        );
        assert!(attachment(&v, &v.attachments[0], false)
            .get("connection_info")
            .is_none());
    }
}
