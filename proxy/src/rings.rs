//! The account, container and per-policy object rings, read from `swift_dir`
//! and re-read when a ring file changes on disk (Swift reloads rings too, so
//! a rebalance reaches running proxies).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use swirl_ring::hash::HashPathConfig;
use swirl_ring::RingData;

use crate::config::RequestNodeCount;
use crate::error::{Error, Result};

/// A storage node chosen for a request, owned so it can cross await points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: u32,
    pub ip: String,
    pub port: u16,
    pub device: String,
    /// Position among primaries, or among handoffs when `handoff`.
    pub index: usize,
    pub handoff: bool,
}

impl Node {
    /// `ip:port` for connecting (IPv6 in brackets).
    pub fn addr(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.port)
        } else {
            format!("{}:{}", self.ip, self.port)
        }
    }

    /// Identity for error limiting: `ip:port/device`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.addr(), self.device)
    }
}

/// Which ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingKind {
    Account,
    Container,
    /// The object ring of a storage policy index.
    Object(u32),
}

impl RingKind {
    fn file_name(self) -> String {
        match self {
            RingKind::Account => "account.ring.gz".into(),
            RingKind::Container => "container.ring.gz".into(),
            RingKind::Object(0) => "object.ring.gz".into(),
            RingKind::Object(n) => format!("object-{n}.ring.gz"),
        }
    }
}

struct Loaded {
    ring: Arc<RingData>,
    mtime: Option<SystemTime>,
    checked: Instant,
}

/// All rings of the cluster, loaded lazily and reloaded on change.
pub struct Rings {
    dir: PathBuf,
    hash: HashPathConfig,
    /// How many nodes a request may try (so how many handoffs follow the primaries).
    request_node_count: RequestNodeCount,
    loaded: Mutex<HashMap<RingKind, Loaded>>,
}

/// Handoffs after the primaries: what `request_node_count` leaves (none
/// when it allows no more than the primaries).
fn handoff_count(count: RequestNodeCount, replicas: usize, primaries: usize) -> usize {
    count.for_replicas(replicas).saturating_sub(primaries)
}

/// How often a ring file's mtime is looked at.
const RELOAD_CHECK: Duration = Duration::from_secs(15);

/// The nodes for one path: partition, primaries, then handoffs in ring order.
#[derive(Debug, Clone)]
pub struct PartNodes {
    pub partition: u32,
    pub primaries: Vec<Node>,
    pub handoffs: Vec<Node>,
    /// The ring's replica count (quorum is computed from it).
    pub replicas: usize,
}

impl Rings {
    pub fn new(dir: &Path, hash: HashPathConfig, request_node_count: RequestNodeCount) -> Self {
        Rings {
            dir: dir.to_path_buf(),
            hash,
            request_node_count,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// Every device of a ring, once each (nothing when the ring cannot be
    /// read).
    pub fn all_nodes(&self, kind: RingKind) -> Vec<Node> {
        let Ok(ring) = self.ring(kind) else {
            return Vec::new();
        };
        ring.devs
            .iter()
            .flatten()
            .map(|d| Node {
                id: d.id,
                ip: d.ip.clone(),
                port: d.port,
                device: d.device.clone(),
                index: 0,
                handoff: false,
            })
            .collect()
    }

    /// The ring, reading it the first time and again when its file changed.
    pub fn ring(&self, kind: RingKind) -> Result<Arc<RingData>> {
        let path = self.dir.join(kind.file_name());
        let mut loaded = self
            .loaded
            .lock()
            .map_err(|_| Error::Internal("ring lock poisoned".into()))?;
        if let Some(l) = loaded.get_mut(&kind) {
            if l.checked.elapsed() < RELOAD_CHECK {
                return Ok(l.ring.clone());
            }
            l.checked = Instant::now();
            let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            if mtime == l.mtime {
                return Ok(l.ring.clone());
            }
        }
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let file = std::fs::File::open(&path)
            .map_err(|e| Error::Unavailable(format!("ring {}: {e}", path.display())))?;
        let ring = swirl_ring::codec::read_ring(std::io::BufReader::new(file))
            .map_err(|e| Error::Unavailable(format!("ring {}: {e}", path.display())))?;
        let ring = Arc::new(ring);
        loaded.insert(
            kind,
            Loaded {
                ring: ring.clone(),
                mtime,
                checked: Instant::now(),
            },
        );
        Ok(ring)
    }

    /// Partition, primaries and the handoffs a request may go on to
    /// (`request_node_count` nodes in all, as Swift's `iter_nodes` yields).
    pub fn nodes(
        &self,
        kind: RingKind,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Result<PartNodes> {
        self.lookup(kind, account, container, object, true)
    }

    /// Partition and primaries only of an account or container: the
    /// servers a write's updates go to (Swift's `ring.get_nodes`).
    pub fn primaries(
        &self,
        kind: RingKind,
        account: &str,
        container: Option<&str>,
    ) -> Result<PartNodes> {
        self.lookup(kind, account, container, None, false)
    }

    /// What a GET or HEAD walks (Swift's `NodeIter`): the primaries, the
    /// ring to draw handoffs from lazily (error-limited nodes do not count,
    /// so more than `request_node_count` nodes may be drawn), and the count.
    pub fn read_plan(
        &self,
        kind: RingKind,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Result<ReadPlan> {
        let ring = self.ring(kind)?;
        let partition = ring.get_part(&self.hash, account, container, object);
        let primaries: Vec<Node> = ring.primaries(partition).map(own).collect();
        // Swift sizes the walk by the partition's primaries, not the replica count.
        let node_count = self.request_node_count.for_replicas(primaries.len());
        Ok(ReadPlan {
            partition,
            primaries,
            node_count,
            ring,
        })
    }

    fn lookup(
        &self,
        kind: RingKind,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
        with_handoffs: bool,
    ) -> Result<PartNodes> {
        let ring = self.ring(kind)?;
        let part = ring.get_part(&self.hash, account, container, object);
        let primaries: Vec<Node> = ring.primaries(part).map(own).collect();
        let replicas = ring.replica_count().ceil().max(1.0) as usize;
        let max_handoffs = if with_handoffs {
            handoff_count(self.request_node_count, replicas, primaries.len())
        } else {
            0
        };
        let handoffs: Vec<Node> = ring
            .get_more_nodes(part)
            .take(max_handoffs)
            .map(own)
            .collect();
        Ok(PartNodes {
            partition: part,
            replicas,
            primaries,
            handoffs,
        })
    }

    /// The hash-path secret (the expirer queue placement needs it too).
    pub fn hash(&self) -> &HashPathConfig {
        &self.hash
    }
}

/// An owned copy of a ring's node.
fn own(n: swirl_ring::lookup::NodeRef<'_>) -> Node {
    Node {
        id: n.dev.id,
        ip: n.dev.ip.clone(),
        port: n.dev.port,
        device: n.dev.device.clone(),
        index: n.index,
        handoff: n.handoff,
    }
}

/// The nodes a read may walk; see [`Rings::read_plan`].
pub struct ReadPlan {
    pub partition: u32,
    pub primaries: Vec<Node>,
    /// Nodes to ask that were not error-limited (`request_node_count`).
    pub node_count: usize,
    ring: Arc<RingData>,
}

impl ReadPlan {
    /// The partition's handoffs in ring order, drawn lazily.
    pub fn handoffs(&self) -> impl Iterator<Item = Node> + Send + '_ {
        self.ring.get_more_nodes(self.partition).map(own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoffs_fill_request_node_count() {
        use RequestNodeCount::*;
        assert_eq!(handoff_count(TimesReplicas(2), 3, 3), 3);
        assert_eq!(handoff_count(TimesReplicas(3), 3, 3), 6);
        assert_eq!(handoff_count(Fixed(5), 3, 3), 2);
        assert_eq!(handoff_count(Fixed(2), 3, 3), 0);
        // A partition short of a replica (fractional replica counts).
        assert_eq!(handoff_count(TimesReplicas(2), 3, 2), 4);
    }
}
