//! `/v3/{project}/attachments` (microversion 3.27+): reserve or attach
//! (connection info names this gateway's NBD export), update with a
//! connector, complete, show, list, delete (detach: this gateway's
//! connections to it end after their writes are made durable).

use std::time::Duration;

use http::{Response, StatusCode};
use serde_json::{json, Value};
use swirl_common::Body;
use tracing::{info, warn};

use super::{empty, input, json, now, views, Req};
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::store::layout;
use crate::store::records::{AttachmentRecord, Connection, VolumeRecord};
use crate::store::registry::Registry;

/// How long a detach waits for this gateway's connections to write back.
const DETACH_WAIT: Duration = Duration::from_secs(120);

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("VolumeAttachment {id} could not be found."))
}

/// Attachments came with microversion 3.27 (Cinder answers 404 below it).
fn check_version(r: &Req) -> Result<()> {
    if r.micro.at_least(3, 27) {
        Ok(())
    } else {
        Err(Error::NotFound(
            "The resource could not be found: attachments need microversion 3.27 or later.".into(),
        ))
    }
}

/// The volume holding attachment `id`.
async fn volume_of(gw: &Gateway, account: &str, id: &str) -> Result<VolumeRecord> {
    let idx = gw
        .store
        .catalog
        .attachment_index(account, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let v = gw
        .store
        .catalog
        .volume(account, &idx.volume_id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if v.attachment(id).is_none() {
        return Err(not_found(id));
    }
    Ok(v)
}

/// One gateway serves a volume at a time: its cache is the only copy of
/// unflushed writes, so all of a volume's attachments must meet there.
fn served_here_only(v: &VolumeRecord, me: &str) -> Result<()> {
    match v
        .attachments
        .iter()
        .filter_map(|a| a.connection.as_ref())
        .find(|c| c.gateway != me)
    {
        Some(other) => Err(Error::BadRequest(format!(
            "Invalid volume: Volume {} is served by gateway {}; attach it there.",
            v.id, other.gateway
        ))),
        None => Ok(()),
    }
}

/// Fills in where the volume is served, from the connector.
fn connect(
    gw: &Gateway,
    account: &str,
    v: &VolumeRecord,
    a: &mut AttachmentRecord,
    connector: Value,
) {
    a.host_name = connector
        .get("host")
        .and_then(Value::as_str)
        .map(str::to_string);
    a.mountpoint = connector
        .get("mountpoint")
        .and_then(Value::as_str)
        .map(str::to_string);
    a.connector = Some(connector);
    a.status = "attaching".into();
    a.attached_at = Some(now());
    if a.connection.is_none() {
        a.connection = Some(Connection {
            gateway: gw.store.gateway_id.clone(),
            host: gw.nbd_host.clone(),
            port: gw.nbd_port,
            export: Gateway::export_name(account, &v.id, &a.id),
            socket: gw.nbd_socket.clone(),
        });
    }
}

/// `GET /attachments[/detail]`.
pub async fn list(gw: &Gateway, r: &Req, detail: bool) -> Result<Response<Body>> {
    check_version(r)?;
    let vols = gw.store.catalog.volumes(&r.account).await?;
    let mut out = Vec::new();
    for v in &vols {
        if r.q("volume_id").is_some_and(|id| id != v.id) {
            continue;
        }
        for a in &v.attachments {
            if r.q("status").is_some_and(|s| s != a.status)
                || r.q("instance_id")
                    .is_some_and(|i| Some(i) != a.instance_uuid.as_deref())
            {
                continue;
            }
            out.push(views::attachment(v, a, detail));
        }
    }
    Ok(json(StatusCode::OK, &json!({ "attachments": out })))
}

/// `GET /attachments/{id}`.
pub async fn show(gw: &Gateway, r: &Req, id: &str) -> Result<Response<Body>> {
    check_version(r)?;
    let v = volume_of(gw, &r.account, id).await?;
    let a = v.attachment(id).ok_or_else(|| not_found(id))?;
    Ok(json(
        StatusCode::OK,
        &json!({"attachment": views::attachment(&v, a, true)}),
    ))
}

/// `POST /attachments`.
pub async fn create(gw: &Gateway, r: &Req) -> Result<Response<Body>> {
    check_version(r)?;
    let c = input::attachment_create(&input::parse_json(&r.body)?)?;
    let store = &gw.store;
    let account = r.account.as_str();
    let _lock = store
        .registry
        .lock(&Registry::volume_lock(account, &c.volume_uuid))
        .await;
    let mut v = super::volumes::get(gw, account, &c.volume_uuid).await?;
    if v.status.contains("error") {
        return Err(Error::BadRequest(format!(
            "Invalid volume: Volume attachments can not be created if the volume is in an error \
             state. The Volume {} currently has a status of: {} ",
            v.id, v.status
        )));
    }
    let allowed: &[&str] = if v.multiattach {
        &["available", "in-use", "reserved", "attaching"]
    } else {
        &["available"]
    };
    if !allowed.contains(&v.status.as_str()) {
        return Err(Error::BadRequest(format!(
            "Invalid volume: Volume {} status must be {} to reserve, but the current status is {}.",
            v.id,
            allowed.join(" or "),
            v.status
        )));
    }
    served_here_only(&v, &store.gateway_id)?;
    let mut a = AttachmentRecord {
        id: layout::new_id(),
        instance_uuid: c.instance_uuid,
        status: "reserved".into(),
        attach_mode: if c.mode == "ro" {
            "ro".into()
        } else {
            "rw".into()
        },
        connector: None,
        host_name: None,
        mountpoint: None,
        attached_at: None,
        connection: None,
    };
    if let Some(conn) = c.connector {
        connect(gw, account, &v, &mut a, conn);
    }
    // The index first: a record naming an attachment must be findable.
    store
        .catalog
        .put_attachment_index(account, &a.id, &v.id)
        .await?;
    v.attachments.push(a.clone());
    v.status = v.status_from_attachments().into();
    v.updated_at = Some(now());
    store.catalog.put_volume(account, &v).await?;
    info!(account, volume = %v.id, attachment = %a.id, status = %a.status, "attachment created");
    Ok(json(
        StatusCode::OK,
        &json!({"attachment": views::attachment(&v, &a, true)}),
    ))
}

/// `PUT /attachments/{id}`: a reserved attachment gets its connector.
pub async fn update(gw: &Gateway, r: &Req, id: &str) -> Result<Response<Body>> {
    check_version(r)?;
    let connector = input::attachment_update(&input::parse_json(&r.body)?)?;
    let store = &gw.store;
    let vid = volume_of(gw, &r.account, id).await?.id;
    let _lock = store
        .registry
        .lock(&Registry::volume_lock(&r.account, &vid))
        .await;
    let mut v = volume_of(gw, &r.account, id).await?;
    served_here_only(&v, &store.gateway_id)?;
    let vref = v.clone();
    let a = v
        .attachments
        .iter_mut()
        .find(|a| a.id == id)
        .ok_or_else(|| not_found(id))?;
    connect(gw, &r.account, &vref, a, connector);
    let a = a.clone();
    v.status = v.status_from_attachments().into();
    v.updated_at = Some(now());
    store.catalog.put_volume(&r.account, &v).await?;
    Ok(json(
        StatusCode::OK,
        &json!({"attachment": views::attachment(&v, &a, true)}),
    ))
}

/// `POST /attachments/{id}/action` `{"os-complete": null}` (3.44+).
pub async fn action(gw: &Gateway, r: &Req, id: &str) -> Result<Response<Body>> {
    check_version(r)?;
    if !r.micro.at_least(3, 44) {
        return Err(Error::NotFound(
            "The resource could not be found: os-complete needs microversion 3.44 or later.".into(),
        ));
    }
    input::attachment_action(&input::parse_json(&r.body)?)?;
    let store = &gw.store;
    let vid = volume_of(gw, &r.account, id).await?.id;
    let _lock = store
        .registry
        .lock(&Registry::volume_lock(&r.account, &vid))
        .await;
    let mut v = volume_of(gw, &r.account, id).await?;
    if let Some(a) = v.attachments.iter_mut().find(|a| a.id == id) {
        a.status = "attached".into();
        if a.attached_at.is_none() {
            a.attached_at = Some(now());
        }
    }
    v.status = v.status_from_attachments().into();
    v.updated_at = Some(now());
    store.catalog.put_volume(&r.account, &v).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `DELETE /attachments/{id}`: the volume is detached; connections to it
/// through this gateway end once their writes are durable, so another
/// gateway can take the volume over.
pub async fn delete(gw: &Gateway, r: &Req, id: &str) -> Result<Response<Body>> {
    check_version(r)?;
    let store = &gw.store;
    let vid = volume_of(gw, &r.account, id).await?.id;
    let (v, gone) = {
        let _lock = store
            .registry
            .lock(&Registry::volume_lock(&r.account, &vid))
            .await;
        let mut v = volume_of(gw, &r.account, id).await?;
        let i = v
            .attachments
            .iter()
            .position(|a| a.id == id)
            .ok_or_else(|| not_found(id))?;
        let gone = v.attachments.remove(i);
        v.status = v.status_from_attachments().into();
        v.updated_at = Some(now());
        store.catalog.put_volume(&r.account, &v).await?;
        (v, gone)
    };
    if gone
        .connection
        .as_ref()
        .is_some_and(|c| c.gateway == store.gateway_id)
        && !store
            .registry
            .kick(&r.account, &v.id, id, DETACH_WAIT)
            .await
    {
        warn!(account = %r.account, volume = %v.id, attachment = id,
            "connections did not end in time after detach");
    }
    store
        .catalog
        .delete_record(&r.account, &layout::attachment_index(id))
        .await?;
    info!(account = %r.account, volume = %v.id, attachment = id, "attachment deleted");
    let rest: Vec<_> = v
        .attachments
        .iter()
        .map(|a| views::attachment(&v, a, false))
        .collect();
    Ok(json(StatusCode::OK, &json!({ "attachments": rest })))
}
