//! Swift's staticweb middleware (`swift/common/middleware/staticweb.py`,
//! 2.30): a container served as a web site to anonymous GET/HEAD requests
//! (and to authenticated ones that send `X-Web-Mode: true`). The
//! container's metadata says how: `Web-Index` (the object served for a
//! "directory" path ending in `/`), `Web-Listings` (an HTML listing where
//! there is no index; `Web-Listings-CSS` links a style sheet,
//! `Web-Listings-Label` replaces the path in the title), `Web-Error` (the
//! object `<status><suffix>` sent, with the error's status, for a 401 or
//! 404) and `Web-Directory-Type` (objects of that type, empty, are
//! directories; `application/directory` by default). A directory path
//! without its trailing `/` is redirected (301) to the one with it.
//! Without an auth middleware before it (nobody authorizes) it does
//! nothing, as in Swift.

use http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use swirl_common::{ApiError, Body};

use crate::app::{Authorizer, Ctx, Info, Proxy};
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::dlo::collect;
use crate::object_path::ObjectPath;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// `[staticweb]` options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticWebConfig {
    /// `scheme://host` the redirects name instead of the request's own
    /// (Swift's `url_base`).
    #[serde(default)]
    pub url_base: Option<String>,
}

/// The staticweb filter.
pub struct StaticWeb;

/// Largest container listing read for one HTML page.
const LISTING_LIMIT: usize = 64 << 20;

impl Filter for StaticWeb {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let ctx = &req.ctx;
        let get_or_head = ctx.method == Method::GET || ctx.method == Method::HEAD;
        let web_mode = headers::is_true(&ctx.headers, "x-web-mode");
        let applies = get_or_head
            && !matches!(ctx.auth, Authorizer::Open)
            && (!ctx.has_remote_user() || web_mode)
            && matches!(
                req.endpoint,
                Endpoint::Container { .. } | Endpoint::Object { .. }
            );
        if !applies {
            return next.run(req);
        }
        Box::pin(serve(req, next))
    }

    fn info(&self, _proxy: &Proxy, out: &mut Map<String, Value>) {
        out.insert("staticweb".into(), json!({}));
    }
}

/// The container's web settings (Swift's `_get_container_info`).
#[derive(Debug, Default, Clone)]
struct WebMeta {
    index: String,
    error: String,
    listings: String,
    label: String,
    css: String,
    dir_type: String,
}

impl WebMeta {
    fn of(info: &Info) -> WebMeta {
        if !info.exists() {
            return WebMeta::default();
        }
        // Names in these values may be UTF-8.
        let g = |n: &str| {
            headers::get_utf8(&info.headers, &format!("x-container-meta-web-{n}"))
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        WebMeta {
            index: g("index"),
            error: g("error"),
            listings: g("listings"),
            label: g("listings-label"),
            css: g("listings-css"),
            dir_type: g("directory-type"),
        }
    }
}

/// One request being served as a web page.
struct Site {
    next: Next,
    /// The request's context, as the sub-requests' model.
    ctx: Ctx,
    version: &'static str,
    account: String,
    container: String,
    /// The object part of the path ("" for the container).
    obj: String,
    /// The path (Swift's PATH_INFO), decoded.
    path: String,
    meta: WebMeta,
}

async fn serve(req: Req, next: Next) -> Result<Response<Body>> {
    let version = if req.v1 { "v1" } else { "v1.0" };
    let (account, container, obj) = match &req.endpoint {
        Endpoint::Container { account, container } => (account, container, String::new()),
        Endpoint::Object {
            account,
            container,
            object,
        } => (account, container, object.clone()),
        _ => return next.run(req).await,
    };
    let mut path = format!("/{version}/{account}/{container}");
    if !obj.is_empty() {
        path.push('/');
        path.push_str(&obj);
    } else if req
        .path
        .as_ref()
        .is_some_and(|p| p.routed.len() > 1 && p.routed.ends_with('/'))
    {
        path.push('/');
    }
    let mut ctx = req.ctx.clone();
    let ua = format!(
        "{} StaticWeb",
        headers::get(&ctx.headers, "user-agent").unwrap_or("None")
    );
    headers::set(&mut ctx.headers, "user-agent", &ua);
    let ctx = ctx.by("SW");
    let mut site = Site {
        account: account.clone(),
        container: container.clone(),
        next,
        ctx,
        version,
        obj,
        path,
        meta: WebMeta::default(),
    };
    if site.obj.is_empty() {
        site.container_page(req).await
    } else {
        site.object_page().await
    }
}

/// The status of an answer, error or not.
fn status_of(r: &Result<Response<Body>>) -> u16 {
    match r {
        Ok(resp) => resp.status().as_u16(),
        Err(e) => e.status().as_u16(),
    }
}

fn good_or_redirect(status: u16) -> bool {
    (200..400).contains(&status)
}

impl Site {
    fn proxy(&self) -> &std::sync::Arc<Proxy> {
        self.next.proxy()
    }

    async fn read_meta(&mut self) -> Result<std::sync::Arc<Info>> {
        let info = self
            .proxy()
            .container_info(&self.ctx, &self.account, &self.container)
            .await?;
        self.meta = WebMeta::of(&info);
        Ok(info)
    }

    /// A GET or HEAD (the request's own method) of an object of this
    /// container, as the caller.
    async fn object(&self, name: &str) -> Result<Response<Body>> {
        let path = ObjectPath::new(
            self.account.clone(),
            self.container.clone(),
            name.to_string(),
        );
        let mut req = Req::object(self.ctx.clone(), &path, swirl_common::body::empty());
        req.v1 = self.version == "v1";
        self.next.clone().run(req).await
    }

    /// A GET of this container's JSON listing, as the caller.
    async fn list(&self, query: String) -> Result<Response<Body>> {
        let sub = self
            .ctx
            .subrequest(Method::GET, Some(format!("format=json&{query}")));
        self.next
            .clone()
            .run(Req::container(sub, &self.account, &self.container))
            .await
    }

    /// Swift's `_error_response`: the answer `fallback` (of `status`), or
    /// with `Web-Error` set, the object `<status><Web-Error>` in its place,
    /// still with that status.
    async fn error_page(
        &self,
        status: u16,
        fallback: Result<Response<Body>>,
    ) -> Result<Response<Body>> {
        if self.meta.error.is_empty() {
            return fallback;
        }
        let name = format!("{status}{}", self.meta.error);
        let mut ctx = self.ctx.subrequest(Method::GET, None);
        ctx.source = Some("SW");
        let path = ObjectPath::new(self.account.clone(), self.container.clone(), name);
        let mut req = Req::object(ctx, &path, swirl_common::body::empty());
        req.v1 = self.version == "v1";
        match self.next.clone().run(req).await {
            Ok(mut page) if page.status().is_success() => {
                // The page's headers and body, the error's status.
                *page.status_mut() = StatusCode::from_u16(status).unwrap_or(page.status());
                Ok(page)
            }
            _ => fallback,
        }
    }

    /// Swift's `_redirect_with_slash`.
    fn redirect(&self) -> Result<Response<Body>> {
        let cfg = &self.proxy().cfg.staticweb;
        let base = match cfg.url_base.as_deref().map(split_url_base) {
            Some((scheme, host)) if !host.is_empty() => format!("{scheme}://{host}"),
            Some((scheme, _)) => format!("{scheme}://{}", self.host()),
            None => {
                let scheme = if self.proxy().tls { "https" } else { "http" };
                format!("{scheme}://{}", self.host())
            }
        };
        let location = format!(
            "{base}{}",
            crate::backend::quote_path(&format!("{}/", self.path))
        );
        let mut r = swirl_common::error::status_response(StatusCode::MOVED_PERMANENTLY);
        headers::set(r.headers_mut(), "location", &location);
        Ok(r)
    }

    /// The request's Host (swob's `host_url`, default ports dropped).
    fn host(&self) -> String {
        let host = headers::get(&self.ctx.headers, "host")
            .map(str::to_string)
            .unwrap_or_else(|| {
                let l = &self.proxy().cfg.listen;
                format!("{}:{}", l.bind_ip, l.bind_port)
            });
        let tls = self.proxy().tls;
        let default = if tls { ":443" } else { ":80" };
        host.strip_suffix(default).unwrap_or(&host).to_string()
    }

    /// Swift's `handle_container`.
    async fn container_page(&mut self, req: Req) -> Result<Response<Body>> {
        let info = self.read_meta().await?;
        let acl = info.header("x-container-read").map(str::to_string);
        let mut ctx = self.ctx.clone();
        let (a, c) = (self.account.clone(), self.container.clone());
        if let Err(e) = self
            .proxy()
            .authorize(&mut ctx, &a, Some(&c), None, acl.as_deref())
            .await
        {
            return self.error_page(e.status().as_u16(), Err(e)).await;
        }
        if self.meta.listings.is_empty() && self.meta.index.is_empty() {
            if headers::is_true(&self.ctx.headers, "x-web-mode") {
                return Err(Error::NotFound);
            }
            return self.next.clone().run(req).await;
        }
        if !self.path.ends_with('/') {
            return self.redirect();
        }
        if self.meta.index.is_empty() {
            return self.listing(None).await;
        }
        let index = self.meta.index.clone();
        let resp = self.object(&index).await;
        let status = status_of(&resp);
        if status == 404 {
            return self.listing(None).await;
        }
        if !good_or_redirect(status) {
            return self.error_page(status, resp).await;
        }
        resp
    }

    /// Swift's `handle_object`.
    async fn object_page(&mut self) -> Result<Response<Body>> {
        let obj = self.obj.clone();
        let resp = self.object(&obj).await;
        let mut status = status_of(&resp);
        self.read_meta().await?;
        if good_or_redirect(status) {
            if let Ok(r) = &resp {
                let dir_type = if self.meta.dir_type.is_empty() {
                    "application/directory"
                } else {
                    &self.meta.dir_type
                };
                let length: u64 = headers::get(r.headers(), "content-length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if headers::get(r.headers(), "content-type") == Some(dir_type) && length <= 1 {
                    status = 404;
                } else {
                    return resp;
                }
            }
        }
        if status != 404 {
            self.meta.error.clear();
            return resp;
        }
        if self.meta.listings.is_empty() && self.meta.index.is_empty() {
            return resp;
        }
        let mut status = 404;
        if !self.meta.index.is_empty() {
            let mut name = obj.clone();
            if !name.ends_with('/') {
                name.push('/');
            }
            name.push_str(&self.meta.index);
            let index = self.object(&name).await;
            status = status_of(&index);
            if good_or_redirect(status) {
                if !self.path.ends_with('/') {
                    return self.redirect();
                }
                return index;
            }
            if status != 404 {
                return index;
            }
        }
        debug_assert_eq!(status, 404);
        if !self.path.ends_with('/') {
            // A "directory" without its slash: redirect if anything is in it.
            let query = format!(
                "limit=1&delimiter=/&prefix={}",
                crate::backend::quote_query(&format!("{obj}/"))
            );
            let listed = match self.list(query).await {
                Ok(r) if r.status().is_success() => {
                    let body = collect(r.into_body(), LISTING_LIMIT).await;
                    body.and_then(|b| serde_json::from_slice::<Vec<Value>>(&b).ok())
                        .is_some_and(|v| !v.is_empty())
                }
                _ => false,
            };
            if !listed {
                return self.error_page(404, Err(Error::NotFound)).await;
            }
            return self.redirect();
        }
        self.listing(Some(&obj)).await
    }

    /// Swift's `_listing`: the HTML listing of the container, or of the
    /// "directory" `prefix`.
    async fn listing(&self, prefix: Option<&str>) -> Result<Response<Body>> {
        let mut label = self.path.clone();
        if !self.meta.label.is_empty() {
            let rest: Vec<&str> = self.path.split('/').skip(4).collect();
            label = format!("{}/{}", self.meta.label, rest.join("/"));
        }
        let prefix = prefix.unwrap_or("");
        if !headers::is_true_value(&self.meta.listings) {
            let page = disabled_page(&label, &self.meta, prefix);
            return self.error_page(404, Err(Error::NotFoundHtml(page))).await;
        }
        let mut query = "delimiter=/".to_string();
        if !prefix.is_empty() {
            query.push_str(&format!("&prefix={}", crate::backend::quote_query(prefix)));
        }
        let resp = self.list(query).await;
        let status = status_of(&resp);
        if !(200..300).contains(&status) {
            return self.error_page(status, resp).await;
        }
        let body = match resp {
            Ok(r) => collect(r.into_body(), LISTING_LIMIT)
                .await
                .ok_or_else(|| Error::Unavailable("staticweb: listing unreadable".into()))?,
            Err(e) => return Err(e),
        };
        let listing: Vec<Value> = if body.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| Error::Internal(format!("staticweb: listing not JSON: {e}")))?
        };
        if !prefix.is_empty() && listing.is_empty() {
            return self.error_page(404, Err(Error::NotFound)).await;
        }
        let page = listing_page(&label, &self.meta, prefix, &listing);
        let mut r = Response::new(swirl_common::body::full(page.clone()));
        let h = r.headers_mut();
        headers::set(h, "content-type", "text/html; charset=UTF-8");
        headers::set(h, "content-length", &page.len().to_string());
        Ok(r)
    }
}

/// `url_base`'s scheme and host (Python's `urlparse`: `scheme://netloc/...`).
fn split_url_base(url: &str) -> (String, String) {
    match url.split_once("://") {
        Some((scheme, rest)) => (
            scheme.to_string(),
            rest.split(['/', '?', '#']).next().unwrap_or("").to_string(),
        ),
        None => ("http".to_string(), String::new()),
    }
}

/// Python's `quote(s, safe)` of UTF-8 text.
pub(crate) fn quote(s: &str, safe: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) || safe.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Python's `html.escape(s, quote=True)`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Python's `round()` of a float to an integer: halves to even.
fn round_half_even(v: f64) -> f64 {
    let r = v.round();
    if (v - v.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - v.signum()
    } else {
        r
    }
}

/// Swift's `human_readable`: 1023, 1Ki, 5Mi...
fn human_readable(bytes: u64) -> String {
    const SUFFIXES: &[u8] = b"KMGTPEZY";
    let mut value = bytes as f64;
    let mut index: Option<usize> = None;
    while value >= 1024.0 && index.map_or(0, |i| i + 1) < SUFFIXES.len() {
        index = Some(index.map_or(0, |i| i + 1));
        value = round_half_even(value / 1024.0);
    }
    match index {
        None => format!("{}", value as u64),
        Some(i) => format!("{}{}i", round_half_even(value) as u64, SUFFIXES[i] as char),
    }
}

/// Swift's `_build_css_path`: relative to the listing's depth unless the
/// style sheet is named from the root or by URL.
fn css_path(css: &str, prefix: &str) -> String {
    if css.starts_with('/') || css.starts_with("http://") || css.starts_with("https://") {
        quote(css, ":/")
    } else {
        format!(
            "{}{}",
            "../".repeat(prefix.matches('/').count()),
            quote(css, "/")
        )
    }
}

const DOCTYPE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n";

/// The 404 page of a container whose listings are off.
fn disabled_page(label: &str, meta: &WebMeta, prefix: &str) -> String {
    let mut body = format!(
        "{DOCTYPE}<html>\n<head>\n<title>Listing of {}</title>\n",
        html_escape(label)
    );
    if !meta.css.is_empty() {
        body.push_str(&format!(
            "  <link rel=\"stylesheet\" type=\"text/css\" href=\"{}\" />\n",
            css_path(&meta.css, prefix)
        ));
    } else {
        body.push_str(
            "  <style type=\"text/css\">\n   h1 {font-size: 1em; font-weight: bold;}\n   p {font-size: 2}\n  </style>\n",
        );
    }
    body.push_str(
        "</head>\n<body>  <h1>Web Listing Disabled</h1>   <p>The owner of this web site has disabled web listing.   <p>If you are the owner of this web site, you can enable   web listing by setting X-Container-Meta-Web-Listings.</p>",
    );
    if !meta.index.is_empty() {
        body.push_str(&format!(
            "<h1>Index File Not Found</h1> <p>The owner of this web site has set  <b>X-Container-Meta-Web-Index: {}</b>.  However, this file is not found.</p>",
            meta.index
        ));
    }
    body.push_str(" </body>\n</html>\n");
    body
}

/// The HTML listing of `items` (a JSON listing with `delimiter=/`).
fn listing_page(label: &str, meta: &WebMeta, prefix: &str, items: &[Value]) -> String {
    let label = html_escape(label);
    let mut body = format!("{DOCTYPE}<html>\n <head>\n  <title>Listing of {label}</title>\n");
    if !meta.css.is_empty() {
        body.push_str(&format!(
            "  <link rel=\"stylesheet\" type=\"text/css\" href=\"{}\" />\n",
            css_path(&meta.css, prefix)
        ));
    } else {
        body.push_str(
            "  <style type=\"text/css\">\n   h1 {font-size: 1em; font-weight: bold;}\n   th {text-align: left; padding: 0px 1em 0px 1em;}\n   td {padding: 0px 1em 0px 1em;}\n   a {text-decoration: none;}\n  </style>\n",
        );
    }
    body.push_str(&format!(
        " </head>\n <body>\n  <h1 id=\"title\">Listing of {label}</h1>\n  <table id=\"listing\">\n   <tr id=\"heading\">\n    <th class=\"colname\">Name</th>\n    <th class=\"colsize\">Size</th>\n    <th class=\"coldate\">Date</th>\n   </tr>\n"
    ));
    if !prefix.is_empty() {
        body.push_str(
            "   <tr id=\"parent\" class=\"item\">\n    <td class=\"colname\"><a href=\"../\">../</a></td>\n    <td class=\"colsize\">&nbsp;</td>\n    <td class=\"coldate\">&nbsp;</td>\n   </tr>\n",
        );
    }
    let strip = |s: &str| -> String {
        // Python slices by characters: the prefix's length in characters.
        s.chars().skip(prefix.chars().count()).collect()
    };
    for item in items {
        if let Some(subdir) = item.get("subdir").and_then(Value::as_str) {
            let subdir = strip(subdir);
            body.push_str(&format!(
                "   <tr class=\"item subdir\">\n    <td class=\"colname\"><a href=\"{}\">{}</a></td>\n    <td class=\"colsize\">&nbsp;</td>\n    <td class=\"coldate\">&nbsp;</td>\n   </tr>\n",
                quote(&subdir, "/"),
                html_escape(&subdir)
            ));
        }
    }
    for item in items {
        let Some(name) = item.get("name").and_then(Value::as_str) else {
            continue;
        };
        let name = strip(name);
        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
        let types: Vec<String> = text("content_type")
            .split('/')
            .map(|t| format!("type-{}", html_escape(&t.to_lowercase())))
            .collect();
        let bytes = item.get("bytes").and_then(Value::as_u64).unwrap_or(0);
        let modified = html_escape(text("last_modified"));
        let modified = modified.split('.').next().unwrap_or("").replace('T', " ");
        body.push_str(&format!(
            "   <tr class=\"item {}\">\n    <td class=\"colname\"><a href=\"{}\">{}</a></td>\n    <td class=\"colsize\">{}</td>\n    <td class=\"coldate\">{}</td>\n   </tr>\n",
            types.join(" "),
            quote(&name, "/"),
            html_escape(&name),
            human_readable(bytes),
            modified
        ));
    }
    body.push_str("  </table>\n </body>\n</html>\n");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_swifts_human_readable() {
        assert_eq!(human_readable(0), "0");
        assert_eq!(human_readable(1023), "1023");
        assert_eq!(human_readable(1024), "1Ki");
        assert_eq!(human_readable(1536), "2Ki"); // 1.5 rounds to even
        assert_eq!(human_readable(2560), "2Ki"); // 2.5 rounds to even
        assert_eq!(human_readable(5 << 20), "5Mi");
        assert_eq!(human_readable(1_048_575), "1Mi"); // 1023.999 -> 1024 -> 1Mi
    }

    #[test]
    fn css_paths_and_escapes() {
        assert_eq!(css_path("s.css", ""), "s.css");
        assert_eq!(css_path("s.css", "a/b/"), "../../s.css");
        assert_eq!(css_path("/x y.css", "a/"), "/x%20y.css");
        assert_eq!(css_path("http://h/s.css", "a/"), "http://h/s.css");
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(quote("some sub%dir/", "/"), "some%20sub%25dir/");
        assert_eq!(
            split_url_base("https://www.example.com/x"),
            ("https".into(), "www.example.com".into())
        );
    }

    #[test]
    fn listing_rows() {
        let meta = WebMeta::default();
        let items = vec![
            json!({"subdir": "d/sub/"}),
            json!({"name": "d/obj", "bytes": 2048, "content_type": "text/plain",
                   "last_modified": "2024-01-02T03:04:05.123456"}),
        ];
        let page = listing_page("/v1/a/c/d/", &meta, "d/", &items);
        assert!(page.contains("<title>Listing of /v1/a/c/d/</title>"));
        assert!(page.contains("<a href=\"../\">../</a>"));
        assert!(page.contains("<a href=\"sub/\">sub/</a>"));
        assert!(page.contains("<tr class=\"item type-text type-plain\">"));
        assert!(page.contains("<a href=\"obj\">obj</a>"));
        assert!(page.contains("<td class=\"colsize\">2Ki</td>"));
        assert!(page.contains("<td class=\"coldate\">2024-01-02 03:04:05</td>"));
        let off = disabled_page(
            "/v1/a/c/",
            &WebMeta {
                index: "i.html".into(),
                ..meta
            },
            "",
        );
        assert!(off.contains("Web Listing Disabled") && off.contains("Web-Index: i.html"));
    }
}
