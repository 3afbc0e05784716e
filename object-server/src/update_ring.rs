//! The container ring as the object server checks update targets against
//! it. Container updates and expirer-queue updates go to the hosts a
//! request names (X-Container-Host, X-Delete-At-Host); a storage server
//! trusts nothing it is sent, so a named host that is not a device of the
//! container ring (`<swift_dir>/container.ring.gz`, read again when the file
//! changes) is not contacted at all, and no more hosts are taken than the
//! ring has replicas (Swift's proxy names at most that many).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use swirl_ring::{Device, RingData};
use tracing::warn;

/// A ring with the (mtime, length) of the file it came from.
type Loaded = (Option<SystemTime>, u64, Arc<RingData>);

/// The ring file and what was last loaded from it.
pub struct ContainerRing {
    path: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

/// What the ring says of the targets a request named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Targets of the ring, at most its replica count: send to these.
    pub allowed: Vec<(String, String)>,
    /// Named but not devices of the ring, or beyond the replica count.
    pub refused: Vec<(String, String)>,
}

/// `ip:port` as the proxy writes it (IPv6 bracketed), normalised when it
/// parses as an address.
fn norm(host: &str) -> String {
    match host.parse::<SocketAddr>() {
        Ok(a) => a.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

fn dev_addr(d: &Device) -> String {
    if d.ip.contains(':') {
        norm(&format!("[{}]:{}", d.ip, d.port))
    } else {
        norm(&format!("{}:{}", d.ip, d.port))
    }
}

/// Splits `targets` into those `ring` has (first come, up to its replica
/// count) and the rest.
pub fn check(ring: &RingData, targets: Vec<(String, String)>) -> Checked {
    let cap = ring.replica_count().ceil().max(1.0) as usize;
    let mut out = Checked {
        allowed: Vec::new(),
        refused: Vec::new(),
    };
    for (host, dev) in targets {
        let h = norm(&host);
        let known = ring
            .devs
            .iter()
            .flatten()
            .any(|d| d.device == dev && dev_addr(d) == h);
        if known && out.allowed.len() < cap {
            out.allowed.push((host, dev));
        } else {
            out.refused.push((host, dev));
        }
    }
    out
}

impl ContainerRing {
    pub fn new(path: PathBuf) -> Self {
        ContainerRing {
            path,
            loaded: Mutex::new(None),
        }
    }

    /// The ring, read again when its file changed; None when there is no
    /// readable ring (the last good one is kept when a new file is bad).
    pub fn ring(&self) -> Option<Arc<RingData>> {
        let m = std::fs::metadata(&self.path).ok()?;
        let stamp = (m.modified().ok(), m.len());
        let mut g = self.loaded.lock().ok()?;
        if let Some((t, l, r)) = g.as_ref() {
            if (*t, *l) == stamp {
                return Some(r.clone());
            }
        }
        let read = std::fs::read(&self.path)
            .map_err(|e| e.to_string())
            .and_then(|b| swirl_ring::codec::read_ring(&b[..]).map_err(|e| e.to_string()));
        match read {
            Ok(r) => {
                let r = Arc::new(r);
                *g = Some((stamp.0, stamp.1, r.clone()));
                Some(r)
            }
            Err(e) => {
                warn!(ring = %self.path.display(), error = %e, "unreadable container ring");
                g.as_ref().map(|x| x.2.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(devs: &[(&str, u16, &str)], replicas: usize) -> RingData {
        RingData {
            devs: devs
                .iter()
                .enumerate()
                .map(|(i, (ip, port, dev))| {
                    Some(Device {
                        id: i as u32,
                        ip: ip.to_string(),
                        port: *port,
                        device: dev.to_string(),
                        ..Default::default()
                    })
                })
                .collect(),
            replica2part2dev: vec![vec![0; 4]; replicas],
            part_shift: 30,
            ..Default::default()
        }
    }

    #[test]
    fn only_ring_devices_up_to_the_replica_count() {
        let r = ring(
            &[
                ("127.0.0.1", 6201, "d1"),
                ("127.0.0.1", 6201, "d2"),
                ("::1", 6201, "d3"),
            ],
            2,
        );
        let t = |h: &str, d: &str| (h.to_string(), d.to_string());
        let c = check(
            &r,
            vec![
                t("127.0.0.1:6201", "d1"),
                t("127.0.0.1:6202", "d1"),
                t("127.0.0.1:6201", "d9"),
                t("[::1]:6201", "d3"),
                t("127.0.0.1:6201", "d2"),
            ],
        );
        assert_eq!(
            c.allowed,
            vec![t("127.0.0.1:6201", "d1"), t("[::1]:6201", "d3")]
        );
        assert_eq!(c.refused.len(), 3);
    }
}
