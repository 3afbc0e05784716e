//! REPLICATE: a partition's suffix hashes, recomputing the suffixes named in
//! the path, for the storage policy of X-Backend-Storage-Policy-Index. The body is Swift's (a protocol-2 pickle of `{suffix: md5}`), so a
//! Swift replicator can use it; with `Accept: application/json` it is the same
//! dict as JSON, which swirl's replicator reads.

use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::{body, Body, Timestamp};
use swirl_store::object::{hashes, DeviceLayout};

use crate::error::{Error, Result};
use crate::handler::blocking;
use crate::Server;

pub async fn handle(
    s: Arc<Server>,
    req: &Request<Incoming>,
    device: String,
    partition: u32,
    policy: u32,
    suffixes: Vec<String>,
) -> Result<Response<Body>> {
    let json = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    for sfx in &suffixes {
        if !swirl_store::object::layout::is_suffix(sfx) {
            return Err(Error::BadRequest(format!("Invalid suffix: {sfx}")));
        }
    }
    let hashes = blocking(move || {
        s.store.check_device(&device)?;
        let layout = DeviceLayout::new(&s.store.devices, &device, policy);
        hashes::get_hashes(
            &layout.partition(partition),
            &suffixes,
            Timestamp::now(),
            s.store.reclaim_age,
        )
        .map_err(|e| Error::Store(e.into()))
    })
    .await?;
    let (bytes, ctype) = if json {
        (
            serde_json::to_vec(&hashes).map_err(|e| Error::Internal(e.to_string()))?,
            "application/json",
        )
    } else {
        (hashes::to_pickle(&hashes), "application/octet-stream")
    };
    let len = bytes.len();
    let mut r = Response::new(body::full(bytes));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert("content-length", HeaderValue::from(len));
    Ok(r)
}
