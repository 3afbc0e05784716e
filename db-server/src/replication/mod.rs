//! The replication listener of an account or container server: where the
//! ring's `replication_ip:replication_port` points for this node's devices.
//! It speaks only mutual TLS with certificates of the cluster CA (a peer
//! without one is refused in the handshake, before any request is read)
//! and serves only what replicas send each other:
//!
//! - `REPLICATE /<dev>/<part>/<hash>`: the database RPC (as on the main port);
//! - `SYNC /<dev>/<part>/<hash>/whole` and `.../delta`: a whole database
//!   shipped to `<dev>/tmp/<name>` ([`ship`]), named by a later REPLICATE
//!   `complete_rsync` or `rsync_then_merge`;
//! - on an account server, `PUT /<dev>/<part>/<account>/<container>`: a
//!   container's stats, as Swift's container-updater sends them to the
//!   account ring's replication addresses;
//! - `GET /healthcheck`.
//!
//! Requests are logged at debug, as Swift logs replication apart.

pub mod ship;

use std::future::Future;
use std::sync::Arc;

use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::body::Body;
use swirl_common::path::{split_path, validate_device_partition};
use swirl_common::server::{serve_tls, Handler, ServeOptions};
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::params::Query;
use crate::response::swift_response;
use crate::router::{route as db_route, Op, Route};
use crate::server::{DbServer, Req};
use crate::{account_api, replicate, DbKind};

/// How a whole database travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipMode {
    /// Streamed as it is.
    Whole,
    /// A windowed fast_rsync delta against this replica's own copy.
    Delta,
}

/// A request of the replication listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplRoute {
    Healthcheck,
    Replicate {
        device: String,
        partition: u32,
        hash: String,
    },
    Ship {
        mode: ShipMode,
        device: String,
        partition: u32,
        hash: String,
    },
    /// A container's stats for its account (account servers only).
    ContainerReport {
        device: String,
        partition: u32,
        account: String,
        container: String,
    },
}

fn bad(m: impl Into<String>) -> Error {
    Error::BadRequest(m.into())
}

/// Routes a replication request (pure).
pub fn route(kind: DbKind, method: &str, raw_path: &str) -> Result<ReplRoute> {
    if method == "SYNC" {
        let segs = split_path(raw_path, 4, 4, false).map_err(|e| bad(e.to_string()))?;
        let seg = |i: usize| segs[i].clone().unwrap_or_default();
        let partition =
            validate_device_partition(&seg(0), &seg(1)).map_err(|e| bad(e.to_string()))?;
        let mode = match seg(3).as_str() {
            "whole" => ShipMode::Whole,
            "delta" => ShipMode::Delta,
            other => return Err(bad(format!("unknown SYNC step {other:?}"))),
        };
        return Ok(ReplRoute::Ship {
            mode,
            device: seg(0),
            partition,
            hash: seg(2),
        });
    }
    match db_route(kind, method, raw_path)? {
        Route::Healthcheck => Ok(ReplRoute::Healthcheck),
        Route::Replicate {
            device,
            partition,
            hash,
        } => Ok(ReplRoute::Replicate {
            device,
            partition,
            hash,
        }),
        Route::Db {
            op: Op::Put,
            device,
            partition,
            account,
            container: Some(container),
            object: None,
        } if kind == DbKind::Account => Ok(ReplRoute::ContainerReport {
            device,
            partition,
            account,
            container,
        }),
        // The rest of the API (and recon) stays on the main port.
        Route::Db { .. } | Route::Recon(_) | Route::Metrics => Err(Error::MethodNotAllowed),
    }
}

/// The replication listener's handler.
pub struct ReplicationHandler {
    pub server: Arc<DbServer>,
}

impl Handler for ReplicationHandler {
    type Error = Error;

    async fn handle(&self, req: Request<Incoming>, txn: &str) -> Result<Response<Body>> {
        let s = &self.server;
        match route(s.kind, req.method().as_str(), req.uri().path())? {
            ReplRoute::Healthcheck => {
                let mut h = HeaderMap::new();
                crate::response::put(&mut h, "content-type", "text/plain");
                Ok(swift_response(StatusCode::OK, h, Some(b"OK".to_vec())))
            }
            ReplRoute::Replicate {
                device,
                partition,
                hash,
            } => replicate::handle(s, &device, partition, &hash, req.into_body()).await,
            ReplRoute::Ship {
                mode,
                device,
                partition,
                hash,
            } => {
                s.check_drive(&device)?;
                match mode {
                    ShipMode::Whole => ship::whole(s, &device, req).await,
                    ShipMode::Delta => ship::delta(s, &device, partition, &hash, req).await,
                }
            }
            ReplRoute::ContainerReport {
                device,
                partition,
                account,
                container,
            } => {
                let (parts, _) = req.into_parts();
                let r = Req {
                    op: Op::Put,
                    device,
                    partition,
                    account,
                    container: Some(container),
                    object: None,
                    query: Query::parse(parts.uri.query()),
                    headers: parts.headers,
                    txn: txn.to_string(),
                };
                account_api::handle(s, r).await
            }
        }
    }
}

/// Serves replication on `listener` (mutual TLS) until `shutdown`.
pub async fn serve(
    server: Arc<DbServer>,
    listener: TcpListener,
    acceptor: swirl_common::tls::TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let role = match server.kind {
        DbKind::Account => "account-replication",
        DbKind::Container => "container-replication",
    };
    let mut opts = ServeOptions::new(role);
    opts.quiet = true;
    serve_tls(
        listener,
        Arc::new(ReplicationHandler { server }),
        acceptor,
        shutdown,
        opts,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let c = DbKind::Container;
        assert_eq!(
            route(c, "SYNC", "/d1/12/abcdef/whole").unwrap(),
            ReplRoute::Ship {
                mode: ShipMode::Whole,
                device: "d1".into(),
                partition: 12,
                hash: "abcdef".into()
            }
        );
        assert!(matches!(
            route(c, "SYNC", "/d1/12/abcdef/delta").unwrap(),
            ReplRoute::Ship {
                mode: ShipMode::Delta,
                ..
            }
        ));
        assert!(route(c, "SYNC", "/d1/12/abcdef/nope").is_err());
        assert!(route(c, "SYNC", "/d1/x/abcdef/whole").is_err());
        assert!(route(c, "SYNC", "/d1/12/whole").is_err());
        assert!(matches!(
            route(c, "REPLICATE", "/d1/3/abcdef").unwrap(),
            ReplRoute::Replicate { partition: 3, .. }
        ));
        assert_eq!(
            route(c, "GET", "/healthcheck").unwrap(),
            ReplRoute::Healthcheck
        );
        // No container or object API on the replication port.
        assert!(route(c, "PUT", "/d1/3/a/c").is_err());
        assert!(route(c, "PUT", "/d1/3/a/c/o").is_err());
        assert!(route(c, "GET", "/d1/3/a/c").is_err());
        // An account server takes container reports there, nothing else.
        let a = DbKind::Account;
        assert_eq!(
            route(a, "PUT", "/d1/3/AUTH_a/c%20d").unwrap(),
            ReplRoute::ContainerReport {
                device: "d1".into(),
                partition: 3,
                account: "AUTH_a".into(),
                container: "c d".into()
            }
        );
        assert!(route(a, "PUT", "/d1/3/AUTH_a").is_err());
        assert!(route(a, "DELETE", "/d1/3/AUTH_a").is_err());
        assert!(route(a, "GET", "/d1/3/AUTH_a").is_err());
    }
}
