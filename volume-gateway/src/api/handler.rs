//! The API's request handler: route, check the microversion and the token,
//! read the (small) body, dispatch, and stamp the microversion served.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::server::{read_body_limited, BodyError, Handler};
use swirl_common::Body;

use super::router::{self, Kind, Route};
use super::{attachments, json, snapshots, version, volumes, Req};
use crate::error::{Error, Result};
use crate::gateway::Gateway;

/// Largest request body (every call's JSON is a few KiB).
const MAX_BODY: usize = 1 << 20;

pub struct ApiHandler {
    pub gw: Arc<Gateway>,
}

/// Parses a query string into decoded pairs (the last of a repeated key wins).
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// `http://host[:port]` the client used (for links), from a sane Host.
fn base_url(req: &Request<Incoming>, fallback: &str) -> String {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .unwrap_or(fallback);
    format!("http://{host}")
}

impl ApiHandler {
    async fn dispatch(&self, req: Request<Incoming>) -> Result<(Response<Body>, version::Micro)> {
        let gw = &self.gw;
        let route = router::route(req.method(), req.uri().path())?;
        let micro = version::requested(req.headers())?;
        let fallback = format!("{}:{}", gw.cfg.bind_ip, gw.cfg.bind_port);
        let base = base_url(&req, &fallback);
        let (project, kind) = match &route {
            Route::Versions => {
                return Ok((
                    json(StatusCode::MULTIPLE_CHOICES, &version::versions(&base)),
                    micro,
                ))
            }
            Route::Version => return Ok((json(StatusCode::OK, &version::versions(&base)), micro)),
            Route::Metrics => {
                let figures = swirl_common::metrics::Figures::new();
                return Ok((
                    swirl_common::metrics::response(figures, req.headers()),
                    micro,
                ));
            }
            Route::Healthcheck => {
                let mut r = Response::new(swirl_common::body::full("OK"));
                r.headers_mut()
                    .insert(http::header::CONTENT_LENGTH, HeaderValue::from(2));
                return Ok((r, micro));
            }
            Route::List { project, kind, .. }
            | Route::Create { project, kind }
            | Route::Show { project, kind, .. }
            | Route::Update { project, kind, .. }
            | Route::Delete { project, kind, .. }
            | Route::Action { project, kind, .. } => (project.clone(), *kind),
        };
        let account = gw.auth.account_of(&project);
        let token = req
            .headers()
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        gw.auth.check(token.as_deref(), &account).await?;
        let query = parse_query(req.uri().query());
        let body = read_body_limited(req.into_body(), MAX_BODY)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge(n) => {
                    Error::TooLarge(format!("Request body larger than {n} bytes."))
                }
                BodyError::Read(m) => {
                    Error::BadRequest(format!("Could not read the request body: {m}"))
                }
                // No timeout is asked of this read.
                BodyError::TimedOut => {
                    Error::BadRequest("Timed out reading the request body.".into())
                }
            })?;
        let r = Req {
            project,
            account,
            micro,
            base,
            query,
            body,
            token: token.unwrap_or_default(),
        };
        let resp = match (route, kind) {
            (Route::List { detail, .. }, Kind::Volumes) => volumes::list(gw, &r, detail).await,
            (Route::Create { .. }, Kind::Volumes) => volumes::create(gw, &r).await,
            (Route::Show { id, .. }, Kind::Volumes) => volumes::show(gw, &r, &id).await,
            (Route::Update { id, .. }, Kind::Volumes) => volumes::update(gw, &r, &id).await,
            (Route::Delete { id, .. }, Kind::Volumes) => volumes::delete(gw, &r, &id).await,
            (Route::Action { id, .. }, Kind::Volumes) => volumes::action(gw, &r, &id).await,
            (Route::List { .. }, Kind::Snapshots) => snapshots::list(gw, &r).await,
            (Route::Create { .. }, Kind::Snapshots) => snapshots::create(gw, &r).await,
            (Route::Show { id, .. }, Kind::Snapshots) => snapshots::show(gw, &r, &id).await,
            (Route::Delete { id, .. }, Kind::Snapshots) => snapshots::delete(gw, &r, &id).await,
            (Route::List { detail, .. }, Kind::Attachments) => {
                attachments::list(gw, &r, detail).await
            }
            (Route::Create { .. }, Kind::Attachments) => attachments::create(gw, &r).await,
            (Route::Show { id, .. }, Kind::Attachments) => attachments::show(gw, &r, &id).await,
            (Route::Update { id, .. }, Kind::Attachments) => attachments::update(gw, &r, &id).await,
            (Route::Delete { id, .. }, Kind::Attachments) => attachments::delete(gw, &r, &id).await,
            (Route::Action { id, .. }, Kind::Attachments) => attachments::action(gw, &r, &id).await,
            (Route::Update { .. } | Route::Action { .. }, Kind::Snapshots) => {
                Err(Error::MethodNotAllowed)
            }
            (Route::Versions | Route::Version | Route::Healthcheck | Route::Metrics, _) => {
                Err(Error::MethodNotAllowed)
            }
        }?;
        Ok((resp, micro))
    }
}

impl Handler for ApiHandler {
    type Error = Error;

    async fn handle(&self, req: Request<Incoming>, _txn: &str) -> Result<Response<Body>> {
        let (mut resp, micro) = self.dispatch(req).await?;
        if let Ok(v) = HeaderValue::from_str(&format!("volume {micro}")) {
            resp.headers_mut().insert("openstack-api-version", v);
            resp.headers_mut().insert(
                http::header::VARY,
                HeaderValue::from_static("OpenStack-API-Version"),
            );
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(Some("all_tenants=1&name=my%20vol&x&name=v+2"));
        assert_eq!(q["all_tenants"], "1");
        assert_eq!(q["name"], "v 2");
        assert_eq!(q["x"], "");
        assert!(parse_query(None).is_empty());
    }
}
