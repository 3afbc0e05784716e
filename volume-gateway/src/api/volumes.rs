//! `/v3/{project}/volumes`: list, create (empty, from a snapshot, a clone of
//! a volume, from an image), show, update, delete, and the os-extend action.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::json;
use swirl_common::Body;
use tracing::{info, warn};

use super::input::{self, VolumeAction};
use super::views::{self, DEFAULT_TYPE};
use super::{empty, json, now, Req};
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::store::image::{self, ImageObject, ImageRef};
use crate::store::layout;
use crate::store::records::VolumeRecord;
use crate::store::registry::Registry;

pub fn not_found(id: &str) -> Error {
    Error::NotFound(format!("Volume {id} could not be found."))
}

/// Loads a volume record or answers 404.
pub async fn get(gw: &Gateway, account: &str, id: &str) -> Result<VolumeRecord> {
    gw.store
        .catalog
        .volume(account, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// `GET /volumes[/detail]` with the filters the clients send.
pub async fn list(gw: &Gateway, r: &Req, detail: bool) -> Result<Response<Body>> {
    let mut vols = gw.store.catalog.volumes(&r.account).await?;
    if let Some(name) = r.q("name") {
        vols.retain(|v| v.name.as_deref() == Some(name));
    }
    if let Some(status) = r.q("status") {
        vols.retain(|v| v.status == status);
    }
    // Newest first, as Cinder sorts by default.
    vols.reverse();
    if let Some(marker) = r.q("marker") {
        if let Some(i) = vols.iter().position(|v| v.id == marker) {
            vols.drain(..=i);
        }
    }
    if let Some(limit) = r.q("limit").and_then(|l| l.parse::<usize>().ok()) {
        vols.truncate(limit);
    }
    let ctx = r.views();
    let list: Vec<_> = vols
        .iter()
        .map(|v| {
            if detail {
                views::volume(&ctx, v)
            } else {
                views::volume_summary(&ctx, v)
            }
        })
        .collect();
    Ok(json(StatusCode::OK, &json!({ "volumes": list })))
}

/// `GET /volumes/{id}`.
pub async fn show(gw: &Gateway, r: &Req, id: &str) -> Result<Response<Body>> {
    let v = get(gw, &r.account, id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({"volume": views::volume(&r.views(), &v)}),
    ))
}

/// `POST /volumes`.
pub async fn create(gw: &Arc<Gateway>, r: &Req) -> Result<Response<Body>> {
    let c = input::volume_create(&input::parse_json(&r.body)?)?;
    if let Some(z) = &c.availability_zone {
        if *z != gw.cfg.availability_zone {
            return Err(Error::BadRequest(format!(
                "Availability zone '{z}' is invalid."
            )));
        }
    }
    if let Some(t) = &c.volume_type {
        if t != DEFAULT_TYPE && t != "default" {
            return Err(Error::NotFound(format!(
                "Volume type with name {t} could not be found."
            )));
        }
    }
    let store = &gw.store;
    let account = r.account.as_str();
    let mut v = VolumeRecord {
        id: layout::new_id(),
        name: c.name.clone(),
        description: c.description.clone(),
        size: c.size.unwrap_or(0),
        status: "creating".into(),
        created_at: now(),
        updated_at: None,
        user_id: None,
        project_id: r.project.clone(),
        metadata: c.metadata.clone(),
        bootable: false,
        multiattach: c.multiattach,
        snapshot_id: c.snapshot_id.clone(),
        source_volid: c.source_volid.clone(),
        image_ref: c.image_ref.clone(),
        volume_type: None,
        availability_zone: gw.cfg.availability_zone.clone(),
        chunk_size: store.chunk_size,
        attachments: Vec::new(),
        error: None,
    };
    if let Some(sid) = &c.snapshot_id {
        let _p = store.registry.lock(&Registry::project_lock(account)).await;
        let s = store
            .catalog
            .snapshot(account, sid)
            .await?
            .ok_or_else(|| super::snapshots::not_found(sid))?;
        if s.status != "available" {
            return Err(Error::BadRequest(format!(
                "Invalid snapshot: snapshot {sid} status must be available, but is {}.",
                s.status
            )));
        }
        size_from(&mut v, c.size, s.size, "the snapshot")?;
        v.chunk_size = s.chunk_size;
        let map = store.snapshot_map(account, &s).await?;
        store.write_volume_data(account, &v.id, &map).await?;
        // Stored before the project lock is let go: a deletion counting
        // references must see this volume's.
        v.status = "available".into();
        store.catalog.put_volume(account, &v).await?;
    } else if let Some(src_id) = &c.source_volid {
        let _p = store.registry.lock(&Registry::project_lock(account)).await;
        let _v = store
            .registry
            .lock(&Registry::volume_lock(account, src_id))
            .await;
        let src = get(gw, account, src_id).await?;
        if !matches!(src.status.as_str(), "available" | "in-use") {
            return Err(Error::BadRequest(format!(
                "Invalid volume: source volume {src_id} status must be available or in-use, but is {}.",
                src.status
            )));
        }
        size_from(&mut v, c.size, src.size, "the source volume")?;
        v.chunk_size = src.chunk_size;
        v.bootable = src.bootable;
        let map = store.freeze(account, &src).await?;
        store.write_volume_data(account, &v.id, &map).await?;
        v.status = "available".into();
        store.catalog.put_volume(account, &v).await?;
    } else if let Some(image_ref) = &c.image_ref {
        // The import goes on in the background; the volume says creating.
        let obj = locate_image(gw, r, image_ref).await?;
        store.catalog.put_volume(account, &v).await?;
        let (gw2, account2, v2) = (gw.clone(), account.to_string(), v.clone());
        tokio::spawn(async move { import(gw2, account2, v2, obj).await });
    } else {
        v.status = "available".into();
        store.catalog.put_volume(account, &v).await?;
    }
    info!(account, volume = %v.id, size = v.size, status = %v.status, "volume created");
    Ok(json(
        StatusCode::ACCEPTED,
        &json!({"volume": views::volume(&r.views(), &v)}),
    ))
}

/// The size of a volume copied from a snapshot or volume of `source` GiB:
/// what the request asks for, at least the source's.
fn size_from(v: &mut VolumeRecord, asked: Option<u64>, source: u64, what: &str) -> Result<()> {
    v.size = asked.unwrap_or(source);
    if v.size < source {
        return Err(Error::BadRequest(format!(
            "Invalid input received: volume size ({} GiB) cannot be smaller than {what} ({source} GiB).",
            v.size
        )));
    }
    Ok(())
}

/// Finds the object an imageRef names and checks the caller may read it:
/// its own account, Glance's account (as Glance's images are served to any
/// project), or any account where the caller's token can read the object.
async fn locate_image(gw: &Gateway, r: &Req, image_ref: &str) -> Result<(String, String, String)> {
    let swift = &gw.store.catalog.swift;
    let glance = gw.cfg.image_account.clone();
    let candidates: Vec<ImageObject> =
        match image::parse_image_ref(image_ref, &gw.cfg.reseller_prefix)? {
            ImageRef::Object(o) => vec![o],
            ImageRef::Id(id) => {
                // Glance's multi-tenant store: container glance_<id> in the
                // owner's account; single-tenant: <image_container>/<id>.
                let mut c = vec![ImageObject {
                    account: None,
                    container: format!("{}_{id}", gw.cfg.image_container),
                    object: id.clone(),
                }];
                if let Some(g) = &glance {
                    c.push(ImageObject {
                        account: Some(g.clone()),
                        container: gw.cfg.image_container.clone(),
                        object: id,
                    });
                }
                c
            }
        };
    for o in candidates {
        let account = o.account.clone().unwrap_or_else(|| r.account.clone());
        if account != r.account && Some(&account) != glance.as_ref() {
            let path = crate::swift::client::v1_path(&account, Some(&o.container), Some(&o.object));
            if !swift.can_read_as(&path, &r.token).await? {
                continue;
            }
        }
        if swift.exists(&account, &o.container, &o.object).await? {
            return Ok((account, o.container, o.object));
        }
    }
    Err(Error::BadRequest(format!(
        "Invalid image identifier or unable to access requested image: {image_ref}"
    )))
}

/// The background half of a volume from an image.
async fn import(
    gw: Arc<Gateway>,
    account: String,
    mut v: VolumeRecord,
    obj: (String, String, String),
) {
    let store = &gw.store;
    let result = async {
        let (a, c, o) = &obj;
        let resp = store
            .catalog
            .swift
            .get_stream(a, c, o)
            .await?
            .ok_or_else(|| Error::BadRequest(format!("image object {a}/{c}/{o} is gone")))?;
        let (map, bytes) = image::import(
            &store.catalog,
            &account,
            &v.id,
            v.chunk_size,
            v.size_bytes(),
            store.upload_concurrency,
            resp.into_body(),
        )
        .await?;
        store.write_volume_data(&account, &v.id, &map).await?;
        Ok::<u64, Error>(bytes)
    }
    .await;
    let _lock = store
        .registry
        .lock(&Registry::volume_lock(&account, &v.id))
        .await;
    match result {
        Ok(bytes) => {
            v.status = "available".into();
            v.bootable = true;
            v.metadata.insert("image_size".into(), bytes.to_string());
        }
        Err(e) => {
            warn!(account = %account, volume = %v.id, error = %e, "volume from image failed");
            v.status = "error".into();
            v.error = Some(e.to_string());
        }
    }
    v.updated_at = Some(now());
    if let Err(e) = store.catalog.put_volume(&account, &v).await {
        warn!(account = %account, volume = %v.id, error = %e, "could not record the import's end");
    }
}

/// `PUT /volumes/{id}`: name, description, metadata.
pub async fn update(gw: &Gateway, r: &Req, id: &str) -> Result<Response<Body>> {
    let u = input::volume_update(&input::parse_json(&r.body)?)?;
    let _lock = gw
        .store
        .registry
        .lock(&Registry::volume_lock(&r.account, id))
        .await;
    let mut v = get(gw, &r.account, id).await?;
    if let Some(n) = u.name {
        v.name = n;
    }
    if let Some(d) = u.description {
        v.description = d;
    }
    if let Some(m) = u.metadata {
        v.metadata = m;
    }
    v.updated_at = Some(now());
    gw.store.catalog.put_volume(&r.account, &v).await?;
    Ok(json(
        StatusCode::OK,
        &json!({"volume": views::volume(&r.views(), &v)}),
    ))
}

/// `DELETE /volumes/{id}[?cascade=true]`: checks now, deletes in the
/// background (status deleting until the record is gone).
pub async fn delete(gw: &Arc<Gateway>, r: &Req, id: &str) -> Result<Response<Body>> {
    let store = &gw.store;
    let cascade = r.flag("cascade");
    let snaps = {
        let _lock = store
            .registry
            .lock(&Registry::volume_lock(&r.account, id))
            .await;
        let mut v = get(gw, &r.account, id).await?;
        let ok = [
            "available",
            "error",
            "error_restoring",
            "error_extending",
            "deleting",
            "error_deleting",
        ];
        if !ok.contains(&v.status.as_str()) || !v.attachments.is_empty() {
            return Err(Error::BadRequest(format!(
                "Invalid volume: Volume status must be available or error or error_restoring or \
                 error_extending or error_managing and must not be migrating, attached, belong to \
                 a group, have snapshots or be disassociated from snapshots after volume transfer. \
                 (current status: {})",
                v.status
            )));
        }
        let snaps: Vec<_> = store
            .catalog
            .snapshots(&r.account)
            .await?
            .into_iter()
            .filter(|s| s.volume_id == id)
            .collect();
        if !snaps.is_empty() && !cascade {
            return Err(Error::BadRequest(format!(
                "Invalid volume: Volume still has {} dependent snapshots.",
                snaps.len()
            )));
        }
        v.status = "deleting".into();
        v.updated_at = Some(now());
        store.catalog.put_volume(&r.account, &v).await?;
        snaps
    };
    let (gw, account, id) = (gw.clone(), r.account.clone(), id.to_string());
    tokio::spawn(async move {
        let store = &gw.store;
        let _p = store.registry.lock(&Registry::project_lock(&account)).await;
        let result = async {
            for mut s in snaps {
                s.status = "deleting".into();
                store.catalog.put_snapshot(&account, &s).await?;
                store.delete_snapshot_data(&account, &s).await?;
                store
                    .catalog
                    .delete_record(&account, &layout::snapshot_record(&s.id))
                    .await?;
            }
            store.delete_volume_data(&account, &id).await?;
            store
                .catalog
                .delete_record(&account, &layout::volume_record(&id))
                .await
        }
        .await;
        match result {
            Ok(()) => info!(account = %account, volume = %id, "volume deleted"),
            Err(e) => {
                warn!(account = %account, volume = %id, error = %e, "volume delete failed");
                if let Ok(Some(mut v)) = store.catalog.volume(&account, &id).await {
                    v.status = "error_deleting".into();
                    v.error = Some(e.to_string());
                    let _ = store.catalog.put_volume(&account, &v).await;
                }
            }
        }
    });
    Ok(empty(StatusCode::ACCEPTED))
}

/// `POST /volumes/{id}/action`: os-extend.
pub async fn action(gw: &Gateway, r: &Req, id: &str) -> Result<Response<Body>> {
    let act = input::volume_action(&input::parse_json(&r.body)?)?;
    let VolumeAction::Extend(new_size) = act;
    let _lock = gw
        .store
        .registry
        .lock(&Registry::volume_lock(&r.account, id))
        .await;
    let mut v = get(gw, &r.account, id).await?;
    if v.status != "available" {
        // An NBD export's size is fixed for a connection: grow it detached.
        return Err(Error::BadRequest(format!(
            "Invalid volume: Volume {id} status must be available to extend, but current status is: {}.",
            v.status
        )));
    }
    if new_size <= v.size {
        return Err(Error::BadRequest(format!(
            "Invalid input received: New size for extend must be greater than current size. \
             (current: {}, extended: {new_size}).",
            v.size
        )));
    }
    v.size = new_size;
    v.updated_at = Some(now());
    gw.store.catalog.put_volume(&r.account, &v).await?;
    info!(account = %r.account, volume = %id, size = new_size, "volume extended");
    Ok(empty(StatusCode::ACCEPTED))
}
