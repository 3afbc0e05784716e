//! The proxy as a Keystone v3 client: its own service token (password
//! auth, project-scoped, from `[authtoken]`), renewed before it expires or
//! when Keystone refuses it, and token validation (`GET /v3/auth/tokens`
//! with `X-Subject-Token`), as keystonemiddleware's identity server does.
//! Keystone out of reach or answering oddly is a 503, never a 401 or 500.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use swirl_common::client::HttpClient;

use super::config::AuthTokenConfig;
use super::token::{self, Token};
use crate::error::{Error, Result};

/// Bodies read from Keystone at most (tokens are validated without their catalog).
const MAX_BODY: usize = 1 << 20;
/// A service token this close to its expiry is renewed first.
const RENEW_MARGIN: Duration = Duration::from_secs(30);

/// What Keystone said of a token.
#[derive(Debug)]
pub enum Validation {
    Valid(Box<Token>),
    /// Unknown, forged, revoked or expired (Keystone's 404).
    Invalid,
}

/// The proxy's Keystone client.
pub struct KeystoneClient {
    http: HttpClient,
    /// `http://host:port[/path]/v3`.
    base: String,
    cfg: AuthTokenConfig,
    timeout: Duration,
    /// The service token and its expiry; one renewal at a time.
    service: tokio::sync::Mutex<Option<(String, SystemTime)>>,
}

/// `auth_url` with `/v3` at its end, exactly once.
pub fn v3_base(auth_url: &str) -> String {
    let b = auth_url.trim().trim_end_matches('/');
    if b.ends_with("/v3") {
        b.to_string()
    } else {
        format!("{b}/v3")
    }
}

fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("keystone: {what}"))
}

impl KeystoneClient {
    pub fn new(cfg: &AuthTokenConfig) -> Self {
        KeystoneClient {
            http: swirl_common::client::new_client(crate::config::secs(cfg.http_connect_timeout)),
            base: v3_base(&cfg.auth_url),
            timeout: crate::config::secs(cfg.http_request_timeout),
            cfg: cfg.clone(),
            service: tokio::sync::Mutex::new(None),
        }
    }

    /// One request to Keystone: (status, X-Subject-Token, body).
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<(StatusCode, Option<String>, Bytes)> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("accept", "application/json")
            .header("user-agent", "swirl-proxy authtoken");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = match body {
            Some(s) => {
                b = b.header("content-type", "application/json");
                swirl_common::body::full(s)
            }
            None => swirl_common::body::empty(),
        };
        let req = b.body(body).map_err(unavailable)?;
        let work = async {
            let resp = self.http.request(req).await.map_err(unavailable)?;
            let status = resp.status();
            let subject = resp
                .headers()
                .get("x-subject-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(unavailable)?
                .to_bytes();
            Ok((status, subject, bytes))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| unavailable("request timed out"))?
    }

    /// The proxy's service token, fetched when missing, near its expiry,
    /// or when `stale` (Keystone just refused it).
    async fn service_token(&self, stale: Option<&str>) -> Result<String> {
        let mut held = self.service.lock().await;
        if let Some((t, exp)) = held.as_ref() {
            let fresh = *exp > SystemTime::now() + RENEW_MARGIN;
            if fresh && stale != Some(t.as_str()) {
                return Ok(t.clone());
            }
        }
        let c = &self.cfg;
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"id": c.user_domain_id}, "password": c.password}}},
            "scope": {"project": {"name": c.project_name, "domain": {"id": c.project_domain_id}}}
        }});
        let (status, subject, bytes) = self
            .call(
                Method::POST,
                "/auth/tokens?nocatalog",
                &[],
                Some(body.to_string()),
            )
            .await?;
        if status != StatusCode::CREATED {
            tracing::error!(%status, user = %c.username, "keystone refused the proxy's service credentials");
            return Err(unavailable(format!(
                "service authentication answered {status}"
            )));
        }
        let token = subject.ok_or_else(|| unavailable("no X-Subject-Token"))?;
        let parsed = token::parse(&bytes).ok_or_else(|| unavailable("unreadable token body"))?;
        *held = Some((token.clone(), parsed.expires_at));
        Ok(token)
    }

    /// Asks Keystone about `subject` with the service token; a refused
    /// service token is renewed and the question asked once more.
    pub async fn validate(&self, subject: &str) -> Result<Validation> {
        let mut service = self.service_token(None).await?;
        for attempt in 0..2 {
            let (status, _, bytes) = self
                .call(
                    Method::GET,
                    "/auth/tokens?nocatalog",
                    &[("x-auth-token", &service), ("x-subject-token", subject)],
                    None,
                )
                .await?;
            // Keystone's answer, read (these are not our responses):
            // 404 is an unknown, revoked or expired token; 401 refuses our
            // own service token, renewed once.
            if status == StatusCode::OK {
                return Ok(match token::parse(&bytes) {
                    Some(t) => Validation::Valid(Box::new(t)),
                    None => Validation::Invalid,
                });
            }
            if status == StatusCode::NOT_FOUND {
                return Ok(Validation::Invalid);
            }
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                service = self.service_token(Some(&service)).await?;
                continue;
            }
            tracing::error!(%status, "keystone: unexpected answer validating a token");
            return Err(unavailable(format!("token validation answered {status}")));
        }
        Err(unavailable("keystone refused the proxy's service token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base() {
        assert_eq!(v3_base("http://k:5000"), "http://k:5000/v3");
        assert_eq!(v3_base("http://k:5000/v3/"), "http://k:5000/v3");
        assert_eq!(v3_base("http://k/identity"), "http://k/identity/v3");
    }
}
