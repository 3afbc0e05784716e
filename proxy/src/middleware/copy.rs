//! Swift's copy middleware: `COPY` + `Destination` becomes a PUT with
//! `X-Copy-From`; the source is read with a GET sub-request as the caller
//! through the rest of the pipeline (so slo and dlo serve a manifest as its
//! segments unless `?multipart-manifest=get`), and the new object is a PUT
//! of those bytes through it too (so quotas and slo see it), its headers
//! merged from the source and the request.

use http::{HeaderMap, Method, Response, StatusCode};
use swirl_common::{constraints as c, Body};

use crate::app::Ctx;
use crate::backend;
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::{dlo, slo};
use crate::object_path::ObjectPath;
use crate::pipeline::{Filter, Fut, Next, Req};

/// The copy filter.
pub struct Copy;

impl Filter for Copy {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let m = &req.ctx.method;
        let mine = (*m == Method::PUT && req.ctx.headers.contains_key("x-copy-from"))
            || m.as_str() == "COPY";
        if !mine {
            return next.run(req);
        }
        Box::pin(async move {
            let Some(path) = req.object_path() else {
                return next.run(req).await;
            };
            let Req { ctx, body, .. } = req;
            if ctx.method == Method::PUT {
                if let Some(src) = headers::get_utf8(&ctx.headers, "x-copy-from") {
                    let parsed =
                        parse_source(&src, "X-Copy-From").map_err(Error::PreconditionFailed)?;
                    return Box::pin(copy_from(next, ctx, &path, parsed)).await;
                }
            } else if ctx.method.as_str() == "COPY" {
                return Box::pin(copy_verb(next, ctx, &path)).await;
            }
            next.run(Req::object(ctx, &path, body)).await
        })
    }
}

/// `cont/obj` from a Destination or X-Copy-From value (leading '/' optional,
/// percent-encoded), or the 412 text.
pub fn parse_source(value: &str, header: &str) -> std::result::Result<(String, String), String> {
    let decoded = percent_encoding::percent_decode_str(value.trim())
        .decode_utf8()
        .map_err(|_| {
            format!("{header} header must be of the form <container name>/<object name>")
        })?;
    let v = decoded.strip_prefix('/').unwrap_or(&decoded);
    match v.split_once('/') {
        Some((c, o)) if !c.is_empty() && !o.is_empty() => Ok((c.to_string(), o.to_string())),
        _ => Err(format!(
            "{header} header must be of the form <container name>/<object name>"
        )),
    }
}

/// `COPY` with `Destination: cont/obj`: a PUT of the destination copying this object.
async fn copy_verb(next: Next, mut ctx: Ctx, path: &ObjectPath) -> Result<Response<Body>> {
    let dest = headers::get_utf8(&ctx.headers, "destination")
        .ok_or_else(|| Error::PreconditionFailed("Destination header required".into()))?;
    let (dc, dobj) = parse_source(&dest, "Destination").map_err(Error::PreconditionFailed)?;
    let dest_account = headers::get_utf8(&ctx.headers, "destination-account")
        .map(|a| unquote(&a))
        .unwrap_or_else(|| path.account.clone());
    ctx.headers.remove("destination");
    ctx.headers.remove("destination-account");
    headers::set(
        &mut ctx.headers,
        "x-copy-from-account",
        &backend::quote_path(&path.account),
    );
    ctx.method = Method::PUT;
    headers::set(&mut ctx.headers, "content-length", "0");
    let dest = ObjectPath::new(dest_account, dc, dobj);
    copy_from(
        next,
        ctx,
        &dest,
        (path.container.clone(), path.object.clone()),
    )
    .await
}

/// PUT with X-Copy-From: read the source (authorized as a read of it) and
/// stream it into the destination.
async fn copy_from(
    next: Next,
    ctx: Ctx,
    dest: &ObjectPath,
    (src_container, src_object): (String, String),
) -> Result<Response<Body>> {
    if dest.object.len() > c::MAX_OBJECT_NAME_LENGTH {
        return Err(Error::BadRequest(format!(
            "Object name length of {} longer than {}",
            dest.object.len(),
            c::MAX_OBJECT_NAME_LENGTH
        )));
    }
    let src_account = headers::get_utf8(&ctx.headers, "x-copy-from-account")
        .map(|a| unquote(&a))
        .unwrap_or_else(|| dest.account.clone());
    let src = ObjectPath::new(src_account, src_container, src_object);
    if let Ok((Some(n), _)) = crate::constraints::request_length(&ctx.headers) {
        if n != 0 {
            return Err(Error::BadRequest(
                "Copy requests require a zero byte body".into(),
            ));
        }
    }
    // The source is read as a GET by the caller, through the slo and dlo
    // middleware (a manifest copies as its concatenated segments unless the
    // request says ?multipart-manifest=get, an SLO manifest then in the
    // form it was PUT). A Range copies just those bytes.
    let manifest_copy = dlo::wants_manifest(ctx.query.as_deref());
    let mut src_ctx = ctx
        .subrequest(
            Method::GET,
            manifest_copy.then(|| "multipart-manifest=get&format=raw".to_string()),
        )
        .by("SSC");
    if let Some(r) = ctx.headers.get("range") {
        src_ctx.headers.insert("range", r.clone());
    }
    let src_req = Req::object(src_ctx, &src, swirl_common::body::empty());
    let src_resp = next.clone().run(src_req).await?;
    if !copyable(&src_resp) {
        return Ok(src_resp);
    }
    let (parts, src_body) = src_resp.into_parts();
    // As Swift's copy middleware does: the source is read first (a missing
    // source is a 404 whatever the destination); the PUT checks the destination.
    let length: Option<u64> =
        headers::get(&parts.headers, "content-length").and_then(|v| v.parse().ok());
    // A source of unknown length is a DLO of more than one listing page:
    // Swift refuses to copy it.
    if length.is_none_or(|l| l > c::MAX_FILE_SIZE) {
        return Err(Error::TooLarge("Your request is too large.".into()));
    }
    let fresh = headers::is_true(&ctx.headers, "x-fresh-metadata");
    let mut req_h = ctx.headers.clone();
    for n in [
        "x-copy-from",
        "x-copy-from-account",
        "x-fresh-metadata",
        "content-length",
        "transfer-encoding",
        "etag",
        "range",
    ] {
        req_h.remove(n);
    }
    let mut merged = merge_headers(&headers::to_client(&parts.headers), &req_h, fresh);
    if manifest_copy {
        if let Some(v) = parts.headers.get(dlo::MANIFEST) {
            merged.insert(dlo::MANIFEST, v.clone());
        }
    }
    headers::set(
        &mut merged,
        "content-length",
        &length.unwrap_or(0).to_string(),
    );
    let slo_source = manifest_copy && headers::is_true(&parts.headers, slo::manifest::MARKER);
    let mut sink = ctx.clone();
    sink.headers = merged;
    sink.method = Method::PUT;
    sink.query = None;
    if slo_source || slo::is_manifest_put(ctx.query.as_deref()) {
        // A copy of an SLO manifest is a manifest PUT of it (its segments
        // are checked again, as the caller, in the destination's account).
        let query = ctx
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("multipart-manifest"))
            .chain(std::iter::once("multipart-manifest=put"))
            .collect::<Vec<_>>()
            .join("&");
        sink.query = Some(query);
    }
    let mut resp = next.run(Req::object(sink, dest, src_body)).await?;
    if resp.status().is_success() {
        let hm = resp.headers_mut();
        headers::set(
            hm,
            "x-copied-from",
            &format!(
                "{}/{}",
                backend::quote_query(&src.container),
                backend::quote_path(&src.object)
            ),
        );
        headers::set(
            hm,
            "x-copied-from-account",
            &backend::quote_query(&src.account),
        );
        if let Some(lm) = headers::get(&parts.headers, "last-modified") {
            let lm = lm.to_string();
            headers::set(hm, "x-copied-from-last-modified", &lm);
        }
        if let Some(ts) = headers::get(&parts.headers, "x-timestamp") {
            let ts = ts.to_string();
            headers::set(hm, "x-copied-from-timestamp", &ts);
        }
    }
    Ok(resp)
}

/// A source response a copy can stream: the whole object, or one range of it.
fn copyable(resp: &Response<Body>) -> bool {
    resp.status() == StatusCode::OK
        || (resp.status() == StatusCode::PARTIAL_CONTENT
            && !headers::get(resp.headers(), "content-type")
                .unwrap_or("")
                .starts_with("multipart/byteranges"))
}

/// Percent-decodes an account named in a header (Swift unquotes them).
fn unquote(v: &str) -> String {
    percent_encoding::percent_decode_str(v.trim())
        .decode_utf8_lossy()
        .into_owned()
}

/// Headers of the source that a copy carries over (unless X-Fresh-Metadata).
/// The large-object headers are not among them: a copy of a manifest is the
/// concatenated object (copying the manifest itself is the caller's choice).
fn is_copied(name: &str) -> bool {
    name.starts_with("x-object-meta-")
        || matches!(
            name,
            "content-type"
                | "content-encoding"
                | "content-disposition"
                | "content-language"
                | "cache-control"
                | "expires"
                | "x-delete-at"
        )
}

/// The destination's headers: the source's (all of them, or only its
/// Content-Type with X-Fresh-Metadata), overridden by what the request sets.
pub fn merge_headers(source: &HeaderMap, request: &HeaderMap, fresh: bool) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in source {
        let n = k.as_str();
        if (fresh && n == "content-type") || (!fresh && is_copied(n)) {
            out.append(k.clone(), v.clone());
        }
    }
    for k in request.keys() {
        out.remove(k);
    }
    for (k, v) in request {
        out.append(k.clone(), v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers;

    #[test]
    fn sources() {
        assert_eq!(
            parse_source("c/o/p", "X-Copy-From").unwrap(),
            ("c".into(), "o/p".into())
        );
        assert_eq!(
            parse_source("/c/o%20x", "X-Copy-From").unwrap(),
            ("c".into(), "o x".into())
        );
        assert!(parse_source("c", "Destination").is_err());
        assert!(parse_source("/c/", "Destination").is_err());
    }

    #[test]
    fn merge() {
        let mut s = HeaderMap::new();
        headers::set(&mut s, "x-object-meta-a", "1");
        headers::set(&mut s, "x-object-meta-b", "2");
        headers::set(&mut s, "content-type", "text/plain");
        headers::set(&mut s, "etag", "x");
        headers::set(&mut s, "x-object-manifest", "c/p");
        let mut r = HeaderMap::new();
        headers::set(&mut r, "x-object-meta-b", "3");
        let m = merge_headers(&s, &r, false);
        assert_eq!(headers::get(&m, "x-object-meta-a"), Some("1"));
        assert_eq!(headers::get(&m, "x-object-meta-b"), Some("3"));
        assert!(m.get("etag").is_none());
        assert!(m.get("x-object-manifest").is_none());
        let f = merge_headers(&s, &r, true);
        assert!(f.get("x-object-meta-a").is_none());
        assert_eq!(headers::get(&f, "content-type"), Some("text/plain"));
    }
}
