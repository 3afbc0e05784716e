//! keystonemiddleware's `auth_token` as a pipeline filter: the caller's
//! X-Auth-Token (or X-Storage-Token) and X-Service-Token are validated with
//! Keystone (or found in the cache), and a confirmed identity goes into
//! `Ctx::keystone` for keystoneauth. With `delay_auth_decision` a missing
//! or invalid token passes on as anonymous (ACLs, tempurl); without it the
//! request is answered 401. A 401 from below carries
//! `WWW-Authenticate: Keystone uri=...`. Keystone out of reach: 503.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::cache::TokenCache;
use super::client::{KeystoneClient, Validation};
use super::config::AuthTokenConfig;
use super::rules::KsIdentity;
use super::token::Token;
use crate::error::{Error, Result};
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};

/// Identity headers clients may not send: keystonemiddleware removes them
/// before setting its own (swirl passes the identity in `Ctx` instead).
const IDENTITY_HEADERS: [&str; 22] = [
    "x-identity-status",
    "x-service-identity-status",
    "x-domain-id",
    "x-domain-name",
    "x-project-id",
    "x-project-name",
    "x-project-domain-id",
    "x-project-domain-name",
    "x-user-id",
    "x-user-name",
    "x-user-domain-id",
    "x-user-domain-name",
    "x-roles",
    "x-service-roles",
    "x-service-catalog",
    "x-is-admin-project",
    "x-tenant-id",
    "x-tenant-name",
    "x-tenant",
    "x-user",
    "x-role",
    "x-service-project-id",
];

/// The authtoken filter's state (`Proxy::authtoken`).
pub struct AuthToken {
    client: KeystoneClient,
    cache: TokenCache,
    delay_auth_decision: bool,
    www_authenticate_uri: String,
    service_token_roles: Vec<String>,
    service_token_roles_required: bool,
}

impl AuthToken {
    pub fn new(cfg: &AuthTokenConfig) -> Self {
        AuthToken {
            client: KeystoneClient::new(cfg),
            cache: TokenCache::new(
                Duration::from_secs(cfg.token_cache_time),
                cfg.token_cache_size,
            ),
            delay_auth_decision: cfg.delay_auth_decision,
            www_authenticate_uri: cfg
                .www_authenticate_uri
                .clone()
                .unwrap_or_else(|| cfg.auth_url.clone()),
            service_token_roles: cfg.service_token_roles.items(),
            service_token_roles_required: cfg.service_token_roles_required,
        }
    }

    /// Where clients get tokens (the 401's `WWW-Authenticate: Keystone uri=`).
    pub fn www_authenticate_uri(&self) -> &str {
        &self.www_authenticate_uri
    }

    /// A token's identity, None if Keystone does not vouch for it now.
    async fn check(&self, token: &str) -> Result<Option<Arc<Token>>> {
        let now = SystemTime::now();
        if let Some(t) = self.cache.get(token, now) {
            return Ok(Some(t));
        }
        match self.client.validate(token).await? {
            Validation::Valid(t) if !t.expired(SystemTime::now()) => {
                let t: Arc<Token> = Arc::from(t);
                self.cache.put(token, t.clone(), SystemTime::now());
                Ok(Some(t))
            }
            Validation::Valid(_) | Validation::Invalid => Ok(None),
        }
    }

    /// The confirmed identity of a request's tokens: None when the user
    /// token is missing or invalid, or a service token was sent and is
    /// not valid (keystoneauth then sees an anonymous caller).
    pub async fn identify(
        &self,
        user: Option<&str>,
        service: Option<&str>,
    ) -> Result<Option<KsIdentity>> {
        let service = match service {
            Some(s) => match self.check(s).await? {
                Some(t) if self.service_token_ok(&t) => Some(t),
                _ => return Ok(None),
            },
            None => None,
        };
        let Some(user) = user else {
            return Ok(None);
        };
        Ok(self
            .check(user)
            .await?
            .map(|user| KsIdentity { user, service }))
    }

    fn service_token_ok(&self, t: &Token) -> bool {
        !self.service_token_roles_required
            || t.roles.iter().any(|r| self.service_token_roles.contains(r))
    }
}

/// The authtoken filter (its state is `Proxy::authtoken`).
pub struct AuthTokenFilter;

fn token(req: &Req, name: &str) -> Option<String> {
    headers::get(&req.ctx.headers, name)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

impl Filter for AuthTokenFilter {
    fn call(&self, mut req: Req, next: Next) -> Fut<'static> {
        if req.account().is_none() || next.proxy().authtoken.is_none() {
            return next.run(req);
        }
        Box::pin(async move {
            let proxy = next.proxy().clone();
            let Some(state) = proxy.authtoken.as_ref() else {
                return next.run(req).await;
            };
            for h in IDENTITY_HEADERS {
                req.ctx.headers.remove(h);
            }
            req.ctx.keystone = None;
            let user = token(&req, "x-auth-token").or_else(|| token(&req, "x-storage-token"));
            // A token that a tempauth in this pipeline owns is not Keystone's to judge.
            let tempauth_owns =
                |t: &String| proxy.pipeline.has("tempauth") && proxy.auth.owns_token(t);
            let user = user.filter(|t| !tempauth_owns(t));
            let service = token(&req, "x-service-token").filter(|t| !tempauth_owns(t));
            if user.is_none() && service.is_none() {
                if !state.delay_auth_decision && !proxy.pipeline.has("tempauth") {
                    return Err(reject(state, None));
                }
                return with_uri(state, next.run(req).await);
            }
            let id = state.identify(user.as_deref(), service.as_deref()).await?;
            if id.is_none() && !state.delay_auth_decision {
                return Err(reject(state, None));
            }
            req.ctx.keystone = id.map(Arc::new);
            with_uri(state, next.run(req).await)
        })
    }
}

/// keystonemiddleware's own 401 (no delay_auth_decision).
fn reject(state: &AuthToken, realm: Option<String>) -> Error {
    Error::KeystoneUnauthorized {
        realm,
        uri: state.www_authenticate_uri.clone(),
    }
}

/// A 401 from below also names where to authenticate.
fn with_uri(
    state: &AuthToken,
    r: Result<http::Response<swirl_common::Body>>,
) -> Result<http::Response<swirl_common::Body>> {
    match r {
        Err(Error::Unauthorized(realm)) => Err(reject(state, Some(realm))),
        Ok(mut resp) if resp.status() == http::StatusCode::UNAUTHORIZED => {
            if let Ok(v) =
                http::HeaderValue::from_str(&keystone_challenge(&state.www_authenticate_uri))
            {
                resp.headers_mut().append("www-authenticate", v);
            }
            Ok(resp)
        }
        other => other,
    }
}

/// `Keystone uri="<www_authenticate_uri>"`.
pub fn keystone_challenge(uri: &str) -> String {
    format!("Keystone uri=\"{uri}\"")
}
