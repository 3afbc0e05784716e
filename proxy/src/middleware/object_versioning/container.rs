//! Container and account requests (Swift's `ContainerContext` and
//! `AccountContext`): switching versioning on and off, deleting a
//! versioned container with its hidden one, HEAD/GET counting the hidden
//! container's bytes, listings (`?versions` too) and account listings.

use http::{Method, Response, StatusCode};
use serde_json::Value;
use swirl_common::constraints as c;
use swirl_common::listing_format::{self, ListingItem};
use swirl_common::Body;

use super::listing::{self, VersionsQuery};
use super::*;
use crate::backend::quote_path;
use crate::middleware::dlo;
use crate::middleware::slo::manifest::py_dumps;
use crate::middleware::symlink::target::unquote;
use crate::response::backend_headers;

/// A listing body is read whole up to this (Swift rewrites listings of up
/// to `MAX_CONTAINER_LISTING_CONTENT_LENGTH`, 20 MB).
const MAX_LISTING: usize = 64 << 20;

/// A container request.
pub(super) async fn request(req: Req, next: Next) -> Step<Response<Body>> {
    let m = req.ctx.method.clone();
    if (m == Method::PUT || m == Method::POST)
        && req.ctx.headers.contains_key(CLIENT_VERSIONS_ENABLED)
    {
        return enable(req, next).await;
    }
    if m == Method::DELETE {
        return delete(req, next).await;
    }
    read(req, next).await
}

fn names(req: &Req) -> (String, String) {
    match &req.endpoint {
        Endpoint::Container { account, container } => (account.clone(), container.clone()),
        _ => Default::default(),
    }
}

/// Swift's `enable_versioning`: the switch becomes sysmeta; switching on
/// creates the hidden container (in the container's policy) first.
async fn enable(mut req: Req, next: Next) -> Step<Response<Body>> {
    let (account, container) = names(&req);
    let proxy = next.proxy().clone();
    let info = proxy.container_info(&req.ctx, &account, &container).await?;
    let legacy = info
        .header(crate::middleware::versioned_writes::SYSMETA_LOCATION)
        .is_some_and(|l| !l.is_empty());
    if legacy {
        return Err(Error::BadRequest(
            "Cannot enable object versioning on a container that is already using the legacy versioned writes feature.".into(),
        )
        .into());
    }
    if info
        .header("x-container-sync-to")
        .is_some_and(|s| !s.is_empty())
    {
        return Err(Error::BadRequest(
            "Cannot enable object versioning on a container configured as source of container syncing.".into(),
        )
        .into());
    }
    let on = headers::is_true(&req.ctx.headers, CLIENT_VERSIONS_ENABLED);
    req.ctx.headers.remove(CLIENT_VERSIONS_ENABLED);
    headers::set(
        &mut req.ctx.headers,
        SYSMETA_VERSIONS_ENABLED,
        if on { "True" } else { "False" },
    );
    let mut created: Option<(String, Ctx)> = None;
    if on {
        let mut put = pre_authed(&req.ctx, Method::PUT, None);
        if info.exists() {
            let policy = proxy.policies.by_index(info.policy_index());
            if let Some(p) = policy {
                if p.deprecated {
                    // Authorized first, so nothing is told of the container.
                    let mut c = req.ctx.clone();
                    proxy
                        .authorize(&mut c, &account, Some(&container), None, None)
                        .await?;
                    return Err(Error::BadRequest(
                        "Cannot enable object versioning on a container that uses a deprecated storage policy.".into(),
                    )
                    .into());
                }
                headers::set(&mut put.headers, "x-storage-policy", &p.name);
            }
        } else if req.ctx.method == Method::PUT {
            if let Some(p) = headers::get_utf8(&req.ctx.headers, "x-storage-policy") {
                headers::set(&mut put.headers, "x-storage-policy", &p);
            }
        }
        let hidden = versions_container_name(&container)
            .ok_or_else(|| Error::BadRequest("Invalid container name".into()))?;
        let a = next
            .clone()
            .run(Req::container(put.clone(), &account, &hidden))
            .await;
        let s = status(&a);
        if !(s.is_success() || s == StatusCode::CONFLICT) {
            return Err(Error::Internal("Error enabling object versioning".into()).into());
        }
        headers::set(
            &mut req.ctx.headers,
            SYSMETA_VERSIONS_CONT,
            &quote_path(&hidden),
        );
        created = Some((hidden, put));
    }
    let a = next.clone().run(req).await;
    if !status(&a).is_success() {
        if let Some((hidden, mut del)) = created {
            // The container was not changed: the hidden one goes again.
            del.method = Method::DELETE;
            let _ = next.run(Req::container(del, &account, &hidden)).await;
        }
    }
    Ok(enabled_header(a)?)
}

/// Answers say X-Versions-Enabled where the container's sysmeta does.
fn enabled_header(a: Answer) -> Answer {
    let Ok(mut resp) = a else { return a };
    let v = backend_headers(&resp)
        .and_then(|h| headers::get(h, SYSMETA_VERSIONS_ENABLED))
        .map(str::to_string);
    if let Some(v) = v {
        headers::set(resp.headers_mut(), CLIENT_VERSIONS_ENABLED, &v);
    }
    Ok(resp)
}

/// Swift's `handle_delete`: a versioned container goes only once its
/// hidden container holds no versions, and takes the hidden one along.
async fn delete(req: Req, next: Next) -> Step<Response<Body>> {
    let (account, container) = names(&req);
    let proxy = next.proxy().clone();
    let info = proxy.container_info(&req.ctx, &account, &container).await?;
    let hidden = headers::get_utf8(&info.headers, SYSMETA_VERSIONS_CONT)
        .map(|v| unquote(&v))
        .filter(|v| !v.is_empty());
    if let Some(hidden) = hidden {
        // Only someone who may delete the container touches the hidden one.
        let mut c = req.ctx.clone();
        proxy
            .authorize(&mut c, &account, Some(&container), None, None)
            .await?;
        let head = pre_authed(&req.ctx, Method::HEAD, None);
        let a = next
            .clone()
            .run(Req::container(head.clone(), &account, &hidden))
            .await;
        let s = status(&a);
        let count: u64 = a
            .as_ref()
            .ok()
            .and_then(|r| headers::get(r.headers(), "x-container-object-count"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if s.is_success() && count > 0 {
            return Err(Error::ConflictAt {
                body: "Delete all versions before deleting container.".into(),
                location: None,
            }
            .into());
        }
        if !s.is_success() && s != StatusCode::NOT_FOUND {
            return Err(Error::Internal("Error deleting versioned container".into()).into());
        }
        let mut del = head;
        del.method = Method::DELETE;
        let d = next
            .clone()
            .run(Req::container(del, &account, &hidden))
            .await;
        let s = status(&d);
        if !s.is_success() && s != StatusCode::NOT_FOUND {
            return Err(Error::Internal("Error deleting versioned container".into()).into());
        }
    }
    Ok(next.run(req).await?)
}

/// The client's listing format, when the request reads a listing this
/// filter rewrites (None: the request goes as sent).
fn client_format(req: &Req) -> Option<&'static str> {
    let format = headers::query_param(req.ctx.query.as_deref(), "format");
    listing_format::negotiate(format.as_deref(), headers::get(&req.ctx.headers, "accept")).ok()
}

/// HEAD and GET (and the rest): a versioned container's bytes count its
/// versions; its listing shows them; `?versions` lists every version.
async fn read(mut req: Req, next: Next) -> Step<Response<Body>> {
    let (account, container) = names(&req);
    let is_get = req.ctx.method == Method::GET;
    let query = req.ctx.query.clone();
    let versions_param = is_get && headers::query_param(query.as_deref(), "versions").is_some();
    let wants_json = listing::accepts_json(
        headers::query_param(query.as_deref(), "format").as_deref(),
        headers::get(&req.ctx.headers, "accept"),
    );
    let mut format = None;
    if is_get {
        let versioned = versions_param || {
            let info = next
                .proxy()
                .container_info(&req.ctx, &account, &container)
                .await?;
            info.header(SYSMETA_VERSIONS_CONT)
                .is_some_and(|v| !v.is_empty())
        };
        if versioned {
            format = client_format(&req);
            if format.is_some() {
                req.ctx.query = Some(with_param(query.as_deref(), "format", "json"));
            }
        }
    }
    let api = if req.v1 { "v1" } else { "v1.0" };
    let ctx = req.ctx.clone();
    let a = enabled_header(next.clone().run(req).await);
    let mut resp = a?;
    let location = backend_headers(&resp)
        .and_then(|h| headers::get_utf8(h, SYSMETA_VERSIONS_CONT))
        .map(|l| unquote(&l))
        .filter(|l| !l.is_empty());
    let location = match location {
        Some(l) => {
            if let Some(used) = headers::get(resp.headers(), "x-container-bytes-used")
                .and_then(|b| b.parse::<i64>().ok())
            {
                let head = pre_authed(&ctx, Method::HEAD, None);
                let h = next.clone().run(Req::container(head, &account, &l)).await;
                if let Ok(h) = h.as_ref().map(|r| r.headers()) {
                    let more = headers::get(h, "x-container-bytes-used")
                        .and_then(|b| b.parse::<i64>().ok())
                        .unwrap_or(0);
                    headers::set(
                        resp.headers_mut(),
                        "x-container-bytes-used",
                        &(used + more).to_string(),
                    );
                }
            }
            Some(l)
        }
        None if resp.status().is_success() => versions_container_name(&container),
        None => None,
    };
    let Some(format) = format.filter(|_| resp.status().is_success() && is_get) else {
        return Ok(resp);
    };
    let (parts, body) = resp.into_parts();
    let whole = dlo::collect(body, MAX_LISTING)
        .await
        .ok_or_else(|| Error::Unavailable("container listing unreadable".into()))?;
    let Some(mut entries) = parse_entries(&whole) else {
        return Ok(Response::from_parts(parts, swirl_common::body::full(whole)));
    };
    listing::rewrite_links(
        &mut entries,
        &container,
        location.as_deref(),
        versions_param,
        api,
    );
    if versions_param {
        if !wants_json {
            return Err(Error::NotAcceptable.into());
        }
        let q =
            listing::versions_query(&query_pairs(query.as_deref()), c::CONTAINER_LISTING_LIMIT)?;
        let location = location.unwrap_or_default();
        let hidden = list_hidden(&next, &ctx, &account, &location, &q).await?;
        let out = listing::merge_versions(entries, hidden, &account, &location, &q);
        return Ok(render(parts, &out, "application/json", &container));
    }
    Ok(render(parts, &entries, format, &container))
}

/// A JSON listing's entries.
fn parse_entries(body: &[u8]) -> Option<Vec<Value>> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Array(a) if a.iter().all(Value::is_object) => Some(a),
        _ => None,
    }
}

/// The hidden container's listing for `?versions` (None: it is missing).
async fn list_hidden(
    next: &Next,
    ctx: &Ctx,
    account: &str,
    location: &str,
    q: &VersionsQuery,
) -> Step<Option<Vec<Value>>> {
    let mut pairs = q.pairs.clone();
    pairs.push(("format".into(), "json".into()));
    let get = pre_authed(ctx, Method::GET, Some(build_query(&pairs)));
    let a = next
        .clone()
        .run(Req::container(get, account, location))
        .await;
    if status(&a) == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status(&a).is_success() {
        return Err(match a {
            Ok(r) => Halt::Answer(Box::new(r)),
            Err(e) => Halt::Fail(e),
        });
    }
    let body = a?.into_body();
    let whole = dlo::collect(body, MAX_LISTING)
        .await
        .ok_or_else(|| Error::Unavailable("versions listing unreadable".into()))?;
    Ok(Some(parse_entries(&whole).unwrap_or_default()))
}

/// A listing rendered in the client's format (Swift's listing_formats).
fn render(
    mut parts: http::response::Parts,
    entries: &[Value],
    format: &str,
    container: &str,
) -> Response<Body> {
    let body = match format {
        "application/json" => {
            let mut s = String::new();
            py_dumps(&mut s, &Value::Array(entries.to_vec()));
            s.into_bytes()
        }
        "text/plain" => listing_format::to_text(&listing::as_items(entries)),
        _ => listing_format::container_to_xml(&listing::as_items(entries), container),
    };
    finish_listing(&mut parts, format, body.len());
    Response::from_parts(parts, swirl_common::body::full(body))
}

fn finish_listing(parts: &mut http::response::Parts, format: &str, len: usize) {
    if len == 0 {
        parts.status = StatusCode::NO_CONTENT;
    }
    headers::set(
        &mut parts.headers,
        "content-type",
        &format!("{format}; charset=utf-8"),
    );
    headers::set(&mut parts.headers, "content-length", &len.to_string());
}

/// Swift's `list_containers`: an account listing counts each container's
/// versions in its bytes and shows hidden containers left without theirs.
pub(super) async fn account_get(req: Req, next: Next) -> Step<Response<Body>> {
    let account = match &req.endpoint {
        Endpoint::Account { account } => account.clone(),
        _ => String::new(),
    };
    let ctx = req.ctx.clone();
    let format = client_format(&req);
    let again = Req {
        ctx: req.ctx.clone(),
        endpoint: req.endpoint.clone(),
        body: swirl_common::body::empty(),
        v1: req.v1,
        peer: req.peer,
        path: req.path.clone(),
    };
    let resp = next.clone().run(req).await?;
    let Some(format) = format.filter(|_| resp.status().is_success()) else {
        return Ok(resp);
    };
    let params = query_pairs(ctx.query.as_deref());
    let mut hidden_q: Vec<(String, String)> = Vec::new();
    let mut has_prefix = false;
    for (k, v) in &params {
        let v = match k.as_str() {
            "prefix" => {
                has_prefix = true;
                versions_container_name(v).unwrap_or_else(|| v.clone())
            }
            "marker" | "end_marker" => versions_container_name(v).unwrap_or_else(|| v.clone()),
            "format" => continue,
            _ => v.clone(),
        };
        hidden_q.push((k.clone(), v));
    }
    if !has_prefix {
        hidden_q.push(("prefix".into(), "\0versions".into()));
    }
    hidden_q.push(("format".into(), "json".into()));
    let get = pre_authed(&ctx, Method::GET, Some(build_query(&hidden_q)));
    let h = next.clone().run(Req::for_account(get, &account)).await;
    let hidden = match h {
        Ok(r) if r.status().is_success() => {
            let whole = dlo::collect(r.into_body(), MAX_LISTING).await;
            whole
                .and_then(|w| listing_format::parse_json(&w).ok())
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    if hidden.is_empty() {
        return Ok(resp);
    }
    drop(resp);
    // Hidden containers to count: the listing again, as JSON, to merge.
    let mut again = again;
    again.ctx.query = Some(with_param(ctx.query.as_deref(), "format", "json"));
    let resp = next.run(again).await?;
    if !resp.status().is_success() {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let whole = dlo::collect(body, MAX_LISTING)
        .await
        .ok_or_else(|| Error::Unavailable("account listing unreadable".into()))?;
    let primary: Vec<ListingItem> = if whole.is_empty() {
        Vec::new()
    } else {
        listing_format::parse_json(&whole)
            .map_err(|_| Error::Unavailable("account listing is not JSON".into()))?
    };
    let reverse = params
        .iter()
        .rev()
        .find(|(k, _)| k == "reverse")
        .is_some_and(|(_, v)| headers::is_true_value(v));
    let limit = params
        .iter()
        .rev()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(c::ACCOUNT_LISTING_LIMIT)
        .min(c::ACCOUNT_LISTING_LIMIT);
    let items = listing::merge_account(primary, hidden, reverse, limit);
    let body = match format {
        "application/json" => listing_format::to_json(&items),
        "text/plain" => listing_format::to_text(&items),
        _ => listing_format::account_to_xml(&items, &account),
    };
    parts.status = StatusCode::OK;
    finish_listing(&mut parts, format, body.len());
    Ok(Response::from_parts(parts, swirl_common::body::full(body)))
}
