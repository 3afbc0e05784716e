//! Idle upload connections kept for the next object PUT to the same node.
//!
//! Why: a 4 KiB PUT on three replicas otherwise opens and tears down three
//! TCP connections (socket, connect, accept, shutdown, close: several
//! percent of the cluster's CPU per PUT, and a round trip of latency).
//!
//! Why it is safe for bodies that cannot be replayed: a connection goes
//! back only after a whole request and response went through cleanly, and
//! comes out again only if it was idle briefly (`MAX_IDLE`, far below the
//! storage servers' keep-alive timeouts, so the server is not closing it as
//! we send) and hyper does not already know it closed (a restarted server's
//! FIN arrives at once). A connection that still fails counts as a failed
//! node for that PUT, as a fresh one that broke would.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use swirl_common::Body;

/// Longest a connection waits idle before it is dropped instead of reused.
pub const MAX_IDLE: Duration = Duration::from_secs(2);
/// Idle connections kept per node.
const PER_NODE: usize = 64;

type Conn = SendRequest<Body>;

/// Idle connections by server address (`ip:port`).
#[derive(Default)]
pub struct UploadPool {
    idle: Mutex<HashMap<String, Vec<(Instant, Conn)>>>,
}

impl UploadPool {
    /// A ready idle connection to `addr`, if one is fresh enough.
    pub fn take(&self, addr: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(addr)?;
        // Newest last: the freshest is the least likely to be closing.
        while let Some((since, conn)) = list.pop() {
            if since.elapsed() < MAX_IDLE && conn.is_ready() && !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` (whose request and response are complete) for reuse.
    pub fn give_back(&self, addr: &str, conn: Conn) {
        if !conn.is_ready() || conn.is_closed() {
            return;
        }
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let list = idle.entry(addr.to_string()).or_default();
        list.retain(|(since, c)| since.elapsed() < MAX_IDLE && !c.is_closed());
        if list.len() < PER_NODE {
            list.push((Instant::now(), conn));
        }
    }
}
