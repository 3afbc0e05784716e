//! The receiving side of a windowed delta exchange, as the replication
//! listeners speak it for objects and whole databases alike: the request
//! brings, per window of the new file, a delta against the receiver's basis
//! window of the same index (`D` frame) or the window itself (`L`), then
//! `E` with the new file's hex blake3; the answer streams the basis
//! windows' signatures (`S`, sent by the caller's own worker) and ends with
//! the outcome (`R`: `{"ok":true}` or `{"ok":false,"error":..}`).
//!
//! What the pieces build and check is the caller's (an applying worker fed
//! by the channel); this is the pump between the request body, that worker
//! and the answer.

use std::fmt::Display;
use std::io;

use bytes::Bytes;
use http_body::Body as HttpBody;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::frames::{frame, BodyReader};

/// One frame of the request, for the applying worker.
pub enum Piece {
    /// A delta against the basis window of the same index.
    Delta(Bytes),
    /// The window's bytes as they are.
    Literal(Bytes),
    /// The end: the new file's hex blake3.
    End(String),
}

/// The largest request frame to accept: a window, or a delta a little larger.
pub fn max_frame(window: usize) -> usize {
    window + window / 8 + 4096
}

/// Runs the exchange in the background: the request's frames (from
/// `reader`, at most `max` bytes each) go to `pieces` until the end frame;
/// then, once `applied` (the worker taking the pieces) and `signatures`
/// (the worker sending `S` frames into `answer`) are done, the outcome
/// ends the answer.
pub fn spawn<B, E>(
    mut reader: BodyReader<B>,
    max: usize,
    pieces: mpsc::Sender<Piece>,
    applied: JoinHandle<Result<(), E>>,
    signatures: JoinHandle<()>,
    answer: mpsc::Sender<io::Result<Bytes>>,
) where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Display,
    E: Display + Send + 'static,
{
    tokio::spawn(async move {
        let fed: Result<(), String> = async {
            loop {
                let f = reader.frame(max).await.map_err(|e| e.to_string())?;
                let piece = match f {
                    Some((b'D', p)) => Piece::Delta(p),
                    Some((b'L', p)) => Piece::Literal(p),
                    Some((b'E', p)) => Piece::End(String::from_utf8_lossy(&p).into_owned()),
                    Some((t, _)) => return Err(format!("unknown frame {t}")),
                    None => return Err("request ended before its end frame".into()),
                };
                let end = matches!(piece, Piece::End(_));
                if pieces.send(piece).await.is_err() || end {
                    return Ok(());
                }
            }
        }
        .await;
        drop(pieces);
        let outcome = match applied.await {
            Ok(Ok(())) => serde_json::json!({"ok": true}),
            Ok(Err(e)) => serde_json::json!({"ok": false, "error": e.to_string()}),
            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
        };
        if let Err(e) = &fed {
            debug!(error = %e, "delta request body");
        }
        // Every signature goes out before the outcome.
        let _ = signatures.await;
        let _ = answer
            .send(Ok(frame(b'R', outcome.to_string().as_bytes())))
            .await;
    });
}
