//! The volume API: the subset of Cinder's v3 API that python-cinderclient
//! and python-openstackclient use (versions, volumes, os-extend, snapshots,
//! attachments), over the gateway's store.

pub mod attachments;
pub mod auth;
pub mod handler;
pub mod input;
pub mod router;
pub mod snapshots;
pub mod version;
pub mod views;
pub mod volumes;

use std::collections::HashMap;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::Value;
use swirl_common::Body;

use version::Micro;

/// A project request after routing and authentication.
pub struct Req {
    pub project: String,
    pub account: String,
    pub micro: Micro,
    /// `http://host:port` as the client addressed us.
    pub base: String,
    pub query: HashMap<String, String>,
    pub body: Bytes,
    /// The caller's token (used to check it may read an image object).
    pub token: String,
}

impl Req {
    pub fn views(&self) -> views::Ctx<'_> {
        views::Ctx {
            base: &self.base,
            project: &self.project,
            micro: self.micro,
        }
    }

    /// A query parameter.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }

    /// Whether a query flag is true (`?cascade=true`).
    pub fn flag(&self, k: &str) -> bool {
        self.q(k)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
    }
}

/// A JSON response.
pub fn json(status: StatusCode, v: &Value) -> Response<Body> {
    let text = v.to_string();
    let mut r = Response::new(swirl_common::body::full(text.clone()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    r
}

/// An empty response (202 of os-extend and deletes, 204 of os-complete).
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(swirl_common::body::empty());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    r
}

/// The current time as Cinder prints it (`2026-12-04T14:30:52.000000`).
pub fn now() -> String {
    swirl_common::Timestamp::now().isoformat()
}
