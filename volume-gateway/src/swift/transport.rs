//! How the gateway's requests reach the proxy: over HTTP ([`Http`]), or
//! into a proxy pipeline running in the gateway's own process (Swift's
//! internal client), which the `swirl` binary provides: the same pipeline,
//! auth and quorum, one network hop less for every chunk. This crate
//! never imports the proxy's; it only names the call.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use swirl_common::client::HttpClient;
use swirl_common::Body;

/// The answer to one request, or why none came (the connection failed).
pub type Sent<'a> = Pin<Box<dyn Future<Output = Result<Response<Body>, String>> + Send + 'a>>;

/// Something that answers the proxy's public API.
pub trait Transport: Send + Sync {
    /// Sends one request (an absolute URL: an in-process proxy reads only
    /// its path and query).
    fn send(&self, req: Request<Body>) -> Sent<'_>;
}

/// The proxy over HTTP, with pooled kept-alive connections.
pub struct Http {
    client: HttpClient,
}

impl Http {
    pub fn new() -> Self {
        Http {
            client: swirl_common::client::new_client(Duration::from_secs(5)),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for Http {
    fn send(&self, req: Request<Body>) -> Sent<'_> {
        Box::pin(async move {
            let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
            Ok(resp.map(|b| b.map_err(std::io::Error::other).boxed()))
        })
    }
}
