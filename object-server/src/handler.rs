//! Dispatch: one match from endpoint to operation, and small helpers the
//! operations share (blocking calls, building responses).

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::backend_headers as bh;
use swirl_common::digest_trailer;
use swirl_common::server::Handler;
use swirl_common::{body, Body};

use crate::error::{Error, Result};
use crate::router::{self, Endpoint, ObjectVerb};
use crate::{delete, get, metrics, post, put, recon, replicate, Server};

/// The object server's request handler.
pub struct ObjectHandler {
    pub server: Arc<Server>,
}

impl Handler for ObjectHandler {
    type Error = Error;

    async fn handle(&self, req: Request<Incoming>, txn: &str) -> Result<Response<Body>> {
        let ep = router::route(req.method(), req.uri().path())?;
        let s = self.server.clone();
        // Health, recon and metrics are for operators and their tools, open
        // as in Swift; everything else must come from the cluster.
        if !matches!(
            ep,
            Endpoint::Healthcheck | Endpoint::Recon(_) | Endpoint::Metrics
        ) {
            s.auth.verify(req.method(), req.uri(), req.headers())?;
        }
        swirl_common::header_text::check(req.headers())?;
        match ep {
            Endpoint::Healthcheck => {
                // Proxies probe this at start to learn that PUTs here may
                // carry digest trailers (sparing this server an MD5 pass).
                let mut r = text(StatusCode::OK, "OK");
                add_header(&mut r, digest_trailer::HEADER, "yes");
                Ok(r)
            }
            Endpoint::Recon(check) => recon::handle(s, &check).await,
            Endpoint::Metrics => metrics::handle(s, req.headers()).await,
            Endpoint::Replicate {
                device,
                partition,
                suffixes,
            } => {
                let policy = request_policy(&s, &req)?;
                replicate::handle(s, &req, device, partition, policy, suffixes).await
            }
            Endpoint::Object {
                verb,
                device,
                partition,
                account,
                container,
                object,
            } => {
                let policy = request_policy(&s, &req)?;
                let obj = s
                    .store
                    .object(&device, partition, &account, &container, &object, policy);
                match verb {
                    ObjectVerb::Put => put::handle(s, req, obj, txn).await,
                    ObjectVerb::Get => get::handle(s, req, obj, false).await,
                    ObjectVerb::Head => get::handle(s, req, obj, true).await,
                    ObjectVerb::Post => post::handle(s, req, obj, txn).await,
                    ObjectVerb::Delete => delete::handle(s, req, obj, txn).await,
                }
            }
        }
    }
}

/// The storage policy a request is for (Swift's `get_name_and_placement`):
/// X-Backend-Storage-Policy-Index, policy 0 without it, 503 for a policy the
/// cluster does not have.
pub(crate) fn request_policy(s: &Server, req: &Request<Incoming>) -> Result<u32> {
    let header = req
        .headers()
        .get(bh::STORAGE_POLICY_INDEX)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    s.cfg
        .policy(header.as_deref())
        .ok_or_else(|| Error::NoPolicy(header.unwrap_or_else(|| "None".into())))
}

/// Runs blocking (disk) work off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}

/// A small text response.
pub fn text(status: StatusCode, t: &str) -> Response<Body> {
    let mut r = Response::new(body::full(t.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r.headers_mut()
        .insert("content-length", HeaderValue::from(t.len()));
    r
}

/// Adds a header given as text; names or values HTTP cannot carry are skipped.
pub fn add_header(r: &mut Response<Body>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
}

/// A response with Swift's standard body for `status`, and swob's default
/// Content-Type even when that body is empty (201, 204).
pub fn status(status: StatusCode) -> Response<Body> {
    let mut r = swirl_common::error::status_response(status);
    if !r.headers().contains_key("content-type") {
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
    }
    r
}
