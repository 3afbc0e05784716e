//! The response body type every swirl server returns, and constructors for it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

/// A boxed, streaming response body. Errors are I/O errors (disk or backend).
pub type Body = BoxBody<Bytes, std::io::Error>;

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed()
}

/// A body held in memory (small bodies only: listings pages, error texts).
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|e| match e {}).boxed()
}

/// A body held in memory as several buffers, sent one frame each (no join),
/// with its exact length (so it goes out with a Content-Length).
pub fn parts(parts: Vec<Bytes>) -> Body {
    let len = parts.iter().map(|p| p.len() as u64).sum();
    Parts {
        parts: parts.into_iter().filter(|p| !p.is_empty()).collect(),
        left: len,
    }
    .boxed()
}

struct Parts {
    parts: VecDeque<Bytes>,
    left: u64,
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let next = self.parts.pop_front();
        if let Some(p) = &next {
            self.left -= p.len() as u64;
        }
        Poll::Ready(next.map(|p| Ok(Frame::data(p))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_go_out_in_order_with_their_exact_length() {
        let b = parts(vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ]);
        assert_eq!(http_body::Body::size_hint(&b).exact(), Some(5));
        let got = b.collect().await.map(|c| c.to_bytes());
        assert_eq!(got.ok(), Some(Bytes::from_static(b"abcde")));
        let e = parts(Vec::new());
        assert!(http_body::Body::is_end_stream(&e));
        assert_eq!(http_body::Body::size_hint(&e).exact(), Some(0));
    }
}
