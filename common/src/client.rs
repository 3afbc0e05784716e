//! The backend HTTP client: a pooled keep-alive hyper client, used for
//! proxy -> storage requests and storage -> storage updates.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::body::Body;

/// A pooled HTTP/1.1 client whose request bodies are swirl `Body`s.
pub type HttpClient = Client<HttpConnector, Body>;

/// A client with TCP_NODELAY, a connect timeout and idle-connection reuse.
/// Per-request deadlines are the caller's (`tokio::time::timeout`).
pub fn new_client(connect_timeout: Duration) -> HttpClient {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        // Below the servers' default client_timeout (60 s), after which they
        // close an idle connection: a reused one is then rarely closing.
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build(conn)
}
