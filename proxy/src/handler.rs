//! The request entry point: header checks and routing, then the
//! configured pipeline of middleware, which ends in the controllers.

use std::sync::Arc;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use swirl_common::server::{self, Handler};
use swirl_common::Body;

use crate::app::{Ctx, Proxy};
use crate::error::{Error, Result};
use crate::pipeline::{ClientPath, Next, Req};
use crate::router::{self, RouteError};
use crate::server::Peer;

/// The proxy's `Handler` for common's server loop.
pub struct ProxyHandler {
    pub proxy: Arc<Proxy>,
}

impl Handler for ProxyHandler {
    type Error = Error;

    async fn handle(&self, req: Request<Incoming>, txn: &str) -> Result<Response<Body>> {
        self.handle_body(req.map(|b| b.map_err(std::io::Error::other).boxed()), txn)
            .await
    }
}

impl ProxyHandler {
    /// A request whose body is already one of ours: a client's from the
    /// listener, or one made inside this process ([`Self::call`]).
    pub async fn handle_body(&self, req: Request<Body>, txn: &str) -> Result<Response<Body>> {
        let (parts, body) = req.into_parts();
        swirl_common::header_text::check(&parts.headers)?;
        let sent = parts.uri.path();
        let routed = self
            .proxy
            .pipeline
            .remap(&self.proxy, &parts.headers, sent)?;
        let endpoint = router::route(&parts.method, &routed).map_err(|e| match e {
            RouteError::BadEncoding => {
                Error::PreconditionFailed("Invalid UTF8 or contains NULL".into())
            }
            RouteError::NotFound => Error::NotFound,
            RouteError::BadUrl => Error::PreconditionFailed("Bad URL".into()),
        })?;
        let query = parts.uri.query().map(str::to_string);
        let path = ClientPath {
            sent: sent.to_string(),
            routed,
        };
        let req = Req {
            v1: path.routed.starts_with("/v1/"),
            path: Some(path),
            peer: parts.extensions.get::<Peer>().map(|p| p.0),
            ctx: Ctx::new(txn, parts.method, parts.headers, query),
            endpoint,
            body,
        };
        Next::start(self.proxy.clone()).run(req).await
    }

    /// Runs a request made inside this process (another role calling the
    /// proxy as a client would, with no connection between them: Swift's
    /// internal client) through the whole pipeline, with a transaction of
    /// its own and the access line any request gets. The URI's scheme and
    /// host, if any, are ignored.
    pub async fn call(&self, req: Request<Body>) -> Response<Body> {
        let txn = swirl_common::trans_id::new_trans_id("");
        let head = server::RequestHead::of(&req);
        let id = txn.clone();
        server::answer(head, self.handle_body(req, &id), "proxy", false, txn)
            .await
            .map(BodyExt::boxed)
    }
}
