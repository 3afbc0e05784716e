//! Bounded streaming bodies: a channel-fed response body, and the GET body
//! pump that resumes from the next node at the byte offset when a backend
//! fails mid-body (Swift's `GetOrHeadHandler` resuming with a Range).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use crate::backend::{self, Backend};
use crate::rings::Node;

/// Frames queued between a producer task and the client: small, so memory per
/// request stays a few chunks whatever the object size.
pub const CHANNEL_FRAMES: usize = 4;

/// A response (or backend request) body fed by a channel.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
    size: Option<u64>,
}

impl ChannelBody {
    pub fn new(
        rx: mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
        size: Option<u64>,
    ) -> Self {
        ChannelBody { rx, size }
    }
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let res = self.rx.poll_recv(cx);
        if let (Poll::Ready(Some(Ok(f))), Some(left)) = (&res, self.size.as_mut()) {
            if let Some(d) = f.data_ref() {
                *left = left.saturating_sub(d.len() as u64);
            }
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        // With a known length the body is over once that many bytes went by
        // (hyper then stops polling; saying so keeps the access log right).
        self.size == Some(0)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.size {
            Some(n) => http_body::SizeHint::with_exact(n),
            None => http_body::SizeHint::default(),
        }
    }
}

/// Where a GET body may resume if its node fails.
pub struct Resume {
    pub backend: Backend,
    pub nodes: Vec<Node>,
    /// The node-independent backend path and query.
    pub tail: String,
    pub headers: HeaderMap,
    pub etag: Option<String>,
    pub timeout: Duration,
}

/// Streams `first` to the client through a bounded channel; on a read error
/// or a stall, asks the next node for `bytes=<offset>-` of the same ETag and
/// carries on. `resume` is None when resuming makes no sense (ranged reads).
pub fn pump(
    first: hyper::body::Incoming,
    size: Option<u64>,
    resume: Option<Resume>,
) -> swirl_common::Body {
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    tokio::spawn(async move {
        let mut body = first;
        let mut offset: u64 = 0;
        let mut resume = resume;
        let mut nodes: VecDeque<Node> = resume
            .as_mut()
            .map(|r| std::mem::take(&mut r.nodes).into())
            .unwrap_or_default();
        let stall = resume
            .as_ref()
            .map(|r| r.timeout)
            .unwrap_or(Duration::from_secs(60));
        loop {
            let failure = match tokio::time::timeout(stall, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        offset += data.len() as u64;
                        let sent = match tx.try_send(Ok(Frame::data(data))) {
                            Ok(()) => true,
                            Err(mpsc::error::TrySendError::Full(f)) => tx.send(f).await.is_ok(),
                            Err(mpsc::error::TrySendError::Closed(_)) => false,
                        };
                        if !sent {
                            return; // the client went away
                        }
                    }
                    continue;
                }
                Ok(None) => return,
                Ok(Some(Err(e))) => e.to_string(),
                Err(_) => "backend stalled".to_string(),
            };
            let Some(r) = resume.as_ref() else {
                let _ = tx.send(Err(std::io::Error::other(failure))).await;
                return;
            };
            let mut next = None;
            while let Some(node) = nodes.pop_front() {
                if r.backend.limiter.is_limited(&node.key()) {
                    continue;
                }
                let mut h = r.headers.clone();
                h.remove("range");
                if let Ok(v) = HeaderValue::from_str(&format!("bytes={offset}-")) {
                    h.insert("range", v);
                }
                if let Some(etag) = &r.etag {
                    if let Ok(v) = HeaderValue::from_str(etag) {
                        h.insert("if-match", v);
                    }
                }
                let p = backend::on_node(&node, &r.tail);
                if let Ok(resp) = r.backend.request(&node, Method::GET, &p, &h, None).await {
                    if resp.status().as_u16() == 206 {
                        tracing::info!(node = %node.key(), offset, "resumed GET from another node");
                        next = Some(resp.into_body());
                        break;
                    }
                }
            }
            match next {
                Some(b) => body = b,
                None => {
                    let _ = tx.send(Err(std::io::Error::other(failure))).await;
                    return;
                }
            }
        }
    });
    ChannelBody::new(rx, size).boxed()
}
