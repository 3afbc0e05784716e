//! The request entry point: gatekeeper, healthcheck, /info, /metrics, tempauth's token
//! endpoint, bulk delete and extract-archive, identity, then the account/container/object
//! controllers, with CORS around them. One match dispatches every endpoint.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::server::Handler;
use swirl_common::Body;

use crate::app::{Ctx, Proxy};
use crate::error::{Error, Result};
use crate::middleware::cors::{self, CorsInfo};
use crate::middleware::etag_quoter::{self, Level};
use crate::middleware::{bulk, container_quotas, gatekeeper, slo};
use crate::object_path::ObjectPath;
use crate::router::{self, Endpoint, RouteError};
use crate::{account, container, headers, info, object, response};

/// The proxy's `Handler` for common's server loop.
pub struct ProxyHandler {
    pub proxy: Arc<Proxy>,
}

impl Handler for ProxyHandler {
    type Error = Error;

    async fn handle(&self, req: Request<Incoming>, txn: &str) -> Result<Response<Body>> {
        let proxy = &self.proxy;
        let (parts, body) = req.into_parts();
        let mut hdrs = parts.headers;
        gatekeeper::strip_inbound(&mut hdrs);
        swirl_common::header_text::check(&hdrs)?;
        let endpoint = router::route(&parts.method, parts.uri.path()).map_err(|e| match e {
            RouteError::BadEncoding => {
                Error::PreconditionFailed("Invalid UTF8 or contains NULL".into())
            }
            RouteError::NotFound => Error::NotFound,
            RouteError::BadUrl => Error::PreconditionFailed("Bad URL".into()),
        })?;
        let query = parts.uri.query().map(str::to_string);
        if let Some(format) = bulk::extract_format(&parts.method, query.as_deref()) {
            let target = match &endpoint {
                Endpoint::Account { account } => Some((account.clone(), String::new())),
                Endpoint::Container { account, container } => {
                    Some((account.clone(), container.clone()))
                }
                Endpoint::Object {
                    account,
                    container,
                    object,
                } => Some((account.clone(), format!("{container}/{object}"))),
                Endpoint::Healthcheck | Endpoint::Info | Endpoint::Auth | Endpoint::Metrics => None,
            };
            if let Some((account, base)) = target {
                let who = proxy.auth.identify(&hdrs, &account).ok();
                let mut resp =
                    bulk::handle_extract(proxy, who, txn, hdrs, account, base, &format, body)
                        .await?;
                gatekeeper::strip(resp.headers_mut());
                return Ok(resp);
            }
        }
        if bulk::is_bulk_delete(&parts.method, query.as_deref()) {
            if let Endpoint::Account { account }
            | Endpoint::Container { account, .. }
            | Endpoint::Object { account, .. } = &endpoint
            {
                // Bulk runs before tempauth in Swift's pipeline: a refused
                // token fails each delete (401), not the request.
                let who = proxy.auth.identify(&hdrs, account).ok();
                let mut resp = bulk::handle(proxy, who, txn, hdrs, account.clone(), body).await;
                gatekeeper::strip(resp.headers_mut());
                return Ok(resp);
            }
        }
        let mut resp = match endpoint {
            Endpoint::Healthcheck => {
                let mut r = Response::new(swirl_common::body::full("OK"));
                headers::set(r.headers_mut(), "content-type", "text/plain");
                headers::set(r.headers_mut(), "content-length", "2");
                r
            }
            Endpoint::Info => info_response(proxy, &parts.method)?,
            Endpoint::Metrics => {
                swirl_common::metrics::response(swirl_common::metrics::Figures::new(), &hdrs)
            }
            Endpoint::Auth => {
                let scheme = if proxy.tls { "https" } else { "http" };
                let host = headers::get(&hdrs, "host")
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        format!(
                            "{}:{}",
                            proxy.cfg.listen.bind_ip, proxy.cfg.listen.bind_port
                        )
                    });
                proxy
                    .auth
                    .handle_auth(&hdrs, &format!("{scheme}://{host}"))?
            }
            Endpoint::Account { account } => {
                etag_quoter::translate_request(&mut hdrs, Level::Account);
                let who = proxy.auth.identify(&hdrs, &account)?;
                let mut ctx = ctx(txn, who, parts.method.clone(), hdrs, query);
                if ctx.method == Method::OPTIONS {
                    cors::preflight(&ctx.headers, None, &proxy.cfg.cors_allow_origin, false)
                } else {
                    account::handle(proxy, &mut ctx, &account).await?
                }
            }
            Endpoint::Container { account, container } => {
                if parts.method == Method::PUT || parts.method == Method::POST {
                    container_quotas::validate(&hdrs)
                        .map_err(|m| Error::BadRequest(m.to_string()))?;
                }
                etag_quoter::translate_request(&mut hdrs, Level::Container);
                let who = proxy.auth.identify(&hdrs, &account)?;
                let mut ctx = ctx(txn, who, parts.method.clone(), hdrs, query);
                let (a, cn) = (account.clone(), container.clone());
                let resp = with_cors(proxy, &mut ctx, &a, &cn, false, |p, c| {
                    Box::pin(async move { container::handle(p, c, &account, &container).await })
                })
                .await?;
                if ctx.method == Method::GET {
                    slo::rewrite_listing(resp).await
                } else {
                    resp
                }
            }
            Endpoint::Object {
                account,
                container,
                object,
            } => {
                let who = proxy.auth.identify(&hdrs, &account)?;
                let mut ctx = ctx(txn, who, parts.method.clone(), hdrs, query);
                let (a, c) = (account.clone(), container.clone());
                let path = ObjectPath::new(account, container, object);
                let mut resp = with_cors(proxy, &mut ctx, &a, &c, true, |p, cx| {
                    Box::pin(async move { object::handle(p, cx, &path, body).await })
                })
                .await?;
                etag_quoter::apply(proxy, &ctx, &a, &c, &mut resp).await;
                resp
            }
        };
        gatekeeper::strip(resp.headers_mut());
        Ok(resp)
    }
}

fn ctx(
    txn: &str,
    who: crate::auth::tempauth::Identity,
    method: Method,
    headers: http::HeaderMap,
    query: Option<String>,
) -> Ctx {
    Ctx {
        txn: txn.to_string(),
        who,
        method,
        headers,
        query,
        owner: false,
    }
}

type Fut<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response<Body>>> + Send + 'a>>;

/// Runs a container/object controller with CORS: OPTIONS is a preflight;
/// any request with an Origin gets the Access-Control headers the
/// container's metadata allows.
async fn with_cors<'a, F>(
    proxy: &'a Arc<Proxy>,
    ctx: &'a mut Ctx,
    account: &str,
    container: &str,
    object: bool,
    f: F,
) -> Result<Response<Body>>
where
    F: FnOnce(&'a Arc<Proxy>, &'a mut Ctx) -> Fut<'a>,
{
    let origin = headers::get(&ctx.headers, "origin").map(str::to_string);
    if ctx.method == Method::OPTIONS {
        let info = match origin {
            Some(_) => Some(CorsInfo::from_container(
                &proxy.container_info(ctx, account, container).await?.headers,
            )),
            None => None,
        };
        return Ok(cors::preflight(
            &ctx.headers,
            info.as_ref(),
            &proxy.cfg.cors_allow_origin,
            object,
        ));
    }
    let Some(origin) = origin else {
        return f(proxy, ctx).await;
    };
    let info =
        CorsInfo::from_container(&proxy.container_info(ctx, account, container).await?.headers);
    let decorate = |h: &mut http::HeaderMap| {
        let cfg = &proxy.cfg;
        cors::decorate(
            h,
            &origin,
            &info,
            &cfg.cors_allow_origin,
            cfg.strict_cors_mode,
        )
    };
    match f(proxy, ctx).await {
        Ok(mut resp) => {
            decorate(resp.headers_mut());
            Ok(resp)
        }
        Err(mut e) => {
            // Errors that carry an object's headers (416) get them too.
            if let Some(h) = e.headers_mut() {
                decorate(h);
            }
            Err(e)
        }
    }
}

fn info_response(proxy: &Proxy, method: &Method) -> Result<Response<Body>> {
    if !proxy.cfg.expose_info {
        return Err(Error::Forbidden);
    }
    if *method == Method::OPTIONS {
        let mut r = response::status(200);
        headers::set(r.headers_mut(), "allow", "HEAD, GET, OPTIONS");
        return Ok(r);
    }
    if *method != Method::GET && *method != Method::HEAD {
        return Err(Error::MethodNotAllowed);
    }
    let text = info::document(proxy).to_string();
    let mut r = Response::new(swirl_common::body::full(text.clone()));
    *r.status_mut() = StatusCode::OK;
    headers::set(
        r.headers_mut(),
        "content-type",
        "application/json; charset=UTF-8",
    );
    headers::set(r.headers_mut(), "content-length", &text.len().to_string());
    Ok(r)
}
