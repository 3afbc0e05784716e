//! The request entry point: header checks and routing, then the
//! configured pipeline of middleware, which ends in the controllers.

use std::sync::Arc;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use swirl_common::server::Handler;
use swirl_common::Body;

use crate::app::{Ctx, Proxy};
use crate::error::{Error, Result};
use crate::pipeline::{Next, Req};
use crate::router::{self, RouteError};
use crate::server::Peer;

/// The proxy's `Handler` for common's server loop.
pub struct ProxyHandler {
    pub proxy: Arc<Proxy>,
}

impl Handler for ProxyHandler {
    type Error = Error;

    async fn handle(&self, req: Request<Incoming>, txn: &str) -> Result<Response<Body>> {
        let (parts, body) = req.into_parts();
        swirl_common::header_text::check(&parts.headers)?;
        let endpoint = router::route(&parts.method, parts.uri.path()).map_err(|e| match e {
            RouteError::BadEncoding => {
                Error::PreconditionFailed("Invalid UTF8 or contains NULL".into())
            }
            RouteError::NotFound => Error::NotFound,
            RouteError::BadUrl => Error::PreconditionFailed("Bad URL".into()),
        })?;
        let query = parts.uri.query().map(str::to_string);
        let req = Req {
            v1: parts.uri.path().starts_with("/v1/"),
            peer: parts.extensions.get::<Peer>().map(|p| p.0),
            ctx: Ctx::new(txn, parts.method, parts.headers, query),
            endpoint,
            body: body.map_err(std::io::Error::other).boxed(),
        };
        Next::start(self.proxy.clone()).run(req).await
    }
}
