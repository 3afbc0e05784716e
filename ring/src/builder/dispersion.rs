//! Dispersion: how many part-replicas sit closer together than the layout allows.
//!
//! Swift (`_build_dispersion_graph`, `dispersion_report`): for every tier, a histogram
//! of partitions by how many of their replicas the tier holds; a tier may hold
//! `ceil(replicas / siblings)` per level down the tree (one per device). A part-replica
//! over that bound is "at risk"; each partition counts its risk once, at its worst
//! level. The figure is `100 * at_risk / (parts * replicas)`.

use serde::Serialize;

use super::plan::max_replicas;
use super::rebalance::{part_major, NO_SLOT};
use super::topology::{Topology, NO_NODE};
use super::RingBuilder;

/// One tier's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierDispersion {
    /// Swift's tier name: `r1`, `r1z2`, `r1z2-10.0.0.1`, `r1z2-10.0.0.1/sdb`.
    pub tier: String,
    /// 1 region, 2 zone, 3 host, 4 device.
    pub level: u8,
    /// Most replicas of one partition this tier should hold.
    pub max_replicas: u32,
    /// Part-replicas the tier holds.
    pub placed_parts: u64,
    /// Percentage of those above `max_replicas`.
    pub dispersion: f64,
    /// `replicas[n]`: partitions with exactly `n` replicas in this tier.
    pub replicas: Vec<u64>,
}

/// What `swift-ring-builder <file> dispersion -v` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DispersionReport {
    /// Worst tier's dispersion.
    pub max_dispersion: f64,
    /// Its name, if any tier has replicas at risk.
    pub worst_tier: Option<String>,
    /// Every tier holding a replica, in Swift's tier order.
    pub graph: Vec<TierDispersion>,
}

/// The ring's dispersion percentage (stored by rebalance), over a part-major table.
pub(crate) fn figure(topo: &Topology, replicas: f64, pm: &[u32], stride: usize) -> f64 {
    let parts = pm.len() / stride.max(1);
    if parts == 0 || replicas <= 0.0 {
        return 0.0;
    }
    let bound = max_replicas(topo, replicas, true);
    let mut counts = vec![0u16; topo.len()];
    let mut at_risk = 0.0f64;
    for slots in pm.chunks_exact(stride) {
        let devs = || slots.iter().copied().filter(|&d| d < NO_SLOT);
        for d in devs() {
            for &t in topo.tiers(d) {
                if t != NO_NODE {
                    counts[t as usize] += 1;
                }
            }
        }
        let mut risk = [0.0f64; 5];
        for d in devs() {
            for &t in topo.tiers(d) {
                if t == NO_NODE || counts[t as usize] == 0 {
                    continue;
                }
                let c = f64::from(counts[t as usize]);
                let max = bound[t as usize];
                if c > max {
                    risk[topo.level[t as usize] as usize] += c - max;
                }
                counts[t as usize] = 0;
            }
        }
        at_risk += risk.iter().copied().fold(0.0, f64::max);
    }
    100.0 * at_risk / (parts as f64 * replicas)
}

/// The per-tier report, recomputed from the current assignment.
pub(crate) fn report(b: &RingBuilder) -> DispersionReport {
    let topo = Topology::build(&b.devs);
    let bound = max_replicas(&topo, b.replicas, true);
    let width = b.replicas.ceil() as usize + 1;
    let parts = u64::from(b.parts());
    let mut hist: Vec<Option<Vec<u64>>> = vec![None; topo.len()];
    let mut counts = vec![0u16; topo.len()];
    if !b.replica2part2dev.is_empty() {
        let (pm, stride) = part_major(&b.replica2part2dev, b.parts() as usize);
        for slots in pm.chunks_exact(stride) {
            let devs = || slots.iter().copied().filter(|&d| d < NO_SLOT);
            for d in devs() {
                for &t in topo.tiers(d) {
                    if t != NO_NODE {
                        counts[t as usize] += 1;
                    }
                }
            }
            for d in devs() {
                for &t in topo.tiers(d) {
                    if t == NO_NODE || counts[t as usize] == 0 {
                        continue;
                    }
                    let c = usize::from(counts[t as usize]);
                    let h = hist[t as usize].get_or_insert_with(|| {
                        let mut v = vec![0u64; width];
                        v[0] = parts;
                        v
                    });
                    if c >= h.len() {
                        h.resize(c + 1, 0);
                    }
                    h[0] -= 1;
                    h[c] += 1;
                    counts[t as usize] = 0;
                }
            }
        }
    }
    // Swift sorts tier tuples: a tier comes right before its children.
    let mut order: Vec<(SortKey, usize)> = (1..topo.len())
        .filter(|&n| hist[n].is_some())
        .map(|n| (sort_key(&topo, b, n), n))
        .collect();
    order.sort();
    let mut graph = Vec::with_capacity(order.len());
    let mut max_dispersion = 0.0f64;
    let mut worst_tier = None;
    for (_, n) in order {
        let Some(replicas) = hist[n].take() else {
            continue;
        };
        let max = bound[n] as u32;
        let at_risk: u64 = replicas
            .iter()
            .enumerate()
            .skip(max as usize + 1)
            .map(|(i, &c)| c * (i as u64 - u64::from(max)))
            .sum();
        let placed: u64 = replicas
            .iter()
            .enumerate()
            .map(|(i, &c)| c * i as u64)
            .sum();
        let dispersion = if placed > 0 {
            100.0 * at_risk as f64 / placed as f64
        } else {
            0.0
        };
        let tier = topo.tier_name(n as u32, &b.devs);
        if dispersion > max_dispersion {
            max_dispersion = dispersion;
            worst_tier = Some(tier.clone());
        }
        graph.push(TierDispersion {
            tier,
            level: topo.level[n],
            max_replicas: max,
            placed_parts: placed,
            dispersion,
            replicas,
        });
    }
    DispersionReport {
        max_dispersion,
        worst_tier,
        graph,
    }
}

type SortKey = (u32, Option<u32>, Option<String>, Option<u32>);

fn sort_key(topo: &Topology, b: &RingBuilder, node: usize) -> SortKey {
    let Some(dev) = topo
        .first_dev
        .get(node)
        .and_then(|&id| b.devs.get(id as usize))
        .and_then(|d| d.as_ref())
    else {
        return (u32::MAX, None, None, None);
    };
    let level = topo.level[node];
    (
        dev.region,
        (level >= 2).then_some(dev.zone),
        (level >= 3).then(|| dev.ip.clone()),
        (level >= 4).then_some(dev.id),
    )
}
