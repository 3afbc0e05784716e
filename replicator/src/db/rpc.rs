//! REPLICATE calls to a peer's replication listener (Swift's
//! `ReplConnection.replicate`): `REPLICATE /<device>/<partition>/<hash>`
//! with the JSON body `[op, args...]`, answered with a status and, for
//! `sync`, the peer's replication info.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::Value;
use swirl_common::body;

use crate::client::{addr, PeerClient};
use crate::error::{Error, Result};
use crate::jobs::Node;

/// Largest answer read (a `sync` reply is a few hundred bytes).
const MAX_ANSWER: usize = 4 << 20;

/// One database on one peer.
pub struct Peer<'a> {
    pub client: &'a PeerClient,
    pub node: &'a Node,
    pub partition: u32,
    /// The database's hash (its file's stem).
    pub hash: &'a str,
}

/// A REPLICATE answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    /// Request body bytes sent.
    pub sent: u64,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }
}

impl Peer<'_> {
    pub fn addr(&self) -> String {
        addr(&self.node.ip, self.node.port)
    }

    /// `REPLICATE` with `[op, args...]`, within `timeout`.
    pub async fn replicate(&self, op: &str, args: Vec<Value>, timeout: Duration) -> Result<Answer> {
        let mut call = Vec::with_capacity(args.len() + 1);
        call.push(Value::from(op));
        call.extend(args);
        let text = Value::Array(call).to_string();
        let sent = text.len() as u64;
        let a = self.addr();
        let req = Request::builder()
            .method(
                Method::from_bytes(b"REPLICATE").map_err(|e| Error::Protocol {
                    addr: a.clone(),
                    message: e.to_string(),
                })?,
            )
            .uri(format!(
                "/{}/{}/{}",
                self.node.device, self.partition, self.hash
            ))
            .header("host", &a)
            .header("content-type", "application/json")
            .header("user-agent", "swirl-db-replicator")
            .body(body::full(text))
            .map_err(|e| Error::Protocol {
                addr: a.clone(),
                message: e.to_string(),
            })?;
        let fut = async {
            let resp = self.client.send(&self.node.ip, self.node.port, req).await?;
            let status = resp.status();
            let body = swirl_common::server::read_body_limited(resp.into_body(), MAX_ANSWER)
                .await
                .map_err(|e| Error::Protocol {
                    addr: a.clone(),
                    message: e.to_string(),
                })?;
            Ok(Answer { status, body, sent })
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| Error::Timeout {
                addr: self.addr(),
                what: "REPLICATE",
            })?
    }
}
