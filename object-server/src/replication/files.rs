//! `SYNC /<dev>/<part>/files`: a batch of whole files, each as a header line
//! `<hash> <file name> <file length> <body length>` followed by the file's
//! bytes as they are on the sender's disk. A blocking worker writes them to
//! temp files, checks each (`IncomingFile::finish`) and commits them in
//! groups with one filesystem sync per step. The answer is JSON:
//! `{"committed": n, "failed": [{"hash", "file", "error"}]}`; a file not
//! listed as failed is durable here once the answer arrives.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;
use swirl_common::frames::BodyReader;
use swirl_common::{body, Body};
use swirl_store::object::sync::receive::{self, IncomingFile, Received};
use swirl_store::object::sync::SyncError;
use swirl_store::object::DeviceLayout;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::Server;

/// Files committed together at most (and bytes).
const COMMIT_FILES: usize = 256;
const COMMIT_BYTES: u64 = 64 << 20;
/// Bytes per message to the worker.
const CHUNK: usize = 256 * 1024;

enum Msg {
    Start {
        hash: String,
        name: String,
        file_len: u64,
        body_len: u64,
    },
    Data(Bytes),
}

#[derive(Debug, Default, Serialize)]
struct Failure {
    hash: String,
    file: String,
    error: String,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    committed: usize,
    failed: Vec<Failure>,
}

/// The blocking side: receives, checks and commits.
fn worker(
    layout: DeviceLayout,
    partition: u32,
    reclaim_age: u64,
    mut rx: mpsc::Receiver<Msg>,
) -> Result<Summary> {
    let mut sum = Summary::default();
    let mut current: Option<IncomingFile> = None;
    let mut who = (String::new(), String::new());
    let mut cur_len = 0u64;
    let mut pending: Vec<Received> = Vec::new();
    let mut pending_bytes = 0u64;
    let fail = |sum: &mut Summary, who: &(String, String), e: SyncError| {
        sum.failed.push(Failure {
            hash: who.0.clone(),
            file: who.1.clone(),
            error: e.to_string(),
        })
    };
    let flush = |pending: &mut Vec<Received>, sum: &mut Summary| -> Result<()> {
        if !pending.is_empty() {
            sum.committed += receive::commit(std::mem::take(pending), reclaim_age)?;
        }
        Ok(())
    };
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Start {
                hash,
                name,
                file_len,
                body_len,
            } => {
                who = (hash, name);
                cur_len = file_len;
                match IncomingFile::create(&layout, partition, &who.0, &who.1, file_len, body_len) {
                    Ok(f) => current = Some(f),
                    // A full or missing device fails the whole batch.
                    Err(SyncError::Store(e)) => return Err(Error::Store(e)),
                    Err(e) => {
                        current = None;
                        fail(&mut sum, &who, e);
                        continue;
                    }
                }
            }
            Msg::Data(b) => {
                let Some(f) = current.as_mut() else {
                    continue; // the rest of a refused file
                };
                if let Err(e) = f.write(&b) {
                    current = None;
                    fail(&mut sum, &who, e);
                    continue;
                }
            }
        }
        if current.as_ref().is_some_and(|f| f.remaining() == 0) {
            if let Some(f) = current.take() {
                match f.finish() {
                    Ok(r) => {
                        pending_bytes += cur_len;
                        pending.push(r);
                    }
                    Err(e) => fail(&mut sum, &who, e),
                }
            }
        }
        if pending.len() >= COMMIT_FILES || pending_bytes >= COMMIT_BYTES {
            flush(&mut pending, &mut sum)?;
            pending_bytes = 0;
        }
    }
    if let Some(f) = current {
        fail(
            &mut sum,
            &who,
            SyncError::Invalid(format!("body ended with {} bytes missing", f.remaining())),
        );
    }
    flush(&mut pending, &mut sum)?;
    Ok(sum)
}

/// Parses `<hash> <name> <file_len> <body_len>`.
fn parse_header(line: &str) -> Result<Msg> {
    let bad = || Error::Sync(SyncError::Invalid(format!("file header {line:?}")));
    let p: Vec<&str> = line.split_ascii_whitespace().collect();
    let [hash, name, file_len, body_len] = p[..] else {
        return Err(bad());
    };
    Ok(Msg::Start {
        hash: hash.to_string(),
        name: name.to_string(),
        file_len: file_len.parse().map_err(|_| bad())?,
        body_len: body_len.parse().map_err(|_| bad())?,
    })
}

pub async fn handle(
    s: Arc<Server>,
    req: Request<Incoming>,
    layout: DeviceLayout,
    partition: u32,
) -> Result<Response<Body>> {
    let (tx, rx) = mpsc::channel(8);
    let reclaim = s.store.reclaim_age;
    let work = tokio::task::spawn_blocking(move || worker(layout, partition, reclaim, rx));
    let mut r = BodyReader::new(req.into_body());
    let fed: Result<()> = async {
        while let Some(line) = r
            .line(1024)
            .await
            .map_err(|e| Error::ClientDisconnect(e.to_string()))?
        {
            let start = parse_header(&line)?;
            let Msg::Start { file_len, .. } = &start else {
                return Err(Error::Internal("header".into()));
            };
            let mut left = *file_len;
            if tx.send(start).await.is_err() {
                return Ok(()); // the worker stopped: its error is the answer
            }
            while left > 0 {
                let b = r
                    .some(CHUNK.min(left as usize))
                    .await
                    .map_err(|e| Error::ClientDisconnect(e.to_string()))?;
                left -= b.len() as u64;
                if tx.send(Msg::Data(b)).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
    .await;
    drop(tx);
    let sum = work
        .await
        .map_err(|e| Error::Internal(format!("receiver: {e}")))??;
    fed?;
    let bytes = serde_json::to_vec(&sum).map_err(|e| Error::Internal(e.to_string()))?;
    let len = bytes.len();
    let mut resp = Response::new(body::full(bytes));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert("content-length", HeaderValue::from(len));
    Ok(resp)
}
