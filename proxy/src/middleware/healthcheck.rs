//! Swift's healthcheck middleware: `GET /healthcheck` answers "OK".

use http::Response;

use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// The healthcheck filter.
pub struct Healthcheck;

impl Filter for Healthcheck {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        if req.endpoint != Endpoint::Healthcheck {
            return next.run(req);
        }
        Box::pin(async move {
            let mut r = Response::new(swirl_common::body::full("OK"));
            headers::set(r.headers_mut(), "content-type", "text/plain");
            headers::set(r.headers_mut(), "content-length", "2");
            Ok(r)
        })
    }
}
