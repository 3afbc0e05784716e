//! The database replicator's decisions, pure (swift/common/db_replicator.py):
//! which nodes a database goes to and in what order, whether two replicas
//! are in sync, whether a peer gets rows or the whole database, whether a
//! handoff may go, whether a deleted database may be reclaimed, and
//! whether a container's stats must be reported to its account.

use swirl_common::Timestamp;
use swirl_ring::RingData;

use crate::jobs::Node;

/// Where one local database belongs and whom it is replicated to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The partition its name hashes to (the one its peers keep it in).
    pub partition: u32,
    /// The primaries other than this device, in Swift's order: those after
    /// it in the ring's list first, then those before (so that, when all
    /// replicas are far apart, each sends to a different one).
    pub nodes: Vec<Node>,
    /// This device is one of its primaries and it is in the right
    /// partition directory; otherwise it is a handoff, removed once the
    /// primaries have it.
    pub should_be_here: bool,
}

/// Swift's `_replicate_object` node choice for a database found in
/// partition directory `dir_partition` on local device `local_id`, whose
/// name hashes to `name_partition`.
pub fn placement(
    ring: &RingData,
    dir_partition: u32,
    name_partition: u32,
    local_id: u32,
) -> Placement {
    let nodes: Vec<Node> = ring
        .primaries(name_partition)
        .map(|n| Node::from_dev(n.dev))
        .collect();
    let here = nodes.iter().position(|n| n.id == local_id);
    let ordered = match here {
        Some(i) => nodes[i + 1..].iter().chain(&nodes[..i]).cloned().collect(),
        None => nodes,
    };
    Placement {
        partition: name_partition,
        nodes: ordered,
        should_be_here: dir_partition == name_partition && here.is_some(),
    }
}

/// Why two replicas need nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InSync {
    /// The sync points say the peer has every row (Swift's `no_change`).
    NoChange,
    /// The rows hash the same (Swift's `hashmatch`): record the peer's point.
    HashMatch,
}

/// Swift's `_in_sync`: the peer's point for us (`remote_point`) or ours for
/// it (`local_sync`) reaches our last row, or the row hashes are equal.
pub fn in_sync(
    remote_point: i64,
    local_sync: i64,
    remote_hash: &str,
    local_hash: &str,
    local_max_row: i64,
) -> Option<InSync> {
    if remote_point.max(local_sync) >= local_max_row {
        Some(InSync::NoChange)
    } else if remote_hash == local_hash {
        Some(InSync::HashMatch)
    } else {
        None
    }
}

/// How a peer that is not in sync catches up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rows after `from` in `merge_items` batches, then `merge_syncs`.
    Usync { from: i64 },
    /// The whole database, which the peer merges its own rows into
    /// (`rsync_then_merge`).
    Whole,
}

/// Swift's `_choose_replication_mode`: a peer with fewer than half our rows
/// and more than `per_diff` behind gets the whole database; otherwise it
/// gets rows from where the sync points say it is.
pub fn mode(
    remote_max_row: i64,
    local_max_row: i64,
    remote_point: i64,
    local_sync: i64,
    per_diff: usize,
) -> Mode {
    let far_behind = local_max_row > 0
        && (remote_max_row as f64) / (local_max_row as f64) < 0.5
        && local_max_row - remote_max_row > per_diff as i64;
    if far_behind {
        Mode::Whole
    } else {
        Mode::Usync {
            from: remote_point.max(local_sync),
        }
    }
}

/// Whether a whole database goes as a delta: only to a peer that holds an
/// older copy (a basis), and only when the file is large enough for the
/// signatures to be worth it. A window with nothing in common still goes
/// literally, so a delta that does not pay costs the signatures only.
pub fn ship_as_delta(peer_has_copy: bool, size: u64, delta_min_size: u64) -> bool {
    peer_has_copy && size >= delta_min_size
}

/// Whether a handoff database may go (Swift's `cleanup_post_replicate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    Remove,
    /// Kept, and why.
    Keep(String),
}

/// A handoff database goes once every peer (or `handoff_delete` of them)
/// took it and no row arrived since the pass read it (`max_row_before`).
pub fn handoff_cleanup(
    max_row_before: i64,
    max_row_now: i64,
    responses: &[bool],
    handoff_delete: Option<usize>,
) -> Cleanup {
    if max_row_now < max_row_before {
        return Cleanup::Keep(format!(
            "negative max_row_delta: {}",
            max_row_now - max_row_before
        ));
    }
    if max_row_now > max_row_before {
        return Cleanup::Keep(format!("{} new rows", max_row_now - max_row_before));
    }
    let ok = responses.iter().filter(|r| **r).count();
    let enough = match handoff_delete {
        Some(n) => ok >= n,
        None => !responses.is_empty() && ok == responses.len(),
    };
    if enough {
        Cleanup::Remove
    } else {
        Cleanup::Keep(format!("{ok}/{} success", responses.len()))
    }
}

/// Swift's `is_reclaimable`: nothing left in it, and deleted (after its
/// last put) longer than `reclaim_age` ago.
pub fn reclaimable(
    count: i64,
    put_timestamp: &str,
    delete_timestamp: &str,
    now: f64,
    reclaim_age: u64,
) -> bool {
    let ts = |s: &str| Timestamp::parse(s).unwrap_or_default();
    let cutoff = Timestamp::from_secs_f64(now - reclaim_age as f64).unwrap_or_default();
    count == 0 && cutoff > ts(delete_timestamp) && ts(delete_timestamp) > ts(put_timestamp)
}

/// A container's stats as it has them and as it last reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStats<'a> {
    pub put_timestamp: &'a str,
    pub delete_timestamp: &'a str,
    pub object_count: i64,
    pub bytes_used: i64,
    pub reported_put_timestamp: &'a str,
    pub reported_delete_timestamp: &'a str,
    pub reported_object_count: i64,
    pub reported_bytes_used: i64,
}

/// Swift's container-updater test: a report is due when the container was
/// put or deleted since its last report or its counts changed (never for
/// one auto-created without a put timestamp).
pub fn report_due(s: &ContainerStats) -> bool {
    let ts = |x: &str| Timestamp::parse(x).unwrap_or_default();
    if ts(s.put_timestamp) <= Timestamp::default() {
        return false;
    }
    ts(s.put_timestamp) > ts(s.reported_put_timestamp)
        || ts(s.delete_timestamp) > ts(s.reported_delete_timestamp)
        || s.object_count != s.reported_object_count
        || s.bytes_used != s.reported_bytes_used
}

/// Swift's container replicator `report_up_to_date`: what the account has
/// is exactly what the container has (a deleted container is reclaimed
/// only then, or the account would keep counting it).
pub fn report_up_to_date(s: &ContainerStats) -> bool {
    s.put_timestamp == s.reported_put_timestamp
        && s.delete_timestamp == s.reported_delete_timestamp
        && s.object_count == s.reported_object_count
        && s.bytes_used == s.reported_bytes_used
}

/// Swift's `majority_size`.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(devices: u32, replicas: f64) -> RingData {
        crate::jobs::tests::test_ring(4, replicas, devices)
    }

    #[test]
    fn placement_orders_peers_after_self_and_spots_handoffs() {
        let r = ring(4, 3.0);
        for part in 0..16u32 {
            let ids: Vec<u32> = r.primaries(part).map(|n| n.dev.id).collect();
            for (i, &me) in ids.iter().enumerate() {
                let p = placement(&r, part, part, me);
                assert!(p.should_be_here);
                let got: Vec<u32> = p.nodes.iter().map(|n| n.id).collect();
                let want: Vec<u32> = ids[i + 1..].iter().chain(&ids[..i]).copied().collect();
                assert_eq!(got, want, "partition {part}, device {me}");
                assert!(p.nodes.iter().all(|n| n.port == 6300));
            }
            // The fourth device holds it as a handoff: all three are peers.
            let other = (0..4).find(|d| !ids.contains(d)).unwrap();
            let p = placement(&r, part, part, other);
            assert!(!p.should_be_here);
            assert_eq!(p.nodes.len(), 3);
            // In the wrong partition directory on a primary: a handoff too,
            // replicated to its right partition's primaries.
            let p = placement(&r, (part + 1) % 16, part, ids[0]);
            assert!(!p.should_be_here);
            assert_eq!(p.partition, part);
            assert_eq!(p.nodes.len(), 2);
        }
        // One replica: nobody else to send to.
        let one = ring(2, 1.0);
        let me = one.primaries(3).next().unwrap().dev.id;
        assert!(placement(&one, 3, 3, me).nodes.is_empty());
    }

    #[test]
    fn in_sync_by_points_or_hash() {
        assert_eq!(in_sync(10, -1, "a", "b", 10), Some(InSync::NoChange));
        assert_eq!(in_sync(-1, 12, "a", "b", 10), Some(InSync::NoChange));
        assert_eq!(in_sync(5, 3, "h", "h", 10), Some(InSync::HashMatch));
        assert_eq!(in_sync(5, 3, "a", "b", 10), None);
        // An empty database (max_row -1) is in sync with anyone.
        assert_eq!(in_sync(-1, -1, "a", "b", -1), Some(InSync::NoChange));
    }

    #[test]
    fn rows_or_the_whole_database() {
        // Far behind: under half our rows and more than per_diff behind.
        assert_eq!(mode(400, 5000, -1, -1, 1000), Mode::Whole);
        assert_eq!(mode(-1, 5000, -1, -1, 1000), Mode::Whole);
        // Under half, but only a few rows behind: rows.
        assert_eq!(mode(10, 900, 7, -1, 1000), Mode::Usync { from: 7 });
        // Over half: rows from the furthest point either side knows.
        assert_eq!(
            mode(3000, 5000, 2000, 2500, 1000),
            Mode::Usync { from: 2500 }
        );
        assert_eq!(mode(2499, 5000, -1, -1, 1000), Mode::Whole);
        assert_eq!(mode(2500, 5000, -1, -1, 1000), Mode::Usync { from: -1 });
        // A smaller per_diff makes whole copies likelier.
        assert_eq!(mode(100, 500, -1, -1, 100), Mode::Whole);
        assert!(ship_as_delta(true, 1 << 20, 256 << 10));
        assert!(
            !ship_as_delta(false, 1 << 20, 256 << 10),
            "nothing to diff against"
        );
        assert!(
            !ship_as_delta(true, 100 << 10, 256 << 10),
            "too small to pay"
        );
    }

    #[test]
    fn handoffs_go_only_when_every_primary_took_them() {
        assert_eq!(
            handoff_cleanup(9, 9, &[true, true, true], None),
            Cleanup::Remove
        );
        assert_eq!(
            handoff_cleanup(9, 9, &[true, false, true], None),
            Cleanup::Keep("2/3 success".into())
        );
        assert_eq!(
            handoff_cleanup(9, 9, &[], None),
            Cleanup::Keep("0/0 success".into())
        );
        assert_eq!(
            handoff_cleanup(9, 11, &[true, true, true], None),
            Cleanup::Keep("2 new rows".into())
        );
        assert!(matches!(
            handoff_cleanup(9, 8, &[true], None),
            Cleanup::Keep(_)
        ));
        assert_eq!(
            handoff_cleanup(9, 9, &[true, false, true], Some(2)),
            Cleanup::Remove
        );
        assert!(matches!(
            handoff_cleanup(9, 9, &[true, false, false], Some(2)),
            Cleanup::Keep(_)
        ));
    }

    #[test]
    fn reclaim_and_reports() {
        let now = 1_700_000_000.0;
        let put = "1699990000.00000";
        let del = "1699990500.00000";
        assert!(reclaimable(0, put, del, now, 3600));
        assert!(!reclaimable(1, put, del, now, 3600), "not empty");
        assert!(!reclaimable(0, put, del, now, 86400), "not old enough");
        assert!(!reclaimable(0, del, put, now, 3600), "put after delete");
        assert!(!reclaimable(0, put, "0", now, 3600), "never deleted");

        let mut s = ContainerStats {
            put_timestamp: put,
            delete_timestamp: "0",
            object_count: 3,
            bytes_used: 30,
            reported_put_timestamp: put,
            reported_delete_timestamp: "0",
            reported_object_count: 3,
            reported_bytes_used: 30,
        };
        assert!(!report_due(&s) && report_up_to_date(&s));
        s.object_count = 4;
        assert!(report_due(&s) && !report_up_to_date(&s));
        s.object_count = 3;
        s.delete_timestamp = del;
        assert!(report_due(&s));
        // Never reported (a copy just shipped in).
        let fresh = ContainerStats {
            reported_put_timestamp: "0",
            reported_object_count: 0,
            reported_bytes_used: 0,
            ..s.clone()
        };
        assert!(report_due(&fresh));
        // Auto-created, no put timestamp: nothing to report.
        let auto = ContainerStats {
            put_timestamp: "0",
            ..fresh
        };
        assert!(!report_due(&auto));
        assert_eq!((majority(3), majority(2), majority(1)), (2, 2, 1));
    }
}
