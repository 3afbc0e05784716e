//! The failure-domain tree (region > zone > host > device) as flat arrays.
//!
//! Swift keys its tiers by tuples `(region,)`, `(region, zone)`, `(region, zone, ip)`,
//! `(region, zone, ip, id)` and looks them up in dicts. Here every tier is a node index,
//! so the rebalance hot path only indexes vectors. Children are sorted in Swift's tuple
//! order (numbers ascending, ips as strings), which keeps ties resolved the same way.

use std::collections::BTreeMap;

use crate::device::Device;

/// Node index meaning "no node" (a device id that is a hole).
pub(crate) const NO_NODE: u32 = u32::MAX;

/// Depth of a device node; the root is depth 0.
pub(crate) const DEV_LEVEL: u8 = 4;

/// Tier tree over every present device. `in_tree` marks nodes that have at least one
/// weighted device below them: only those take part in planning and placement (Swift's
/// `_build_tier2children` ignores zero-weight devices), but every node is counted in the
/// dispersion graph.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    pub level: Vec<u8>,
    pub parent: Vec<u32>,
    /// Weighted children only, in Swift's tuple order.
    pub children: Vec<Vec<u32>>,
    pub in_tree: Vec<bool>,
    /// For device nodes, the device id; otherwise `NO_NODE`.
    pub node_dev: Vec<u32>,
    /// Per device id: its region, zone, host and device node (`NO_NODE` for holes).
    pub dev_tiers: Vec<[u32; 4]>,
    /// Number of weighted devices below each node.
    pub num_devices: Vec<u32>,
    /// The first device seen below each node (names a tier in reports).
    pub first_dev: Vec<u32>,
}

/// Sort key reproducing Python's ordering of tier tuples within one level.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Region(u32),
    Zone(u32, u32),
    Host(u32, u32, String),
    Dev(u32, u32, String, u32),
}

impl Topology {
    /// Builds the tree from the builder's device table (holes allowed).
    pub fn build(devs: &[Option<Device>]) -> Topology {
        let mut keys: BTreeMap<Key, u32> = BTreeMap::new();
        let mut topo = Topology {
            level: vec![0],
            parent: vec![NO_NODE],
            children: vec![Vec::new()],
            in_tree: vec![false],
            node_dev: vec![NO_NODE],
            dev_tiers: vec![[NO_NODE; 4]; devs.len()],
            num_devices: vec![0],
            first_dev: vec![NO_NODE],
        };
        for dev in devs.iter().flatten() {
            let chain = [
                Key::Region(dev.region),
                Key::Zone(dev.region, dev.zone),
                Key::Host(dev.region, dev.zone, dev.ip.clone()),
                Key::Dev(dev.region, dev.zone, dev.ip.clone(), dev.id),
            ];
            let mut parent = 0u32;
            let mut tiers = [NO_NODE; 4];
            for (depth, key) in chain.into_iter().enumerate() {
                let node = match keys.get(&key) {
                    Some(&n) => n,
                    None => {
                        let n = topo.level.len() as u32;
                        topo.level.push(depth as u8 + 1);
                        topo.parent.push(parent);
                        topo.children.push(Vec::new());
                        topo.in_tree.push(false);
                        topo.node_dev
                            .push(if depth == 3 { dev.id } else { NO_NODE });
                        topo.num_devices.push(0);
                        topo.first_dev.push(dev.id);
                        keys.insert(key, n);
                        n
                    }
                };
                tiers[depth] = node;
                parent = node;
            }
            if let Some(slot) = topo.dev_tiers.get_mut(dev.id as usize) {
                *slot = tiers;
            }
            if dev.weight > 0.0 {
                topo.in_tree[0] = true;
                topo.num_devices[0] += 1;
                for &t in &tiers {
                    topo.in_tree[t as usize] = true;
                    topo.num_devices[t as usize] += 1;
                }
            }
        }
        // BTreeMap iteration is in tuple order, so pushing children in that order sorts them.
        for &node in keys.values() {
            if topo.in_tree[node as usize] {
                let p = topo.parent[node as usize] as usize;
                topo.children[p].push(node);
            }
        }
        topo
    }

    pub fn len(&self) -> usize {
        self.level.len()
    }

    /// Tier nodes of a device, shallowest first (region, zone, host, device).
    pub fn tiers(&self, dev_id: u32) -> &[u32; 4] {
        static NONE: [u32; 4] = [NO_NODE; 4];
        self.dev_tiers.get(dev_id as usize).unwrap_or(&NONE)
    }

    /// Swift's tier name for reports: `r1`, `r1z2`, `r1z2-10.0.0.1`, `r1z2-10.0.0.1/sdb`.
    pub fn tier_name(&self, node: u32, devs: &[Option<Device>]) -> String {
        // Any device below the node carries region/zone/ip for the whole chain.
        let dev = self
            .first_dev
            .get(node as usize)
            .and_then(|&id| devs.get(id as usize))
            .and_then(|d| d.as_ref());
        let Some(dev) = dev else {
            return String::new();
        };
        match self.level[node as usize] {
            1 => format!("r{}", dev.region),
            2 => format!("r{}z{}", dev.region, dev.zone),
            3 => format!("r{}z{}-{}", dev.region, dev.zone, dev.ip),
            4 => format!("r{}z{}-{}/{}", dev.region, dev.zone, dev.ip, dev.device),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: u32, region: u32, zone: u32, ip: &str, weight: f64) -> Option<Device> {
        Some(Device {
            id,
            region,
            zone,
            ip: ip.into(),
            weight,
            ..Default::default()
        })
    }

    #[test]
    fn builds_tree_in_tuple_order_and_skips_zero_weight_children() {
        let devs = vec![
            dev(0, 2, 1, "10.0.0.9", 1.0),
            dev(1, 1, 1, "10.0.0.10", 1.0),
            None,
            dev(3, 1, 1, "10.0.0.2", 1.0),
            dev(4, 1, 2, "10.0.0.3", 0.0),
        ];
        let t = Topology::build(&devs);
        // root -> regions 1, 2 (region 1 first).
        let regions = &t.children[0];
        assert_eq!(regions.len(), 2);
        assert_eq!(t.tier_name(regions[0], &devs), "r1");
        // zone 2 of region 1 holds only a zero-weight device: not a child.
        assert_eq!(t.children[regions[0] as usize].len(), 1);
        let zone = t.children[regions[0] as usize][0];
        // hosts sorted as strings: "10.0.0.10" < "10.0.0.2".
        let hosts: Vec<String> = t.children[zone as usize]
            .iter()
            .map(|&h| t.tier_name(h, &devs))
            .collect();
        assert_eq!(hosts, vec!["r1z1-10.0.0.10", "r1z1-10.0.0.2"]);
        assert_eq!(t.tiers(2), &[NO_NODE; 4]);
        assert_eq!(t.num_devices[0], 3);
        assert!(!t.in_tree[t.tiers(4)[3] as usize]);
    }
}
