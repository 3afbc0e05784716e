//! GET and HEAD through links (Swift's `_recursive_get_head`): the link is
//! read as any object; when it carries a target, the target is read next,
//! as the caller (so the target's ACLs decide), up to `symloop_max` links,
//! static links checking the ETag they recorded.

use http::{HeaderMap, Response};
use swirl_common::Body;

use super::target::{self, SYS_SYMLOOP_EXTEND, SYS_TARGET, SYS_TARGET_ACCOUNT, SYS_TARGET_ETAG};
use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::headers;
use crate::object_path::ObjectPath;
use crate::pipeline::{Next, Req};
use crate::response::backend_headers;

/// A walk along links: its rules and where it stands.
pub struct Walk {
    /// The request's API version (`v1`), for the paths of targets.
    pub version: &'static str,
    /// `symloop_max`.
    pub max: u32,
    /// Dynamic links are followed too (GET/HEAD), or only static ones (a
    /// static link's PUT checking its target).
    pub follow_soft: bool,
    /// The ETag the next object must have (a static link's).
    pub target_etag: Option<String>,
    /// Links followed that count against the limit.
    pub loops: u32,
    /// The last target read (Swift's `_last_target_path`).
    pub last: Option<String>,
}

/// The end of a walk.
pub enum Outcome {
    /// The first object that is not a link (or a link not followed), with
    /// Content-Location set when a link was followed.
    Found(Response<Body>),
    /// More than `symloop_max` links.
    TooMany,
}

/// A backend header of a response, as text.
fn backend<'a>(h: Option<&'a HeaderMap>, name: &str) -> Option<&'a str> {
    h.and_then(|h| headers::get(h, name))
}

/// Reads `path` as `ctx` and follows what it links to.
pub async fn walk(next: Next, ctx: Ctx, path: ObjectPath, st: &mut Walk) -> Result<Outcome> {
    let mut cur_path = path;
    let mut first = true;
    loop {
        let mut c = ctx.clone();
        if !std::mem::take(&mut first) {
            // The target is a request of its own (Swift's swift_source SYM),
            // authorized afresh.
            c = c.by("SYM");
            c.owner = false;
        }
        let req = Req::object(c, &cur_path, swirl_common::body::empty());
        let resp = match next.clone().run(req).await {
            Ok(r) => r,
            // A target the caller may not read (or any error on the way):
            // a GET or HEAD still says where the link points.
            Err(e) => {
                return Err(match (&st.last, st.follow_soft) {
                    (Some(loc), true) => {
                        let mut h = HeaderMap::new();
                        headers::set(&mut h, "content-location", loc);
                        Error::WithHeaders(Box::new(e), h)
                    }
                    _ => e,
                })
            }
        };
        let bh = backend_headers(&resp);
        let link = backend(bh, SYS_TARGET).map(str::to_string);
        let link_etag = backend(bh, SYS_TARGET_ETAG).map(str::to_string);
        match link {
            Some(link) if link_etag.is_some() || st.follow_soft => {
                let found = link_etag
                    .clone()
                    .or_else(|| headers::get(resp.headers(), "etag").map(str::to_string));
                let link_account = backend(bh, SYS_TARGET_ACCOUNT).map(str::to_string);
                let extend = backend(bh, SYS_SYMLOOP_EXTEND).is_some_and(headers::is_true_value);
                drop(resp);
                if let Some(want) = &st.target_etag {
                    if found.as_deref() != Some(want.as_str()) {
                        return Err(Error::ConflictAt {
                            body: "X-Symlink-Target-Etag headers do not match".into(),
                            location: st.last.clone(),
                        });
                    }
                }
                if st.loops >= st.max {
                    return Ok(Outcome::TooMany);
                }
                let loc = target::location(
                    st.version,
                    &cur_path.account,
                    link_account.as_deref(),
                    &link,
                );
                let Some(next_path) = target::object_of(&loc) else {
                    // A stored target that names no object: nothing to read.
                    return Err(Error::ConflictAt {
                        body: target::FORM.into(),
                        location: Some(loc),
                    });
                };
                st.last = Some(loc);
                if !extend {
                    st.loops += 1;
                }
                st.target_etag = link_etag;
                cur_path = next_path;
            }
            _ => {
                let final_etag = headers::get(resp.headers(), "etag").map(str::to_string);
                if let (Some(fe), Some(want)) = (&final_etag, &st.target_etag) {
                    if fe != want {
                        return Err(Error::ConflictAt {
                            body: format!(
                                "Object Etag {} does not match X-Symlink-Target-Etag header {}",
                                py_repr(fe),
                                py_repr(want)
                            ),
                            location: st.last.clone(),
                        });
                    }
                }
                let mut resp = resp;
                if let Some(loc) = &st.last {
                    headers::set(resp.headers_mut(), "content-location", loc);
                }
                return Ok(Outcome::Found(resp));
            }
        }
    }
}

/// Python's `%r` of a str (these are ETags: no quotes or backslashes).
fn py_repr(s: &str) -> String {
    format!("'{s}'")
}
