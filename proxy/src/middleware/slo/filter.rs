//! slo as a pipeline filter: which requests are its, and what it passes on.

use http::Method;
use swirl_common::constraints as c;

use super::{
    delete, is_manifest_delete, is_manifest_put, manifest_get, put, request_headers,
    reserved_header_refused, respond, rewrite_listing, Found, MARKER,
};
use crate::error::{Error, Result};
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// The slo filter (after copy, before dlo, as in Swift's pipeline).
pub struct Slo;

impl Filter for Slo {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        if !concerns(&req) {
            return next.run(req);
        }
        Box::pin(call(req, next))
    }

    fn info(
        &self,
        proxy: &crate::app::Proxy,
        out: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        let cfg = &proxy.cfg.slo;
        out.insert(
            "slo".into(),
            serde_json::json!({
                "max_manifest_segments": cfg.max_manifest_segments,
                "max_manifest_size": cfg.max_manifest_size,
                "yield_frequency": cfg.yield_frequency,
                // No longer configurable in Swift; reported for older clients.
                "min_segment_size": 1,
                // Async deletes go through the expirer queue, which swirl does not run.
                "allow_async_delete": false,
            }),
        );
    }
}

/// Is `req` one slo acts on (or answers)?
fn concerns(req: &Req) -> bool {
    let m = &req.ctx.method;
    let q = req.ctx.query.as_deref();
    match &req.endpoint {
        Endpoint::Container { .. } => *m == Method::GET,
        Endpoint::Object { .. } => {
            *m == Method::GET
                || *m == Method::HEAD
                || (*m == Method::PUT && is_manifest_put(q))
                || (*m == Method::DELETE && is_manifest_delete(q))
                || (*m != Method::OPTIONS && req.ctx.headers.contains_key(MARKER))
        }
        _ => false,
    }
}

async fn call(mut req: Req, next: Next) -> Result<http::Response<swirl_common::Body>> {
    let method = req.ctx.method.clone();
    let path = match &req.endpoint {
        Endpoint::Container { .. } if method == Method::GET => {
            let resp = next.run(req).await?;
            return Ok(Box::pin(rewrite_listing(resp)).await);
        }
        Endpoint::Object { .. } => req.object_path(),
        _ => None,
    };
    let Some(path) = path else {
        return next.run(req).await;
    };
    let query = req.ctx.query.clone();
    let q = query.as_deref();
    if method == Method::GET || method == Method::HEAD {
        if crate::middleware::dlo::wants_manifest(q) {
            let resp = next.run(req).await?;
            return Box::pin(manifest_get(&method, q, resp)).await;
        }
        // Where the object servers find the SLO ETag, and that a
        // manifest's body is wanted whole whatever the Range.
        request_headers(&mut req.ctx.headers);
        let mut resp = next.clone().run(req).await?;
        // The controllers hand the request back with a read's answer.
        let Some(mut ctx) = resp.extensions_mut().remove::<crate::app::Ctx>() else {
            return Ok(resp);
        };
        return match Found::of(resp) {
            // The big futures are boxed: this one stays small for the
            // requests that only pass through.
            Ok(found) => Box::pin(respond(&next, &mut ctx, &path, found)).await,
            Err(resp) => Ok(*resp),
        };
    }
    if method == Method::PUT && is_manifest_put(q) {
        if path.object.len() > c::MAX_OBJECT_NAME_LENGTH {
            return Err(Error::BadRequest(format!(
                "Object name length of {} longer than {}",
                path.object.len(),
                c::MAX_OBJECT_NAME_LENGTH
            )));
        }
        return Box::pin(put(next, &req.ctx, &path, req.body)).await;
    }
    if method == Method::DELETE && is_manifest_delete(q) {
        return Ok(delete(next, &req.ctx, &path));
    }
    if method != Method::OPTIONS && req.ctx.headers.contains_key(MARKER) {
        // Only slo's own manifest PUTs carry the marker.
        return Err(reserved_header_refused());
    }
    next.run(req).await
}
