//! Which partitions to replicate, and with whom (Swift's
//! `build_replication_jobs` / `collect_jobs`). Pure: the ring, this node's
//! replication address and the partitions found on disk are arguments.

use rand::seq::SliceRandom;
use rand::Rng;
use swirl_ring::{Device, RingData};

/// A peer device, addressed on the replication network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: u32,
    pub region: u32,
    pub ip: String,
    pub port: u16,
    pub device: String,
}

impl Node {
    pub fn from_dev(d: &Device) -> Self {
        Node {
            id: d.id,
            region: d.region,
            ip: d.replication_ip.clone(),
            port: d.replication_port,
            device: d.device.clone(),
        }
    }

    /// `ip/device`, the key of Swift's `failure_nodes`.
    pub fn key(&self) -> (String, String) {
        (self.ip.clone(), self.device.clone())
    }
}

/// One partition of one local device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub policy: u32,
    pub device: String,
    pub partition: u32,
    /// The primaries other than this device (for a handoff: all of them).
    pub nodes: Vec<Node>,
    /// This device is not a primary of the partition: push it and remove it.
    pub handoff: bool,
    pub region: u32,
}

/// The ring's devices that live here: their replication address is ours.
pub fn local_devices<'a>(ring: &'a RingData, ip: &str, port: u16) -> Vec<&'a Device> {
    ring.devs
        .iter()
        .flatten()
        .filter(|d| d.replication_ip == ip && d.replication_port == port)
        .collect()
}

/// The jobs of one local device for the partitions found on it.
pub fn device_jobs(ring: &RingData, policy: u32, local: &Device, partitions: &[u32]) -> Vec<Job> {
    let count = ring.partition_count();
    partitions
        .iter()
        .filter(|p| (**p as usize) < count)
        .map(|&p| {
            let primaries: Vec<&Device> = ring.primaries(p).map(|n| n.dev).collect();
            let nodes: Vec<Node> = primaries
                .iter()
                .filter(|d| d.id != local.id)
                .map(|d| Node::from_dev(d))
                .collect();
            Job {
                policy,
                device: local.device.clone(),
                partition: p,
                handoff: nodes.len() == primaries.len(),
                nodes,
                region: local.region,
            }
        })
        .collect()
}

/// Handoff devices of a partition, in ring order (for a primary that answers 507).
pub fn more_nodes(ring: &RingData, partition: u32) -> Vec<Node> {
    ring.get_more_nodes(partition)
        .map(|n| Node::from_dev(n.dev))
        .collect()
}

/// Shuffles the jobs (so nodes do not all start on the same partitions) and,
/// with `handoffs_first`, puts every handoff job first.
pub fn order(jobs: &mut [Job], handoffs_first: bool, rng: &mut impl Rng) {
    jobs.shuffle(rng);
    if handoffs_first {
        jobs.sort_by_key(|j| !j.handoff);
    }
}

/// Partition directory names that are partitions (digits only).
pub fn parse_partitions<S: AsRef<str>>(names: &[S]) -> Vec<u32> {
    let mut v: Vec<u32> = names
        .iter()
        .filter_map(|n| {
            let n = n.as_ref();
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse().ok())
                .flatten()
        })
        .collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use swirl_ring::builder::RingBuilder;

    fn ring() -> RingData {
        let mut b = RingBuilder::new(6, 3.0, 1).unwrap();
        for i in 0..4u32 {
            b.add_dev(
                Device {
                    region: 1,
                    zone: i + 1,
                    ip: format!("192.0.2.{}", i + 1),
                    port: 6200,
                    replication_ip: format!("198.51.100.{}", i + 1),
                    replication_port: 6300,
                    device: "d1".into(),
                    weight: 100.0,
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        b.rebalance(&mut rng, 0, &mut |_| {}).unwrap();
        b.get_ring().unwrap()
    }

    #[test]
    fn primaries_and_handoffs() {
        let r = ring();
        let mine = local_devices(&r, "198.51.100.1", 6300);
        assert_eq!(mine.len(), 1);
        assert!(local_devices(&r, "192.0.2.1", 6300).is_empty());
        let all: Vec<u32> = (0..64).collect();
        let jobs = device_jobs(&r, 0, mine[0], &all);
        let (hand, prim): (Vec<_>, Vec<_>) = jobs.iter().partition(|j| j.handoff);
        // 3 replicas over 4 devices: this device holds 3/4 of the partitions.
        assert_eq!(prim.len(), 48);
        assert_eq!(hand.len(), 16);
        assert!(prim.iter().all(|j| j.nodes.len() == 2));
        assert!(hand.iter().all(|j| j.nodes.len() == 3));
        assert!(jobs
            .iter()
            .all(|j| j.nodes.iter().all(|n| n.id != mine[0].id && n.port == 6300)));
        let mut ordered = jobs.clone();
        order(
            &mut ordered,
            true,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(2),
        );
        assert!(ordered[..16].iter().all(|j| j.handoff));
        assert_eq!(
            parse_partitions(&["12", "3", "auditor_status.json", "x1", ""]),
            vec![3, 12]
        );
        // Partitions past the ring's are not jobs.
        assert!(device_jobs(&r, 0, mine[0], &[64, 1000]).is_empty());
    }
}
