//! One rebalance: gather part-replicas that should move, then place them.
//!
//! The phases and rules are Swift's (`RingBuilder.rebalance`):
//! 1. age `last_part_moves` by the hours since the last rebalance;
//! 2. build the replica plan and each device's `parts_wanted`;
//! 3. gather: slots added by a replica-count change, everything on removed devices,
//!    replicas that break the plan's per-tier maximum (dispersion), then replicas on
//!    overweight devices (first only where they can go to another failure domain, later
//!    forced);
//! 4. place each gathered replica by walking down the tier tree, at each level taking
//!    the child that may still hold a replica of this partition and has the most room;
//! 5. repeat 3–4 while devices are still overweight and balance keeps improving.
//!
//! A partition moves at most once per rebalance, and not at all if it moved less than
//! `min_part_hours` ago (removed devices override that: their data has to go).
//!
//! Data layout is built for speed: tiers are node indices, per-tier replica counts are
//! a scratch vector reset after each partition, and gathered slots are (part, replica)
//! pairs sorted into groups, never hashed.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::ring_data::NONE_DEV;

use super::plan::{self, ReplicaPlan};
use super::topology::{Topology, DEV_LEVEL, NO_NODE};
use super::{dispersion, RebalanceReport, RingBuilder};

/// Swift gathers for balance three times; we keep going while balance improves, up to
/// this many rounds (each round can only move partitions not yet moved).
const MAX_BALANCE_ROUNDS: usize = 16;

/// Working state of one rebalance.
struct Work<'a> {
    topo: &'a Topology,
    plan: &'a ReplicaPlan,
    parts: usize,
    /// Per device id: part-replicas still wanted (negative: overweight).
    parts_wanted: Vec<i64>,
    /// Per partition: already moved in this rebalance.
    moved: Vec<bool>,
    /// Gathered (part, replica) slots waiting for a device.
    assign: Vec<(u32, u32)>,
    /// Per tier node: replicas of the current partition in that tier.
    counts: Vec<u16>,
    /// (replica, device) of the current partition (what `counts` holds).
    part_devs: Vec<(u32, u32)>,
}

pub(super) fn run(
    b: &mut RingBuilder,
    rng: &mut impl Rng,
    now_secs: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<RebalanceReport> {
    let weighted_devs = b.devs.iter().flatten().filter(|d| d.weight > 0.0).count();
    if (weighted_devs as f64) < b.replicas {
        return Err(Error::Builder(format!(
            "Replica count of {} requires more than {} devices",
            b.replicas, weighted_devs
        )));
    }
    let parts = b.parts() as usize;
    if b.last_part_moves.len() != parts {
        b.last_part_moves = vec![0; parts];
    }
    let old_table = b.replica2part2dev.clone();
    update_last_part_moves(b, now_secs);

    progress("building replica plan");
    let topo = Topology::build(&b.devs);
    let plan = plan::build(&topo, &b.devs, b.replicas, b.overload)?;
    let total = (b.replicas * parts as f64) as u64;
    let by_tier = plan::parts_by_tier(&topo, &plan, parts as u64, total)?;

    let mut w = Work {
        topo: &topo,
        plan: &plan,
        parts,
        parts_wanted: vec![0; b.devs.len()],
        moved: vec![false; parts],
        assign: Vec::new(),
        counts: vec![0; topo.len()],
        part_devs: Vec::with_capacity(8),
    };
    for d in b.devs.iter().flatten() {
        let i = d.id as usize;
        w.parts_wanted[i] = if d.weight > 0.0 {
            by_tier[topo.tiers(d.id)[3] as usize] as i64 - i64::from(b.dev_parts[i])
        } else {
            -(total as i64)
        };
    }

    adjust_replica_count(b, &mut w);
    let removed_devs = gather_from_removed(b, &mut w);
    let n = w.assign.len();
    gather_for_dispersion(b, &mut w);
    progress(&format!(
        "gathered {n} part-replicas (replica count change, removed devices), {} for dispersion",
        w.assign.len() - n
    ));

    let mut last_balance = f64::INFINITY;
    for round in 0..MAX_BALANCE_ROUNDS {
        let before = w.assign.len();
        gather_for_balance(b, &mut w, rng, round == 0);
        if w.assign.is_empty() {
            progress(&format!("round {}: nothing left that may move", round + 1));
            break;
        }
        let gathered = w.assign.len();
        reassign(b, &mut w, rng)?;
        let balance = b.get_balance();
        progress(&format!(
            "round {}: gathered {} for balance, placed {gathered}; balance {balance:.2}",
            round + 1,
            gathered - before
        ));
        let overweight = b
            .devs
            .iter()
            .flatten()
            .any(|d| w.parts_wanted[d.id as usize] < 0);
        // Swift stops after three rounds; we stop when no device is overweight or when a
        // round past the third no longer improves balance.
        if !overweight || (round >= 2 && balance >= last_balance - 1e-9) {
            break;
        }
        last_balance = balance;
    }

    b.devs_changed = false;
    let parts_moved = count_changed(&old_table, &b.replica2part2dev);
    b.dispersion = dispersion::figure(b, &topo);
    b.version += 1;
    progress(&format!(
        "moved {parts_moved} part-replicas; balance {:.2}, dispersion {:.2}",
        b.get_balance(),
        b.dispersion
    ));
    Ok(RebalanceReport {
        parts_moved,
        balance: b.get_balance(),
        dispersion: b.dispersion,
        removed_devs,
    })
}

/// Ages `last_part_moves` by whole hours since the last rebalance (Swift:
/// `_update_last_part_moves`). The epoch only advances when at least an hour passed.
fn update_last_part_moves(b: &mut RingBuilder, now_secs: u64) {
    let elapsed_hours = now_secs.saturating_sub(b.last_part_moves_epoch) / 3600;
    if elapsed_hours == 0 {
        return;
    }
    let add = elapsed_hours.min(255) as u8;
    for h in &mut b.last_part_moves {
        *h = h.saturating_add(add);
    }
    b.last_part_moves_epoch = now_secs;
}

impl Work<'_> {
    fn can_move(&self, b: &RingBuilder, part: usize) -> bool {
        u32::from(b.last_part_moves[part]) >= b.min_part_hours && !self.moved[part]
    }

    fn set_moved(&mut self, b: &mut RingBuilder, part: usize) {
        b.last_part_moves[part] = 0;
        self.moved[part] = true;
    }

    /// Loads the current partition's devices and per-tier counts.
    fn load(&mut self, table: &[Vec<u32>], part: usize) {
        self.part_devs.clear();
        for (r, row) in table.iter().enumerate() {
            if let Some(&d) = row.get(part) {
                if d != NONE_DEV {
                    self.part_devs.push((r as u32, d));
                    for &t in self.topo.tiers(d) {
                        if t != NO_NODE {
                            self.counts[t as usize] += 1;
                        }
                    }
                }
            }
        }
    }

    /// Resets the counts `load`/`add` touched.
    fn clear(&mut self) {
        for &(_, d) in &self.part_devs {
            for &t in self.topo.tiers(d) {
                if t != NO_NODE {
                    self.counts[t as usize] = 0;
                }
            }
        }
        self.part_devs.clear();
    }

    fn count(&self, t: u32) -> u32 {
        if t == NO_NODE {
            0
        } else {
            u32::from(self.counts[t as usize])
        }
    }

    /// Takes replica `r` of `part` off device `d` and queues it for placement.
    fn gather(&mut self, b: &mut RingBuilder, part: usize, r: u32, d: u32) {
        self.parts_wanted[d as usize] += 1;
        if let Some(n) = b.dev_parts.get_mut(d as usize) {
            *n = n.saturating_sub(1);
        }
        b.replica2part2dev[r as usize][part] = NONE_DEV;
        for &t in self.topo.tiers(d) {
            if t != NO_NODE {
                self.counts[t as usize] = self.counts[t as usize].saturating_sub(1);
            }
        }
        self.assign.push((part as u32, r));
        self.set_moved(b, part);
    }
}

/// Makes the table's rows match the replica count: whole rows of `parts`, plus a
/// shorter last row for a fraction. New slots are queued; dropped slots free parts.
fn adjust_replica_count(b: &mut RingBuilder, w: &mut Work<'_>) {
    let parts = w.parts;
    let whole = b.replicas.floor() as usize;
    let frac_len = (parts as f64 * b.replicas.fract()) as usize;
    let mut desired = vec![parts; whole];
    if frac_len > 0 {
        desired.push(frac_len);
    }
    let release = |b: &mut RingBuilder, w: &mut Work<'_>, d: u32| {
        if let Some(n) = b.dev_parts.get_mut(d as usize) {
            *n = n.saturating_sub(1);
            w.parts_wanted[d as usize] += 1;
        }
    };
    while b.replica2part2dev.len() > desired.len() {
        if let Some(row) = b.replica2part2dev.pop() {
            for d in row.into_iter().filter(|&d| d != NONE_DEV) {
                release(b, w, d);
            }
        }
    }
    for (r, &len) in desired.iter().enumerate() {
        if r == b.replica2part2dev.len() {
            b.replica2part2dev.push(Vec::new());
        }
        let cur = b.replica2part2dev[r].len();
        if cur < len {
            b.replica2part2dev[r].resize(len, NONE_DEV);
            w.assign.extend((cur..len).map(|p| (p as u32, r as u32)));
        } else if cur > len {
            let dropped: Vec<u32> = b.replica2part2dev[r].drain(len..).collect();
            for d in dropped.into_iter().filter(|&d| d != NONE_DEV) {
                release(b, w, d);
            }
        }
    }
}

/// Queues every replica on a device marked for removal, then drops those devices.
fn gather_from_removed(b: &mut RingBuilder, w: &mut Work<'_>) -> Vec<Device> {
    if b.remove_devs.is_empty() {
        return Vec::new();
    }
    let mut removing = vec![false; b.devs.len()];
    for &id in &b.remove_devs {
        if let Some(x) = removing.get_mut(id as usize) {
            *x = true;
        }
    }
    for r in 0..b.replica2part2dev.len() {
        for p in 0..b.replica2part2dev[r].len() {
            let d = b.replica2part2dev[r][p];
            if d != NONE_DEV && removing.get(d as usize).copied().unwrap_or(false) {
                b.replica2part2dev[r][p] = NONE_DEV;
                w.assign.push((p as u32, r as u32));
                w.set_moved(b, p);
            }
        }
    }
    let mut removed = Vec::new();
    for id in std::mem::take(&mut b.remove_devs) {
        let i = id as usize;
        if let Some(dev) = b.devs.get_mut(i).and_then(Option::take) {
            removed.push(dev);
        }
        if let Some(n) = b.dev_parts.get_mut(i) {
            *n = 0;
        }
        if let Some(pw) = w.parts_wanted.get_mut(i) {
            *pw = 0;
        }
    }
    removed
}

/// Queues replicas sitting in a tier that holds more replicas of their partition than
/// the plan's maximum (one per partition, as the partition then counts as moved; more
/// only where one device holds two replicas).
fn gather_for_dispersion(b: &mut RingBuilder, w: &mut Work<'_>) {
    let mut undispersed: Vec<(u32, u32)> = Vec::new();
    for p in 0..w.parts {
        if !w.can_move(b, p) {
            continue;
        }
        w.load(&b.replica2part2dev, p);
        undispersed.clear();
        for &(r, d) in &w.part_devs {
            let over = w
                .topo
                .tiers(d)
                .iter()
                .any(|&t| t == NO_NODE || w.count(t) > w.plan.max[t as usize]);
            if over {
                undispersed.push((r, d));
            }
        }
        if !undispersed.is_empty() {
            undispersed.sort_by_key(|&(_, d)| w.parts_wanted[d as usize]);
            for &(r, d) in &undispersed {
                let dev_node = w.topo.tiers(d)[3];
                if !w.can_move(b, p) && w.count(dev_node) <= 1 {
                    continue;
                }
                w.gather(b, p, r, d);
            }
        }
        w.clear();
    }
}

/// Queues replicas from overweight devices. With `disperse_first`, only those whose
/// partition can go to another failure domain without breaking the plan, and only where
/// a sibling tier wants parts; then, from any overweight device, the most overweight
/// holder of each movable partition.
fn gather_for_balance(
    b: &mut RingBuilder,
    w: &mut Work<'_>,
    rng: &mut impl Rng,
    disperse_first: bool,
) {
    let parts = w.parts;
    // Start somewhere else each time so repeated rebalances do not always take from the
    // same partitions.
    let random_half = rng.random_range(0..=parts / 2);
    let start = (b.last_part_gather_start as usize + parts / 4 + random_half) % parts;
    b.last_part_gather_start = start as u32;
    if !b
        .devs
        .iter()
        .flatten()
        .any(|d| w.parts_wanted[d.id as usize] < 0)
    {
        return;
    }
    if disperse_first {
        gather_can_disperse(b, w, start);
    }
    gather_forced(b, w, start);
}

fn gather_can_disperse(b: &mut RingBuilder, w: &mut Work<'_>, start: usize) {
    let topo = w.topo;
    let mut wanted_in_tier = vec![0i64; topo.len()];
    for d in b.devs.iter().flatten() {
        let want = w.parts_wanted[d.id as usize].max(0);
        for &t in topo.tiers(d.id) {
            wanted_in_tier[t as usize] += want;
        }
    }
    let mut over: Vec<(u32, u32)> = Vec::new();
    for off in 0..w.parts {
        let p = (start + off) % w.parts;
        if !w.can_move(b, p) {
            continue;
        }
        over.clear();
        over.extend(
            b.replica2part2dev
                .iter()
                .enumerate()
                .filter_map(|(r, row)| row.get(p).map(|&d| (r as u32, d)))
                .filter(|&(_, d)| d != NONE_DEV && w.parts_wanted[d as usize] < 0),
        );
        if over.is_empty() {
            continue;
        }
        w.load(&b.replica2part2dev, p);
        over.sort_by_key(|&(_, d)| w.parts_wanted[d as usize]);
        for &(r, d) in &over {
            let tiers = *topo.tiers(d);
            let stuck_by_plan = tiers.iter().any(|&t| {
                let c = w.count(t);
                w.plan.min[t as usize] <= c && c < w.plan.max[t as usize]
            });
            if stuck_by_plan {
                continue;
            }
            // The shallowest tier this replica may leave is the deepest one that would
            // fall below its minimum without it (or the region).
            let mut stuck_at = tiers[0];
            for &t in tiers.iter().rev() {
                if w.count(t) < w.plan.min[t as usize] + 1 {
                    stuck_at = t;
                    break;
                }
            }
            let room: i64 = topo.children[stuck_at as usize]
                .iter()
                .filter(|c| !tiers.contains(c))
                .map(|&c| wanted_in_tier[c as usize])
                .sum();
            if room <= 0 {
                continue;
            }
            for &t in &tiers {
                wanted_in_tier[t as usize] -= 1;
            }
            w.gather(b, p, r, d);
            break;
        }
        w.clear();
    }
}

fn gather_forced(b: &mut RingBuilder, w: &mut Work<'_>, start: usize) {
    for off in 0..w.parts {
        let p = (start + off) % w.parts;
        if !w.can_move(b, p) {
            continue;
        }
        let mut best: Option<(u32, u32)> = None;
        for (r, row) in b.replica2part2dev.iter().enumerate() {
            let Some(&d) = row.get(p) else { continue };
            if d == NONE_DEV {
                continue;
            }
            let pw = w.parts_wanted[d as usize];
            if pw < 0 && best.is_none_or(|(_, bd)| pw < w.parts_wanted[bd as usize]) {
                best = Some((r as u32, d));
            }
        }
        if let Some((r, d)) = best {
            w.gather(b, p, r, d);
        }
    }
}

/// Places every queued slot. Partitions are handled in random order; within the tier
/// tree, each level takes the child with the most room among those still allowed
/// another replica of this partition, ties to the child whose neediest device sorts
/// first (a random key per device breaks equal needs).
fn reassign(b: &mut RingBuilder, w: &mut Work<'_>, rng: &mut impl Rng) -> Result<()> {
    let topo = w.topo;
    let mut available = vec![0i64; topo.len()];
    let mut sort_key = vec![(i64::MIN, 0u16, 0u32); topo.len()];
    for d in b.devs.iter().flatten() {
        let want = w.parts_wanted[d.id as usize];
        for &t in topo.tiers(d.id) {
            available[t as usize] += want.max(0);
        }
        if d.weight > 0.0 {
            let key = (want, rng.random::<u16>(), d.id);
            for &t in topo.tiers(d.id) {
                if key > sort_key[t as usize] {
                    sort_key[t as usize] = key;
                }
            }
        }
    }
    let mut children = topo.children.clone();
    for kids in &mut children {
        kids.sort_by_key(|&c| sort_key[c as usize]);
    }

    let mut slots = std::mem::take(&mut w.assign);
    slots.sort_unstable();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let mut j = i + 1;
        while j < slots.len() && slots[j].0 == slots[i].0 {
            j += 1;
        }
        groups.push((i, j));
        i = j;
    }
    groups.shuffle(rng);

    for &(s, e) in &groups {
        let part = slots[s].0 as usize;
        b.last_part_moves[part] = 0;
        w.load(&b.replica2part2dev, part);
        for &(_, replica) in &slots[s..e] {
            let mut node = 0u32;
            for _ in 0..DEV_LEVEL {
                let mut best = NO_NODE;
                for &c in &children[node as usize] {
                    if w.count(c) < w.plan.max[c as usize]
                        && (best == NO_NODE || available[c as usize] > available[best as usize])
                    {
                        best = c;
                    }
                }
                if best == NO_NODE {
                    w.clear();
                    return Err(Error::Builder(format!(
                        "no home for partition {part} replica {replica}"
                    )));
                }
                node = best;
            }
            let d = topo.node_dev[node as usize];
            w.parts_wanted[d as usize] -= 1;
            b.dev_parts[d as usize] += 1;
            for &t in topo.tiers(d) {
                available[t as usize] -= 1;
                w.counts[t as usize] += 1;
            }
            b.replica2part2dev[replica as usize][part] = d;
            w.part_devs.push((replica, d));
        }
        w.clear();
    }
    Ok(())
}

/// Part-replicas whose device differs from before (new slots count as changed).
fn count_changed(old: &[Vec<u32>], new: &[Vec<u32>]) -> usize {
    new.iter()
        .enumerate()
        .map(|(r, row)| {
            let old_row = old.get(r).map(Vec::as_slice).unwrap_or(&[]);
            row.iter()
                .enumerate()
                .filter(|&(p, &d)| old_row.get(p) != Some(&d))
                .count()
        })
        .sum()
}
