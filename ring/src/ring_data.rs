//! RingData: the serialisable ring (devices + replica-to-partition-to-device table).

use crate::device::Device;
use crate::error::{Error, Result};
use crate::hash::{self, HashPathConfig};
use crate::lookup::{Handoffs, LookupCache, NodeRef, PartNodes};

/// Placeholder in `replica2part2dev` for "no device" (Swift: 2**(8*dev_id_bytes)-1).
pub const NONE_DEV: u32 = u32::MAX;

/// What a ring.gz file holds. `replica2part2dev[r][p]` is the device id of
/// replica `r` of partition `p`; the last row may be shorter (fractional replicas).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RingData {
    /// Devices indexed by id; `None` is a hole (a removed device's id).
    pub devs: Vec<Option<Device>>,
    pub replica2part2dev: Vec<Vec<u32>>,
    /// 32 - part_power.
    pub part_shift: u32,
    pub next_part_power: Option<u32>,
    /// The builder's version counter, when the ring carries one.
    pub version: Option<u64>,
    /// Width of a device id on disk (2 for v1; 2, 4 or 8 for v2).
    pub dev_id_bytes: u8,
    /// Derived tables for handoff lookups, built on first use. Leave it
    /// `Default`; it never affects equality or clones.
    pub lookup_cache: LookupCache,
}

impl RingData {
    /// Swift's `part_power` (32 - part_shift).
    pub fn part_power(&self) -> u32 {
        32u32.saturating_sub(self.part_shift)
    }

    /// Number of partitions: the length of the first replica row, as Swift
    /// counts it, or `2**part_power` for a ring with no assignments yet.
    pub fn partition_count(&self) -> usize {
        match self.replica2part2dev.first() {
            Some(row) => row.len(),
            None => (1u64 << self.part_power().min(32)) as usize,
        }
    }

    /// Replicas, full or partial: whole rows plus the fraction the last row
    /// covers (Swift's `calc_replica_count`). 0.0 for an empty table.
    pub fn replica_count(&self) -> f64 {
        let rows = &self.replica2part2dev;
        match (rows.first(), rows.last()) {
            (Some(first), Some(last)) if !first.is_empty() => {
                (rows.len() - 1) as f64 + last.len() as f64 / first.len() as f64
            }
            _ => 0.0,
        }
    }

    /// The device with this id, if the ring has one (holes are `None`).
    pub fn dev(&self, id: u32) -> Option<&Device> {
        self.devs.get(id as usize).and_then(Option::as_ref)
    }

    /// Partition of `account[/container[/object]]` (Swift's `Ring.get_part`).
    pub fn get_part(
        &self,
        cfg: &HashPathConfig,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> u32 {
        hash::partition(
            &hash::hash_path(cfg, account, container, object),
            self.part_shift,
        )
    }

    /// Primary nodes of a partition, without allocating. Prefer this in loops.
    pub fn primaries(&self, part: u32) -> PartNodes<'_> {
        PartNodes::new(self, part)
    }

    /// Primary nodes of a partition (Swift's `get_part_nodes`).
    pub fn get_part_nodes(&self, part: u32) -> Vec<NodeRef<'_>> {
        self.primaries(part).collect()
    }

    /// Partition and primaries of a path (Swift's `get_nodes`), allocation-free.
    pub fn get_nodes(
        &self,
        cfg: &HashPathConfig,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> (u32, PartNodes<'_>) {
        let part = self.get_part(cfg, account, container, object);
        (part, self.primaries(part))
    }

    /// Handoff nodes of a partition in Swift's order (`get_more_nodes`).
    /// Lazy: take only as many as you need.
    pub fn get_more_nodes(&self, part: u32) -> Handoffs<'_> {
        Handoffs::new(self, part)
    }

    /// Forget derived lookup tables; needed only after mutating `devs` or
    /// `replica2part2dev` of a ring that has already served `get_more_nodes`.
    pub fn clear_lookup_cache(&mut self) {
        self.lookup_cache = LookupCache::default();
    }

    /// Check the invariants lookups rely on: part_shift in range, full rows of
    /// `2**part_power` entries with only the last row shorter, every entry a
    /// device the ring has, and each device stored at its own id.
    pub fn validate(&self) -> Result<()> {
        if self.part_shift > 32 {
            return Err(Error::InvalidRing(format!(
                "part_shift {} is over 32",
                self.part_shift
            )));
        }
        if let Some(p) = self.next_part_power {
            if p > 32 {
                return Err(Error::InvalidRing(format!(
                    "next_part_power {p} is over 32"
                )));
            }
        }
        for (i, dev) in self.devs.iter().enumerate() {
            if let Some(dev) = dev {
                if dev.id as usize != i {
                    return Err(Error::InvalidRing(format!(
                        "device at index {i} has id {}",
                        dev.id
                    )));
                }
            }
        }
        let parts = 1u64 << self.part_power();
        let rows = &self.replica2part2dev;
        for (r, row) in rows.iter().enumerate() {
            let last = r + 1 == rows.len();
            let len = row.len() as u64;
            if len > parts || (!last && len != parts) || (last && len == 0) {
                return Err(Error::InvalidRing(format!(
                    "replica row {r} has {len} partitions; expected {}{parts}",
                    if last { "1 to " } else { "" }
                )));
            }
            if let Some((p, &id)) = row
                .iter()
                .enumerate()
                .find(|(_, &id)| self.dev(id).is_none())
            {
                return Err(Error::InvalidRing(format!(
                    "replica {r} of partition {p} is assigned to device {id}, which the ring does not have"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: u32) -> Device {
        Device {
            id,
            zone: id,
            ip: "127.0.0.1".into(),
            ..Default::default()
        }
    }

    fn ring(rows: Vec<Vec<u32>>, part_power: u32) -> RingData {
        RingData {
            devs: vec![Some(dev(0)), None, Some(dev(2))],
            replica2part2dev: rows,
            part_shift: 32 - part_power,
            dev_id_bytes: 2,
            ..Default::default()
        }
    }

    #[test]
    fn counts() {
        let r = ring(vec![vec![0, 2, 0, 2], vec![2, 0, 2, 0], vec![0, 2]], 2);
        assert_eq!(r.part_power(), 2);
        assert_eq!(r.partition_count(), 4);
        assert_eq!(r.replica_count(), 2.5);
        r.validate().unwrap();
        let empty = ring(vec![], 10);
        assert_eq!(empty.partition_count(), 1024);
        assert_eq!(empty.replica_count(), 0.0);
        let zero = ring(vec![vec![2]], 0);
        assert_eq!(zero.partition_count(), 1);
        assert_eq!(zero.part_power(), 0);
        let cfg = HashPathConfig::new("x", "y");
        assert_eq!(zero.get_part(&cfg, "a", Some("c"), Some("o")), 0);
        assert_eq!(zero.get_part_nodes(0)[0].dev.id, 2);
    }

    #[test]
    fn validate_rejects_what_lookups_cannot_use() {
        let bad_dev = ring(vec![vec![0, 1]], 1);
        assert!(matches!(bad_dev.validate(), Err(Error::InvalidRing(_))));
        let none_dev = ring(vec![vec![0, NONE_DEV]], 1);
        assert!(none_dev.validate().is_err());
        let short_middle = ring(vec![vec![0, 2], vec![0], vec![2, 0]], 1);
        assert!(short_middle.validate().is_err());
        let long = ring(vec![vec![0, 2, 0]], 1);
        assert!(long.validate().is_err());
        let mut misplaced = ring(vec![vec![0, 2]], 1);
        misplaced.devs[2] = Some(dev(1));
        assert!(misplaced.validate().is_err());
        let mut shift = ring(vec![], 1);
        shift.part_shift = 33;
        assert!(shift.validate().is_err());
        // lookups on an invalid ring skip what is missing instead of panicking
        assert_eq!(bad_dev.get_part_nodes(1).len(), 0);
        assert_eq!(bad_dev.get_more_nodes(0).count(), 0);
    }
}
