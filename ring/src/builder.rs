//! The ring builder: devices, weights and the partition-to-device assignment that a
//! rebalance computes, with Swift's semantics (`swift/common/ring/builder.py`).
//!
//! State matches Swift's builder: `replica2part2dev`, `last_part_moves` (hours since each
//! partition last moved, capped at 255) with its epoch, devices marked for removal, a
//! version counter and a stable id. Time and randomness are arguments, so a rebalance
//! with the same seed and clock is reproducible.
//!
//! Submodules: `topology` (tier tree as flat arrays), `plan` (replica plan math),
//! `rebalance` (gather and place), `dispersion` (the dispersion figure and report).

mod dispersion;
mod plan;
#[cfg(test)]
mod proptests;
mod rebalance;
mod topology;

use rand::Rng;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::ring_data::RingData;

pub use dispersion::{DispersionReport, TierDispersion};

/// What Swift prints as the balance of a device with no weight that still holds parts.
pub const MAX_BALANCE: f64 = 999.99;

/// Largest partition power accepted (partitions are numbered with `u32`).
pub const MAX_PART_POWER: u32 = 31;

/// Largest device id (the ring's "no device" markers sit above it).
pub const MAX_DEV_ID: u32 = u32::MAX - 2;

/// Outcome of one rebalance.
#[derive(Debug, Clone, PartialEq)]
pub struct RebalanceReport {
    /// Part-replicas whose device changed (Swift's first return value).
    pub parts_moved: usize,
    /// The ring's balance afterwards (see [`RingBuilder::get_balance`]).
    pub balance: f64,
    /// The ring's dispersion afterwards (see [`RingBuilder::dispersion`]).
    pub dispersion: f64,
    /// Devices that were marked for removal and are now gone.
    pub removed_devs: Vec<Device>,
}

/// A ring under construction. See the module doc.
#[derive(Debug, Clone, PartialEq)]
pub struct RingBuilder {
    pub(crate) part_power: u32,
    pub(crate) next_part_power: Option<u32>,
    pub(crate) replicas: f64,
    pub(crate) min_part_hours: u32,
    pub(crate) overload: f64,
    pub(crate) version: u64,
    pub(crate) id: Option<String>,
    pub(crate) devs: Vec<Option<Device>>,
    /// Part-replicas held by each device id (Swift's `dev['parts']`).
    pub(crate) dev_parts: Vec<u32>,
    pub(crate) devs_changed: bool,
    /// Ids marked for removal, in the order they were marked.
    pub(crate) remove_devs: Vec<u32>,
    /// Empty until the first rebalance.
    pub(crate) replica2part2dev: Vec<Vec<u32>>,
    /// Hours since each partition last moved (255 = long ago). Empty before first use.
    pub(crate) last_part_moves: Vec<u8>,
    pub(crate) last_part_moves_epoch: u64,
    pub(crate) last_part_gather_start: u32,
    /// Dispersion figure computed at the last rebalance.
    pub(crate) dispersion: f64,
}

impl RingBuilder {
    /// A new, empty builder. `part_power` ≤ 31, `replicas` ≥ 1.
    pub fn new(part_power: u32, replicas: f64, min_part_hours: u32) -> Result<Self> {
        if part_power > MAX_PART_POWER {
            return Err(Error::Builder(format!(
                "part_power must be at most {MAX_PART_POWER} (was {part_power})"
            )));
        }
        check_replicas(replicas)?;
        Ok(RingBuilder {
            part_power,
            next_part_power: None,
            replicas,
            min_part_hours,
            overload: 0.0,
            version: 0,
            id: None,
            devs: Vec::new(),
            dev_parts: Vec::new(),
            devs_changed: false,
            remove_devs: Vec::new(),
            replica2part2dev: Vec::new(),
            last_part_moves: Vec::new(),
            last_part_moves_epoch: 0,
            last_part_gather_start: 0,
            dispersion: 0.0,
        })
    }

    /// Rebuilds a builder from a ring (Swift's `write_builder`: lossy, no move history).
    pub fn from_ring(ring: &RingData, min_part_hours: u32) -> Result<Self> {
        let part_power = 32u32.checked_sub(ring.part_shift).ok_or_else(|| {
            Error::InvalidRing(format!("part_shift {} out of range", ring.part_shift))
        })?;
        let parts = 1usize << part_power.min(MAX_PART_POWER);
        let replicas: f64 = ring
            .replica2part2dev
            .iter()
            .map(|row| row.len() as f64 / parts as f64)
            .sum();
        let mut b = RingBuilder::new(part_power, replicas.max(1.0), min_part_hours)?;
        b.next_part_power = ring.next_part_power;
        b.version = ring.version.unwrap_or(0);
        b.devs = ring.devs.clone();
        b.dev_parts = vec![0; b.devs.len()];
        for row in &ring.replica2part2dev {
            for &d in row {
                match b.dev_parts.get_mut(d as usize) {
                    Some(n) if b.devs[d as usize].is_some() => *n += 1,
                    _ => {
                        return Err(Error::InvalidRing(format!(
                            "ring assigns a partition to unknown device {d}"
                        )))
                    }
                }
            }
        }
        b.replica2part2dev = ring.replica2part2dev.clone();
        b.last_part_moves = vec![0; parts];
        Ok(b)
    }

    pub fn part_power(&self) -> u32 {
        self.part_power
    }
    pub fn next_part_power(&self) -> Option<u32> {
        self.next_part_power
    }
    pub fn replicas(&self) -> f64 {
        self.replicas
    }
    pub fn min_part_hours(&self) -> u32 {
        self.min_part_hours
    }
    pub fn overload(&self) -> f64 {
        self.overload
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    /// Number of partitions, `2^part_power`.
    pub fn parts(&self) -> u32 {
        1u32 << self.part_power
    }
    /// The builder's id, or `""` until one is given (`set_id` / `new_id`).
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }
    pub fn has_id(&self) -> bool {
        self.id.is_some()
    }
    /// Sets the id (e.g. from a file). Must be non-empty.
    pub fn set_id(&mut self, id: String) -> Result<()> {
        if id.is_empty() {
            return Err(Error::Builder("builder id must not be empty".into()));
        }
        self.id = Some(id);
        Ok(())
    }
    /// Gives the builder a fresh random 32-hex-digit id (like Swift's `uuid4().hex`)
    /// if it has none yet, and returns it.
    pub fn new_id(&mut self, rng: &mut impl Rng) -> &str {
        if self.id.is_none() {
            let mut bytes = [0u8; 16];
            rng.fill(&mut bytes[..]);
            // Version 4, variant 1, as a uuid4 would have.
            bytes[6] = (bytes[6] & 0x0f) | 0x40;
            bytes[8] = (bytes[8] & 0x3f) | 0x80;
            self.id = Some(bytes.iter().map(|b| format!("{b:02x}")).collect());
        }
        self.id()
    }

    /// Devices by id; holes are `None`. Devices marked for removal are still listed.
    pub fn devs(&self) -> &[Option<Device>] {
        &self.devs
    }
    /// Ids marked for removal (applied at the next rebalance).
    pub fn removing(&self) -> Vec<u32> {
        self.remove_devs.clone()
    }
    /// Part-replicas assigned to a device.
    pub fn dev_parts(&self, id: u32) -> u32 {
        self.dev_parts.get(id as usize).copied().unwrap_or(0)
    }
    /// The device's share of part-replicas by weight: what its balance is measured
    /// against (Swift's `weight * weight_of_one_part`).
    pub fn dev_parts_wanted(&self, id: u32) -> f64 {
        match (self.dev(id), self.weight_of_one_part()) {
            (Some(d), Some(w)) => d.weight * w,
            _ => 0.0,
        }
    }
    /// `100 * parts / wanted - 100`, as Swift prints it; [`MAX_BALANCE`] for a device
    /// with no weight that still holds parts.
    pub fn dev_balance(&self, id: u32) -> f64 {
        let Some(d) = self.dev(id) else {
            return 0.0;
        };
        let parts = f64::from(self.dev_parts(id));
        if d.weight <= 0.0 {
            return if parts > 0.0 { MAX_BALANCE } else { 0.0 };
        }
        match self.weight_of_one_part() {
            Some(w) => 100.0 * parts / (d.weight * w) - 100.0,
            None => 0.0,
        }
    }

    /// Adds a device under `id` (or the lowest free id). Does not rebalance.
    pub fn add_dev(&mut self, mut dev: Device, id: Option<u32>) -> Result<u32> {
        let id = match id {
            Some(id) => id,
            None => self
                .devs
                .iter()
                .position(Option::is_none)
                .unwrap_or(self.devs.len()) as u32,
        };
        if id > MAX_DEV_ID {
            return Err(Error::Builder(format!("device id {id} is too large")));
        }
        if self.dev(id).is_some() {
            return Err(Error::Builder(format!("Duplicate device id: {id}")));
        }
        check_weight(dev.weight)?;
        if dev.replication_ip.is_empty() {
            dev.replication_ip = dev.ip.clone();
        }
        if dev.replication_port == 0 {
            dev.replication_port = dev.port;
        }
        dev.id = id;
        let idx = id as usize;
        if idx >= self.devs.len() {
            self.devs.resize(idx + 1, None);
            self.dev_parts.resize(idx + 1, 0);
        }
        self.devs[idx] = Some(dev);
        self.dev_parts[idx] = 0;
        self.devs_changed = true;
        self.version += 1;
        Ok(id)
    }

    pub fn set_dev_weight(&mut self, id: u32, weight: f64) -> Result<()> {
        check_weight(weight)?;
        self.dev_for_change(id, "weight")?.weight = weight;
        self.devs_changed = true;
        self.version += 1;
        Ok(())
    }

    pub fn set_dev_region(&mut self, id: u32, region: u32) -> Result<()> {
        self.dev_for_change(id, "region")?.region = region;
        self.devs_changed = true;
        self.version += 1;
        Ok(())
    }

    pub fn set_dev_zone(&mut self, id: u32, zone: u32) -> Result<()> {
        self.dev_for_change(id, "zone")?.zone = zone;
        self.devs_changed = true;
        self.version += 1;
        Ok(())
    }

    /// The device, for changing ip, port, replication address, name or meta (what
    /// Swift's `set_info` changes; like Swift, that does not bump the version). Changing
    /// `id`, `weight`, `region` or `zone` through this is not supported: use the setters.
    pub fn dev_mut_info(&mut self, id: u32) -> Result<&mut Device> {
        self.devs
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| Error::Builder(format!("No device with id {id}")))
    }

    /// Marks a device for removal: its weight becomes 0 and the next rebalance moves its
    /// partitions away and drops it.
    pub fn remove_dev(&mut self, id: u32) -> Result<()> {
        let dev = self
            .devs
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| Error::Builder(format!("No device with id {id}")))?;
        dev.weight = 0.0;
        if !self.remove_devs.contains(&id) {
            self.remove_devs.push(id);
        }
        self.devs_changed = true;
        self.version += 1;
        Ok(())
    }

    /// Changes the replica count (≥ 1, fractions allowed); applied at the next rebalance.
    pub fn set_replicas(&mut self, replicas: f64) -> Result<()> {
        check_replicas(replicas)?;
        let parts = f64::from(self.parts());
        if (parts * self.replicas) as u64 != (parts * replicas) as u64 {
            self.devs_changed = true;
        }
        self.replicas = replicas;
        Ok(())
    }

    /// Fraction (0.1 = 10%) by which a device may exceed its weighted share to improve
    /// dispersion.
    pub fn set_overload(&mut self, overload: f64) -> Result<()> {
        if !overload.is_finite() || overload < 0.0 {
            return Err(Error::Builder(format!(
                "overload must be a non-negative number (was {overload})"
            )));
        }
        self.overload = overload;
        Ok(())
    }

    pub fn set_min_part_hours(&mut self, hours: u32) {
        self.min_part_hours = hours;
    }

    /// Forgets when partitions last moved, so the next rebalance may move any of them.
    pub fn pretend_min_part_hours_passed(&mut self) {
        self.last_part_moves_epoch = 0;
        self.last_part_moves.iter_mut().for_each(|h| *h = 0xff);
    }

    /// Seconds until `min_part_hours` have passed since the last rebalance.
    pub fn min_part_seconds_left(&self, now_secs: u64) -> u64 {
        let elapsed = now_secs.saturating_sub(self.last_part_moves_epoch);
        (u64::from(self.min_part_hours) * 3600).saturating_sub(elapsed)
    }

    /// Whether devices changed since the last rebalance.
    pub fn devs_changed(&self) -> bool {
        self.devs_changed
    }

    pub fn ever_rebalanced(&self) -> bool {
        !self.replica2part2dev.is_empty()
    }

    /// Reassigns partitions (see `rebalance.rs`). `now_secs` is the wall clock in Unix
    /// seconds (for `min_part_hours`); `progress` receives one line per phase.
    /// On error the builder is left as it was.
    pub fn rebalance(
        &mut self,
        rng: &mut impl Rng,
        now_secs: u64,
        progress: &mut dyn FnMut(&str),
    ) -> Result<RebalanceReport> {
        let saved = self.clone();
        match rebalance::run(self, rng, now_secs, progress) {
            Ok(r) => Ok(r),
            Err(e) => {
                *self = saved;
                Err(e)
            }
        }
    }

    /// The ring to write out: devices without builder-only data, the assignment table,
    /// the version. Errors before the first rebalance.
    pub fn get_ring(&self) -> Result<RingData> {
        if !self.ever_rebalanced() {
            return Err(Error::Builder(
                "the builder has not been rebalanced yet; no ring to write".into(),
            ));
        }
        let max_id = self.devs.len().saturating_sub(1);
        Ok(RingData {
            devs: self.devs.clone(),
            replica2part2dev: self.replica2part2dev.clone(),
            part_shift: 32 - self.part_power,
            next_part_power: self.next_part_power,
            version: Some(self.version),
            dev_id_bytes: if max_id > 0xfffe { 4 } else { 2 },
            ..Default::default()
        })
    }

    /// Checks the assignment table: every partition has its replicas, each on a real
    /// device, never two on one device, and device part counts add up.
    pub fn validate(&self) -> Result<()> {
        if self.replica2part2dev.is_empty() {
            return Err(Error::Builder(
                "_replica2part2dev empty; did you forget to rebalance?".into(),
            ));
        }
        let parts = self.parts() as usize;
        let on_devs: u64 = self.dev_parts.iter().map(|&n| u64::from(n)).sum();
        let in_map: u64 = self.replica2part2dev.iter().map(|r| r.len() as u64).sum();
        if on_devs != in_map {
            return Err(Error::Builder(format!(
                "All partitions are not double accounted for: {on_devs} != {in_map}"
            )));
        }
        let whole = self.replicas.floor() as usize;
        let frac_len = (parts as f64 * self.replicas.fract()) as usize;
        let rows = whole + usize::from(frac_len > 0);
        if self.replica2part2dev.len() != rows {
            return Err(Error::Builder(format!(
                "expected {rows} replica rows for {} replicas, found {}",
                self.replicas,
                self.replica2part2dev.len()
            )));
        }
        let mut counted = vec![0u32; self.devs.len()];
        for (r, row) in self.replica2part2dev.iter().enumerate() {
            let want = if r < whole { parts } else { frac_len };
            if row.len() != want {
                return Err(Error::Builder(format!(
                    "The partition assignments of replica {r} have length {} (expected {want})",
                    row.len()
                )));
            }
            for (p, &d) in row.iter().enumerate() {
                if self.dev(d).is_none() {
                    return Err(Error::Builder(format!(
                        "Partition {p}, replica {r} was not allocated to a device."
                    )));
                }
                counted[d as usize] += 1;
            }
        }
        if counted != self.dev_parts {
            return Err(Error::Builder(
                "device part counts do not match the assignment table".into(),
            ));
        }
        // Duplicates are only tolerable when there are fewer devices than replicas.
        let mut ids: Vec<u32> = Vec::with_capacity(rows);
        for p in 0..parts {
            ids.clear();
            ids.extend(self.replica2part2dev.iter().filter_map(|row| row.get(p)));
            ids.sort_unstable();
            if ids.windows(2).any(|w| w[0] == w[1]) {
                return Err(Error::Builder(format!(
                    "The partition {p} has been assigned to duplicate devices {ids:?}"
                )));
            }
        }
        Ok(())
    }

    /// The worst device balance (absolute), as Swift's `get_balance`.
    pub fn get_balance(&self) -> f64 {
        self.devs
            .iter()
            .flatten()
            .map(|d| self.dev_balance(d.id).abs())
            .fold(0.0, f64::max)
    }

    /// Percentage of part-replicas placed less dispersed than the device layout
    /// allows, as computed at the last rebalance.
    pub fn dispersion(&self) -> f64 {
        self.dispersion
    }

    /// The smallest overload that would let the ring reach full dispersion.
    pub fn get_required_overload(&self) -> f64 {
        let topo = topology::Topology::build(&self.devs);
        let Ok(weighted) = plan::weighted_replicas(&topo, &self.devs, self.replicas) else {
            return 0.0;
        };
        let Ok(wanted) = plan::wanted_replicas(&topo, self.replicas, &weighted) else {
            return 0.0;
        };
        plan::required_overload(&topo, &weighted, &wanted)
    }

    /// Per-tier replica histogram, recomputed from the current assignment.
    pub fn dispersion_report(&self) -> DispersionReport {
        dispersion::report(self)
    }

    /// Partitions having replicas on any of `dev_ids`, with how many, most first
    /// (ties in order of first appearance, as Swift's `list_parts`).
    pub fn list_parts(&self, dev_ids: &[u32]) -> Vec<(u32, usize)> {
        let mut wanted = vec![false; self.devs.len()];
        for &id in dev_ids {
            if let Some(w) = wanted.get_mut(id as usize) {
                *w = true;
            }
        }
        let mut count = vec![0usize; self.parts() as usize];
        let mut order = Vec::new();
        for row in &self.replica2part2dev {
            for (p, &d) in row.iter().enumerate() {
                if wanted.get(d as usize).copied().unwrap_or(false) {
                    if count[p] == 0 {
                        order.push(p as u32);
                    }
                    count[p] += 1;
                }
            }
        }
        let mut out: Vec<(u32, usize)> =
            order.into_iter().map(|p| (p, count[p as usize])).collect();
        out.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        out
    }

    /// `replica2part2dev[r][p]`: device of replica `r` of partition `p` (empty before
    /// the first rebalance).
    pub fn replica2part2dev(&self) -> &[Vec<u32>] {
        &self.replica2part2dev
    }

    /// Swift's `prepare_increase_partition_power`. False if one is already under way.
    pub fn prepare_increase_partition_power(&mut self) -> Result<bool> {
        if self.next_part_power.is_some() {
            return Ok(false);
        }
        if self.part_power >= MAX_PART_POWER {
            return Err(Error::Builder(format!(
                "part_power cannot grow beyond {MAX_PART_POWER}"
            )));
        }
        self.next_part_power = Some(self.part_power + 1);
        self.version += 1;
        Ok(true)
    }

    /// Swift's `increase_partition_power`: each partition p becomes 2p and 2p+1 on the
    /// same devices. False unless prepared.
    pub fn increase_partition_power(&mut self) -> bool {
        if self.next_part_power != Some(self.part_power + 1) {
            return false;
        }
        for row in &mut self.replica2part2dev {
            *row = row.iter().flat_map(|&d| [d, d]).collect();
        }
        self.dev_parts.iter_mut().for_each(|n| *n *= 2);
        self.last_part_moves = self.last_part_moves.iter().flat_map(|&h| [h, h]).collect();
        self.part_power += 1;
        self.version += 1;
        true
    }

    /// Swift's `cancel_increase_partition_power`.
    pub fn cancel_increase_partition_power(&mut self) -> bool {
        if self.next_part_power != Some(self.part_power + 1) {
            return false;
        }
        self.next_part_power = Some(self.part_power);
        self.version += 1;
        true
    }

    /// Swift's `finish_increase_partition_power`.
    pub fn finish_increase_partition_power(&mut self) -> bool {
        if self.next_part_power != Some(self.part_power) {
            return false;
        }
        self.next_part_power = None;
        self.version += 1;
        true
    }

    fn dev(&self, id: u32) -> Option<&Device> {
        self.devs.get(id as usize).and_then(Option::as_ref)
    }

    fn dev_for_change(&mut self, id: u32, what: &str) -> Result<&mut Device> {
        if self.remove_devs.contains(&id) {
            return Err(Error::Builder(format!(
                "Can not set {what} of dev_id {id} because it is marked for removal"
            )));
        }
        self.dev_mut_info(id)
    }

    /// Part-replicas per unit of weight, or None with no weight at all.
    fn weight_of_one_part(&self) -> Option<f64> {
        let total = plan::total_weight(&self.devs);
        (total > 0.0).then(|| f64::from(self.parts()) * self.replicas / total)
    }
}

fn check_replicas(replicas: f64) -> Result<()> {
    if !replicas.is_finite() || replicas < 1.0 {
        return Err(Error::Builder(format!(
            "replicas must be at least 1 (was {replicas:.6})"
        )));
    }
    Ok(())
}

fn check_weight(weight: f64) -> Result<()> {
    if !weight.is_finite() || weight < 0.0 {
        return Err(Error::Builder(format!(
            "weight must be a non-negative number (was {weight})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const NOW: u64 = 1_700_000_000;

    fn dev(region: u32, zone: u32, ip: &str, name: &str, weight: f64) -> Device {
        Device {
            region,
            zone,
            ip: ip.into(),
            port: 6200,
            device: name.into(),
            weight,
            ..Default::default()
        }
    }

    fn four_zones() -> RingBuilder {
        let mut b = RingBuilder::new(8, 3.0, 1).unwrap();
        for z in 1..=4 {
            for h in 0..2 {
                for d in 0..2 {
                    let ip = format!("10.0.{z}.{h}");
                    b.add_dev(dev(1, z, &ip, &format!("sd{d}"), 100.0), None)
                        .unwrap();
                }
            }
        }
        b
    }

    #[test]
    fn new_validates_ranges() {
        assert!(RingBuilder::new(32, 3.0, 1).is_err());
        assert!(RingBuilder::new(8, 0.5, 1).is_err());
        assert!(RingBuilder::new(8, f64::NAN, 1).is_err());
        let b = RingBuilder::new(8, 3.0, 1).unwrap();
        assert_eq!(b.parts(), 256);
        assert!(!b.ever_rebalanced());
        assert!(b.get_ring().is_err());
        assert!(b.validate().is_err());
    }

    #[test]
    fn add_dev_ids_and_errors() {
        let mut b = RingBuilder::new(8, 3.0, 1).unwrap();
        assert_eq!(b.add_dev(dev(1, 1, "a", "d", 1.0), None).unwrap(), 0);
        assert_eq!(b.add_dev(dev(1, 1, "a", "e", 1.0), Some(5)).unwrap(), 5);
        assert_eq!(b.add_dev(dev(1, 1, "a", "f", 1.0), None).unwrap(), 1);
        assert!(b.add_dev(dev(1, 1, "a", "g", 1.0), Some(5)).is_err());
        assert!(b.add_dev(dev(1, 1, "a", "g", -1.0), None).is_err());
        assert_eq!(b.version(), 3);
        assert!(b.devs_changed());
        b.remove_dev(5).unwrap();
        assert_eq!(b.removing(), vec![5]);
        assert!(b.set_dev_weight(5, 2.0).is_err());
        assert!(b.set_dev_weight(9, 2.0).is_err());
        assert_eq!(b.devs()[0].as_ref().unwrap().replication_ip, "a");
    }

    #[test]
    fn rebalance_fills_and_validates() {
        let mut b = four_zones();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(b.min_part_seconds_left(NOW) == 0);
        let r = b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        assert_eq!(r.parts_moved, 256 * 3);
        b.validate().unwrap();
        assert!(r.balance < 1.0, "balance {}", r.balance);
        assert_eq!(r.dispersion, 0.0);
        assert!(!b.devs_changed());
        assert_eq!(b.min_part_seconds_left(NOW + 600), 3000);
        let ring = b.get_ring().unwrap();
        assert_eq!(ring.replica2part2dev.len(), 3);
        assert_eq!(ring.dev_id_bytes, 2);
        assert_eq!(ring.version, Some(b.version()));
        // Every partition in 3 distinct zones.
        for p in 0..256 {
            let mut zones: Vec<u32> = (0..3)
                .map(|r| {
                    b.devs()[b.replica2part2dev()[r][p] as usize]
                        .as_ref()
                        .unwrap()
                        .zone
                })
                .collect();
            zones.sort_unstable();
            zones.dedup();
            assert_eq!(zones.len(), 3);
        }
    }

    #[test]
    fn too_few_devices_is_an_error_and_leaves_state() {
        let mut b = RingBuilder::new(4, 3.0, 1).unwrap();
        b.add_dev(dev(1, 1, "a", "d", 1.0), None).unwrap();
        b.add_dev(dev(1, 1, "a", "e", 1.0), None).unwrap();
        let before = b.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(b.rebalance(&mut rng, NOW, &mut |_| {}).is_err());
        assert_eq!(b, before);
    }

    #[test]
    fn fractional_replicas_and_replica_change() {
        let mut b = four_zones();
        b.set_replicas(2.5).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        b.validate().unwrap();
        assert_eq!(b.replica2part2dev()[2].len(), 128);
        b.set_replicas(3.0).unwrap();
        assert!(b.devs_changed());
        b.pretend_min_part_hours_passed();
        b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        b.validate().unwrap();
        assert_eq!(b.replica2part2dev()[2].len(), 256);
        b.set_replicas(2.0).unwrap();
        b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        b.validate().unwrap();
        assert_eq!(b.replica2part2dev().len(), 2);
    }

    #[test]
    fn remove_dev_drops_it() {
        let mut b = four_zones();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        b.remove_dev(3).unwrap();
        let r = b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        assert_eq!(r.removed_devs.len(), 1);
        assert_eq!(r.removed_devs[0].id, 3);
        assert!(b.devs()[3].is_none());
        b.validate().unwrap();
        assert_eq!(b.add_dev(dev(1, 1, "x", "y", 1.0), None).unwrap(), 3);
    }

    #[test]
    fn list_parts_orders_by_matches() {
        let mut b = four_zones();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        let all: Vec<u32> = (0..16).collect();
        let lp = b.list_parts(&all);
        assert_eq!(lp.len(), 256);
        assert!(lp.iter().all(|&(_, n)| n == 3));
        let one = b.list_parts(&[0]);
        assert_eq!(one.len() as u32, b.dev_parts(0));
    }

    #[test]
    fn dispersion_report_names_tiers() {
        let mut b = four_zones();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        let rep = b.dispersion_report();
        assert_eq!(rep.worst_tier, None);
        assert_eq!(rep.graph[0].tier, "r1");
        assert_eq!(rep.graph[0].replicas, vec![0, 0, 0, 256]);
        assert_eq!(rep.graph[1].tier, "r1z1");
        assert_eq!(rep.graph[2].tier, "r1z1-10.0.1.0");
        assert_eq!(rep.graph[3].tier, "r1z1-10.0.1.0/sd0");
        assert_eq!(b.get_required_overload(), 0.0);
    }

    #[test]
    fn partition_power_increase() {
        let mut b = four_zones();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        b.rebalance(&mut rng, NOW, &mut |_| {}).unwrap();
        assert!(!b.increase_partition_power());
        assert!(b.prepare_increase_partition_power().unwrap());
        assert!(b.increase_partition_power());
        assert_eq!(b.parts(), 512);
        b.validate().unwrap();
        assert!(!b.cancel_increase_partition_power());
        assert!(b.finish_increase_partition_power());
        assert_eq!(b.next_part_power(), None);
    }
}
