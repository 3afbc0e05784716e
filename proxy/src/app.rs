//! The proxy's shared state and the per-request context, plus the
//! account/container info lookups every controller needs (cached as
//! Swift caches them in memcache, invalidated by this proxy's own writes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode};
use swirl_common::backend_headers as bh;
use swirl_ring::hash::HashPathConfig;

use crate::auth::acl::{self, AccountAcl};
use crate::auth::tempauth::{AuthzRequest, Decision, Identity, TempAuth};
use crate::backend::Backend;
use crate::config::{secs, Config};
use crate::error::{Error, Result};
use crate::error_limit::ErrorLimiter;
use crate::headers;
use crate::policy::Policies;
use crate::read::{self, ReadOutcome, ReadReq};
use crate::rings::{RingKind, Rings};

/// Headers only an owner may set or see (Swift's `swift_owner_headers`).
pub const OWNER_HEADERS: [&str; 9] = [
    "x-container-read",
    "x-container-write",
    "x-container-sync-key",
    "x-container-sync-to",
    "x-account-meta-temp-url-key",
    "x-account-meta-temp-url-key-2",
    "x-container-meta-temp-url-key",
    "x-container-meta-temp-url-key-2",
    "x-account-access-control",
];

/// Everything a request handler shares.
pub struct Proxy {
    pub cfg: Config,
    pub rings: Rings,
    pub backend: Backend,
    /// The budget of in-flight backend requests.
    pub gate: crate::backpressure::Gate,
    pub auth: TempAuth,
    pub policies: Policies,
    pub info: InfoCache,
    pub tls: bool,
    /// The middleware that run before the controllers.
    pub pipeline: crate::pipeline::Pipeline,
}

impl Proxy {
    pub fn new(cfg: Config) -> std::result::Result<Self, String> {
        let hash = HashPathConfig::new(
            cfg.swift_hash_path_prefix.as_bytes(),
            cfg.swift_hash_path_suffix.as_bytes(),
        );
        let limiter = Arc::new(ErrorLimiter::new(
            cfg.error_suppression_limit,
            secs(cfg.error_suppression_interval),
        ));
        Ok(Proxy {
            rings: Rings::new(&cfg.swift_dir, hash, cfg.request_node_count),
            backend: Backend::new(secs(cfg.conn_timeout), secs(cfg.node_timeout), limiter).signing(
                swirl_common::backend_auth::from_config(cfg.backend_auth.as_ref(), "proxy")
                    .map_err(|e| e.to_string())?,
            ),
            gate: crate::backpressure::Gate::new(
                cfg.max_backend_requests,
                secs(cfg.backend_queue_timeout),
            ),
            auth: TempAuth::new(&cfg.tempauth)?,
            policies: Policies::new(cfg.storage_policy.clone()),
            info: InfoCache::new(
                secs(cfg.recheck_account_existence),
                secs(cfg.recheck_container_existence),
            ),
            tls: cfg.cert_file.is_some(),
            pipeline: crate::pipeline::registry::build(&cfg)?,
            cfg,
        })
    }
}

/// One request's context.
#[derive(Clone)]
pub struct Ctx {
    pub txn: String,
    pub who: Identity,
    pub method: Method,
    /// The client's headers after the gatekeeper.
    pub headers: HeaderMap,
    /// Raw query string.
    pub query: Option<String>,
    /// Set once authorization says the caller owns the account.
    pub owner: bool,
    /// Who decides what the request may do (Swift's `swift.authorize`).
    pub auth: Authorizer,
    /// The middleware that made this sub-request (Swift's `swift.source`).
    pub source: Option<&'static str>,
    /// A middleware set the Content-Type's `swift_bytes` (SLO manifests),
    /// which clients may not (Swift's `swift.content_type_overridden`).
    pub ctype_overridden: bool,
}

/// Who authorizes a request: nobody when no auth middleware ran (all is
/// allowed, nobody owns anything: Swift without `swift.authorize`).
#[derive(Clone, Default)]
pub enum Authorizer {
    #[default]
    Open,
    /// tempauth's rules and ACLs for `Ctx::who`.
    TempAuth,
    /// A valid temporary URL (Swift's tempurl `authorize_same_account` /
    /// `authorize_same_container`): requests in that account (and
    /// container, for a container's key) only.
    TempUrl {
        account: String,
        container: Option<String>,
    },
}

impl Ctx {
    /// A client request's context, before any middleware ran.
    pub fn new(txn: &str, method: Method, headers: HeaderMap, query: Option<String>) -> Ctx {
        Ctx {
            txn: txn.to_string(),
            who: Identity::default(),
            method,
            headers,
            query,
            owner: false,
            auth: Authorizer::Open,
            source: None,
            ctype_overridden: false,
        }
    }

    /// Tags a sub-request with the middleware that made it.
    pub fn by(mut self, source: &'static str) -> Ctx {
        self.source = Some(source);
        self
    }
}

impl Ctx {
    pub fn referer(&self) -> Option<&str> {
        headers::get(&self.headers, "referer")
    }

    /// A request a middleware makes on the caller's behalf (Swift's
    /// `make_subrequest`): same identity, transaction and Referer/Origin (so
    /// ACLs judge it as the caller), no other client header.
    pub fn subrequest(&self, method: Method, query: Option<String>) -> Ctx {
        let mut h = HeaderMap::new();
        for name in ["referer", "origin", "user-agent"] {
            if let Some(v) = self.headers.get(name) {
                h.insert(name, v.clone());
            }
        }
        Ctx {
            txn: self.txn.clone(),
            who: self.who.clone(),
            method,
            headers: h,
            query,
            owner: false,
            auth: self.auth.clone(),
            source: self.source,
            ctype_overridden: false,
        }
    }
}

/// Cached result of a HEAD on an account or container.
#[derive(Debug, Clone)]
pub struct Info {
    pub status: u16,
    pub headers: HeaderMap,
}

impl Info {
    pub fn exists(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        headers::get(&self.headers, name)
    }
    /// The container's storage policy index (0 when the server says nothing).
    pub fn policy_index(&self) -> u32 {
        self.header(bh::STORAGE_POLICY_INDEX)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
    /// The account ACL kept in account sysmeta.
    pub fn account_acl(&self) -> Option<AccountAcl> {
        self.header("x-account-sysmeta-core-access-control")
            .and_then(acl::parse_account_acl)
    }
}

/// (account, container) of a cached info.
type InfoKey = (String, Option<String>);

/// Account and container info, cached for `recheck_*_existence` seconds.
pub struct InfoCache {
    account_ttl: Duration,
    container_ttl: Duration,
    entries: Mutex<HashMap<InfoKey, (Instant, Arc<Info>)>>,
}

impl InfoCache {
    fn new(account_ttl: Duration, container_ttl: Duration) -> Self {
        InfoCache {
            account_ttl,
            container_ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, account: &str, container: Option<&str>) -> Option<Arc<Info>> {
        let ttl = if container.is_some() {
            self.container_ttl
        } else {
            self.account_ttl
        };
        let entries = self.entries.lock().ok()?;
        let (at, info) = entries.get(&(account.to_string(), container.map(str::to_string)))?;
        (at.elapsed() < ttl).then(|| info.clone())
    }

    /// Caches `info` (an existing account or container).
    pub fn remember(&self, account: &str, container: Option<&str>, info: Arc<Info>) {
        if let Ok(mut e) = self.entries.lock() {
            if e.len() > 100_000 {
                e.clear();
            }
            e.insert(
                (account.to_string(), container.map(str::to_string)),
                (Instant::now(), info),
            );
        }
    }

    /// Forgets an entry after this proxy changed it.
    pub fn invalidate(&self, account: &str, container: Option<&str>) {
        if let Ok(mut e) = self.entries.lock() {
            e.remove(&(account.to_string(), container.map(str::to_string)));
        }
    }
}

impl Proxy {
    /// Account info (HEAD on the account ring), cached when it exists.
    pub async fn account_info(&self, ctx: &Ctx, account: &str) -> Result<Arc<Info>> {
        if let Some(i) = self.info.get(account, None) {
            return Ok(i);
        }
        let info = self
            .head_info(ctx, RingKind::Account, account, None)
            .await?;
        if info.exists() {
            self.info.remember(account, None, info.clone());
        }
        Ok(info)
    }

    /// Container info (HEAD on the container ring), cached when it exists.
    pub async fn container_info(
        &self,
        ctx: &Ctx,
        account: &str,
        container: &str,
    ) -> Result<Arc<Info>> {
        if let Some(i) = self.info.get(account, Some(container)) {
            return Ok(i);
        }
        let info = self
            .head_info(ctx, RingKind::Container, account, Some(container))
            .await?;
        if info.exists() {
            self.info.remember(account, Some(container), info.clone());
        }
        Ok(info)
    }

    async fn head_info(
        &self,
        ctx: &Ctx,
        kind: RingKind,
        account: &str,
        container: Option<&str>,
    ) -> Result<Arc<Info>> {
        let mut h = HeaderMap::new();
        headers::set(&mut h, "x-trans-id", &ctx.txn);
        let r = ReadReq {
            kind,
            account,
            container,
            object: None,
            method: Method::HEAD,
            query: None,
            headers: h,
            newest: false,
        };
        let info = match read::read(self, &r).await? {
            ReadOutcome::Good { resp, .. } => Info {
                status: resp.status().as_u16(),
                headers: resp.headers().clone(),
            },
            ReadOutcome::Bad { status, resp, .. } => Info {
                status,
                headers: resp.map(|r| r.headers().clone()).unwrap_or_default(),
            },
        };
        Ok(Arc::new(info))
    }

    /// Runs tempauth's authorize, consulting the account ACL only when the
    /// cheaper rules did not decide (as Swift does). Sets `ctx.owner`.
    pub async fn authorize(
        &self,
        ctx: &mut Ctx,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
        acl: Option<&str>,
    ) -> Result<()> {
        let allowed = match &ctx.auth {
            Authorizer::TempAuth => None,
            Authorizer::Open => Some(true),
            Authorizer::TempUrl {
                account: a,
                container: c,
            } => Some(a == account && c.as_ref().is_none_or(|c| Some(c.as_str()) == container)),
        };
        if let Some(allowed) = allowed {
            if !allowed {
                return Err(Error::Unauthorized(account.to_string()));
            }
            ctx.owner = false;
            for h in OWNER_HEADERS {
                ctx.headers.remove(h);
            }
            return Ok(());
        }
        let method = ctx.method.clone();
        let req = AuthzRequest {
            method: &method,
            account,
            container,
            object,
            acl,
            referer: ctx.referer(),
        };
        let mut decision = self.auth.authorize(&ctx.who, &req, None);
        if decision == Decision::Deny && ctx.who.is_authenticated() {
            let info = self.account_info(ctx, account).await?;
            if let Some(a) = info.account_acl() {
                let req = AuthzRequest {
                    method: &method,
                    account,
                    container,
                    object,
                    acl,
                    referer: ctx.referer(),
                };
                decision = self.auth.authorize(&ctx.who, &req, Some(&a));
            }
        }
        match decision {
            Decision::Allow { owner } => {
                ctx.owner = owner;
                if !owner {
                    for h in OWNER_HEADERS {
                        ctx.headers.remove(h);
                    }
                }
                Ok(())
            }
            Decision::Deny if ctx.who.is_authenticated() => Err(Error::Forbidden),
            Decision::Deny => Err(Error::Unauthorized(account.to_string())),
        }
    }

    /// Creates the account on its servers (account_autocreate).
    pub async fn autocreate_account(&self, ctx: &Ctx, account: &str) -> Result<()> {
        let nodes = self.rings.nodes(RingKind::Account, account, None, None)?;
        let mut h = HeaderMap::new();
        headers::set(&mut h, "x-trans-id", &ctx.txn);
        headers::set(
            &mut h,
            "x-timestamp",
            &swirl_common::Timestamp::now().internal(),
        );
        let path =
            |n: &crate::rings::Node| crate::backend::path(n, nodes.partition, account, None, None);
        let statuses = crate::write::fan_out(
            self,
            &nodes,
            Method::PUT,
            &path,
            vec![h; nodes.primaries.len()],
            None,
        )
        .await?;
        self.info.invalidate(account, None);
        let codes: Vec<u16> = statuses.iter().map(|s| s.0).collect();
        match crate::quorum::best_status(&codes, crate::quorum::quorum_size(nodes.replicas)) {
            Some(s) if (200..300).contains(&s) => Ok(()),
            Some(s) if s == StatusCode::CONFLICT.as_u16() => Ok(()),
            _ => Err(Error::Unavailable(format!(
                "account autocreate of {account}: {codes:?}"
            ))),
        }
    }
}
