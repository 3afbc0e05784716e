//! Plain backend requests of the object updater and expirer to the storage
//! servers' main ports (the ring's `ip:port`, the port the proxy talks to):
//! container rows, listings, object DELETEs. Replication listeners take only
//! replication traffic, so these daemons do not use them (Swift's updater
//! sends to `replication_ip`; there the port serves everything).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::BodyExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::sync::Arc;

use swirl_common::backend_auth::BackendAuth;
use swirl_common::body;
use swirl_common::client::HttpClient;
use swirl_ring::Device;

/// Python's `urllib.parse.quote(path)`: everything but alphanumerics and `/_.-~`.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// A storage server's answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The client, with Swift's `conn_timeout` and `node_timeout`.
#[derive(Clone)]
pub struct Backend {
    client: HttpClient,
    node_timeout: Duration,
    conn_timeout: Duration,
    /// Signs every request (the storage servers check it).
    auth: Arc<BackendAuth>,
}

/// A device's main address, `ip:port` (IPv6 bracketed).
pub fn addr(d: &Device) -> String {
    if d.ip.contains(':') {
        format!("[{}]:{}", d.ip, d.port)
    } else {
        format!("{}:{}", d.ip, d.port)
    }
}

impl Backend {
    pub fn new(conn_timeout: Duration, node_timeout: Duration) -> Self {
        Backend {
            client: swirl_common::client::new_client(conn_timeout),
            node_timeout,
            conn_timeout,
            auth: Arc::new(BackendAuth::plain()),
        }
    }

    /// Signs requests with `auth`'s key.
    pub fn signing(mut self, auth: Arc<BackendAuth>) -> Self {
        self.auth = auth;
        self
    }

    /// `method` of `/<device>/<partition><path>` (`path` unquoted, with its
    /// leading slash; `query` appended as given) at `host`. Err is the
    /// reason no answer came (refused, timed out).
    pub async fn request(
        &self,
        method: Method,
        host: &str,
        device_path: &str,
        query: &str,
        headers: &[(String, String)],
    ) -> Result<Reply, String> {
        let mut uri = format!("http://{host}{}", utf8_percent_encode(device_path, QUOTE));
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(query);
        }
        let mut req = Request::builder()
            .method(method)
            .uri(&uri)
            .body(body::empty())
            .map_err(|e| format!("{uri}: {e}"))?;
        for (k, v) in headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                req.headers_mut().insert(n, v);
            }
        }
        req.headers_mut()
            .insert("content-length", HeaderValue::from(0));
        self.auth.sign(&mut req);
        let deadline = self.conn_timeout + self.node_timeout;
        let work = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{host}: {e}"))?;
            let (parts, b) = resp.into_parts();
            let body = b
                .collect()
                .await
                .map_err(|e| format!("{host}: reading the answer: {e}"))?
                .to_bytes();
            Ok(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(r) => r,
            Err(_) => Err(format!("{host}: timed out")),
        }
    }
}

/// Percent-encodes a query value (listing markers).
pub fn query_value(v: &str) -> String {
    utf8_percent_encode(v, NON_ALPHANUMERIC).to_string()
}
