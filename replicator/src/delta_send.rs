//! The sender's half of a windowed fast_rsync delta, for objects and whole
//! databases alike: the receiver streams the signature of each window of
//! its basis back (`S` frames) while this side sends, for each window of
//! the new file, a delta against the basis window of the same index (`D`)
//! or the window itself (`L`: no basis window there, or no gain), then `E`
//! with the new file's hex blake3; the receiver ends its answer with the
//! outcome (`R`, JSON `{"ok":..}`). One window is in memory at a time.

use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use swirl_common::frames::{self, BodyReader};
use swirl_store::object::sync::delta::{self, DeltaParams, Piece};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// What a delta cost on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaCost {
    /// Request body bytes (deltas, literal windows, the end frame).
    pub sent: u64,
    /// Response body bytes (signatures, the outcome).
    pub received: u64,
}

fn protocol(addr: &str, m: impl Into<String>) -> Error {
    Error::Protocol {
        addr: addr.to_string(),
        message: m.into(),
    }
}

/// Sends `file` (`file_len` bytes) as a delta against a basis of
/// `basis_len` bytes on the peer at `addr`, whose signatures arrive on
/// `sigs`; frames go out through `tx`. Ok once the peer reported the file
/// rebuilt and checked; an error when it refused or failed.
pub async fn send_windows(
    addr: &str,
    file: Arc<File>,
    file_len: u64,
    basis_len: u64,
    p: DeltaParams,
    mut sigs: BodyReader<Incoming>,
    tx: mpsc::Sender<io::Result<Bytes>>,
) -> Result<DeltaCost> {
    let max_sig = 64 + (p.window / p.block as usize + 1) * 16;
    let mut hasher = blake3::Hasher::new();
    let mut sent = 0u64;
    let basis_windows = p.windows(basis_len);
    for i in 0..p.windows(file_len) {
        // The signature of basis window i, if the basis has one; past its
        // end the window goes literally.
        let mut sig: Option<Bytes> = None;
        if i < basis_windows {
            match sigs
                .frame(max_sig)
                .await
                .map_err(|e| protocol(addr, e.to_string()))?
            {
                Some((b'S', s)) => sig = Some(s),
                Some((b'R', r)) => {
                    return Err(protocol(
                        addr,
                        format!("delta refused: {}", String::from_utf8_lossy(&r)),
                    ))
                }
                Some((t, _)) => return Err(protocol(addr, format!("unexpected frame {t}"))),
                None => return Err(protocol(addr, "signature stream ended")),
            }
        }
        let f = file.clone();
        let (frame, window) = tokio::task::spawn_blocking(move || -> Result<(Bytes, Vec<u8>)> {
            let mut w = Vec::new();
            p.read_window(&f, file_len, i, &mut w)?;
            let piece = delta::diff_window(sig.as_deref(), &w)?;
            Ok(match piece {
                Piece::Delta(d) => (frames::frame(b'D', &d), w),
                Piece::Literal => (frames::frame(b'L', &w), w),
            })
        })
        .await
        .map_err(|e| Error::Io(io::Error::other(e.to_string())))??;
        hasher.update(&window);
        sent += frame.len() as u64;
        if tx.send(Ok(frame)).await.is_err() {
            return Err(protocol(addr, "peer stopped reading the delta"));
        }
    }
    let end = frames::frame(b'E', hasher.finalize().to_hex().as_bytes());
    sent += end.len() as u64;
    let _ = tx.send(Ok(end)).await;
    drop(tx);
    // The rest of the signatures (a longer basis), then the outcome.
    let outcome = loop {
        match sigs
            .frame(max_sig.max(4096))
            .await
            .map_err(|e| protocol(addr, e.to_string()))?
        {
            Some((b'S', _)) => continue,
            Some((b'R', r)) => break r,
            Some((t, _)) => return Err(protocol(addr, format!("unexpected frame {t}"))),
            None => return Err(protocol(addr, "delta answer ended without an outcome")),
        }
    };
    let v: serde_json::Value =
        serde_json::from_slice(&outcome).map_err(|e| protocol(addr, e.to_string()))?;
    if v["ok"] != serde_json::Value::Bool(true) {
        return Err(protocol(addr, format!("delta not applied: {}", v["error"])));
    }
    Ok(DeltaCost {
        sent,
        received: sigs.read,
    })
}
