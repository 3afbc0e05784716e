//! The middleware pipeline, as Swift's paste pipeline: a list of filters
//! over one request/response interface, ending in the proxy's controllers.
//! A filter sees the request, may answer it, may pass it (changed or not)
//! to the rest of the pipeline with `Next::run`, and may make sub-requests
//! as the caller through the same pipeline: from the filter below it
//! (`Next::run` again, on a clone) or from itself (`Next::here`), as Swift
//! middleware calls `self.app` or `self`. The order and the filters that
//! run come from the config's `pipeline` (`registry.rs`).

pub mod registry;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::Response;
use serde_json::{Map, Value};
use swirl_common::Body;

use crate::app::{Ctx, Proxy};
use crate::error::Result;
use crate::object_path::ObjectPath;
use crate::router::Endpoint;

/// A boxed response future (filters are stored as trait objects).
pub type Fut<'a> = Pin<Box<dyn Future<Output = Result<Response<Body>>> + Send + 'a>>;

/// One request going down the pipeline.
pub struct Req {
    pub ctx: Ctx,
    /// What the request addresses.
    pub endpoint: Endpoint,
    /// The request body (the client's, or a sub-request's own).
    pub body: Body,
    /// The path's version segment is `v1` (not `v1.0`); sub-requests' is.
    pub v1: bool,
    /// The client's address (None for sub-requests).
    pub peer: Option<std::net::SocketAddr>,
}

impl Req {
    /// A request for an object.
    pub fn object(ctx: Ctx, path: &ObjectPath, body: Body) -> Req {
        Req {
            ctx,
            endpoint: Endpoint::Object {
                account: path.account.clone(),
                container: path.container.clone(),
                object: path.object.clone(),
            },
            body,
            v1: true,
            peer: None,
        }
    }

    /// A bodiless request for a container.
    pub fn container(ctx: Ctx, account: &str, container: &str) -> Req {
        Req {
            ctx,
            endpoint: Endpoint::Container {
                account: account.to_string(),
                container: container.to_string(),
            },
            body: swirl_common::body::empty(),
            v1: true,
            peer: None,
        }
    }

    /// The account the request addresses, if any.
    pub fn account(&self) -> Option<&str> {
        match &self.endpoint {
            Endpoint::Account { account }
            | Endpoint::Container { account, .. }
            | Endpoint::Object { account, .. } => Some(account),
            Endpoint::Healthcheck | Endpoint::Info | Endpoint::Auth | Endpoint::Metrics => None,
        }
    }

    /// The object path, for an object request.
    pub fn object_path(&self) -> Option<ObjectPath> {
        match &self.endpoint {
            Endpoint::Object {
                account,
                container,
                object,
            } => Some(ObjectPath::new(
                account.clone(),
                container.clone(),
                object.clone(),
            )),
            _ => None,
        }
    }
}

/// A middleware.
pub trait Filter: Send + Sync {
    /// Handles `req`; `next` is the rest of the pipeline below this filter.
    /// The future owns its state (the filter's options are in `next.proxy()`).
    fn call(&self, req: Req, next: Next) -> Fut<'static>;

    /// What this filter adds to `/info` (Swift's `register_swift_info`).
    fn info(&self, _proxy: &Proxy, _out: &mut Map<String, Value>) {}
}

/// The filters of the config's pipeline, in order, then the controllers.
pub struct Pipeline {
    filters: Vec<(&'static str, Box<dyn Filter>)>,
}

impl Pipeline {
    /// A pipeline of these filters (see `registry::build`).
    pub fn new(filters: Vec<(&'static str, Box<dyn Filter>)>) -> Self {
        Pipeline { filters }
    }

    /// The names of the filters that run, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.filters.iter().map(|(n, _)| *n)
    }

    /// Is the filter `name` in the pipeline?
    pub fn has(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// Every filter's `/info` entries.
    pub fn info(&self, proxy: &Proxy, out: &mut Map<String, Value>) {
        for (_, f) in &self.filters {
            f.info(proxy, out);
        }
    }
}

/// The rest of the pipeline from one point: cheap to clone, owned, so a
/// body that outlives the filter's call (segments, bulk jobs) keeps one.
#[derive(Clone)]
pub struct Next {
    proxy: Arc<Proxy>,
    at: usize,
}

impl Next {
    /// The whole pipeline: where a client request starts.
    pub fn start(proxy: Arc<Proxy>) -> Next {
        Next { proxy, at: 0 }
    }

    /// The proxy's shared state.
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// The pipeline from the filter that was given this `Next` (Swift's
    /// `req.get_response(self)` in a middleware): its own sub-requests go
    /// through it again.
    pub fn here(&self) -> Next {
        Next {
            proxy: self.proxy.clone(),
            at: self.at.saturating_sub(1),
        }
    }

    /// Runs `req` through the rest of the pipeline. A filter's future owns
    /// what it needs (`Fut<'static>`), so a filter that only passes a
    /// request on costs no allocation of its own.
    pub fn run(self, req: Req) -> Fut<'static> {
        if let Some(src) = req.ctx.source {
            tracing::debug!(txn = %req.ctx.txn, source = src, method = %req.ctx.method,
                endpoint = ?req.endpoint, "sub-request");
        }
        match self.proxy.pipeline.filters.get(self.at) {
            Some((_, f)) => {
                let next = Next {
                    proxy: self.proxy.clone(),
                    at: self.at + 1,
                };
                f.call(req, next)
            }
            None => Box::pin(async move { crate::controllers::serve(&self.proxy, req).await }),
        }
    }
}
