//! tempauth as a pipeline filter: it answers its token endpoint
//! (`/auth/v1.0`), and for everything else names the caller from its token
//! and becomes the request's authorizer, unless a middleware before it
//! (tempurl) already authorized the request (Swift's `swift.authorize_override`).

use crate::app::Authorizer;
use crate::error::Result;
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// The tempauth filter (its state is `Proxy::auth`).
pub struct TempAuthFilter;

impl Filter for TempAuthFilter {
    fn call(&self, mut req: Req, next: Next) -> Fut<'static> {
        if req.endpoint != Endpoint::Auth {
            // Passing on needs no future of its own.
            return match identify(&mut req, next.proxy()) {
                Ok(()) => next.run(req),
                Err(e) => Box::pin(async move { Err(e) }),
            };
        }
        Box::pin(async move {
            let proxy = next.proxy();
            {
                let scheme = if proxy.tls { "https" } else { "http" };
                let host = headers::get(&req.ctx.headers, "host")
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        let l = &proxy.cfg.listen;
                        format!("{}:{}", l.bind_ip, l.bind_port)
                    });
                proxy
                    .auth
                    .handle_auth(&req.ctx.headers, &format!("{scheme}://{host}"))
            }
        })
    }

    fn info(
        &self,
        _proxy: &crate::app::Proxy,
        out: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        out.insert("tempauth".into(), serde_json::json!({"account_acls": true}));
    }
}

/// Names the caller of an account, container or object request.
fn identify(req: &mut Req, proxy: &crate::app::Proxy) -> Result<()> {
    if !matches!(req.ctx.auth, Authorizer::Open) {
        return Ok(()); // authorized before us
    }
    if let Some(account) = req.account() {
        req.ctx.who = proxy.auth.identify(&req.ctx.headers, account)?;
        req.ctx.auth = Authorizer::TempAuth;
    }
    Ok(())
}
