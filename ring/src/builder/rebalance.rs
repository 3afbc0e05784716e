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
//! Data layout is built for speed: during a rebalance the table is held part-major
//! (`pm[part * stride + replica]`, one cache line per partition), tiers are node
//! indices, per-tier replica counts are a scratch vector reset after each partition,
//! and gathered partitions are a plain queue, never hashed.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::ring_data::NONE_DEV;

use super::plan::{self, ReplicaPlan};
use super::topology::{Topology, DEV_LEVEL, NO_NODE};
use super::{dispersion, RebalanceReport, RingBuilder};

/// Swift gathers for balance three times; we keep going while devices are overweight and
/// something can move, up to this many rounds (a partition still moves at most once).
const MAX_BALANCE_ROUNDS: usize = 16;

/// Rounds of Swift's "forced" gathering (see `gather_flop`) tried when stuck.
const MAX_FLOPS: usize = 3;

/// Slot marker in the part-major table: this partition has no such replica (the short
/// last row of a fractional replica count).
pub(crate) const NO_SLOT: u32 = u32::MAX - 1;

/// Partitions are placed in random order, but shuffled within and between blocks of
/// this many neighbours rather than all at once: the choices are just as random (every
/// partition is alike to the placement), and the table stays in cache.
const SHUFFLE_BLOCK: usize = 1024;

/// The table as part-major slots, and the number of slots per partition.
pub(crate) fn part_major(rows: &[Vec<u32>], parts: usize) -> (Vec<u32>, usize) {
    let stride = rows.len().max(1);
    let mut pm = vec![NO_SLOT; parts * stride];
    for (r, row) in rows.iter().enumerate() {
        for (p, &d) in row.iter().enumerate().take(parts) {
            pm[p * stride + r] = d;
        }
    }
    (pm, stride)
}

fn to_rows(pm: &[u32], stride: usize, lens: &[usize]) -> Vec<Vec<u32>> {
    lens.iter()
        .enumerate()
        .map(|(r, &len)| (0..len).map(|p| pm[p * stride + r]).collect())
        .collect()
}

/// Working state of one rebalance.
struct Work<'a> {
    topo: &'a Topology,
    plan: &'a ReplicaPlan,
    parts: usize,
    stride: usize,
    /// Part-major assignment: device id, `NONE_DEV` (to place) or `NO_SLOT`.
    pm: Vec<u32>,
    /// Per slot: its replica was (re)assigned in this rebalance, so no data sits there
    /// yet and it may be placed again without counting as another move.
    fresh: Vec<bool>,
    /// Per device id: part-replicas still wanted (negative: overweight).
    parts_wanted: Vec<i64>,
    /// Per partition: already moved in this rebalance.
    moved: Vec<bool>,
    /// Partitions with slots waiting for a device.
    queue: Vec<u32>,
    queued: Vec<bool>,
    /// Per tier node: replicas of the current partition in that tier.
    counts: Vec<u16>,
    /// Devices of the current partition (whose tiers `counts` holds).
    part_devs: Vec<u32>,
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

    let mut parts_wanted = vec![0i64; b.devs.len()];
    for d in b.devs.iter().flatten() {
        let i = d.id as usize;
        parts_wanted[i] = if d.weight > 0.0 {
            by_tier[topo.tiers(d.id)[3] as usize] as i64 - i64::from(b.dev_parts[i])
        } else {
            -(total as i64)
        };
    }
    adjust_replica_count(b, &mut parts_wanted);
    let rows = std::mem::take(&mut b.replica2part2dev);
    let lens: Vec<usize> = rows.iter().map(Vec::len).collect();
    let (pm, stride) = part_major(&rows, parts);
    drop(rows);

    let mut w = Work {
        topo: &topo,
        plan: &plan,
        parts,
        stride,
        fresh: pm.iter().map(|&d| d == NONE_DEV).collect(),
        pm,
        parts_wanted,
        moved: vec![false; parts],
        queue: Vec::new(),
        queued: vec![false; parts],
        counts: vec![0; topo.len()],
        part_devs: Vec::with_capacity(stride),
    };
    for p in 0..parts {
        if w.slots(p).contains(&NONE_DEV) {
            w.enqueue(p);
        }
    }
    let new_slots = w.queue.len();
    let removed_devs = gather_from_removed(b, &mut w);
    let from_removed = w.queue.len() - new_slots;
    gather_for_dispersion(b, &mut w);
    progress(&format!(
        "gathered partitions: {new_slots} with new replica slots, {from_removed} from removed \
         devices, {} for dispersion",
        w.queue.len() - new_slots - from_removed
    ));

    // Before each flop, the state to return to if flopping does not pay off.
    let mut best: Option<(f64, Snapshot)> = None;
    let mut flops = 0;
    for round in 0..MAX_BALANCE_ROUNDS {
        let before = w.queue.len();
        gather_for_balance(b, &mut w, rng, round == 0);
        let mut flopped = false;
        if w.queue.is_empty() && flops < MAX_FLOPS && w.overweight(b) {
            // Stuck: no overweight replica can go straight to a device that wants it.
            // Swift's flop moves some to devices no better off, which the next round
            // can then relieve; it is kept only if it ends up improving balance.
            let balance = b.get_balance();
            if best.as_ref().is_none_or(|(bb, _)| balance < *bb) {
                best = Some((balance, Snapshot::take(b, &w)));
            }
            gather_flop(b, &mut w, rng);
            flops += 1;
            flopped = true;
        }
        if w.queue.is_empty() {
            progress(&format!("round {}: nothing left that may move", round + 1));
            break;
        }
        let gathered = w.queue.len();
        reassign(b, &mut w, rng)?;
        progress(&format!(
            "round {}: {} partitions gathered {}, {gathered} placed; balance {:.2}",
            round + 1,
            gathered - before,
            if flopped {
                "by flopping"
            } else {
                "for balance"
            },
            b.get_balance()
        ));
        if !w.overweight(b) {
            break;
        }
    }
    if let Some((balance, snap)) = best {
        if b.get_balance() > balance + 1e-9 {
            snap.restore(b, &mut w);
            progress(&format!(
                "flopping did not help; back to balance {balance:.2}"
            ));
        }
    }

    b.dispersion = dispersion::figure(&topo, b.replicas, &w.pm, stride);
    b.replica2part2dev = to_rows(&w.pm, stride, &lens);
    b.devs_changed = false;
    let parts_moved = count_changed(&old_table, &b.replica2part2dev);
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

/// State to undo a round that did not help.
struct Snapshot {
    pm: Vec<u32>,
    fresh: Vec<bool>,
    moved: Vec<bool>,
    parts_wanted: Vec<i64>,
    dev_parts: Vec<u32>,
    last_part_moves: Vec<u8>,
}

impl Snapshot {
    fn take(b: &RingBuilder, w: &Work<'_>) -> Snapshot {
        Snapshot {
            pm: w.pm.clone(),
            fresh: w.fresh.clone(),
            moved: w.moved.clone(),
            parts_wanted: w.parts_wanted.clone(),
            dev_parts: b.dev_parts.clone(),
            last_part_moves: b.last_part_moves.clone(),
        }
    }

    fn restore(self, b: &mut RingBuilder, w: &mut Work<'_>) {
        w.pm = self.pm;
        w.fresh = self.fresh;
        w.moved = self.moved;
        w.parts_wanted = self.parts_wanted;
        b.dev_parts = self.dev_parts;
        b.last_part_moves = self.last_part_moves;
    }
}

impl Work<'_> {
    /// Whether any device holds more than its plan.
    fn overweight(&self, b: &RingBuilder) -> bool {
        b.devs
            .iter()
            .flatten()
            .any(|d| self.parts_wanted[d.id as usize] < 0)
    }

    fn slots(&self, p: usize) -> &[u32] {
        &self.pm[p * self.stride..(p + 1) * self.stride]
    }

    fn can_move(&self, b: &RingBuilder, part: usize) -> bool {
        u32::from(b.last_part_moves[part]) >= b.min_part_hours && !self.moved[part]
    }

    /// Whether slot `r` of `part` may be gathered now: a slot placed in this rebalance
    /// always (no data moved yet), any other only if the partition may move.
    fn can_take(&self, b: &RingBuilder, part: usize, r: usize) -> bool {
        self.fresh[part * self.stride + r] || self.can_move(b, part)
    }

    /// Whether any slot of `part` may be gathered now.
    fn any_takeable(&self, b: &RingBuilder, part: usize) -> bool {
        self.can_move(b, part)
            || self.fresh[part * self.stride..(part + 1) * self.stride].contains(&true)
    }

    fn set_moved(&mut self, b: &mut RingBuilder, part: usize) {
        b.last_part_moves[part] = 0;
        self.moved[part] = true;
    }

    fn enqueue(&mut self, p: usize) {
        if !self.queued[p] {
            self.queued[p] = true;
            self.queue.push(p as u32);
        }
    }

    /// Loads the partition's devices into the per-tier counts.
    fn load(&mut self, p: usize) {
        self.part_devs.clear();
        for r in 0..self.stride {
            let d = self.pm[p * self.stride + r];
            if d < NO_SLOT {
                self.part_devs.push(d);
                for &t in self.topo.tiers(d) {
                    if t != NO_NODE {
                        self.counts[t as usize] += 1;
                    }
                }
            }
        }
    }

    /// Resets the counts `load` and placements touched.
    fn clear(&mut self) {
        for &d in &self.part_devs {
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

    /// Finds a device for one more replica of the loaded partition: walks down the tier
    /// tree taking, at each level, the child with the most `room` among those holding
    /// fewer replicas of this partition than the plan's maximum, and backtracks when a
    /// branch has no such device. With `positive`, only children with room > 0 count.
    /// Returns the device's node.
    fn find_home(
        &self,
        children: &[Vec<u32>],
        room: &[i64],
        node: u32,
        positive: bool,
    ) -> Option<u32> {
        if self.topo.level[node as usize] == DEV_LEVEL {
            return Some(node);
        }
        let kids = &children[node as usize];
        // Allocates only when a branch fails, which is rare.
        let mut tried: Vec<usize> = Vec::new();
        loop {
            let mut best: Option<usize> = None;
            for (i, &c) in kids.iter().enumerate() {
                let c = c as usize;
                if u32::from(self.counts[c]) >= self.plan.max[c]
                    || (positive && room[c] <= 0)
                    || tried.contains(&i)
                {
                    continue;
                }
                if best.is_none_or(|b| room[c] > room[kids[b] as usize]) {
                    best = Some(i);
                }
            }
            let i = best?;
            if let Some(d) = self.find_home(children, room, kids[i], positive) {
                return Some(d);
            }
            tried.push(i);
        }
    }

    /// The allowed device (under the plan's per-tier maxima for the loaded partition)
    /// that wants parts most, overweight ones last. Used when no device that wants parts
    /// is allowed: a device at its plan then takes the replica and can pass another on.
    fn least_loaded_home(&self, children: &[Vec<u32>], node: u32, best: &mut Option<(i64, u32)>) {
        for &c in &children[node as usize] {
            let ci = c as usize;
            if u32::from(self.counts[ci]) >= self.plan.max[ci] {
                continue;
            }
            if self.topo.level[ci] == DEV_LEVEL {
                let want = self.parts_wanted[self.topo.node_dev[ci] as usize];
                if best.is_none_or(|(w, _)| want > w) {
                    *best = Some((want, c));
                }
            } else {
                self.least_loaded_home(children, c, best);
            }
        }
    }

    /// Whether replica `r` (on device `d`) of the loaded partition could move to a
    /// device that still wants parts; if so, reserves that room and returns true.
    fn reserve_home(&mut self, d: u32, need: &mut [i64]) -> bool {
        let tiers = *self.topo.tiers(d);
        for &t in &tiers {
            self.counts[t as usize] = self.counts[t as usize].saturating_sub(1);
        }
        let home = self.find_home(&self.topo.children, need, 0, true);
        for &t in &tiers {
            self.counts[t as usize] += 1;
        }
        let Some(home) = home else {
            return false;
        };
        need[0] -= 1;
        for &t in self.topo.tiers(self.topo.node_dev[home as usize]) {
            need[t as usize] -= 1;
        }
        true
    }

    /// Takes replica `r` of `part` off device `d` and queues the partition. Taking a
    /// slot that already moved in this rebalance does not count as a second move.
    fn gather(&mut self, b: &mut RingBuilder, part: usize, r: usize, d: u32) {
        self.parts_wanted[d as usize] += 1;
        if let Some(n) = b.dev_parts.get_mut(d as usize) {
            *n = n.saturating_sub(1);
        }
        let slot = part * self.stride + r;
        self.pm[slot] = NONE_DEV;
        for &t in self.topo.tiers(d) {
            if t != NO_NODE {
                self.counts[t as usize] = self.counts[t as usize].saturating_sub(1);
            }
        }
        self.enqueue(part);
        if !self.fresh[slot] {
            self.fresh[slot] = true;
            self.set_moved(b, part);
        }
    }
}

/// Makes the table's rows match the replica count: whole rows of `parts`, plus a
/// shorter last row for a fraction. New slots hold `NONE_DEV`; dropped slots free parts.
fn adjust_replica_count(b: &mut RingBuilder, parts_wanted: &mut [i64]) {
    let parts = b.parts() as usize;
    let whole = b.replicas.floor() as usize;
    let frac_len = (parts as f64 * b.replicas.fract()) as usize;
    let mut desired = vec![parts; whole];
    if frac_len > 0 {
        desired.push(frac_len);
    }
    let mut release = |b: &mut RingBuilder, d: u32| {
        if let Some(n) = b.dev_parts.get_mut(d as usize) {
            *n = n.saturating_sub(1);
            parts_wanted[d as usize] += 1;
        }
    };
    while b.replica2part2dev.len() > desired.len() {
        if let Some(row) = b.replica2part2dev.pop() {
            for d in row.into_iter().filter(|&d| d != NONE_DEV) {
                release(b, d);
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
        } else if cur > len {
            let dropped: Vec<u32> = b.replica2part2dev[r].drain(len..).collect();
            for d in dropped.into_iter().filter(|&d| d != NONE_DEV) {
                release(b, d);
            }
        }
    }
}

/// Queues every replica on a device marked for removal (whatever `min_part_hours`
/// says: the device is going), then drops those devices.
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
    for p in 0..w.parts {
        for r in 0..w.stride {
            let d = w.pm[p * w.stride + r];
            if d < NO_SLOT && removing.get(d as usize).copied().unwrap_or(false) {
                w.pm[p * w.stride + r] = NONE_DEV;
                w.fresh[p * w.stride + r] = true;
                w.enqueue(p);
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
    let mut undispersed: Vec<(usize, u32)> = Vec::new();
    for p in 0..w.parts {
        if !w.any_takeable(b, p) {
            continue;
        }
        w.load(p);
        undispersed.clear();
        for r in 0..w.stride {
            let d = w.pm[p * w.stride + r];
            if d >= NO_SLOT {
                continue;
            }
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
                if !w.can_take(b, p, r) && w.count(dev_node) <= 1 {
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
    // Room per tier: what its devices still want. Gathering reserves room at a real
    // destination, so a replica is only taken where it can go somewhere useful.
    let mut need = vec![0i64; w.topo.len()];
    for d in b.devs.iter().flatten() {
        let want = w.parts_wanted[d.id as usize].max(0);
        need[0] += want;
        for &t in w.topo.tiers(d.id) {
            need[t as usize] += want;
        }
    }
    if disperse_first {
        gather_can_disperse(b, w, start, &mut need);
    }
    gather_forced(b, w, start, Some(&mut need));
}

/// Swift's last resort: take a replica from the most overweight holder of every movable
/// partition, even where it can only land on a device no better off ("flopping"), to
/// unlock placements that are otherwise stuck.
fn gather_flop(b: &mut RingBuilder, w: &mut Work<'_>, rng: &mut impl Rng) {
    let parts = w.parts;
    let start = (b.last_part_gather_start as usize + rng.random_range(0..=parts / 2)) % parts;
    gather_forced(b, w, start, None);
}

fn gather_can_disperse(b: &mut RingBuilder, w: &mut Work<'_>, start: usize, need: &mut [i64]) {
    let topo = w.topo;
    let mut wanted_in_tier = vec![0i64; topo.len()];
    for d in b.devs.iter().flatten() {
        let want = w.parts_wanted[d.id as usize].max(0);
        for &t in topo.tiers(d.id) {
            wanted_in_tier[t as usize] += want;
        }
    }
    let mut over: Vec<(usize, u32)> = Vec::new();
    for off in 0..w.parts {
        let p = (start + off) % w.parts;
        if !w.any_takeable(b, p) {
            continue;
        }
        over.clear();
        for r in 0..w.stride {
            let d = w.pm[p * w.stride + r];
            if d < NO_SLOT && w.parts_wanted[d as usize] < 0 && w.can_take(b, p, r) {
                over.push((r, d));
            }
        }
        if over.is_empty() {
            continue;
        }
        w.load(p);
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
            if room <= 0 || !w.reserve_home(d, need) {
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

/// Takes, from each movable partition, a replica on an overweight device: the most
/// overweight holder that can go to a device still wanting parts (`need`), or with
/// `need` None simply the most overweight holder (Swift's forced gather).
fn gather_forced(
    b: &mut RingBuilder,
    w: &mut Work<'_>,
    start: usize,
    mut need: Option<&mut [i64]>,
) {
    let mut over: Vec<(usize, u32)> = Vec::new();
    for off in 0..w.parts {
        let p = (start + off) % w.parts;
        if !w.any_takeable(b, p) {
            continue;
        }
        over.clear();
        for r in 0..w.stride {
            let d = w.pm[p * w.stride + r];
            if d < NO_SLOT && w.parts_wanted[d as usize] < 0 && w.can_take(b, p, r) {
                over.push((r, d));
            }
        }
        if over.is_empty() {
            continue;
        }
        over.sort_by_key(|&(_, d)| w.parts_wanted[d as usize]);
        let Some(need) = need.as_deref_mut() else {
            let (r, d) = over[0];
            w.gather(b, p, r, d);
            continue;
        };
        w.load(p);
        for &(r, d) in &over {
            if w.reserve_home(d, need) {
                w.gather(b, p, r, d);
                break;
            }
        }
        w.clear();
    }
}

/// Places every queued slot. Within the tier tree, each level takes the child with the
/// most room among those still allowed another replica of this partition, ties to the
/// child whose neediest device sorts first (a random key per device breaks equal needs).
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

    let mut queue = std::mem::take(&mut w.queue);
    for &p in &queue {
        w.queued[p as usize] = false;
    }
    queue.sort_unstable();
    let mut blocks: Vec<&mut [u32]> = queue.chunks_mut(SHUFFLE_BLOCK).collect();
    for block in blocks.iter_mut() {
        block.shuffle(rng);
    }
    blocks.shuffle(rng);

    for block in blocks {
        for &mut part in block {
            let part = part as usize;
            b.last_part_moves[part] = 0;
            w.load(part);
            for r in 0..w.stride {
                if w.pm[part * w.stride + r] != NONE_DEV {
                    continue;
                }
                // A device that wants parts if the plan allows one, else the roomiest
                // allowed device (it will be overweight and may shed later).
                let home = w.find_home(&children, &available, 0, true).or_else(|| {
                    let mut best = None;
                    w.least_loaded_home(&children, 0, &mut best);
                    best.map(|(_, node)| node)
                });
                let Some(node) = home else {
                    w.clear();
                    return Err(Error::Builder(format!(
                        "no home for partition {part} replica {r}"
                    )));
                };
                let d = topo.node_dev[node as usize];
                w.parts_wanted[d as usize] -= 1;
                b.dev_parts[d as usize] += 1;
                for &t in topo.tiers(d) {
                    available[t as usize] -= 1;
                    w.counts[t as usize] += 1;
                }
                w.pm[part * w.stride + r] = d;
                w.part_devs.push(d);
            }
            w.clear();
        }
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
