//! The gateway as a Swift client: every byte it stores goes through the
//! proxy's public v1 API (so quorum, replicas, policies and the replicator
//! apply to chunks as to any object), over HTTP or into a proxy pipeline in
//! this process ([`super::transport`]). It authenticates with tempauth (v1)
//! as a reseller admin, keeps the token, and signs in again on a 401.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use tokio::sync::Mutex;

use crate::config::Config;
use crate::error::{Error, Result};
use swirl_common::Body;

use super::transport::Transport;

/// Characters escaped in path segments (as Python's quote() with '/' safe).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'[')
    .add(b']')
    .add(b'&')
    .add(b'+')
    .add(b';')
    .add(b'=');

/// Characters escaped in query values.
const QUERY: &AsciiSet = &PATH.add(b'/').add(b':').add(b',');

/// `/v1/<account>[/<container>[/<object>]]`, escaped.
pub fn v1_path(account: &str, container: Option<&str>, object: Option<&str>) -> String {
    let mut p = format!("/v1/{}", utf8_percent_encode(account, PATH));
    if let Some(c) = container {
        p.push('/');
        p.push_str(&utf8_percent_encode(c, PATH).to_string());
        if let Some(o) = object {
            p.push('/');
            p.push_str(&utf8_percent_encode(o, PATH).to_string());
        }
    }
    p
}

/// One row of a JSON container listing.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ListEntry {
    /// Object name (or `subdir` for a delimiter roll-up).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub subdir: Option<String>,
    #[serde(default)]
    pub bytes: u64,
}

/// A pooled, authenticated client of the cluster's proxy.
pub struct SwiftClient {
    /// The gateway's own requests.
    transport: Arc<dyn Transport>,
    /// Requests made with a client's token, to learn what it may do: to
    /// the proxy that issued it (tempauth's tokens are known only there).
    as_clients: Arc<dyn Transport>,
    base: String,
    auth_url: String,
    user: String,
    key: String,
    /// Keystone's (project, domain id) when the gateway signs in there.
    keystone: Option<(String, String)>,
    /// Keystone, over HTTP whatever the proxy's transport.
    keystone_http: super::transport::Http,
    timeout: Duration,
    token: Mutex<Option<String>>,
    policy: Option<String>,
}

impl SwiftClient {
    pub fn new(
        cfg: &Config,
        transport: Arc<dyn Transport>,
        as_clients: Arc<dyn Transport>,
    ) -> Self {
        SwiftClient {
            transport,
            as_clients,
            base: cfg.proxy_base().to_string(),
            auth_url: cfg.auth_url.clone(),
            user: cfg.auth_user.clone(),
            key: cfg.auth_key.clone(),
            keystone: cfg
                .keystone_auth()
                .then(|| (cfg.auth_project.clone(), cfg.auth_domain.clone())),
            keystone_http: super::transport::Http::new(),
            timeout: Duration::from_secs_f64(cfg.request_timeout),
            token: Mutex::new(None),
            policy: cfg.storage_policy.clone(),
        }
    }

    async fn send(
        &self,
        via: &dyn Transport,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: &[Bytes],
    ) -> Result<Response<Body>> {
        // A kept-alive connection may be closed by the proxy just as it is
        // reused (the proxy closes one whose request body it did not read,
        // e.g. after an early 404): the request then fails before any
        // answer. Idempotent requests are sent once more, on a fresh
        // connection; a timeout is not retried.
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut b = Request::builder().method(method.clone()).uri(url);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            let req = b
                .body(swirl_common::body::parts(body.to_vec()))
                .map_err(|e| Error::Cluster(format!("request to {url}: {e}")))?;
            match tokio::time::timeout(self.timeout, via.send(req)).await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(e)) if idempotent && attempt < 2 => {
                    tracing::info!(url, error = %e, "request to the proxy failed; sending it once more");
                }
                Ok(Err(e)) => return Err(Error::Cluster(format!("{url}: {e}"))),
                Err(_) => return Err(Error::Cluster(format!("{url}: timed out"))),
            }
        }
    }

    /// A token for the gateway's own user: the cached one, or a new one.
    async fn token(&self, renew: bool) -> Result<String> {
        let mut t = self.token.lock().await;
        if let (Some(tok), false) = (t.as_ref(), renew) {
            return Ok(tok.clone());
        }
        let tok = match &self.keystone {
            Some((project, domain)) => self.keystone_token(project, domain).await?,
            None => self.tempauth_token().await?,
        };
        *t = Some(tok.clone());
        Ok(tok)
    }

    /// A tempauth (v1) token of the gateway's user.
    async fn tempauth_token(&self) -> Result<String> {
        let mut h = HeaderMap::new();
        h.insert("x-auth-user", header_value(&self.user)?);
        h.insert("x-auth-key", header_value(&self.key)?);
        let resp = self
            .send(&*self.transport, Method::GET, &self.auth_url, &h, &[])
            .await?;
        let (status, tok) = signed_in(resp, "x-auth-token").await;
        match (status.is_success(), tok) {
            (true, Some(tok)) => Ok(tok),
            _ => Err(Error::Cluster(format!(
                "the proxy refused the gateway's credentials ({}): {status}",
                self.user
            ))),
        }
    }

    /// A Keystone v3 token of the gateway's user, scoped to `project`.
    async fn keystone_token(&self, project: &str, domain: &str) -> Result<String> {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "domain": {"id": domain}, "password": self.key}}},
            "scope": {"project": {"name": project, "domain": {"id": domain}}}
        }});
        let url = format!(
            "{}/auth/tokens?nocatalog",
            self.auth_url.trim_end_matches('/')
        );
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let body = [Bytes::from(body.to_string())];
        let resp = self
            .send(&self.keystone_http, Method::POST, &url, &h, &body)
            .await?;
        match signed_in(resp, "x-subject-token").await {
            (StatusCode::CREATED, Some(tok)) => Ok(tok),
            (status, _) => Err(Error::Cluster(format!(
                "Keystone refused the gateway's credentials ({} in project {project}): {status}",
                self.user
            ))),
        }
    }

    /// Sends a request with the gateway's token, signing in again once on 401.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        mut headers: HeaderMap,
        body: &[Bytes],
    ) -> Result<Response<Body>> {
        let url = format!("{}{path}", self.base);
        let mut renew = false;
        loop {
            let tok = self.token(renew).await?;
            headers.insert("x-auth-token", header_value(&tok)?);
            let resp = self
                .send(&*self.transport, method.clone(), &url, &headers, body)
                .await?;
            if resp.status() == StatusCode::UNAUTHORIZED && !renew {
                drain(resp).await;
                renew = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Whatever status the proxy gives a HEAD of `account` with someone
    /// else's token: how the API learns whether to trust that token.
    pub async fn head_account_as(&self, account: &str, token: &str) -> Result<StatusCode> {
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", header_value(token)?);
        let url = format!("{}{}", self.base, v1_path(account, None, None));
        let resp = self
            .send(&*self.as_clients, Method::HEAD, &url, &h, &[])
            .await?;
        let s = resp.status();
        drain(resp).await;
        Ok(s)
    }

    /// Whether `token` (someone else's) may read the object at `path`.
    pub async fn can_read_as(&self, path: &str, token: &str) -> Result<bool> {
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", header_value(token)?);
        let url = format!("{}{path}", self.base);
        let resp = self
            .send(&*self.as_clients, Method::HEAD, &url, &h, &[])
            .await?;
        let s = resp.status();
        drain(resp).await;
        match s.as_u16() {
            200..=299 => Ok(true),
            401 | 403 | 404 => Ok(false),
            other => Err(Error::Cluster(format!("HEAD {path}: {other}"))),
        }
    }

    /// Whether an object exists.
    pub async fn exists(&self, account: &str, container: &str, object: &str) -> Result<bool> {
        let path = v1_path(account, Some(container), Some(object));
        let resp = self
            .request(Method::HEAD, &path, HeaderMap::new(), &[])
            .await?;
        let s = resp.status();
        drain(resp).await;
        match s.as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            other => Err(Error::Cluster(format!("HEAD {path}: {other}"))),
        }
    }

    /// GETs an object (or a byte range of it), whole into memory; `None` if
    /// it does not exist. `newest` asks every replica (X-Newest), for
    /// objects that were overwritten in place.
    pub async fn get(
        &self,
        account: &str,
        container: &str,
        object: &str,
        range: Option<(u64, u64)>,
        newest: bool,
    ) -> Result<Option<Bytes>> {
        let parts = self.get_parts(account, container, object, range, newest);
        Ok(parts.await?.map(|p| match <[Bytes; 1]>::try_from(p) {
            Ok([one]) => one,
            Err(p) => Bytes::from(p.concat()),
        }))
    }

    /// As `get`, but the body as the frames it arrived in (not joined into
    /// one buffer: no copy).
    pub async fn get_parts(
        &self,
        account: &str,
        container: &str,
        object: &str,
        range: Option<(u64, u64)>,
        newest: bool,
    ) -> Result<Option<Vec<Bytes>>> {
        let mut h = HeaderMap::new();
        if let Some((start, len)) = range {
            let v = format!("bytes={}-{}", start, start + len.max(1) - 1);
            h.insert(http::header::RANGE, header_value(&v)?);
        }
        if newest {
            h.insert("x-newest", http::HeaderValue::from_static("true"));
        }
        let path = v1_path(account, Some(container), Some(object));
        let resp = self.request(Method::GET, &path, h, &[]).await?;
        match resp.status().as_u16() {
            200 | 206 => {
                let mut body = resp.into_body();
                let mut parts = Vec::new();
                while let Some(frame) = body.frame().await {
                    let frame =
                        frame.map_err(|e| Error::Cluster(format!("GET {path}: body: {e}")))?;
                    if let Ok(data) = frame.into_data() {
                        parts.push(data);
                    }
                }
                Ok(Some(parts))
            }
            404 => {
                drain(resp).await;
                Ok(None)
            }
            // A range past a short object's end: nothing there.
            416 => {
                drain(resp).await;
                Ok(Some(Vec::new()))
            }
            s => {
                drain(resp).await;
                Err(Error::Cluster(format!("GET {path}: {s}")))
            }
        }
    }

    /// GETs an object as a stream (large-object manifests are followed by
    /// the proxy). `Ok(None)` if it does not exist.
    pub async fn get_stream(
        &self,
        account: &str,
        container: &str,
        object: &str,
    ) -> Result<Option<Response<Body>>> {
        let path = v1_path(account, Some(container), Some(object));
        let resp = self
            .request(Method::GET, &path, HeaderMap::new(), &[])
            .await?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp)),
            404 => {
                drain(resp).await;
                Ok(None)
            }
            s => {
                drain(resp).await;
                Err(Error::Cluster(format!("GET {path}: {s}")))
            }
        }
    }

    /// PUTs an object; succeeds only when the proxy reached its quorum (201).
    /// A missing container (a project's first volume, or one deleted under
    /// us) is created and the PUT sent once more.
    pub async fn put(
        &self,
        account: &str,
        container: &str,
        object: &str,
        body: Bytes,
    ) -> Result<()> {
        self.put_parts(account, container, object, vec![body]).await
    }

    /// PUTs a body held in several buffers, sent as they are.
    pub async fn put_parts(
        &self,
        account: &str,
        container: &str,
        object: &str,
        body: Vec<Bytes>,
    ) -> Result<()> {
        let path = v1_path(account, Some(container), Some(object));
        for first in [true, false] {
            let resp = self
                .request(Method::PUT, &path, HeaderMap::new(), &body)
                .await?;
            let s = resp.status();
            drain(resp).await;
            if s == StatusCode::CREATED {
                return Ok(());
            }
            if s == StatusCode::NOT_FOUND && first {
                self.put_container(account, container).await?;
                continue;
            }
            return Err(Error::Cluster(format!("PUT {path}: {s}")));
        }
        Err(Error::Cluster(format!("PUT {path}: container missing")))
    }

    /// DELETEs an object; a missing object counts as deleted.
    pub async fn delete(&self, account: &str, container: &str, object: &str) -> Result<()> {
        let path = v1_path(account, Some(container), Some(object));
        let resp = self
            .request(Method::DELETE, &path, HeaderMap::new(), &[])
            .await?;
        let s = resp.status();
        drain(resp).await;
        if s.is_success() || s == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(Error::Cluster(format!("DELETE {path}: {s}")))
        }
    }

    /// Creates a container (idempotent), with the configured policy.
    pub async fn put_container(&self, account: &str, container: &str) -> Result<()> {
        let path = v1_path(account, Some(container), None);
        let mut h = HeaderMap::new();
        if let Some(p) = &self.policy {
            h.insert("x-storage-policy", header_value(p)?);
        }
        let resp = self.request(Method::PUT, &path, h, &[]).await?;
        let s = resp.status();
        drain(resp).await;
        if s.is_success() {
            Ok(())
        } else {
            Err(Error::Cluster(format!("PUT {path}: {s}")))
        }
    }

    /// Lists a container (every page) under `prefix`, rolling names up at
    /// `delimiter`. A missing container lists as empty.
    pub async fn list(
        &self,
        account: &str,
        container: &str,
        prefix: &str,
        delimiter: Option<char>,
    ) -> Result<Vec<ListEntry>> {
        let mut out: Vec<ListEntry> = Vec::new();
        let mut marker = String::new();
        loop {
            let mut q = format!("?format=json&prefix={}", utf8_percent_encode(prefix, QUERY));
            if let Some(d) = delimiter {
                q.push_str(&format!(
                    "&delimiter={}",
                    utf8_percent_encode(&d.to_string(), QUERY)
                ));
            }
            if !marker.is_empty() {
                q.push_str(&format!("&marker={}", utf8_percent_encode(&marker, QUERY)));
            }
            let path = format!("{}{q}", v1_path(account, Some(container), None));
            let resp = self
                .request(Method::GET, &path, HeaderMap::new(), &[])
                .await?;
            match resp.status().as_u16() {
                200 => {}
                204 | 404 => {
                    drain(resp).await;
                    return Ok(out);
                }
                s => {
                    drain(resp).await;
                    return Err(Error::Cluster(format!("GET {path}: {s}")));
                }
            }
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Cluster(format!("listing {container}: {e}")))?
                .to_bytes();
            let page: Vec<ListEntry> = serde_json::from_slice(&body)
                .map_err(|e| Error::Cluster(format!("listing {container}: {e}")))?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            marker = last.subdir.clone().unwrap_or_else(|| last.name.clone());
            out.extend(page);
        }
    }
}

fn header_value(s: &str) -> Result<http::HeaderValue> {
    http::HeaderValue::from_str(s)
        .map_err(|_| Error::BadRequest(format!("not a header value: {s:?}")))
}

/// A sign-in's status and the token in its header `name`; the body drained.
async fn signed_in(resp: Response<Body>, name: &str) -> (StatusCode, Option<String>) {
    let status = resp.status();
    let tok = resp
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    drain(resp).await;
    (status, tok)
}

/// Reads and drops a response body so the connection can be reused.
async fn drain(resp: Response<Body>) {
    let _ = resp.into_body().collect().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_escaped_but_keep_slashes_in_objects() {
        assert_eq!(v1_path("AUTH_t", None, None), "/v1/AUTH_t");
        assert_eq!(
            v1_path("AUTH_t", Some("c d"), Some("a/b?c#")),
            "/v1/AUTH_t/c%20d/a/b%3Fc%23"
        );
        assert_eq!(v1_path("AUTH_t", Some("é"), None), "/v1/AUTH_t/%C3%A9");
    }
}
