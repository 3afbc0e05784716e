//! The container server's operations (swift/container/server.py): container
//! PUT/HEAD/GET/POST/DELETE and the object rows object servers send.

use std::sync::Arc;

use http::{HeaderMap, Response, StatusCode};
use swirl_common::backend_headers as bh;
use swirl_common::body::Body;
use swirl_common::constraints::CONTAINER_LISTING_LIMIT;
use swirl_common::listing_format::{self, ListingItem};
use swirl_common::Timestamp;
use swirl_store::db::container::{ContainerBroker, ContainerInfo, ListedObject, ObjectUpdate};
use swirl_store::db::listing::Entry;
use swirl_store::db::timestamps::extract_swift_bytes;
use swirl_store::db::totals;
use swirl_store::db::DbError;

use crate::account_update::AccountTarget;
use crate::error::{Error, Result};
use crate::meta;
use crate::params::{allows_reserved, listing_params};
use crate::response::{get, put, swift_response};
use crate::router::Op;
use crate::server::{blocking, req_timestamp, DbServer, Req};

/// Dispatches one container-server request.
pub async fn handle(s: &DbServer, r: Req) -> Result<Response<Body>> {
    match (r.op, r.object.is_some()) {
        (Op::Put, true) => object_row(s, r, false).await,
        (Op::Delete, true) => object_row(s, r, true).await,
        (Op::Put, false) => put_container(s, r).await,
        (Op::Head, _) => head(s, r).await,
        (Op::Get, _) => get_listing(s, r).await,
        (Op::Post, _) => post(s, r).await,
        (Op::Delete, false) => delete_container(s, r).await,
        (Op::Replicate, _) => Err(Error::MethodNotAllowed),
    }
}

fn container_name(r: &Req) -> String {
    r.container.clone().unwrap_or_default()
}

/// Swift's `gen_resp_headers`: backend timestamps always, stats unless deleted.
pub fn info_headers(info: Option<&ContainerInfo>, deleted: bool) -> HeaderMap {
    let t = |s: Option<&str>| Timestamp::parse(s.unwrap_or("0")).unwrap_or_default();
    let mut h = HeaderMap::new();
    let created = t(info.map(|i| i.created_at.as_str()));
    let put_ts = t(info.map(|i| i.put_timestamp.as_str()));
    put(&mut h, bh::TIMESTAMP, created.internal());
    put(&mut h, bh::PUT_TIMESTAMP, put_ts.internal());
    put(
        &mut h,
        bh::DELETE_TIMESTAMP,
        t(info.map(|i| i.delete_timestamp.as_str())).internal(),
    );
    put(
        &mut h,
        bh::STATUS_CHANGED_AT,
        t(info.map(|i| i.status_changed_at.as_str())).internal(),
    );
    put(
        &mut h,
        bh::STORAGE_POLICY_INDEX,
        info.map_or(0, |i| i.storage_policy_index).to_string(),
    );
    if let (Some(i), false) = (info, deleted) {
        put(
            &mut h,
            "x-container-object-count",
            i.object_count.to_string(),
        );
        put(&mut h, "x-container-bytes-used", i.bytes_used.to_string());
        put(&mut h, "x-timestamp", created.normal());
        put(&mut h, "x-put-timestamp", put_ts.normal());
        put(&mut h, bh::SHARDING_STATE, "unsharded");
    }
    h
}

/// The broker and its info, or a 404 carrying Swift's headers.
async fn open_live(s: &DbServer, r: &Req) -> Result<(Arc<ContainerBroker>, ContainerInfo)> {
    let path = s.container_db(&r.device, r.partition, &r.account, &container_name(r));
    let cache = &s.containers;
    let opened = match cache.get(&path, ContainerBroker::open) {
        Ok(b) => Some(b),
        Err(DbError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(b) = opened else {
        return Err(Error::NotFound(info_headers(None, true)));
    };
    let b2 = b.clone();
    let info = blocking(move || Ok(b2.info()?)).await?;
    if info.is_deleted() {
        return Err(Error::NotFound(info_headers(Some(&info), true)));
    }
    Ok((b, info))
}

async fn object_row(s: &DbServer, r: Req, delete: bool) -> Result<Response<Body>> {
    let ts = req_timestamp(&r.headers)?;
    s.check_drive(&r.device)?;
    let spi = s.policy_index(&r.headers)?.unwrap_or(0);
    let (size, ctype, etag) = if delete {
        (0, "application/deleted".to_string(), "noetag".to_string())
    } else {
        let need = |n: &str| {
            get(&r.headers, n)
                .map(str::to_string)
                .ok_or_else(|| Error::BadRequest(format!("Missing {n} header")))
        };
        // A size outside the store's bounds would overflow the totals.
        let size: i64 = need("x-size")?
            .trim()
            .parse()
            .ok()
            .filter(|v| totals::row_value_ok(*v))
            .ok_or_else(|| Error::BadRequest("Invalid X-Size header".into()))?;
        (size, need("x-content-type")?, need("x-etag")?)
    };
    let update = ObjectUpdate {
        name: r.object.clone().unwrap_or_default(),
        created_at: ts.internal(),
        size,
        content_type: ctype,
        etag,
        deleted: delete,
        storage_policy_index: spi,
        ctype_timestamp: get(&r.headers, "x-content-type-timestamp").map(str::to_string),
        meta_timestamp: get(&r.headers, "x-meta-timestamp").map(str::to_string),
    };
    for t in [&update.ctype_timestamp, &update.meta_timestamp]
        .into_iter()
        .flatten()
    {
        Timestamp::parse(t).map_err(|_| Error::BadRequest(format!("Invalid timestamp {t}")))?;
    }
    let path = s.container_db(&r.device, r.partition, &r.account, &container_name(&r));
    let auto = r.account.starts_with(&s.cfg.auto_create_account_prefix)
        && get(&r.headers, bh::AUTO_CREATE).is_none_or(|v| crate::params::true_value(Some(v)));
    let broker = match s.containers.get(&path, ContainerBroker::open) {
        Ok(b) => b,
        Err(DbError::NotFound(_)) if auto => {
            let (p, a, c, t) = (
                path.clone(),
                r.account.clone(),
                container_name(&r),
                ts.internal(),
            );
            blocking(move || Ok(ContainerBroker::initialize(&p, &a, &c, &t, spi)?)).await?;
            s.containers.get(&path, ContainerBroker::open)?
        }
        Err(DbError::NotFound(_)) => return Err(Error::NotFound(HeaderMap::new())),
        Err(e) => return Err(e.into()),
    };
    // Group commit: queue the row and await its transaction; the first
    // caller to find no commit running starts the committing thread.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done = Box::new(move |r| {
        let _ = tx.send(r);
    });
    if broker.enqueue_rows(vec![update], done)? {
        let b = broker.clone();
        tokio::task::spawn_blocking(move || b.commit_queued());
    }
    rx.await
        .map_err(|_| Error::Task("row commit abandoned".into()))??;
    s.reporter.mark_dirty(broker.path());
    let status = if delete {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    Ok(swift_response(status, HeaderMap::new(), None))
}

/// Sends the container's stats to its account servers as Swift's
/// `account_update` does; a 404 from every one of them is the answer.
async fn account_update(s: &DbServer, r: &Req, broker: &Arc<ContainerBroker>) -> Result<()> {
    let Some(target) = AccountTarget::from_headers(&r.headers)? else {
        return Ok(());
    };
    let (b, t) = (broker.clone(), target.clone());
    blocking(move || {
        Ok(b.set_account_location(&t.hosts.join(","), &t.devices.join(","), &t.partition)?)
    })
    .await?;
    let all_404 = s
        .reporter
        .update_now(
            broker.clone(),
            &r.account,
            &container_name(r),
            &target,
            &r.txn,
        )
        .await;
    if all_404 {
        return Err(Error::NotFound(HeaderMap::new()));
    }
    Ok(())
}

async fn put_container(s: &DbServer, r: Req) -> Result<Response<Body>> {
    let ts = req_timestamp(&r.headers)?.internal();
    s.check_drive(&r.device)?;
    let requested = s.policy_index(&r.headers)?;
    let new_policy = match requested {
        Some(p) => p,
        None => match get(&r.headers, bh::STORAGE_POLICY_DEFAULT) {
            Some(v) => v.trim().parse().map_err(|_| {
                Error::BadRequest(format!("Invalid X-Backend-Storage-Policy-Default '{v}'"))
            })?,
            None => s.cfg.default_policy(),
        },
    };
    let md = meta::from_request("container", &r.headers, &ts)?;
    let path = s.container_db(&r.device, r.partition, &r.account, &container_name(&r));
    let (p, a, c, t) = (
        path.clone(),
        r.account.clone(),
        container_name(&r),
        ts.clone(),
    );
    let fresh =
        blocking(move || Ok(ContainerBroker::initialize(&p, &a, &c, &t, new_policy)?)).await?;
    let broker = s.containers.get(&path, ContainerBroker::open)?;
    let b = broker.clone();
    let t = ts.clone();
    // Swift's `_update_or_create`.
    let outcome = blocking(move || -> Result<std::result::Result<bool, HeaderMap>> {
        let created = if fresh {
            true
        } else {
            let info = b.info()?;
            let recreated = info.is_deleted();
            if recreated {
                b.set_storage_policy_index(new_policy, &t)?;
            } else if let Some(req) = requested {
                if req != info.storage_policy_index {
                    let mut h = HeaderMap::new();
                    put(
                        &mut h,
                        bh::STORAGE_POLICY_INDEX,
                        info.storage_policy_index.to_string(),
                    );
                    return Ok(Err(h));
                }
            }
            b.update_put_timestamp(&t)?;
            if b.info()?.is_deleted() {
                return Ok(Err(HeaderMap::new()));
            }
            if recreated {
                b.update_status_changed_at(&t)?;
            }
            recreated
        };
        if !md.is_empty() {
            b.update_metadata(&md, true)?;
        }
        Ok(Ok(created))
    })
    .await?;
    let created = outcome.map_err(Error::Conflict)?;
    account_update(s, &r, &broker).await?;
    let b = broker.clone();
    let spi = blocking(move || Ok(b.info()?.storage_policy_index)).await?;
    let mut h = HeaderMap::new();
    put(&mut h, bh::STORAGE_POLICY_INDEX, spi.to_string());
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok(swift_response(status, h, None))
}

/// Headers of a live container: stats, metadata, content type, Last-Modified.
fn live_headers(info: &ContainerInfo, content_type: &str) -> HeaderMap {
    let mut h = info_headers(Some(info), false);
    meta::to_headers("container", &info.metadata, &mut h);
    put(
        &mut h,
        "content-type",
        format!("{content_type}; charset=utf-8"),
    );
    let put_ts = Timestamp::parse(&info.put_timestamp).unwrap_or_default();
    put(&mut h, "last-modified", put_ts.http_date());
    h
}

fn negotiate(r: &Req) -> Result<&'static str> {
    let format = r.query.get("format")?;
    listing_format::negotiate(format.as_deref(), get(&r.headers, "accept")).map_err(|e| match e {
        listing_format::ListingFormatError::NotAcceptable => Error::NotAcceptable,
        listing_format::ListingFormatError::BadAccept
        | listing_format::ListingFormatError::BadJson(_) => Error::BadAccept,
    })
}

async fn head(s: &DbServer, r: Req) -> Result<Response<Body>> {
    let ct = negotiate(&r)?;
    s.check_drive(&r.device)?;
    let (_, info) = open_live(s, &r).await?;
    Ok(swift_response(
        StatusCode::NO_CONTENT,
        live_headers(&info, ct),
        None,
    ))
}

/// Swift's `update_data_record`: swift_bytes overrides the size and leaves
/// the content type (rebuilt without spaces).
fn listed(o: ListedObject) -> ListingItem {
    // Without parameters the content type stays as it is.
    let (content_type, swift_bytes) = if o.content_type.contains(';') {
        extract_swift_bytes(&o.content_type)
    } else {
        (o.content_type, None)
    };
    let bytes = swift_bytes.and_then(|b| b.parse().ok()).unwrap_or(o.size);
    ListingItem::Object {
        name: o.name,
        hash: o.etag,
        bytes,
        content_type,
        last_modified: o.last_modified.isoformat(),
    }
}

async fn get_listing(s: &DbServer, r: Req) -> Result<Response<Body>> {
    let mut params = listing_params(&r.query, CONTAINER_LISTING_LIMIT, true)?;
    params.allow_reserved = allows_reserved(&r.headers);
    let ct = negotiate(&r)?;
    s.check_drive(&r.device)?;
    let (broker, info) = open_live(s, &r).await?;
    let spi = s
        .policy_index(&r.headers)?
        .unwrap_or(info.storage_policy_index);
    let body = if ct.ends_with("/xml") || ct.ends_with("/json") {
        let entries = blocking(move || Ok(broker.list(&params, spi)?)).await?;
        let items: Vec<ListingItem> = entries
            .into_iter()
            .map(|e| match e {
                Entry::Row(o) => listed(o),
                Entry::Subdir(d) => ListingItem::Subdir(d),
            })
            .collect();
        if ct.ends_with("/xml") {
            listing_format::container_to_xml(&items, &container_name(&r))
        } else {
            listing_format::to_json(&items)
        }
    } else {
        // A plain listing shows names only: the broker reads nothing else.
        let entries = blocking(move || Ok(broker.list_names(&params, spi)?)).await?;
        let mut body = Vec::new();
        for e in &entries {
            let (Entry::Row(n) | Entry::Subdir(n)) = e;
            body.extend_from_slice(n.as_bytes());
            body.push(b'\n');
        }
        body
    };
    let mut h = live_headers(&info, ct);
    put(&mut h, bh::RECORD_TYPE, "object");
    put(&mut h, bh::RECORD_STORAGE_POLICY_INDEX, spi.to_string());
    let status = if body.is_empty() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    };
    Ok(swift_response(status, h, Some(body)))
}

async fn post(s: &DbServer, r: Req) -> Result<Response<Body>> {
    let ts = req_timestamp(&r.headers)?.internal();
    s.check_drive(&r.device)?;
    let md = meta::from_request("container", &r.headers, &ts)?;
    let (broker, _) = open_live(s, &r).await.map_err(|e| match e {
        Error::NotFound(_) => Error::NotFound(HeaderMap::new()),
        other => other,
    })?;
    blocking(move || {
        broker.update_put_timestamp(&ts)?;
        if !md.is_empty() {
            broker.update_metadata(&md, true)?;
        }
        Ok(())
    })
    .await?;
    Ok(swift_response(
        StatusCode::NO_CONTENT,
        HeaderMap::new(),
        None,
    ))
}

async fn delete_container(s: &DbServer, r: Req) -> Result<Response<Body>> {
    let ts = req_timestamp(&r.headers)?.internal();
    s.check_drive(&r.device)?;
    s.policy_index(&r.headers)?;
    let path = s.container_db(&r.device, r.partition, &r.account, &container_name(&r));
    let broker = match s.containers.get(&path, ContainerBroker::open) {
        Ok(b) => b,
        Err(DbError::NotFound(_)) => return Err(Error::NotFound(HeaderMap::new())),
        Err(e) => return Err(e.into()),
    };
    let b = broker.clone();
    // Swift: 409 while objects remain; 409 too when the delete is older than
    // the last PUT (the database stays live).
    let existed = blocking(move || -> Result<Option<bool>> {
        let info = b.info()?;
        if info.object_count != 0 {
            return Ok(None);
        }
        let existed = Timestamp::parse(&info.put_timestamp).unwrap_or_default()
            != Timestamp::default()
            && !info.is_deleted();
        b.delete_db(&ts)?;
        if !b.info()?.is_deleted() {
            return Ok(None);
        }
        Ok(Some(existed))
    })
    .await?;
    let Some(existed) = existed else {
        return Err(Error::Conflict(HeaderMap::new()));
    };
    account_update(s, &r, &broker).await?;
    if existed {
        Ok(swift_response(
            StatusCode::NO_CONTENT,
            HeaderMap::new(),
            None,
        ))
    } else {
        Err(Error::NotFound(HeaderMap::new()))
    }
}
