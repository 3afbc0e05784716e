//! POST: replaces the object's user metadata (and the other POSTable headers)
//! by writing a `.meta` file; may change Content-Type and X-Delete-At (the
//! expirer queue follows). 202, 404 when there is
//! no current object, 409 when the stored metadata is as new or newer.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::backend_headers as bh;
use swirl_common::{Body, Timestamp};
use swirl_store::object::{Metadata, ObjectRef, Opened};

use crate::container_update;
use crate::delete_at_update;
use crate::error::{Error, Result};
use crate::handler::{add_header, blocking, status};
use crate::headers::{self, value};
use crate::Server;

pub async fn handle(
    s: Arc<Server>,
    req: Request<Incoming>,
    obj: ObjectRef,
    txn: &str,
) -> Result<Response<Body>> {
    let h = req.headers();
    let req_ts = headers::timestamp(h)?;
    let new_delete_at: u64 = match value(h, "x-delete-at").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| Error::BadRequest("Non-integer X-Delete-At".into()))?,
    };
    if new_delete_at != 0 && (new_delete_at as f64) < req_ts.as_f64() {
        return Err(Error::BadRequest("X-Delete-At in past".into()));
    }
    headers::check_metadata(h)?;
    // An empty Content-Type is none: the stored one stays (Swift's
    // `if req_ctype:`; object versioning's POSTs send one empty).
    let req_ctype = value(h, "content-type").filter(|v| !v.is_empty());
    let req_ctype_ts = match &req_ctype {
        Some(_) => match value(h, "content-type-timestamp") {
            Some(v) => Timestamp::parse(&v)
                .map_err(|_| Error::BadRequest("Invalid Content-Type-Timestamp".into()))?,
            None => req_ts,
        },
        None => Timestamp::default(),
    };
    let (s2, o2) = (s.clone(), obj.clone());
    let f = blocking(move || {
        s2.store.check_device(&o2.device)?;
        Ok(match s2.store.open(&o2)? {
            Opened::Exists(f) if !f.delete_at().is_some_and(|d| (d as f64) <= req_ts.as_f64()) => {
                Some(f)
            }
            Opened::Exists(_) | Opened::Deleted(_) | Opened::Missing | Opened::Quarantined(_) => {
                None
            }
        })
    })
    .await?
    .ok_or(Error::NotFound {
        backend_timestamp: None,
    })?;
    let orig_ts = f.timestamp;
    let orig_ctype_ts = f
        .metadata
        .get("Content-Type-Timestamp")
        .and_then(|v| Timestamp::parse(v).ok())
        .unwrap_or(f.data_timestamp);
    if orig_ts >= req_ts && orig_ctype_ts >= req_ctype_ts {
        return Err(Error::Conflict {
            backend_timestamp: Some(orig_ts),
        });
    }
    let mut md = Metadata::new();
    let meta_ts = if req_ts > orig_ts { req_ts } else { orig_ts };
    md.set("X-Timestamp", meta_ts.internal());
    md.set("name", obj.name());
    let source = if req_ts > orig_ts {
        headers::stored_headers(h, &s.cfg.allowed_headers)
    } else {
        // Only the Content-Type is newer: keep the current POSTed metadata.
        f.metadata
            .iter()
            .filter(|(k, _)| {
                let l = k.to_ascii_lowercase();
                (headers::is_object_meta(&l) && !l.starts_with("x-object-sysmeta-"))
                    || s.cfg.allowed_headers.contains(&l)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    for (k, v) in source {
        // Sysmeta is set only by PUT; POST cannot change it.
        if !k.to_ascii_lowercase().starts_with("x-object-sysmeta-") {
            md.set(k, v);
        }
    }
    let data_ctype = f.metadata.get("Content-Type").cloned().unwrap_or_default();
    let (ctype, ctype_ts) = match req_ctype {
        Some(ct) if req_ctype_ts > orig_ctype_ts => (ct, req_ctype_ts),
        _ => (data_ctype, orig_ctype_ts),
    };
    let name_ctype = if ctype_ts != f.data_timestamp {
        md.set("Content-Type", ctype.clone());
        md.set("Content-Type-Timestamp", ctype_ts.internal());
        Some(ctype_ts)
    } else {
        None
    };
    let (s2, o2, md2) = (s.clone(), obj.clone(), md.clone());
    blocking(move || Ok(s2.store.write_meta(&o2, meta_ts, &md2, name_ctype)?)).await?;

    let referer = format!("POST {}", req.uri().path());
    if req_ts > orig_ts {
        // The metadata (X-Delete-At with it) is replaced.
        let new = (new_delete_at != 0).then_some(new_delete_at);
        delete_at_update::on_change(&s, f.delete_at(), new, &obj, h, req_ts, &referer, txn).await;
    }
    let mut upd = BTreeMap::new();
    let get = |k: &str| f.metadata.get(k).cloned().unwrap_or_default();
    upd.insert("x-size".to_string(), get("Content-Length"));
    // A Content-Type not the .data's own still carries the .data's
    // swift_bytes (an SLO manifest's total size) to the container.
    let mut update_ctype = ctype.clone();
    if ctype_ts != f.data_timestamp {
        let data_ct = f.data_content_type.as_deref().unwrap_or("");
        if let (_, Some(sb)) = swirl_store::db::timestamps::extract_swift_bytes(data_ct) {
            update_ctype = format!("{update_ctype};swift_bytes={sb}");
        }
    }
    upd.insert("x-content-type".to_string(), update_ctype);
    upd.insert("x-timestamp".to_string(), f.data_timestamp.internal());
    upd.insert("x-content-type-timestamp".to_string(), ctype_ts.internal());
    upd.insert("x-meta-timestamp".to_string(), meta_ts.internal());
    upd.insert("x-etag".to_string(), get("ETag"));
    // The overrides stored with the PUT (an SLO's ETags) hold for POSTs too
    // (Swift's `_check_container_override` of the metadata).
    for prefix in [
        bh::CONTAINER_UPDATE_OVERRIDE,
        "x-object-sysmeta-container-update-override-",
    ] {
        for (k, v) in &f.metadata {
            if let Some(rest) = k.to_ascii_lowercase().strip_prefix(prefix) {
                upd.insert(format!("x-{rest}"), v.clone());
            }
        }
    }
    container_update::update(&s, h, &obj, "PUT", upd, referer, txn).await;

    let mut r = status(StatusCode::ACCEPTED);
    add_header(&mut r, bh::CONTENT_TYPE, &ctype);
    for (k, v) in &f.metadata {
        if k.to_ascii_lowercase().starts_with("x-object-sysmeta-") {
            add_header(&mut r, k, v);
        }
    }
    Ok(r)
}
