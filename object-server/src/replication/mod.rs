//! The replication listener: where the ring's `replication_ip:replication_port`
//! points for this node's devices. It speaks only mutual TLS with
//! certificates of the cluster CA (a peer without one is refused in the
//! handshake, before any request is read) and serves only replication:
//!
//! - `REPLICATE /<dev>/<part>[/<suffixes>]`: suffix hashes (as on the main port);
//! - `SYNC /<dev>/<part>/check`: the missing check ([`check`]);
//! - `SYNC /<dev>/<part>/files`: a batch of whole files ([`files`]);
//! - `SYNC /<dev>/<part>/delta`: one file as a fast_rsync delta ([`delta`]);
//! - `GET /healthcheck`.
//!
//! Every `SYNC` carries `X-Backend-Storage-Policy-Index` as REPLICATE does.
//! Requests are logged at debug (Swift logs replication requests apart).

pub mod check;
pub mod delta;
pub mod files;

use std::future::Future;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::path;
use swirl_common::server::{serve_tls, Handler, ServeOptions};
use swirl_common::Body;
use swirl_store::object::DeviceLayout;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::handler::{request_policy, text};
use crate::router::{self, Endpoint};
use crate::{replicate, Server};

/// What a `SYNC` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOp {
    Check,
    Files,
    Delta,
}

/// A request of the replication listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplEndpoint {
    Healthcheck,
    Replicate {
        device: String,
        partition: u32,
        suffixes: Vec<String>,
    },
    Sync {
        op: SyncOp,
        device: String,
        partition: u32,
    },
}

/// Routes a replication request (pure).
pub fn route(method: &Method, raw_path: &str) -> Result<ReplEndpoint> {
    if method.as_str() == "SYNC" {
        let segs = path::split_path(raw_path, 3, 3, false)
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        let seg = |i: usize| segs[i].clone().unwrap_or_default();
        let partition = path::validate_device_partition(&seg(0), &seg(1))
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        let op = match seg(2).as_str() {
            "check" => SyncOp::Check,
            "files" => SyncOp::Files,
            "delta" => SyncOp::Delta,
            other => return Err(Error::BadRequest(format!("unknown SYNC step {other:?}"))),
        };
        return Ok(ReplEndpoint::Sync {
            op,
            device: seg(0),
            partition,
        });
    }
    match router::route(method, raw_path)? {
        Endpoint::Healthcheck => Ok(ReplEndpoint::Healthcheck),
        Endpoint::Replicate {
            device,
            partition,
            suffixes,
        } => Ok(ReplEndpoint::Replicate {
            device,
            partition,
            suffixes,
        }),
        // The object API stays on the main port.
        Endpoint::Recon(_) | Endpoint::Metrics | Endpoint::Object { .. } => {
            Err(Error::MethodNotAllowed)
        }
    }
}

/// The replication listener's handler.
pub struct ReplicationHandler {
    pub server: Arc<Server>,
}

impl Handler for ReplicationHandler {
    type Error = Error;

    async fn handle(&self, req: Request<Incoming>, _txn: &str) -> Result<Response<Body>> {
        let ep = route(req.method(), req.uri().path())?;
        let s = self.server.clone();
        match ep {
            ReplEndpoint::Healthcheck => Ok(text(StatusCode::OK, "OK")),
            ReplEndpoint::Replicate {
                device,
                partition,
                suffixes,
            } => {
                let policy = request_policy(&s, &req)?;
                replicate::handle(s, &req, device, partition, policy, suffixes).await
            }
            ReplEndpoint::Sync {
                op,
                device,
                partition,
            } => {
                let policy = request_policy(&s, &req)?;
                s.store.check_device(&device)?;
                let layout = DeviceLayout::new(&s.store.devices, &device, policy);
                match op {
                    SyncOp::Check => check::handle(s, req, layout, partition).await,
                    SyncOp::Files => files::handle(s, req, layout, partition).await,
                    SyncOp::Delta => delta::handle(s, req, layout, partition).await,
                }
            }
        }
    }
}

/// Serves replication on `listener` (mutual TLS) until `shutdown`.
pub async fn serve(
    server: Arc<Server>,
    listener: TcpListener,
    acceptor: swirl_common::tls::TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut opts = ServeOptions::new("object-replication");
    opts.quiet = true;
    // A sender whose link is cut mid-transfer: its handler and temp file
    // go after client_timeout instead of waiting forever.
    opts.dead_peer_timeout = Some(std::time::Duration::from_secs_f64(
        server.cfg.listen.client_timeout,
    ));
    serve_tls(
        listener,
        Arc::new(ReplicationHandler { server }),
        acceptor,
        shutdown,
        opts,
    )
    .await
}

/// A header as text, required.
pub(crate) fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Result<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::BadRequest(format!("missing {name}")))
}

/// A numeric header, required.
pub(crate) fn header_u64(req: &Request<Incoming>, name: &str) -> Result<u64> {
    header(req, name)?
        .parse()
        .map_err(|_| Error::BadRequest(format!("bad {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let sync = Method::from_bytes(b"SYNC").unwrap();
        assert_eq!(
            route(&sync, "/sda/12/files").unwrap(),
            ReplEndpoint::Sync {
                op: SyncOp::Files,
                device: "sda".into(),
                partition: 12
            }
        );
        assert!(route(&sync, "/sda/12/nope").is_err());
        assert!(route(&sync, "/sda/x/check").is_err());
        assert!(route(&sync, "/sda/12").is_err());
        let rep = Method::from_bytes(b"REPLICATE").unwrap();
        assert!(matches!(
            route(&rep, "/sda/3/abc-def").unwrap(),
            ReplEndpoint::Replicate { partition: 3, .. }
        ));
        // No object API on the replication port.
        assert!(route(&Method::GET, "/sda/3/a/c/o").is_err());
        assert!(route(&Method::PUT, "/sda/3/a/c/o").is_err());
        assert_eq!(
            route(&Method::GET, "/healthcheck").unwrap(),
            ReplEndpoint::Healthcheck
        );
    }
}
