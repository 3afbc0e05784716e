//! The proxy-server app at the end of the pipeline (Swift's
//! `proxy/server.py`): `/info`, then the account, container and object
//! controllers, with CORS around them as Swift's controllers do it.

use std::sync::Arc;

use http::{Method, Response, StatusCode};
use swirl_common::Body;

use crate::app::{Ctx, Proxy};
use crate::error::{Error, Result};
use crate::middleware::cors::{self, CorsInfo};
use crate::object_path::ObjectPath;
use crate::pipeline::{Fut, Req};
use crate::router::Endpoint;
use crate::{account, container, headers, info, object, response};

/// Serves a request that went through the whole pipeline.
pub async fn serve(proxy: &Arc<Proxy>, req: Req) -> Result<Response<Body>> {
    let Req {
        mut ctx,
        endpoint,
        body,
        ..
    } = req;
    match endpoint {
        // Served by their middleware (healthcheck, tempauth), when it runs.
        Endpoint::Healthcheck | Endpoint::Auth => Err(Error::NotFound),
        Endpoint::Info => info_response(proxy, &ctx.method),
        Endpoint::Metrics => Ok(swirl_common::metrics::response(
            swirl_common::metrics::Figures::new(),
            &ctx.headers,
        )),
        Endpoint::Account { account } => {
            if ctx.method == Method::OPTIONS {
                Ok(cors::preflight(
                    &ctx.headers,
                    None,
                    &proxy.cfg.cors_allow_origin,
                    false,
                ))
            } else {
                account::handle(proxy, &mut ctx, &account).await
            }
        }
        Endpoint::Container { account, container } => {
            let (a, cn) = (account.clone(), container.clone());
            with_cors(proxy, &mut ctx, &a, &cn, false, |p, c| {
                Box::pin(async move { container::handle(p, c, &account, &container).await })
            })
            .await
        }
        Endpoint::Object {
            account,
            container,
            object,
        } => {
            let (a, c) = (account.clone(), container.clone());
            let path = ObjectPath::new(account, container, object);
            let mut resp = with_cors(proxy, &mut ctx, &a, &c, true, |p, cx| {
                Box::pin(async move { object::handle(p, cx, &path, body).await })
            })
            .await?;
            if ctx.method == Method::GET || ctx.method == Method::HEAD {
                // The request a read answers, for the middleware above that
                // serve a manifest as its segments (Swift's shared environ).
                resp.extensions_mut().insert(ctx);
            }
            Ok(resp)
        }
    }
}

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
