//! RingData: the serialisable ring (devices + replica-to-partition-to-device table).

use crate::device::Device;

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
}
