//! The account server's operations (swift/account/server.py): account
//! PUT/HEAD/GET/POST/DELETE and the container rows container servers send.

use std::sync::Arc;

use http::{HeaderMap, Response, StatusCode};
use swirl_common::backend_headers as bh;
use swirl_common::body::Body;
use swirl_common::constraints::ACCOUNT_LISTING_LIMIT;
use swirl_common::listing_format::{self, ListingItem};
use swirl_common::Timestamp;
use swirl_store::db::account::{AccountBroker, AccountInfo, ContainerUpdate};
use swirl_store::db::listing::Entry;
use swirl_store::db::totals;
use swirl_store::db::DbError;

use crate::error::{Error, Result};
use crate::meta;
use crate::params::{allows_reserved, listing_params};
use crate::response::{get, put, swift_response};
use crate::router::Op;
use crate::server::{blocking, req_timestamp, DbServer, Req};

/// Dispatches one account-server request.
pub async fn handle(s: &DbServer, r: Req) -> Result<Response<Body>> {
    match (r.op, r.container.is_some()) {
        (Op::Put, true) => put_container_row(s, r).await,
        (Op::Put, false) => put_account(s, r).await,
        (Op::Head, _) => head(s, r).await,
        (Op::Get, _) => get_listing(s, r).await,
        (Op::Post, _) => post(s, r).await,
        (Op::Delete, _) => delete(s, r).await,
        (Op::Replicate, _) => Err(Error::MethodNotAllowed),
    }
}

/// The broker (if the file exists) and its info.
async fn open(s: &DbServer, r: &Req) -> Result<Option<(Arc<AccountBroker>, AccountInfo)>> {
    let path = s.account_db(&r.device, r.partition, &r.account);
    let b = match s.accounts.get(&path, AccountBroker::open) {
        Ok(b) => b,
        Err(DbError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let b2 = b.clone();
    let info = blocking(move || Ok(b2.info()?)).await?;
    Ok(Some((b, info)))
}

/// Opens a live account; a missing or deleted one is Swift's
/// `_deleted_response` (404, X-Account-Status: Deleted when it was deleted).
async fn open_live(s: &DbServer, r: &Req) -> Result<(Arc<AccountBroker>, AccountInfo)> {
    match open(s, r).await? {
        Some((b, i)) if !i.is_deleted() => Ok((b, i)),
        Some((_, i)) => Err(Error::AccountNotFound {
            deleted: i.is_status_deleted(),
        }),
        None => Err(Error::AccountNotFound { deleted: false }),
    }
}

async fn put_container_row(s: &DbServer, r: Req) -> Result<Response<Body>> {
    s.check_drive(&r.device)?;
    let ts = match r.headers.get("x-timestamp") {
        None => Timestamp::now(),
        Some(_) => req_timestamp(&r.headers)?,
    };
    let need = |n: &str| {
        get(&r.headers, n)
            .map(|v| v.trim().to_string())
            .ok_or_else(|| Error::BadRequest(format!("Missing {n} header")))
    };
    // Counts outside the store's bounds would overflow the account's totals.
    let num = |n: &str| -> Result<i64> {
        need(n)?
            .parse()
            .ok()
            .filter(|v| totals::row_value_ok(*v))
            .ok_or_else(|| Error::BadRequest(format!("Invalid {n} header")))
    };
    let put_ts = need("x-put-timestamp")?;
    let del_ts = need("x-delete-timestamp")?;
    for t in [&put_ts, &del_ts] {
        Timestamp::parse(t).map_err(|_| Error::BadRequest(format!("Invalid timestamp {t}")))?;
    }
    let update = ContainerUpdate {
        name: r.container.clone().unwrap_or_default(),
        put_timestamp: put_ts.clone(),
        delete_timestamp: del_ts.clone(),
        object_count: num("x-object-count")?,
        bytes_used: num("x-bytes-used")?,
        storage_policy_index: get(&r.headers, bh::STORAGE_POLICY_INDEX)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
    };
    let path = s.account_db(&r.device, r.partition, &r.account);
    if r.account.starts_with(&s.cfg.auto_create_account_prefix) && !path.exists() {
        let (p, a, t) = (path.clone(), r.account.clone(), ts.internal());
        blocking(move || Ok(AccountBroker::initialize(&p, &a, &t)?)).await?;
    }
    let override_deleted = get(&r.headers, "x-account-override-deleted")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let Some((broker, info)) = open(s, &r).await? else {
        return Err(Error::NotFound(HeaderMap::new()));
    };
    if !override_deleted && info.is_deleted() {
        return Err(Error::NotFound(HeaderMap::new()));
    }
    blocking(move || Ok(broker.put_rows(vec![update])?)).await?;
    // Swift compares the header strings, not the times.
    let status = if del_ts > put_ts {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    Ok(swift_response(status, HeaderMap::new(), None))
}

async fn put_account(s: &DbServer, r: Req) -> Result<Response<Body>> {
    s.check_drive(&r.device)?;
    let ts = req_timestamp(&r.headers)?.internal();
    let md = meta::from_request("account", &r.headers, &ts)?;
    let path = s.account_db(&r.device, r.partition, &r.account);
    let existing = open(s, &r).await?;
    let created = match existing {
        None => {
            let (p, a, t) = (path.clone(), r.account.clone(), ts.clone());
            blocking(move || Ok(AccountBroker::initialize(&p, &a, &t)?)).await?
        }
        Some((_, ref i)) if i.is_status_deleted() => {
            return Err(Error::AccountRecentlyDeleted);
        }
        Some((b, i)) => {
            let t = ts.clone();
            let now_deleted = blocking(move || {
                b.update_put_timestamp(&t)?;
                Ok(b.info()?.is_deleted())
            })
            .await?;
            if now_deleted {
                return Err(Error::Conflict(HeaderMap::new()));
            }
            i.is_deleted()
        }
    };
    if !md.is_empty() {
        let broker = s.accounts.get(&path, AccountBroker::open)?;
        blocking(move || Ok(broker.update_metadata(&md, true)?)).await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok(swift_response(status, HeaderMap::new(), None))
}

/// Swift's `get_response_headers`: totals, per-policy totals, metadata.
async fn account_headers(
    s: &DbServer,
    broker: &Arc<AccountBroker>,
    info: &AccountInfo,
) -> Result<HeaderMap> {
    let mut h = HeaderMap::new();
    put(
        &mut h,
        "x-account-container-count",
        info.container_count.to_string(),
    );
    put(
        &mut h,
        "x-account-object-count",
        info.object_count.to_string(),
    );
    put(&mut h, "x-account-bytes-used", info.bytes_used.to_string());
    let t = |x: &str| Timestamp::parse(x).unwrap_or_default().normal();
    put(&mut h, "x-timestamp", t(&info.created_at));
    put(&mut h, "x-put-timestamp", t(&info.put_timestamp));
    let b = broker.clone();
    let stats = blocking(move || Ok(b.policy_stats()?)).await?;
    for st in stats {
        let Some(name) = s.cfg.policy_name(st.storage_policy_index) else {
            continue;
        };
        for (k, v) in [
            ("container-count", st.container_count),
            ("object-count", st.object_count),
            ("bytes-used", st.bytes_used),
        ] {
            put(
                &mut h,
                &format!("x-account-storage-policy-{name}-{k}"),
                v.to_string(),
            );
        }
    }
    meta::to_headers("account", &info.metadata, &mut h);
    Ok(h)
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
    let (broker, info) = open_live(s, &r).await?;
    let mut h = account_headers(s, &broker, &info).await?;
    put(&mut h, "content-type", format!("{ct}; charset=utf-8"));
    Ok(swift_response(StatusCode::NO_CONTENT, h, None))
}

async fn get_listing(s: &DbServer, r: Req) -> Result<Response<Body>> {
    let mut params = listing_params(&r.query, ACCOUNT_LISTING_LIMIT, false)?;
    params.allow_reserved = allows_reserved(&r.headers);
    let ct = negotiate(&r)?;
    s.check_drive(&r.device)?;
    let (broker, info) = open_live(s, &r).await?;
    let mut h = account_headers(s, &broker, &info).await?;
    let entries = blocking(move || Ok(broker.list(&params)?)).await?;
    let items: Vec<ListingItem> = entries
        .into_iter()
        .map(|e| match e {
            Entry::Row(c) => ListingItem::Container {
                name: c.name,
                count: c.object_count,
                bytes: c.bytes_used,
                last_modified: Timestamp::parse(&c.put_timestamp)
                    .unwrap_or_default()
                    .isoformat(),
            },
            Entry::Subdir(d) => ListingItem::Subdir(d),
        })
        .collect();
    let (status, body) = if ct.ends_with("/xml") {
        (
            StatusCode::OK,
            listing_format::account_to_xml(&items, &r.account),
        )
    } else if ct.ends_with("/json") {
        (StatusCode::OK, listing_format::to_json(&items))
    } else if !items.is_empty() {
        (StatusCode::OK, listing_format::to_text(&items))
    } else {
        (StatusCode::NO_CONTENT, Vec::new())
    };
    put(&mut h, "content-type", format!("{ct}; charset=utf-8"));
    Ok(swift_response(status, h, Some(body)))
}

async fn post(s: &DbServer, r: Req) -> Result<Response<Body>> {
    let ts = req_timestamp(&r.headers)?.internal();
    s.check_drive(&r.device)?;
    let (broker, _) = open_live(s, &r).await?;
    let md = meta::from_request("account", &r.headers, &ts)?;
    if !md.is_empty() {
        blocking(move || Ok(broker.update_metadata(&md, true)?)).await?;
    }
    Ok(swift_response(
        StatusCode::NO_CONTENT,
        HeaderMap::new(),
        None,
    ))
}

async fn delete(s: &DbServer, r: Req) -> Result<Response<Body>> {
    s.check_drive(&r.device)?;
    let ts = req_timestamp(&r.headers)?.internal();
    let (broker, _) = open_live(s, &r).await?;
    let info = blocking(move || {
        broker.delete_db(&ts)?;
        Ok(broker.info()?)
    })
    .await?;
    // Swift's `_deleted_response` with 204: X-Account-Status says Deleted.
    let mut h = HeaderMap::new();
    if info.is_status_deleted() {
        put(&mut h, "x-account-status", "Deleted");
    }
    put(&mut h, "content-type", "text/html; charset=utf-8");
    Ok(swift_response(StatusCode::NO_CONTENT, h, Some(Vec::new())))
}
