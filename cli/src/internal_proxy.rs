//! A proxy pipeline as the volume gateway's way to the cluster, in the same
//! process (Swift's internal client): the gateway's requests run through
//! the proxy's whole pipeline (auth, quotas, quorum, handoffs) with no
//! connection between the two, so a chunk crosses one network hop fewer.

use std::path::Path;
use std::sync::Arc;

use http::Request;
use swirl_common::Body;
use swirl_proxy::handler::ProxyHandler;
use swirl_volume::swift::transport::{Sent, Transport};

pub struct InProcess(pub Arc<ProxyHandler>);

/// The gateway's way to the proxy for its own requests, and for checking
/// clients' tokens.
pub type Ways = (Arc<dyn Transport>, Arc<dyn Transport>);

impl Transport for InProcess {
    fn send(&self, mut req: Request<Body>) -> Sent<'_> {
        framing_headers(&mut req);
        Box::pin(async move { Ok(self.0.call(req).await) })
    }
}

/// The headers an HTTP client would have put on the wire and the proxy
/// reads: Host from the URL, and the body's framing (Content-Length when
/// its length is known, else chunked; none for an empty GET, HEAD, DELETE).
fn framing_headers(req: &mut Request<Body>) {
    use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
    use http::{HeaderValue, Method};
    use http_body::Body as _;
    if !req.headers().contains_key(HOST) {
        if let Some(v) = req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            req.headers_mut().insert(HOST, v);
        }
    }
    if req.headers().contains_key(CONTENT_LENGTH) || req.headers().contains_key(TRANSFER_ENCODING) {
        return;
    }
    let bodiless = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    );
    match req.body().size_hint().exact() {
        Some(0) if bodiless => {}
        Some(n) => {
            req.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        None => {
            req.headers_mut()
                .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
    }
}

/// The gateway's ways to the proxy from its config, for its own requests
/// and for checking clients' tokens: in this process from `proxy_config`
/// (a proxy-server config whose rings, swift.conf and backend key are on
/// this node) and HTTP to `proxy_url` for clients' tokens (a tempauth
/// token is known only to the proxy that issued it), else HTTP for both.
pub fn for_gateway(cfg: &swirl_volume::Config) -> Result<Ways, String> {
    let http: Arc<dyn Transport> = Arc::new(swirl_volume::swift::transport::Http::new());
    let Some(path) = &cfg.proxy_config else {
        return Ok((http.clone(), http));
    };
    let proxy: swirl_proxy::Config = swirl_common::config::load(Path::new(path))
        .map_err(|e| format!("proxy_config {}: {e}", path.display()))?;
    let handler = swirl_proxy::in_process(proxy)
        .map_err(|e| format!("proxy_config {}: {e}", path.display()))?;
    Ok((Arc::new(InProcess(handler)), http))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
    use http_body_util::{BodyExt, StreamBody};

    fn req(method: &str, body: Body) -> Request<Body> {
        let mut r = Request::builder()
            .method(method)
            .uri("http://127.0.0.1:8080/v1/AUTH_a/c/o")
            .body(body)
            .unwrap();
        framing_headers(&mut r);
        r
    }

    #[test]
    fn requests_carry_the_framing_a_client_would_send() {
        let parts = swirl_common::body::parts(vec![Bytes::from("ab"), Bytes::from("cde")]);
        let put = req("PUT", parts);
        assert_eq!(put.headers()[CONTENT_LENGTH], "5");
        assert_eq!(put.headers()[HOST], "127.0.0.1:8080");
        let empty_put = req("PUT", swirl_common::body::empty());
        assert_eq!(empty_put.headers()[CONTENT_LENGTH], "0");
        let get = req("GET", swirl_common::body::empty());
        assert!(!get.headers().contains_key(CONTENT_LENGTH));
        assert!(!get.headers().contains_key(TRANSFER_ENCODING));
        let frames = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(
            http_body::Frame::data(Bytes::from("x")),
        )]);
        let streamed = req("PUT", StreamBody::new(frames).boxed());
        assert_eq!(streamed.headers()[TRANSFER_ENCODING], "chunked");
        assert!(!streamed.headers().contains_key(CONTENT_LENGTH));
    }
}
