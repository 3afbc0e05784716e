//! The replica plan: how many replicas ("replicanths", fractional) each tier should hold.
//!
//! Same arithmetic as Swift's builder (`_build_weighted_replicas_by_tier`,
//! `_build_wanted_replicas_by_tier`, `get_required_overload`,
//! `_build_target_replicas_by_tier`, `_build_replica_plan`, `_set_parts_wanted`):
//! - *weighted*: a tier's share by weight alone (a device holds at most one replica);
//! - *wanted*: the share that disperses replicas as widely as possible;
//! - *target*: weighted moved towards wanted by at most `overload`;
//! - per tier `min = floor(target)`, `max = ceil(target)` replicas of any one partition.

use crate::device::Device;
use crate::error::{Error, Result};

use super::topology::{Topology, DEV_LEVEL, NO_NODE};

/// Float slack used where Swift uses `1e-10`.
const EPS: f64 = 1e-10;

/// Per-node plan values (indexed like `Topology` nodes).
#[derive(Debug, Clone)]
pub(crate) struct ReplicaPlan {
    pub target: Vec<f64>,
    pub min: Vec<u32>,
    pub max: Vec<u32>,
}

/// Sum of weights of all present devices.
pub(crate) fn total_weight(devs: &[Option<Device>]) -> f64 {
    devs.iter().flatten().map(|d| d.weight).sum()
}

/// Each tier's replicanths by weight alone.
pub(crate) fn weighted_replicas(
    topo: &Topology,
    devs: &[Option<Device>],
    replicas: f64,
) -> Result<Vec<f64>> {
    let total = total_weight(devs);
    if total <= 0.0 {
        return Err(Error::Builder(
            "There are no devices in this ring, or all devices have been deleted".into(),
        ));
    }
    let mut per_dev = vec![0.0f64; devs.len()];
    let mut with_room: Vec<usize> = Vec::new();
    for d in devs.iter().flatten().filter(|d| d.weight > 0.0) {
        let w = d.weight * replicas / total;
        let i = d.id as usize;
        if w < 1.0 {
            per_dev[i] = w;
            with_room.push(i);
        } else {
            per_dev[i] = 1.0;
        }
    }
    // A device cannot hold two replicas of a partition: hand the excess of devices capped
    // at one replica to the others, in proportion, until nothing is left over.
    for _ in 0..10_000 {
        let remaining = replicas - per_dev.iter().sum::<f64>();
        if remaining < EPS {
            break;
        }
        with_room.retain(|&i| per_dev[i] < 1.0);
        let room: f64 = with_room.iter().map(|&i| per_dev[i]).sum();
        if room <= 0.0 {
            return Err(Error::Builder(format!(
                "Replica count of {replicas} cannot be placed on the weighted devices"
            )));
        }
        let rel = remaining / room;
        for &i in &with_room {
            per_dev[i] = (per_dev[i] * (rel + 1.0)).min(1.0);
        }
    }
    let mut by_node = vec![0.0f64; topo.len()];
    for d in devs.iter().flatten().filter(|d| d.weight > 0.0) {
        let w = per_dev[d.id as usize];
        by_node[0] += w;
        for &t in topo.tiers(d.id) {
            by_node[t as usize] += w;
        }
    }
    check_sums(topo, replicas, &by_node, "weighted")?;
    Ok(by_node)
}

/// Swift's `_build_max_replicas_by_tier`: the most replicas of one partition each tier
/// may hold if replicas were spread evenly over the tree, ignoring weights. `ceil`
/// chooses the rounding (`true`: whole replicas, as the dispersion figure uses).
pub(crate) fn max_replicas(topo: &Topology, replicas: f64, ceil: bool) -> Vec<f64> {
    let mut out = vec![0.0f64; topo.len()];
    if !topo.in_tree[0] {
        return out;
    }
    out[0] = replicas;
    // Nodes are created parent-before-child, but children lists are what we trust.
    let mut stack = vec![0u32];
    while let Some(n) = stack.pop() {
        let kids = &topo.children[n as usize];
        if kids.is_empty() {
            continue;
        }
        let share = out[n as usize] / kids.len() as f64;
        let share = if ceil { share.ceil() } else { share };
        for &k in kids {
            out[k as usize] = if topo.level[k as usize] == DEV_LEVEL {
                share.min(1.0)
            } else {
                share
            };
            stack.push(k);
        }
    }
    out
}

/// Swift's `_build_wanted_replicas_by_tier`: replicanths that disperse as far as
/// possible while following weight within the dispersion bounds.
pub(crate) fn wanted_replicas(
    topo: &Topology,
    replicas: f64,
    weighted: &[f64],
) -> Result<Vec<f64>> {
    let bounds = max_replicas(topo, replicas, false);
    let dmin: Vec<f64> = bounds.iter().map(|r| r.floor()).collect();
    let dmax: Vec<f64> = bounds.iter().map(|r| r.ceil()).collect();
    let mut wanted = vec![0.0f64; topo.len()];
    let mut stack: Vec<(u32, f64)> = vec![(0, replicas)];
    while let Some((tier, replicanths)) = stack.pop() {
        let num = f64::from(topo.num_devices[tier as usize]);
        if replicanths > num {
            return Err(Error::Builder(format!(
                "More replicanths ({replicanths}) than devices ({num}) in a tier"
            )));
        }
        wanted[tier as usize] = replicanths;
        let sub = &topo.children[tier as usize];
        if sub.is_empty() {
            continue;
        }
        let num_dev = |t: u32| f64::from(topo.num_devices[t as usize]);
        let mut to_place = vec![0.0f64; sub.len()];
        let mut remaining = replicanths;
        let mut spread: Vec<usize> = (0..sub.len()).collect();
        let mut device_limited = false;
        let mut converged = false;
        for _ in 0..10_000 {
            let wsum: f64 = spread.iter().map(|&i| weighted[sub[i] as usize]).sum();
            if wsum <= 0.0 {
                break;
            }
            let rel = remaining / wsum;
            for &i in &spread {
                let t = sub[i] as usize;
                let mut r = to_place[i] + weighted[t] * rel;
                if r < dmin[t] {
                    r = dmin[t];
                } else if r > dmax[t] && !device_limited {
                    r = dmax[t];
                }
                if r > num_dev(sub[i]) {
                    r = num_dev(sub[i]);
                }
                to_place[i] = r;
            }
            remaining = replicanths - to_place.iter().sum::<f64>();
            if remaining < -EPS {
                spread = (0..sub.len())
                    .filter(|&i| to_place[i] > dmin[sub[i] as usize])
                    .collect();
            } else if remaining > EPS {
                spread = (0..sub.len())
                    .filter(|&i| {
                        num_dev(sub[i]) > to_place[i] && to_place[i] < dmax[sub[i] as usize]
                    })
                    .collect();
                if spread.is_empty() {
                    device_limited = true;
                    spread = (0..sub.len())
                        .filter(|&i| to_place[i] < num_dev(sub[i]))
                        .collect();
                }
            } else {
                converged = true;
                break;
            }
        }
        if !converged {
            return Err(Error::Builder(
                "Unable to plan replica dispersion for this device layout".into(),
            ));
        }
        for (i, &t) in sub.iter().enumerate() {
            stack.push((t, to_place[i]));
        }
    }
    check_sums(topo, replicas, &wanted, "wanted")?;
    Ok(wanted)
}

/// Swift's `get_required_overload`: the largest fractional increase any device needs
/// over its weighted share to reach full dispersion.
pub(crate) fn required_overload(topo: &Topology, weighted: &[f64], wanted: &[f64]) -> f64 {
    let mut max = 0.0f64;
    for (node, &dev) in topo.node_dev.iter().enumerate() {
        if dev == NO_NODE || !topo.in_tree[node] || weighted[node] <= 0.0 {
            continue;
        }
        let required = (wanted[node] - weighted[node]) / weighted[node];
        if required > max {
            max = required;
        }
    }
    max
}

/// The full plan (target with overload applied, and its min/max).
pub(crate) fn build(
    topo: &Topology,
    devs: &[Option<Device>],
    replicas: f64,
    overload: f64,
) -> Result<ReplicaPlan> {
    let weighted = weighted_replicas(topo, devs, replicas)?;
    let wanted = wanted_replicas(topo, replicas, &weighted)?;
    let max_overload = required_overload(topo, &weighted, &wanted);
    let target = if max_overload <= 0.0 {
        wanted
    } else {
        let overload = overload.min(max_overload);
        let t: Vec<f64> = weighted
            .iter()
            .zip(&wanted)
            .enumerate()
            .map(|(n, (&w, &x))| {
                if topo.in_tree[n] {
                    (x - w) / max_overload * overload + w
                } else {
                    0.0
                }
            })
            .collect();
        check_sums(topo, replicas, &t, "target")?;
        t
    };
    let min = target.iter().map(|r| (r + EPS).floor() as u32).collect();
    let max = target
        .iter()
        .map(|r| (r - EPS).ceil().max(0.0) as u32)
        .collect();
    Ok(ReplicaPlan { target, min, max })
}

/// Swift's `_set_parts_wanted` first half: whole part-replicas per tier from the plan's
/// targets, leftovers dealt round-robin from the smallest target up.
pub(crate) fn parts_by_tier(
    topo: &Topology,
    plan: &ReplicaPlan,
    parts: u64,
    total: u64,
) -> Result<Vec<u64>> {
    let mut out = vec![0u64; topo.len()];
    let mut stack: Vec<(u32, u64)> = vec![(0, total)];
    while let Some((tier, mut n)) = stack.pop() {
        out[tier as usize] = n;
        let sub = &topo.children[tier as usize];
        if sub.is_empty() {
            continue;
        }
        let mut to_place = vec![0u64; sub.len()];
        for (i, &t) in sub.iter().enumerate() {
            let want = (plan.target[t as usize] * parts as f64).floor().max(0.0) as u64;
            to_place[i] = n.min(want);
            n -= to_place[i];
        }
        if n > 0 {
            let mut order: Vec<usize> = (0..sub.len()).collect();
            order.sort_by(|&a, &b| {
                plan.target[sub[a] as usize].total_cmp(&plan.target[sub[b] as usize])
            });
            let k = order.len() as u64;
            let each = n / k;
            let extra = (n % k) as usize;
            for (j, &i) in order.iter().enumerate() {
                to_place[i] += each + u64::from(j < extra);
            }
        }
        for (i, &t) in sub.iter().enumerate() {
            stack.push((t, to_place[i]));
        }
    }
    for level in 0..=DEV_LEVEL {
        let sum: u64 = (0..topo.len())
            .filter(|&n| topo.level[n] == level && topo.in_tree[n])
            .map(|n| out[n])
            .sum();
        if topo.in_tree[0] && sum != total {
            return Err(Error::Builder(format!(
                "{sum} != {total} part-replicas at tier depth {level}"
            )));
        }
    }
    Ok(out)
}

fn check_sums(topo: &Topology, replicas: f64, by_node: &[f64], what: &str) -> Result<()> {
    let mut sums = [0.0f64; DEV_LEVEL as usize + 1];
    for (n, &v) in by_node.iter().enumerate() {
        if topo.in_tree[n] {
            sums[topo.level[n] as usize] += v;
        }
    }
    for (level, s) in sums.iter().enumerate() {
        // Swift checks 1e-10; summation order differs here, so allow float noise.
        if (replicas - s).abs() > 1e-7 * replicas.max(1.0) {
            return Err(Error::Builder(format!(
                "{what} replicas {s} != {replicas} at tier depth {level}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devs(spec: &[(u32, u32, &str, f64)]) -> Vec<Option<Device>> {
        spec.iter()
            .enumerate()
            .map(|(i, &(r, z, ip, w))| {
                Some(Device {
                    id: i as u32,
                    region: r,
                    zone: z,
                    ip: ip.into(),
                    weight: w,
                    ..Default::default()
                })
            })
            .collect()
    }

    #[test]
    fn even_three_zones_plan_one_replica_each() {
        let d = devs(&[(1, 1, "a", 1.0), (1, 2, "b", 1.0), (1, 3, "c", 1.0)]);
        let t = Topology::build(&d);
        let p = build(&t, &d, 3.0, 0.0).unwrap();
        for id in 0..3 {
            let z = t.tiers(id)[1] as usize;
            assert!((p.target[z] - 1.0).abs() < 1e-9);
            assert_eq!((p.min[z], p.max[z]), (1, 1));
        }
        let pbt = parts_by_tier(&t, &p, 256, 768).unwrap();
        assert_eq!(pbt[t.tiers(0)[3] as usize], 256);
    }

    #[test]
    fn overload_moves_target_towards_dispersion() {
        // Zone 1 is heavy: by weight it would take 2 of 3 replicas; dispersion wants 1.
        let d = devs(&[
            (1, 1, "a", 4.0),
            (1, 1, "b", 4.0),
            (1, 2, "c", 1.0),
            (1, 3, "d", 1.0),
        ]);
        let t = Topology::build(&d);
        let weighted = weighted_replicas(&t, &d, 3.0).unwrap();
        let wanted = wanted_replicas(&t, 3.0, &weighted).unwrap();
        let z1 = t.tiers(0)[1] as usize;
        assert!((weighted[z1] - 2.0).abs() < 1e-9);
        assert!((wanted[z1] - 1.0).abs() < 1e-9);
        let req = required_overload(&t, &weighted, &wanted);
        assert!(req > 0.0);
        let none = build(&t, &d, 3.0, 0.0).unwrap();
        let full = build(&t, &d, 3.0, req).unwrap();
        assert!((none.target[z1] - weighted[z1]).abs() < 1e-9);
        assert!((full.target[z1] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn max_replicas_splits_evenly() {
        let d = devs(&[(1, 1, "a", 1.0), (1, 2, "b", 1.0), (2, 1, "c", 1.0)]);
        let t = Topology::build(&d);
        let m = max_replicas(&t, 3.0, true);
        let r1 = t.tiers(0)[0] as usize;
        assert_eq!(m[r1], 2.0);
        assert_eq!(m[t.tiers(0)[1] as usize], 1.0);
        assert_eq!(m[t.tiers(0)[3] as usize], 1.0);
    }
}
