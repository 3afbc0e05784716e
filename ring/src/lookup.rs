//! Ring lookups: the primary nodes of a partition and its handoff sequence.
//!
//! Both follow Swift's `Ring._get_part_nodes` and `Ring.get_more_nodes`
//! (swift/common/ring/ring.py) exactly, since a proxy and the replicators of a
//! mixed Swift/swirl cluster must agree on where every replica and handoff
//! lives. Primaries allocate nothing; the handoff iterator allocates two small
//! bitsets once per call.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::device::Device;
use crate::ring_data::{RingData, NONE_DEV};

/// A device chosen for a partition. `index` is the position in the primary
/// list for a primary (Swift's `index`) and in the handoff sequence for a
/// handoff (Swift's `handoff_index`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeRef<'a> {
    pub dev: &'a Device,
    pub index: usize,
    pub handoff: bool,
}

impl NodeRef<'_> {
    /// Swift's `index` key: set for primaries only.
    pub fn primary_index(&self) -> Option<usize> {
        (!self.handoff).then_some(self.index)
    }

    /// Swift's `handoff_index` key: set for handoffs only.
    pub fn handoff_index(&self) -> Option<usize> {
        self.handoff.then_some(self.index)
    }
}

/// The primaries of one partition, in replica order, each device once
/// (Swift drops a device that holds two replicas of the same partition).
/// Allocation-free: it walks the partition's slots of the part-major table
/// (see [`PartMajor`]), so a lookup touches one cache line, and dedup
/// looks back over the slots already walked.
#[derive(Debug, Clone)]
pub struct PartNodes<'a> {
    ring: &'a RingData,
    /// This partition's device ids, one per replica row (`NONE_DEV` where a
    /// short last row has no entry).
    slots: Slots<'a>,
    pos: usize,
    index: usize,
}

impl<'a> PartNodes<'a> {
    pub(crate) fn new(ring: &'a RingData, part: u32) -> Self {
        PartNodes {
            ring,
            slots: ring.lookup_cache.part_major(ring).part(part as usize),
            pos: 0,
            index: 0,
        }
    }
}

impl<'a> Iterator for PartNodes<'a> {
    type Item = NodeRef<'a>;

    fn next(&mut self) -> Option<NodeRef<'a>> {
        while let Some(id) = self.slots.get(self.pos) {
            let seen = (0..self.pos).any(|j| self.slots.get(j) == Some(id));
            self.pos += 1;
            if seen {
                continue;
            }
            // `NONE_DEV` (no entry in a short row, or a placeholder in a ring
            // that failed `RingData::validate`) names no device: skipped, as
            // is any other id without a device, rather than panicking.
            let Some(dev) = self.ring.dev(id) else {
                continue;
            };
            let index = self.index;
            self.index += 1;
            return Some(NodeRef {
                dev,
                index,
                handoff: false,
            });
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.slots.len() - self.pos))
    }
}

/// One partition's slots in the part-major table, at the table's width.
#[derive(Debug, Clone, Copy)]
enum Slots<'a> {
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
}

impl Slots<'_> {
    fn len(&self) -> usize {
        match self {
            Slots::U8(s) => s.len(),
            Slots::U16(s) => s.len(),
            Slots::U32(s) => s.len(),
        }
    }

    /// The device id in slot `i`; all-ones at the narrow widths is NONE_DEV.
    fn get(&self, i: usize) -> Option<u32> {
        match self {
            Slots::U8(s) => s
                .get(i)
                .map(|&v| if v == u8::MAX { NONE_DEV } else { u32::from(v) }),
            Slots::U16(s) => s.get(i).map(|&v| {
                if v == u16::MAX {
                    NONE_DEV
                } else {
                    u32::from(v)
                }
            }),
            Slots::U32(s) => s.get(i).copied(),
        }
    }
}

/// A part-major copy of `replica2part2dev`: the device ids of each partition's
/// replicas side by side (`replicas` per partition), so a primaries lookup
/// reads adjacent memory instead of one cache line in each replica row. Ids
/// are stored as narrow as the ring allows (one byte below 255 devices, two
/// below 65535): at part power 18 with three replicas that is 768 KiB instead
/// of 3 MiB, which stays in a core's L2 cache where the wide table would miss
/// it on nearly every lookup. Entries a short (fractional) last row lacks are
/// `NONE_DEV`, which no device has, so they are skipped exactly like a
/// missing entry.
#[derive(Debug)]
pub(crate) struct PartMajor {
    replicas: usize,
    ids: Ids,
}

#[derive(Debug)]
enum Ids {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Default for PartMajor {
    fn default() -> Self {
        PartMajor {
            replicas: 0,
            ids: Ids::U32(Vec::new()),
        }
    }
}

impl PartMajor {
    fn build(ring: &RingData) -> PartMajor {
        let rows = &ring.replica2part2dev;
        let replicas = rows.len();
        // The widest row, not the first: lookups beyond the first row's end
        // must see what a longer (invalid) later row holds, as before.
        let parts = rows.iter().map(Vec::len).max().unwrap_or(0);
        let max_id = rows
            .iter()
            .flatten()
            .copied()
            .filter(|&id| id != NONE_DEV)
            .max()
            .unwrap_or(0);
        fn fill<T: Copy>(
            rows: &[Vec<u32>],
            parts: usize,
            none: T,
            narrow: impl Fn(u32) -> T,
        ) -> Vec<T> {
            let replicas = rows.len();
            let mut ids = vec![none; parts * replicas];
            for (r, row) in rows.iter().enumerate() {
                for (p, &id) in row.iter().enumerate() {
                    ids[p * replicas + r] = if id == NONE_DEV { none } else { narrow(id) };
                }
            }
            ids
        }
        let ids = if max_id < u32::from(u8::MAX) {
            Ids::U8(fill(rows, parts, u8::MAX, |id| id as u8))
        } else if max_id < u32::from(u16::MAX) {
            Ids::U16(fill(rows, parts, u16::MAX, |id| id as u16))
        } else {
            Ids::U32(fill(rows, parts, NONE_DEV, |id| id))
        };
        PartMajor { replicas, ids }
    }

    /// The replica slots of `part`; empty for a partition beyond the table.
    fn part(&self, part: usize) -> Slots<'_> {
        let start = part.saturating_mul(self.replicas);
        let end = start.saturating_add(self.replicas);
        match &self.ids {
            Ids::U8(v) => Slots::U8(v.get(start..end).unwrap_or(&[])),
            Ids::U16(v) => Slots::U16(v.get(start..end).unwrap_or(&[])),
            Ids::U32(v) => Slots::U32(v.get(start..end).unwrap_or(&[])),
        }
    }
}

/// What `get_more_nodes` needs to know about the whole ring, computed once
/// (Swift's `_update_bookkeeping`): only devices that hold at least one
/// partition count, and each gets dense region / zone / ip-tier numbers so the
/// "already used" sets become bitsets.
#[derive(Debug)]
pub(crate) struct Bookkeeping {
    num_regions: usize,
    num_zones: usize,
    num_ips: usize,
    num_assigned_devs: usize,
    /// Per device id: (region, zone, ip) tier numbers; `u32::MAX` if unassigned.
    tiers: Vec<[u32; 3]>,
}

impl Bookkeeping {
    fn build(ring: &RingData) -> Bookkeeping {
        let n = ring.devs.len();
        let mut assigned = vec![false; n];
        for row in &ring.replica2part2dev {
            for &id in row {
                if let Some(a) = assigned.get_mut(id as usize) {
                    *a = true;
                }
            }
        }
        let mut regions: HashMap<u32, u32> = HashMap::new();
        let mut zones: HashMap<(u32, u32), u32> = HashMap::new();
        let mut ips: HashMap<(u32, u32, &str), u32> = HashMap::new();
        let mut tiers = vec![[u32::MAX; 3]; n];
        let mut num_assigned_devs = 0;
        for (id, dev) in ring.devs.iter().enumerate() {
            let Some(dev) = dev else { continue };
            if !assigned[id] {
                continue;
            }
            num_assigned_devs += 1;
            let next = regions.len() as u32;
            let r = *regions.entry(dev.region).or_insert(next);
            let next = zones.len() as u32;
            let z = *zones.entry((dev.region, dev.zone)).or_insert(next);
            let next = ips.len() as u32;
            let i = *ips
                .entry((dev.region, dev.zone, dev.ip.as_str()))
                .or_insert(next);
            tiers[id] = [r, z, i];
        }
        Bookkeeping {
            num_regions: regions.len(),
            num_zones: zones.len(),
            num_ips: ips.len(),
            num_assigned_devs,
            tiers,
        }
    }
}

/// Lazily built [`Bookkeeping`] and [`PartMajor`] table stored inside
/// [`RingData`]. They are derived data: the cache compares equal to any other
/// cache and clones as empty, so it never makes two equal rings differ. Call
/// [`RingData::clear_lookup_cache`] after changing `devs` or
/// `replica2part2dev` of a ring that has already been looked up.
#[derive(Default)]
pub struct LookupCache {
    bookkeeping: OnceLock<Arc<Bookkeeping>>,
    part_major: OnceLock<PartMajor>,
}

impl LookupCache {
    pub(crate) fn get(&self, ring: &RingData) -> Arc<Bookkeeping> {
        self.bookkeeping
            .get_or_init(|| Arc::new(Bookkeeping::build(ring)))
            .clone()
    }

    fn part_major(&self, ring: &RingData) -> &PartMajor {
        self.part_major.get_or_init(|| PartMajor::build(ring))
    }
}

impl Clone for LookupCache {
    fn clone(&self) -> Self {
        LookupCache::default()
    }
}

impl PartialEq for LookupCache {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for LookupCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookupCache")
    }
}

/// A growable set of small integers.
#[derive(Debug, Clone, Default)]
struct BitSet {
    words: Vec<u64>,
    len: usize,
}

impl BitSet {
    fn with_capacity(bits: usize) -> Self {
        BitSet {
            words: vec![0; bits.div_ceil(64)],
            len: 0,
        }
    }

    fn contains(&self, i: u32) -> bool {
        let i = i as usize;
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn insert(&mut self, i: u32) {
        let i = i as usize;
        if i / 64 >= self.words.len() {
            self.words.resize(i / 64 + 1, 0);
        }
        let w = &mut self.words[i / 64];
        let bit = 1 << (i % 64);
        if *w & bit == 0 {
            *w |= bit;
            self.len += 1;
        }
    }
}

/// The handoff passes of `get_more_nodes`, in order: devices in regions no
/// earlier node used, then in unused zones, then on unused hosts (ip tiers),
/// then any unused device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pass {
    Regions,
    Zones,
    Ips,
    Devs,
    Done,
}

impl Pass {
    fn next(self) -> Pass {
        match self {
            Pass::Regions => Pass::Zones,
            Pass::Zones => Pass::Ips,
            Pass::Ips => Pass::Devs,
            Pass::Devs | Pass::Done => Pass::Done,
        }
    }
}

/// Swift's handoff sequence for a partition (`Ring.get_more_nodes`).
///
/// Each pass walks the same sequence of "handoff partitions": from a start
/// derived from MD5 of the partition number, stepping by `parts / 65536`
/// (at least 1) to the end, then wrapping around from
/// `inc - (parts - start) % inc` up to the start. Swift's wrap-around
/// arithmetic never revisits partition 0 when `inc` divides `parts - start`;
/// that quirk is kept so the sequences agree.
#[derive(Debug)]
pub struct Handoffs<'a> {
    ring: &'a RingData,
    table: &'a PartMajor,
    bk: Arc<Bookkeeping>,
    used: BitSet,
    same_regions: BitSet,
    same_zones: BitSet,
    same_ips: BitSet,
    pass: Pass,
    pass_started: bool,
    parts: usize,
    start: usize,
    inc: usize,
    /// false: first range (start..parts), true: the wrap-around range.
    wrapped: bool,
    handoff_part: usize,
    row: usize,
    next_index: usize,
}

impl<'a> Handoffs<'a> {
    pub(crate) fn new(ring: &'a RingData, part: u32) -> Self {
        let bk = ring.lookup_cache.get(ring);
        let parts = ring.replica2part2dev.first().map_or(0, Vec::len);
        let mut used = BitSet::with_capacity(ring.devs.len());
        let mut same_regions = BitSet::with_capacity(bk.num_regions);
        let mut same_zones = BitSet::with_capacity(bk.num_zones);
        let mut same_ips = BitSet::with_capacity(bk.num_ips);
        for node in PartNodes::new(ring, part) {
            let id = node.dev.id;
            used.insert(id);
            if let Some([r, z, i]) = bk.tiers.get(id as usize).copied() {
                same_regions.insert(r);
                same_zones.insert(z);
                same_ips.insert(i);
            }
        }
        // Swift hashes the decimal partition number to pick where to start.
        let digest = md5::compute(itoa_u32(part).as_bytes()).0;
        let start = crate::hash::partition(&digest, ring.part_shift) as usize;
        let inc = (parts / 65536).max(1);
        Handoffs {
            ring,
            table: ring.lookup_cache.part_major(ring),
            bk,
            used,
            same_regions,
            same_zones,
            same_ips,
            pass: if parts == 0 {
                Pass::Done
            } else {
                Pass::Regions
            },
            pass_started: false,
            parts,
            start,
            inc,
            wrapped: false,
            handoff_part: start,
            row: 0,
            next_index: 0,
        }
    }

    /// True once the current pass has nothing left to find.
    fn pass_exhausted(&self) -> bool {
        match self.pass {
            Pass::Regions => self.same_regions.len == self.bk.num_regions,
            Pass::Zones => self.same_zones.len == self.bk.num_zones,
            Pass::Ips => self.same_ips.len == self.bk.num_ips,
            Pass::Devs => self.used.len == self.bk.num_assigned_devs,
            Pass::Done => true,
        }
    }

    /// Would the current pass take device `id` (with tiers `t`)?
    fn wanted(&self, id: u32, t: [u32; 3]) -> bool {
        if self.used.contains(id) {
            return false;
        }
        match self.pass {
            Pass::Regions => !self.same_regions.contains(t[0]),
            Pass::Zones => !self.same_zones.contains(t[1]),
            Pass::Ips => !self.same_ips.contains(t[2]),
            Pass::Devs => true,
            Pass::Done => false,
        }
    }

    /// Record a yielded device the way each Swift pass does: the region pass
    /// marks all three tiers, the zone pass zone and ip, the ip pass ip.
    fn take(&mut self, id: u32, t: [u32; 3]) {
        self.used.insert(id);
        match self.pass {
            Pass::Regions => {
                self.same_regions.insert(t[0]);
                self.same_zones.insert(t[1]);
                self.same_ips.insert(t[2]);
            }
            Pass::Zones => {
                self.same_zones.insert(t[1]);
                self.same_ips.insert(t[2]);
            }
            Pass::Ips => self.same_ips.insert(t[2]),
            Pass::Devs | Pass::Done => {}
        }
    }

    fn end_pass(&mut self) {
        self.pass = self.pass.next();
        self.pass_started = false;
    }
}

impl<'a> Iterator for Handoffs<'a> {
    type Item = NodeRef<'a>;

    fn next(&mut self) -> Option<NodeRef<'a>> {
        loop {
            if self.pass == Pass::Done {
                return None;
            }
            if !self.pass_started {
                if self.pass_exhausted() {
                    self.end_pass();
                    continue;
                }
                self.pass_started = true;
                self.wrapped = false;
                self.handoff_part = self.start;
                self.row = 0;
            }
            // Position on the next handoff partition of the sequence.
            if !self.wrapped && self.handoff_part >= self.parts {
                self.wrapped = true;
                self.handoff_part = self.inc - (self.parts - self.start.min(self.parts)) % self.inc;
                self.row = 0;
            }
            if self.wrapped && self.handoff_part >= self.start {
                self.end_pass();
                continue;
            }
            if self.row >= self.table.replicas {
                self.row = 0;
                self.handoff_part += self.inc;
                continue;
            }
            let r = self.row;
            self.row += 1;
            let Some(id) = self.table.part(self.handoff_part).get(r) else {
                continue;
            };
            let (Some(dev), Some(&t)) = (self.ring.dev(id), self.bk.tiers.get(id as usize)) else {
                continue;
            };
            if !self.wanted(id, t) {
                continue;
            }
            self.take(id, t);
            if self.pass_exhausted() {
                self.end_pass();
            }
            let index = self.next_index;
            self.next_index += 1;
            return Some(NodeRef {
                dev,
                index,
                handoff: true,
            });
        }
    }
}

/// Decimal digits of `n` without allocating (Swift hashes `str(part)`).
fn itoa_u32(mut n: u32) -> Digits {
    let mut d = Digits {
        buf: [0; 10],
        start: 10,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    d
}

struct Digits {
    buf: [u8; 10],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: u32, region: u32, zone: u32, ip: &str) -> Device {
        Device {
            id,
            region,
            zone,
            ip: ip.to_string(),
            port: 6200,
            replication_ip: ip.to_string(),
            replication_port: 6200,
            device: format!("d{id}"),
            weight: 1.0,
            ..Default::default()
        }
    }

    /// A ring with a deterministic pseudo-random table over `devs`.
    fn ring(devs: Vec<Device>, part_power: u32, rows: &[usize]) -> RingData {
        let n = devs.len() as u32;
        let parts = 1usize << part_power;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let table = rows
            .iter()
            .enumerate()
            .map(|(r, &len)| {
                assert!(len <= parts);
                (0..len)
                    .map(|p| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((x >> 33) as u32 + r as u32 + p as u32) % n
                    })
                    .collect()
            })
            .collect();
        RingData {
            devs: devs.into_iter().map(Some).collect(),
            replica2part2dev: table,
            part_shift: 32 - part_power,
            dev_id_bytes: 2,
            ..Default::default()
        }
    }

    fn many_devs() -> Vec<Device> {
        let mut v = Vec::new();
        for id in 0..24u32 {
            let region = 1 + id % 2;
            let zone = 1 + (id / 2) % 3;
            let host = format!("10.{region}.{zone}.{}", id % 2 + id / 12);
            v.push(dev(id, region, zone, &host));
        }
        v
    }

    /// Primaries straight from the replica rows, as Swift's
    /// `_get_part_nodes` reads them.
    fn naive_primaries(ring: &RingData, part: usize) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for row in &ring.replica2part2dev {
            if let Some(&id) = row.get(part) {
                if !out.contains(&id) && ring.dev(id).is_some() {
                    out.push(id);
                }
            }
        }
        out
    }

    #[test]
    fn primaries_at_every_table_width() {
        // 24 devices (1-byte table), 300 (2-byte), 70,000 (4-byte), with a
        // short last row and a duplicate.
        for n in [24usize, 300, 70_000] {
            let devs = (0..n as u32)
                .map(|id| dev(id, 1, id % 3, "10.0.0.1"))
                .collect();
            let mut r = ring(devs, 6, &[64, 64, 40]);
            r.replica2part2dev[1][5] = r.replica2part2dev[0][5];
            r.replica2part2dev[2][7] = n as u32 - 1;
            for part in 0..64 {
                let got: Vec<u32> = r.primaries(part as u32).map(|n| n.dev.id).collect();
                assert_eq!(got, naive_primaries(&r, part), "{n} devices, part {part}");
            }
            assert_eq!(r.primaries(64).count(), 0);
        }
    }

    #[test]
    fn itoa() {
        for n in [0u32, 7, 10, 312, 65535, u32::MAX] {
            assert_eq!(itoa_u32(n).as_bytes(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn primaries_dedup_and_fractional_rows() {
        let devs = vec![dev(0, 1, 1, "a"), dev(1, 1, 2, "b"), dev(2, 1, 3, "c")];
        let r = RingData {
            devs: devs.into_iter().map(Some).collect(),
            replica2part2dev: vec![vec![0, 1], vec![0, 2], vec![2]],
            part_shift: 31,
            dev_id_bytes: 2,
            ..Default::default()
        };
        let p0: Vec<_> = r.primaries(0).map(|n| (n.dev.id, n.index)).collect();
        assert_eq!(p0, vec![(0, 0), (2, 1)]);
        let p1: Vec<_> = r.primaries(1).map(|n| (n.dev.id, n.index)).collect();
        assert_eq!(p1, vec![(1, 0), (2, 1)]);
        assert_eq!(r.primaries(2).count(), 0);
    }

    /// (Holds for these rings, where every device has many partitions; Swift's
    /// walk can miss a device that only partition 0 holds, see below.)
    #[test]
    fn handoffs_cover_every_other_assigned_device_once() {
        for (power, rows) in [
            (6u32, vec![64, 64, 64]),
            (8, vec![256, 256, 128]),
            (0, vec![1, 1]),
        ] {
            let r = ring(many_devs(), power, &rows);
            for part in 0..(1u32 << power) {
                let prim: Vec<u32> = r.primaries(part).map(|n| n.dev.id).collect();
                let hand: Vec<NodeRef> = r.get_more_nodes(part).collect();
                let mut all: Vec<u32> = prim
                    .iter()
                    .copied()
                    .chain(hand.iter().map(|n| n.dev.id))
                    .collect();
                for (i, n) in hand.iter().enumerate() {
                    assert_eq!(n.handoff_index(), Some(i));
                    assert_eq!(n.primary_index(), None);
                }
                let total = all.len();
                all.sort_unstable();
                all.dedup();
                assert_eq!(all.len(), total, "no device twice");
                let assigned = r.lookup_cache.get(&r).num_assigned_devs;
                assert_eq!(total, assigned, "power {power} part {part}");
            }
        }
    }

    #[test]
    fn handoffs_prefer_unused_regions_then_zones_then_hosts() {
        let r = ring(many_devs(), 8, &[256, 256, 256]);
        for part in 0..256u32 {
            let mut regions: Vec<u32> = Vec::new();
            let mut zones: Vec<(u32, u32)> = Vec::new();
            let mut ips: Vec<(u32, u32, String)> = Vec::new();
            for n in r.primaries(part) {
                regions.push(n.dev.region);
                zones.push((n.dev.region, n.dev.zone));
                ips.push((n.dev.region, n.dev.zone, n.dev.ip.clone()));
            }
            // Each handoff is in a fresh region while any is left, then in a
            // fresh zone while any is left, then on a fresh host.
            let mut stage = 0;
            for n in r.get_more_nodes(part) {
                let d = n.dev;
                let fresh_region = !regions.contains(&d.region);
                let fresh_zone = !zones.contains(&(d.region, d.zone));
                let fresh_ip = !ips.contains(&(d.region, d.zone, d.ip.clone()));
                let kind = if fresh_region {
                    0
                } else if fresh_zone {
                    1
                } else if fresh_ip {
                    2
                } else {
                    3
                };
                assert!(
                    kind >= stage,
                    "part {part}: handoff order went back from {stage} to {kind}"
                );
                stage = kind;
                regions.push(d.region);
                zones.push((d.region, d.zone));
                ips.push((d.region, d.zone, d.ip.clone()));
            }
        }
    }

    #[test]
    fn handoffs_skip_unassigned_devices_and_holes() {
        let mut devs: Vec<Option<Device>> = many_devs().into_iter().map(Some).collect();
        devs[5] = None;
        let mut r = ring(many_devs(), 6, &[64, 64]);
        r.devs = devs;
        // rewrite table so it never uses 5 nor 7
        for row in &mut r.replica2part2dev {
            for id in row.iter_mut() {
                if *id == 5 || *id == 7 {
                    *id = 0;
                }
            }
        }
        r.clear_lookup_cache();
        for part in 0..64 {
            for n in r.get_more_nodes(part) {
                assert!(n.dev.id != 5 && n.dev.id != 7);
            }
        }
    }

    /// Primaries and the full handoff sequence of every partition of a ring
    /// Swift 2.30.1 built (2 regions, 2.5 replicas, a hole, a device with
    /// weight 1e-05), as Swift's `Ring.get_part_nodes` / `get_more_nodes`
    /// return them. Device 5 sits only in partition 0, which Swift's handoff
    /// walk reaches only when it starts there (partition 27).
    #[test]
    fn swift_order_on_a_swift_built_ring() {
        const SWIFT: &[(u32, &[u32], &[u32])] = &[
            (0, &[5, 11, 0], &[6, 3, 9, 1, 7, 10, 8, 2]),
            (1, &[7, 11, 0], &[2, 8, 6, 3, 1, 9, 10]),
            (2, &[9, 0, 10], &[6, 3, 11, 1, 7, 8, 2]),
            (3, &[7, 1, 10], &[8, 3, 6, 11, 0, 9, 2]),
            (4, &[7, 2, 8], &[10, 0, 9, 6, 3, 11, 1]),
            (5, &[3, 9, 6], &[10, 1, 7, 8, 11, 0, 2]),
            (6, &[9, 0, 10], &[7, 2, 1, 8, 3, 6, 11]),
            (7, &[6, 3, 9], &[1, 10, 7, 0, 2, 8, 11]),
            (8, &[10, 1, 7], &[3, 9, 6, 11, 0, 8, 2]),
            (9, &[6, 3, 9], &[10, 1, 7, 2, 0, 11, 8]),
            (10, &[1, 7, 10], &[9, 3, 11, 0, 8, 6, 2]),
            (11, &[1, 7, 2], &[10, 9, 3, 6, 0, 11, 8]),
            (12, &[1, 7, 3], &[8, 11, 2, 6, 0, 9, 10]),
            (13, &[6, 10, 1], &[2, 8, 3, 11, 0, 7, 9]),
            (14, &[9, 0, 6], &[2, 10, 7, 8, 3, 11, 1]),
            (15, &[3, 11, 0], &[6, 9, 10, 7, 2, 8, 1]),
            (16, &[8, 1], &[2, 6, 11, 3, 0, 7, 9, 10]),
            (17, &[1, 7], &[9, 3, 11, 0, 6, 8, 10, 2]),
            (18, &[10, 1], &[6, 9, 3, 0, 11, 8, 7, 2]),
            (19, &[10, 0], &[7, 2, 8, 1, 3, 9, 6, 11]),
            (20, &[6, 3], &[10, 0, 9, 7, 2, 8, 11, 1]),
            (21, &[7, 2], &[9, 10, 1, 6, 3, 0, 11, 8]),
            (22, &[9, 10], &[2, 6, 0, 8, 3, 11, 1, 7]),
            (23, &[2, 8], &[0, 10, 6, 9, 3, 1, 7, 11]),
            (24, &[2, 8], &[7, 1, 10, 3, 9, 6, 0, 11]),
            (25, &[6, 3], &[1, 10, 9, 7, 0, 2, 8, 11]),
            (26, &[11, 0], &[6, 3, 9, 1, 7, 10, 2, 8]),
            (27, &[1, 7], &[5, 11, 9, 2, 0, 10, 8, 3, 6]),
            (28, &[9, 7], &[0, 10, 3, 6, 1, 2, 11, 8]),
            (29, &[10, 1], &[6, 9, 3, 0, 11, 8, 7, 2]),
            (30, &[8, 10], &[0, 6, 3, 9, 1, 7, 2, 11]),
            (31, &[6, 3], &[8, 11, 0, 2, 1, 7, 9, 10]),
        ];
        let ring = crate::codec::read_ring(
            &include_bytes!("codec/testdata/swift-2.30.1-frac-holes.ring.gz")[..],
        )
        .unwrap();
        assert_eq!(ring.partition_count(), SWIFT.len());
        for (part, primaries, handoffs) in SWIFT {
            let p: Vec<u32> = ring.primaries(*part).map(|n| n.dev.id).collect();
            let h: Vec<u32> = ring.get_more_nodes(*part).map(|n| n.dev.id).collect();
            assert_eq!(
                (&p[..], &h[..]),
                (*primaries, *handoffs),
                "partition {part}"
            );
        }
    }

    #[test]
    fn empty_ring_has_no_nodes() {
        let r = RingData {
            part_shift: 22,
            ..Default::default()
        };
        assert_eq!(r.primaries(0).count(), 0);
        assert_eq!(r.get_more_nodes(0).count(), 0);
    }

    #[test]
    fn cache_is_invisible_to_eq_and_clone() {
        let r = ring(many_devs(), 4, &[16, 16]);
        let before = r.clone();
        let _ = r.get_more_nodes(3).count();
        assert_eq!(r, before);
        let c = r.clone();
        assert_eq!(c.get_more_nodes(3).count(), r.get_more_nodes(3).count());
    }
}
