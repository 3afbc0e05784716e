//! Request bodies checked and typed, without I/O: what each call accepts,
//! with Cinder-like messages for what it refuses.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Largest volume accepted, in GiB (64 TiB).
pub const MAX_SIZE_GIB: u64 = 65536;

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// Parses a body as a JSON object.
pub fn parse_json(body: &[u8]) -> Result<Value> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("Malformed request body: {e}")))?;
    if !v.is_object() {
        return Err(bad("Malformed request body: expected a JSON object"));
    }
    Ok(v)
}

/// The object under `key` (`{"volume": {...}}`).
fn member<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>> {
    body.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| bad(format!("Missing required element '{key}' in request body.")))
}

/// An optional string of at most `max` characters.
fn opt_string(m: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(bad(format!(
            "Invalid input for field/attribute {key}: longer than {max} characters."
        ))),
        Some(_) => Err(bad(format!(
            "Invalid input for field/attribute {key}: expected a string."
        ))),
    }
}

/// An optional uuid-ish id (kept as given; lookups decide if it exists).
fn opt_id(m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    opt_string(m, key, 255)
}

fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        // Cinder accepts strings that oslo's bool_from_string knows.
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
            _ => Err(bad(format!(
                "Invalid input for field/attribute {key}: not a boolean."
            ))),
        },
        Some(_) => Err(bad(format!(
            "Invalid input for field/attribute {key}: not a boolean."
        ))),
    }
}

/// A size in GiB: a positive integer (or a string of digits).
fn size(v: &Value, key: &str) -> Result<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    match n {
        Some(n) if (1..=MAX_SIZE_GIB).contains(&n) => Ok(n),
        _ => Err(bad(format!(
            "Invalid input for field/attribute {key}: must be a whole number of GiB from 1 to {MAX_SIZE_GIB}."
        ))),
    }
}

fn metadata(m: &Map<String, Value>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match m.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            if o.len() > 128 {
                return Err(bad("Invalid metadata: at most 128 items."));
            }
            for (k, v) in o {
                let Value::String(v) = v else {
                    return Err(bad(format!(
                        "Invalid metadata: the value of {k:?} is not a string."
                    )));
                };
                if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
                    return Err(bad(
                        "Invalid metadata: keys must be 1-255 characters, values at most 255.",
                    ));
                }
                out.insert(k.clone(), v.clone());
            }
        }
        Some(_) => return Err(bad("Invalid metadata: expected an object.")),
    }
    Ok(out)
}

/// `POST /volumes`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VolumeCreate {
    pub size: Option<u64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub image_ref: Option<String>,
    pub multiattach: bool,
    pub availability_zone: Option<String>,
    pub volume_type: Option<String>,
}

pub fn volume_create(body: &Value) -> Result<VolumeCreate> {
    let m = member(body, "volume")?;
    let size = match m.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(size(v, "size")?),
    };
    let c = VolumeCreate {
        size,
        name: opt_string(m, "name", 255)?,
        description: opt_string(m, "description", 255)?,
        metadata: metadata(m)?,
        snapshot_id: opt_id(m, "snapshot_id")?,
        source_volid: opt_id(m, "source_volid")?,
        image_ref: opt_string(m, "imageRef", 2048)?,
        multiattach: opt_bool(m, "multiattach")?.unwrap_or(false),
        availability_zone: opt_string(m, "availability_zone", 255)?,
        volume_type: opt_string(m, "volume_type", 255)?,
    };
    if m.get("backup_id").is_some_and(|v| !v.is_null()) {
        return Err(bad("Creating a volume from a backup is not supported."));
    }
    if m.get("consistencygroup_id").is_some_and(|v| !v.is_null())
        || m.get("group_id").is_some_and(|v| !v.is_null())
    {
        return Err(bad("Volume groups are not supported."));
    }
    let sources = [&c.snapshot_id, &c.source_volid, &c.image_ref]
        .iter()
        .filter(|s| s.is_some())
        .count();
    if sources > 1 {
        return Err(bad(
            "Invalid input received: give at most one of snapshot_id, source_volid and imageRef.",
        ));
    }
    if c.size.is_none() && c.snapshot_id.is_none() && c.source_volid.is_none() {
        return Err(bad(
            "Invalid input for field/attribute size: size is required.",
        ));
    }
    Ok(c)
}

/// `PUT /volumes/{id}`: name, description, metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VolumeUpdate {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

pub fn volume_update(body: &Value) -> Result<VolumeUpdate> {
    let m = member(body, "volume")?;
    let mut u = VolumeUpdate::default();
    for (k, _) in m.iter() {
        match k.as_str() {
            "name" | "display_name" => u.name = Some(opt_string(m, k, 255)?),
            "description" | "display_description" => u.description = Some(opt_string(m, k, 255)?),
            "metadata" => u.metadata = Some(metadata(m)?),
            other => return Err(bad(format!("Invalid input: {other} cannot be updated."))),
        }
    }
    Ok(u)
}

/// `POST /volumes/{id}/action`.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeAction {
    Extend(u64),
}

pub fn volume_action(body: &Value) -> Result<VolumeAction> {
    let o = body
        .as_object()
        .ok_or_else(|| bad("Malformed request body"))?;
    let (name, arg) = match o.iter().next() {
        Some(x) if o.len() == 1 => x,
        _ => return Err(bad("Malformed request body: expected exactly one action.")),
    };
    match name.as_str() {
        "os-extend" => {
            let n = arg
                .get("new_size")
                .ok_or_else(|| bad("Missing required element 'new_size' in os-extend."))?;
            Ok(VolumeAction::Extend(size(n, "new_size")?))
        }
        other => Err(bad(format!("There is no such action: {other}"))),
    }
}

/// `POST /snapshots`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotCreate {
    pub volume_id: String,
    pub force: bool,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

pub fn snapshot_create(body: &Value) -> Result<SnapshotCreate> {
    let m = member(body, "snapshot")?;
    let volume_id = opt_id(m, "volume_id")?
        .ok_or_else(|| bad("Missing required element 'volume_id' in snapshot."))?;
    Ok(SnapshotCreate {
        volume_id,
        force: opt_bool(m, "force")?.unwrap_or(false),
        name: opt_string(m, "name", 255)?.or(opt_string(m, "display_name", 255)?),
        description: opt_string(m, "description", 255)?,
        metadata: metadata(m)?,
    })
}

/// `POST /attachments`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentCreate {
    pub volume_uuid: String,
    pub instance_uuid: Option<String>,
    pub connector: Option<Value>,
    pub mode: String,
}

fn connector(m: &Map<String, Value>) -> Result<Option<Value>> {
    match m.get("connector") {
        None | Some(Value::Null) => Ok(None),
        // An empty connector (the cinder CLI without --connect) is none.
        Some(Value::Object(o)) if o.is_empty() => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(bad(
            "Invalid input for field/attribute connector: expected an object.",
        )),
    }
}

fn mode(v: Option<String>) -> Result<String> {
    match v.as_deref() {
        None | Some("null") => Ok("null".into()),
        Some(m @ ("rw" | "ro")) => Ok(m.into()),
        Some(other) => Err(bad(format!("Invalid attach mode {other:?}: use rw or ro."))),
    }
}

pub fn attachment_create(body: &Value) -> Result<AttachmentCreate> {
    let m = member(body, "attachment")?;
    let volume_uuid = opt_id(m, "volume_uuid")?
        .ok_or_else(|| bad("Missing required element 'volume_uuid' in attachment."))?;
    let connector = connector(m)?;
    let conn_mode = connector
        .as_ref()
        .and_then(|c| c.get("mode"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(AttachmentCreate {
        volume_uuid,
        instance_uuid: opt_id(m, "instance_uuid")?,
        mode: mode(opt_string(m, "mode", 8)?.or(conn_mode))?,
        connector,
    })
}

/// `PUT /attachments/{id}`: the connector.
pub fn attachment_update(body: &Value) -> Result<Value> {
    let m = member(body, "attachment")?;
    connector(m)?.ok_or_else(|| bad("Missing required element 'connector' in attachment."))
}

/// `POST /attachments/{id}/action`: only os-complete.
pub fn attachment_action(body: &Value) -> Result<()> {
    let o = body
        .as_object()
        .ok_or_else(|| bad("Malformed request body"))?;
    match (o.len(), o.keys().next().map(String::as_str)) {
        (1, Some("os-complete")) => Ok(()),
        (_, Some(other)) => Err(bad(format!("There is no such action: {other}"))),
        _ => Err(bad("Malformed request body: expected exactly one action.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volume_create_as_the_clients_send_it() {
        // Captured from python-cinderclient 9 (cinder create --name v3 1).
        let b = json!({"volume": {"size": 1, "consistencygroup_id": null, "snapshot_id": null,
            "name": "v3", "description": null, "volume_type": null, "availability_zone": null,
            "metadata": {}, "imageRef": null, "source_volid": null, "backup_id": null}});
        let c = volume_create(&b).unwrap();
        assert_eq!(c.size, Some(1));
        assert_eq!(c.name.as_deref(), Some("v3"));
        let c = volume_create(&json!({"volume": {"size": "2", "snapshot_id": "s"}})).unwrap();
        assert_eq!((c.size, c.snapshot_id.as_deref()), (Some(2), Some("s")));
        assert!(volume_create(&json!({"volume": {"source_volid": "v"}})).is_ok());
    }

    #[test]
    fn volume_create_refusals() {
        for b in [
            json!({}),
            json!({"volume": 1}),
            json!({"volume": {}}),
            json!({"volume": {"size": 0}}),
            json!({"volume": {"size": -1}}),
            json!({"volume": {"size": 1.5}}),
            json!({"volume": {"size": "x"}}),
            json!({"volume": {"size": MAX_SIZE_GIB + 1}}),
            json!({"volume": {"size": 1, "name": 7}}),
            json!({"volume": {"size": 1, "name": "x".repeat(256)}}),
            json!({"volume": {"size": 1, "metadata": {"a": 1}}}),
            json!({"volume": {"size": 1, "metadata": []}}),
            json!({"volume": {"size": 1, "snapshot_id": "a", "source_volid": "b"}}),
            json!({"volume": {"size": 1, "backup_id": "b"}}),
            json!({"volume": {"size": 1, "multiattach": "maybe"}}),
        ] {
            assert!(
                matches!(volume_create(&b), Err(Error::BadRequest(_))),
                "{b}"
            );
        }
        assert!(parse_json(b"[1]").is_err());
        assert!(parse_json(b"{").is_err());
        assert!(parse_json(b"{}").is_ok());
    }

    #[test]
    fn actions() {
        assert_eq!(
            volume_action(&json!({"os-extend": {"new_size": 2}})).unwrap(),
            VolumeAction::Extend(2)
        );
        assert!(volume_action(&json!({"os-extend": {}})).is_err());
        assert!(volume_action(&json!({"os-detach": {}})).is_err());
        assert!(volume_action(&json!({"a": 1, "b": 2})).is_err());
        assert!(attachment_action(&json!({"os-complete": null})).is_ok());
        assert!(attachment_action(&json!({"os-other": null})).is_err());
        assert!(attachment_action(&json!({})).is_err());
    }

    #[test]
    fn attachments_and_snapshots() {
        let a = attachment_create(&json!({"attachment": {"volume_uuid": "v", "connector": {},
            "instance_uuid": "i"}}))
        .unwrap();
        assert_eq!(a.connector, None);
        assert_eq!(a.mode, "null");
        let a = attachment_create(&json!({"attachment": {"volume_uuid": "v",
            "connector": {"host": "h", "mode": "ro"}}}))
        .unwrap();
        assert_eq!(a.mode, "ro");
        assert!(
            attachment_create(&json!({"attachment": {"volume_uuid": "v", "mode": "x"}})).is_err()
        );
        assert!(attachment_create(&json!({"attachment": {}})).is_err());
        assert!(attachment_update(&json!({"attachment": {"connector": {"host": "h"}}})).is_ok());
        let s = snapshot_create(&json!({"snapshot": {"volume_id": "v", "force": "true",
            "name": "s", "description": null, "metadata": {}}}))
        .unwrap();
        assert!(s.force);
        assert!(snapshot_create(&json!({"snapshot": {"force": false}})).is_err());
        let u = volume_update(&json!({"volume": {"name": "n", "description": null}})).unwrap();
        assert_eq!(u.name, Some(Some("n".into())));
        assert_eq!(u.description, Some(None));
        assert!(volume_update(&json!({"volume": {"size": 3}})).is_err());
    }
}
