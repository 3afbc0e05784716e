//! Bounded streaming bodies: a channel-fed response body, and the GET body
//! pump that resumes from the next node at the byte offset when a backend
//! fails mid-body (Swift's `GetOrHeadHandler` resuming with a Range).
//!
//! Object servers check every block before they send it and end a body
//! early, right after the last good byte, when a block fails; resuming at
//! exactly that byte from another replica gives the client only good bytes.
//! Whole bodies, single ranges and multi-range bodies all resume: a
//! multi-range body is read back into its parts and framed here, so the
//! parts left can come from a node that frames them differently.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use swirl_common::range::RangeHeader;

use crate::backend::{self, Backend};
use crate::byteranges::{self, Event, Parser};
use crate::middleware::segments::Multipart;
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

/// What a GET body holds, as its first response promised it.
#[derive(Debug, Clone)]
pub enum Shape {
    /// Object bytes `[from, to)` unframed: a whole body (200) or one range
    /// (206). `to` is None when the length is unknown.
    Plain { from: u64, to: Option<u64> },
    /// Several ranges as `multipart/byteranges` with this boundary; `range`
    /// (the request's Range) picks them once the first part tells the
    /// object's size; `length` is the body length promised.
    Multi {
        boundary: String,
        range: RangeHeader,
        length: Option<u64>,
    },
}

impl Shape {
    /// The shape of a GET response from its status and headers (None when
    /// it is not a body that can resume: an error, or a range the proxy
    /// cannot map).
    pub fn of(resp: &Response<hyper::body::Incoming>, range: Option<&str>) -> Option<Shape> {
        let h = resp.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
        let length = get("content-length").and_then(|v| v.parse::<u64>().ok());
        match resp.status().as_u16() {
            200 => Some(Shape::Plain {
                from: 0,
                to: length,
            }),
            206 => {
                if let Some((from, to, _)) =
                    get("content-range").and_then(byteranges::parse_content_range)
                {
                    return Some(Shape::Plain { from, to: Some(to) });
                }
                let boundary = get("content-type").and_then(byteranges::boundary_of)?;
                let range = range.and_then(swirl_common::range::parse)?;
                Some(Shape::Multi {
                    boundary,
                    range,
                    length,
                })
            }
            _ => None,
        }
    }
}

/// Streams `first` to the client through a bounded channel; on a read error
/// or a stall, asks the next node for what is left of the same ETag and
/// carries on. Without `resume` a failure just ends the body in an error.
pub fn pump(
    first: hyper::body::Incoming,
    size: Option<u64>,
    shape: Shape,
    resume: Option<Resume>,
) -> swirl_common::Body {
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    tokio::spawn(async move {
        let mut p = Pump::new(tx, resume);
        let end = match shape {
            Shape::Plain { from, to } => p.plain(first, from, to).await,
            Shape::Multi {
                boundary,
                range,
                length,
            } => p.multi(first, boundary, range, length).await,
        };
        if let Err(why) = end {
            let _ = p.tx.send(Err(std::io::Error::other(why))).await;
        }
    });
    ChannelBody::new(rx, size).boxed()
}

/// Why a body stopped early: the client left (say nothing more), or a
/// failure no node could make good.
type Ended = Result<(), String>;

/// One backend body being read.
enum Source {
    /// Unframed bytes of one range `[start, end)`; `Part` is still to be
    /// announced while `announced` is false.
    Single {
        body: hyper::body::Incoming,
        start: u64,
        end: u64,
        total: u64,
        got: u64,
        announced: bool,
    },
    /// A `multipart/byteranges` body.
    Multi {
        body: hyper::body::Incoming,
        parser: Parser,
    },
}

impl Source {
    /// Reads the next frame into `out`; Ok(false) at a clean end.
    async fn next(&mut self, stall: Duration, out: &mut Vec<Event>) -> Result<bool, String> {
        if let Source::Single {
            start,
            end,
            total,
            announced,
            ..
        } = self
        {
            if !*announced {
                *announced = true;
                out.push(Event::Part {
                    start: *start,
                    end: *end,
                    total: *total,
                    content_type: String::new(),
                });
                return Ok(true);
            }
        }
        let body = match self {
            Source::Single { body, .. } | Source::Multi { body, .. } => body,
        };
        let frame = match tokio::time::timeout(stall, body.frame()).await {
            Err(_) => return Err("backend stalled".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) => {
                return match self {
                    Source::Single {
                        start, end, got, ..
                    } if *got == *end - *start => {
                        out.push(Event::End);
                        Ok(false)
                    }
                    Source::Multi { parser, .. } if parser.done() => Ok(false),
                    _ => Err("backend body ended early".into()),
                };
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            return Ok(true);
        };
        match self {
            Source::Single { got, .. } => {
                *got += data.len() as u64;
                out.push(Event::Data(data));
                Ok(true)
            }
            Source::Multi { parser, .. } => {
                parser.feed(data, out)?;
                Ok(true)
            }
        }
    }
}

struct Pump {
    tx: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
    resume: Option<Resume>,
    nodes: VecDeque<Node>,
    stall: Duration,
}

impl Pump {
    fn new(tx: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>, resume: Option<Resume>) -> Pump {
        let mut resume = resume;
        let nodes = resume
            .as_mut()
            .map(|r| std::mem::take(&mut r.nodes).into())
            .unwrap_or_default();
        let stall = resume
            .as_ref()
            .map(|r| r.timeout)
            .unwrap_or(Duration::from_secs(60));
        Pump {
            tx,
            resume,
            nodes,
            stall,
        }
    }

    /// Sends to the client; false once it went away.
    async fn send(&self, data: Bytes) -> bool {
        match self.tx.try_send(Ok(Frame::data(data))) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(f)) => self.tx.send(f).await.is_ok(),
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the next usable node for `range` of the same object (If-Match
    /// its ETag); the first 206 answer, or the reason none came.
    async fn next_node(
        &mut self,
        range: &str,
        failure: String,
    ) -> Result<Response<hyper::body::Incoming>, String> {
        let Some(r) = self.resume.as_ref() else {
            return Err(failure);
        };
        while let Some(node) = self.nodes.pop_front() {
            if r.backend.limiter.is_limited(&node) {
                continue;
            }
            let mut h = r.headers.clone();
            h.remove("range");
            if let Ok(v) = HeaderValue::from_str(range) {
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
                    tracing::info!(node = %node.key(), range, why = %failure, "resumed GET from another node");
                    return Ok(resp);
                }
            }
        }
        Err(failure)
    }

    /// A whole body or one range: bytes `[from, to)`.
    async fn plain(&mut self, first: hyper::body::Incoming, from: u64, to: Option<u64>) -> Ended {
        let mut body = first;
        let mut at = from;
        loop {
            let failure = match tokio::time::timeout(self.stall, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        at += data.len() as u64;
                        if !self.send(data).await {
                            return Ok(());
                        }
                    }
                    continue;
                }
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => e.to_string(),
                Err(_) => "backend stalled".to_string(),
            };
            if to.is_some_and(|to| at >= to) {
                return Ok(());
            }
            let range = match to {
                Some(to) => format!("bytes={at}-{}", to - 1),
                None => format!("bytes={at}-"),
            };
            let resp = self.next_node(&range, failure).await?;
            let starts = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(byteranges::parse_content_range)
                .map(|(a, _, _)| a);
            if starts != Some(at) {
                return Err(format!("resumed node sent {starts:?}, not byte {at}"));
            }
            body = resp.into_body();
        }
    }

    /// Several ranges, framed here in `boundary` as the first node framed
    /// them.
    async fn multi(
        &mut self,
        first: hyper::body::Incoming,
        boundary: String,
        range: RangeHeader,
        length: Option<u64>,
    ) -> Ended {
        let mut source = Source::Multi {
            body: first,
            parser: Parser::new(&boundary),
        };
        // Set by the first part: the ranges and their framing.
        let mut plan: Option<(Vec<(u64, u64)>, Multipart)> = None;
        let mut sent: u64 = 0;
        let mut events = Vec::new();
        loop {
            events.clear();
            let step = source.next(self.stall, &mut events).await;
            for e in events.drain(..) {
                match e {
                    Event::Part {
                        start,
                        end,
                        total,
                        content_type,
                    } => match &plan {
                        None => {
                            let ranges = range.ranges_for_length(total);
                            let m = Multipart::new(&boundary, &content_type, total, ranges.clone());
                            let fits = ranges.first() == Some(&(start, end))
                                && length.is_none_or(|l| l == m.content_length());
                            if !fits {
                                return Err("multi-range body not framed as expected".into());
                            }
                            plan = Some((ranges, m));
                        }
                        Some((ranges, _)) => {
                            let due = byteranges::remaining(ranges, sent);
                            if due.first() != Some(&(start, end)) {
                                return Err(format!(
                                    "backend sent part {start}-{end}, expected {:?}",
                                    due.first()
                                ));
                            }
                        }
                    },
                    Event::Data(d) => {
                        let Some((_, m)) = plan.as_mut() else {
                            return Err("multipart data before a part".into());
                        };
                        sent += d.len() as u64;
                        let mut out = Vec::new();
                        m.frame(d, &mut out);
                        for b in out {
                            if !self.send(b).await {
                                return Ok(());
                            }
                        }
                    }
                    Event::End => {}
                }
            }
            let failure = match step {
                Ok(true) => continue,
                Ok(false) => match &plan {
                    Some((ranges, _)) if byteranges::data_len(ranges) == sent => {
                        return self.finish(&mut plan).await;
                    }
                    _ => "backend body ended before its parts did".to_string(),
                },
                Err(e) => e,
            };
            // Resume: ask for what is left (all of it when the first part
            // never came).
            let due = match &plan {
                Some((ranges, _)) => byteranges::remaining(ranges, sent),
                None => Vec::new(),
            };
            let value = match &plan {
                Some(_) if due.is_empty() => return self.finish(&mut plan).await,
                Some(_) => byteranges::range_value(&due),
                None => self
                    .resume
                    .as_ref()
                    .and_then(|r| r.headers.get("range"))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .ok_or_else(|| failure.clone())?,
            };
            let resp = self.next_node(&value, failure).await?;
            source = if due.len() == 1 {
                let cr = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(byteranges::parse_content_range);
                let Some((start, end, total)) = cr else {
                    return Err("resumed node sent no Content-Range".into());
                };
                Source::Single {
                    body: resp.into_body(),
                    start,
                    end,
                    total,
                    got: 0,
                    announced: false,
                }
            } else {
                let b = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .and_then(byteranges::boundary_of);
                let Some(b) = b else {
                    return Err("resumed node sent no multipart body".into());
                };
                Source::Multi {
                    body: resp.into_body(),
                    parser: Parser::new(&b),
                }
            };
        }
    }

    /// Sends the closing delimiter.
    async fn finish(&self, plan: &mut Option<(Vec<(u64, u64)>, Multipart)>) -> Ended {
        if let Some((_, m)) = plan.as_mut() {
            self.send(m.finish()).await;
        }
        Ok(())
    }
}
