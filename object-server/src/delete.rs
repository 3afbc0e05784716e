//! DELETE: writes a tombstone newer than what is stored (204), 404 when there
//! was nothing (the tombstone is still written, as in Swift, so a late
//! replica's older data loses), 409 when something newer exists, and Swift's
//! X-If-Delete-At check used by the expirer. An X-Delete-At the object had
//! leaves its expirer queue row to be removed (unless the request is the
//! expirer's: X-Backend-Clean-Expiring-Object-Queue: no).

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

/// What was stored before the DELETE.
struct Orig {
    ts: Timestamp,
    exists: bool,
    delete_at: Option<u64>,
    content_type: String,
}

pub async fn handle(
    s: Arc<Server>,
    req: Request<Incoming>,
    obj: ObjectRef,
    txn: &str,
) -> Result<Response<Body>> {
    let h = req.headers();
    let req_ts = headers::timestamp(h)?;
    let if_delete_at = match value(h, "x-if-delete-at") {
        None => None,
        Some(v) => Some(
            Timestamp::parse(&v)
                .map_err(|_| Error::BadRequestHtml("Bad X-If-Delete-At header value".into()))?,
        ),
    };
    let (s2, o2) = (s.clone(), obj.clone());
    let orig = blocking(move || {
        s2.store.check_device(&o2.device)?;
        Ok(match s2.store.open(&o2)? {
            Opened::Exists(f) => {
                let delete_at = f.delete_at();
                let content_type = f.metadata.get("Content-Type").cloned().unwrap_or_default();
                let expired = delete_at.is_some_and(|d| (d as f64) <= req_ts.as_f64());
                Orig {
                    ts: if expired {
                        f.timestamp
                    } else {
                        f.data_timestamp
                    },
                    exists: !expired,
                    delete_at,
                    content_type,
                }
            }
            Opened::Deleted(t) => Orig {
                ts: t,
                exists: false,
                delete_at: None,
                content_type: String::new(),
            },
            Opened::Missing | Opened::Quarantined(_) => Orig {
                ts: Timestamp::default(),
                exists: false,
                delete_at: None,
                content_type: String::new(),
            },
        })
    })
    .await?;
    // Swift's own response classes, not errors: a 404 has still written
    // its tombstone, and both carry what was stored (time, content type).
    let mut code = if !orig.exists {
        StatusCode::NOT_FOUND
    } else if orig.ts < req_ts {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CONFLICT
    };
    if let Some(want) = if_delete_at {
        // The expirer must not delete what it cannot verify.
        if orig.ts == Timestamp::default() {
            return Err(Error::NotFound {
                backend_timestamp: None,
            });
        }
        if orig.ts >= req_ts {
            return Err(Error::Conflict {
                backend_timestamp: None,
            });
        }
        let have = Timestamp::from_raw(orig.delete_at.unwrap_or(0).saturating_mul(100_000), 0)
            .unwrap_or_default();
        if have != want {
            return Err(Error::PreconditionFailed(Some(
                "X-If-Delete-At and X-Delete-At do not match".into(),
            )));
        }
        code = StatusCode::NO_CONTENT;
    }
    let referer = format!("DELETE {}", req.uri().path());
    if let Some(at) = orig.delete_at.filter(|a| *a != 0) {
        delete_at_update::update(&s, "DELETE", at, &obj, h, req_ts, &referer, txn).await;
    }
    if orig.ts < req_ts {
        let mut md = Metadata::new();
        md.set("X-Timestamp", req_ts.internal());
        md.set("name", obj.name());
        let (s2, o2) = (s.clone(), obj.clone());
        blocking(move || Ok(s2.store.write_tombstone(&o2, req_ts, &md)?)).await?;
        let mut upd = BTreeMap::new();
        upd.insert("x-timestamp".to_string(), req_ts.internal());
        container_update::update(&s, h, &obj, "DELETE", upd, referer, txn).await;
    }
    let mut r = status(code);
    add_header(&mut r, bh::TIMESTAMP, &orig.ts.max(req_ts).internal());
    add_header(&mut r, bh::CONTENT_TYPE, &orig.content_type);
    Ok(r)
}
