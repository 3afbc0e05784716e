//! Swift's slo middleware (static large objects, `swift/common/middleware/slo.py`),
//! one module per operation (`put`, `get`, `delete`, `listing`); the
//! manifest formats and the pure checks are in `manifest`. It sits after
//! copy and before dlo, as in Swift's pipeline.
//!
//! - `PUT ?multipart-manifest=put` takes a JSON list of segments (`path`
//!   with optional `etag`, `size_bytes`, `range`; or inline base64 `data`),
//!   HEADs each distinct path as the caller (`concurrency` at a time), and
//!   stores the manifest with `X-Static-Large-Object: True`, the SLO ETag
//!   and size in sysmeta, `;swift_bytes=<size>` on its Content-Type and both
//!   ETags for the container listing. Bad segments are a 400 listing each
//!   one; `heartbeat=on` answers 202 at once, sends a space every
//!   `yield_frequency` seconds and ends with the result document.
//! - GET/HEAD of a manifest read its segments (nested manifests included,
//!   ten deep) through `segments`: Content-Length is the total, the ETag the
//!   quoted SLO ETag, X-Manifest-Etag the manifest's own; one range or
//!   several (multipart/byteranges) are served across segments; If-Match
//!   and If-None-Match compare with the SLO ETag (the object servers are
//!   told where it is kept with X-Backend-Etag-Is-At).
//! - `?multipart-manifest=get` reads the manifest itself (as JSON, or in
//!   the PUT format with `format=raw`).
//! - `DELETE ?multipart-manifest=delete` deletes the segments (nested
//!   manifests' first), then the manifest, as the caller, answering as a
//!   bulk delete does (200, the result in text, JSON or XML by Accept).
//! - JSON container listings show a manifest's SLO ETag as `slo_etag`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::headers;

mod delete;
mod filter;
mod get;
mod listing;
pub mod manifest;
mod put;

pub use delete::delete;
pub use filter::Slo;
pub use get::{manifest_get, request_headers, respond, Found};
pub use listing::rewrite_listing;
pub use manifest::MARKER;
pub use put::put;

/// Stored manifests are small JSON documents: 1,000 segments of long names
/// plus inline data within the 8 MiB a PUT may carry stay well below this.
const MANIFEST_READ_LIMIT: usize = 64 << 20;

/// The query's `multipart-manifest` value.
fn multipart(query: Option<&str>) -> Option<String> {
    headers::query_param(query, "multipart-manifest")
}

/// `PUT ?multipart-manifest=put`.
pub fn is_manifest_put(query: Option<&str>) -> bool {
    multipart(query).as_deref() == Some("put")
}

/// `DELETE ?multipart-manifest=delete`.
pub fn is_manifest_delete(query: Option<&str>) -> bool {
    multipart(query).as_deref() == Some("delete")
}

/// The 400 for a client sending X-Static-Large-Object outside a manifest PUT.
pub fn reserved_header_refused() -> Error {
    Error::BadRequestHtml(
        "X-Static-Large-Object is a reserved header. To create a static large object add query param multipart-manifest=put.".into(),
    )
}

/// A ticker sending whitespace to a waiting client (Swift's heartbeats).
struct Beats {
    task: tokio::task::JoinHandle<()>,
    sent: Arc<AtomicBool>,
}

type Tx = mpsc::Sender<std::result::Result<Frame<Bytes>, std::io::Error>>;

impl Beats {
    /// Sends `first` after `every`, then a space each `every`.
    fn start(tx: Tx, first: &'static [u8], every: Duration) -> Beats {
        let sent = Arc::new(AtomicBool::new(false));
        let flag = sent.clone();
        let every = every.max(Duration::from_secs(1));
        let task = tokio::spawn(async move {
            let mut what = first;
            loop {
                tokio::time::sleep(every).await;
                if tx
                    .send(Ok(Frame::data(Bytes::from_static(what))))
                    .await
                    .is_err()
                {
                    return;
                }
                flag.store(true, Ordering::SeqCst);
                what = b" ";
            }
        });
        Beats { task, sent }
    }

    /// Stops; true when anything was sent.
    async fn stop(self) -> bool {
        self.task.abort();
        let _ = self.task.await;
        self.sent.load(Ordering::SeqCst)
    }
}
