//! An upload body that can start over on another connection.
//!
//! Why: a kept-alive upload connection to a server that has just died looks
//! healthy until hyper reads its FIN, so a PUT sent on it fails after the
//! proxy thought it connected. On a fresh connection the same PUT would have
//! been refused at connect and gone to a handoff, leaving three copies, not
//! two. Keeping the frames already handed to the failed connection (shared
//! `Bytes`: no copies), up to `KEEP_BYTES`, lets the upload start again from
//! its first byte on a fresh connection or a handoff.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame};
use tokio::sync::mpsc;

/// Most body bytes kept for a replay; a longer body that fails is not
/// replayed (the node counts as failed for that PUT, as before).
pub const KEEP_BYTES: usize = 2 << 20;

type Rx = mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>;

/// A frame as kept for replay (`Frame` itself cannot be cloned).
#[derive(Clone)]
enum Kept {
    Data(Bytes),
    Trailers(HeaderMap),
}

impl Kept {
    fn frame(self) -> Frame<Bytes> {
        match self {
            Kept::Data(d) => Frame::data(d),
            Kept::Trailers(t) => Frame::trailers(t),
        }
    }
}

struct Shared {
    rx: Rx,
    kept: Vec<Kept>,
    kept_bytes: usize,
    /// More went by than `KEEP_BYTES`, or the node answered: no replay.
    gone: bool,
    /// The attempt whose body may read the channel: a failed attempt's body
    /// that its connection has not dropped yet must not take frames.
    current: u64,
}

/// The handle that outlives each attempt's body.
#[derive(Clone)]
pub struct Replay {
    shared: Arc<Mutex<Shared>>,
    size: Option<u64>,
}

impl Replay {
    /// A replayable body fed by `rx`, of `size` bytes when known.
    pub fn new(rx: Rx, size: Option<u64>) -> (Replay, ReplayBody) {
        let replay = Replay {
            shared: Arc::new(Mutex::new(Shared {
                rx,
                kept: Vec::new(),
                kept_bytes: 0,
                gone: false,
                current: 0,
            })),
            size,
        };
        let body = replay.body(VecDeque::new(), 0);
        (replay, body)
    }

    fn body(&self, again: VecDeque<Kept>, attempt: u64) -> ReplayBody {
        ReplayBody {
            shared: self.shared.clone(),
            again,
            left: self.size,
            attempt,
        }
    }

    /// The body again from its first byte, once; None when it can no longer
    /// be replayed.
    pub fn restart(&self) -> Option<ReplayBody> {
        let mut shared = self.shared.lock().ok()?;
        if shared.gone {
            return None;
        }
        shared.current += 1;
        let attempt = shared.current;
        let again = std::mem::take(&mut shared.kept).into();
        shared.gone = true;
        drop(shared);
        Some(self.body(again, attempt))
    }

    /// The node answered: nothing will be replayed, free what was kept.
    pub fn settle(&self) {
        if let Ok(mut s) = self.shared.lock() {
            s.gone = true;
            s.kept = Vec::new();
        }
    }
}

/// One attempt's body: the kept frames again, then the rest from the channel.
pub struct ReplayBody {
    shared: Arc<Mutex<Shared>>,
    again: VecDeque<Kept>,
    left: Option<u64>,
    attempt: u64,
}

impl ReplayBody {
    fn count(&mut self, f: &Frame<Bytes>) {
        if let (Some(left), Some(d)) = (self.left.as_mut(), f.data_ref()) {
            *left = left.saturating_sub(d.len() as u64);
        }
    }
}

impl HttpBody for ReplayBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(k) = self.again.pop_front() {
            let f = k.frame();
            self.count(&f);
            return Poll::Ready(Some(Ok(f)));
        }
        let res = {
            let Ok(mut s) = self.shared.lock() else {
                return Poll::Ready(Some(Err(std::io::Error::other("upload body poisoned"))));
            };
            if s.current != self.attempt {
                return Poll::Ready(Some(Err(std::io::Error::other("upload started over"))));
            }
            let res = s.rx.poll_recv(cx);
            if let Poll::Ready(Some(Ok(f))) = &res {
                if !s.gone {
                    let kept = match (f.data_ref(), f.trailers_ref()) {
                        (Some(d), _) => Some((Kept::Data(d.clone()), d.len())),
                        (None, Some(t)) => Some((Kept::Trailers(t.clone()), 0)),
                        _ => None,
                    };
                    if let Some((k, n)) = kept {
                        if s.kept_bytes + n > KEEP_BYTES {
                            s.gone = true;
                            s.kept = Vec::new();
                        } else {
                            s.kept_bytes += n;
                            s.kept.push(k);
                        }
                    }
                }
            }
            res
        };
        if let Poll::Ready(Some(Ok(f))) = &res {
            self.count(f);
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.again.is_empty() && self.left == Some(0)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.left {
            Some(n) => http_body::SizeHint::with_exact(n),
            None => http_body::SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn drain(mut b: ReplayBody, n: usize) -> Vec<u8> {
        drain_some(&mut b, n).await
    }

    async fn drain_some(b: &mut ReplayBody, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..n {
            match b.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        out.extend_from_slice(&d);
                    }
                }
                _ => break,
            }
        }
        out
    }

    #[tokio::test]
    async fn a_second_attempt_gets_the_whole_body_from_its_first_byte() {
        let (tx, rx) = mpsc::channel(8);
        let (replay, first) = Replay::new(rx, Some(6));
        tx.send(Ok(Frame::data(Bytes::from_static(b"abc"))))
            .await
            .unwrap();
        // The first attempt took one frame, then its connection failed.
        let mut first = first;
        assert_eq!(drain_some(&mut first, 1).await, b"abc");
        tx.send(Ok(Frame::data(Bytes::from_static(b"def"))))
            .await
            .unwrap();
        drop(tx);
        let second = replay.restart().expect("replayable");
        assert_eq!(second.size_hint().exact(), Some(6));
        // The failed attempt's body, not yet dropped, takes nothing more.
        assert!(matches!(first.frame().await, Some(Err(_))));
        assert_eq!(drain(second, 10).await, b"abcdef");
    }

    /// A body of `KEEP_BYTES` and one byte more, all sent.
    async fn one_past_the_bound() -> (Replay, ReplayBody) {
        let (tx, rx) = mpsc::channel(8);
        let (replay, first) = Replay::new(rx, None);
        for d in [Bytes::from(vec![1u8; KEEP_BYTES]), Bytes::from_static(b"x")] {
            tx.send(Ok(Frame::data(d))).await.unwrap();
        }
        (replay, first)
    }

    #[tokio::test]
    async fn no_replay_past_the_bound_or_once_answered() {
        let (replay, first) = one_past_the_bound().await;
        assert_eq!(drain(first, 1).await.len(), KEEP_BYTES);
        let _second = replay.restart().expect("within the bound");
        assert!(replay.restart().is_none(), "only once");
        let (replay, first) = one_past_the_bound().await;
        assert_eq!(drain(first, 10).await.len(), KEEP_BYTES + 1);
        assert!(replay.restart().is_none(), "past the bound");

        let (_tx, rx) = mpsc::channel(8);
        let (replay, _body) = Replay::new(rx, None);
        replay.settle();
        assert!(replay.restart().is_none(), "answered");
    }
}
