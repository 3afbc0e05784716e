//! Quorum arithmetic and Swift's `best_response` choice of a status from the
//! statuses the replicas returned (swift/proxy/controllers/base.py).

/// Replicated policies need a simple majority: `n/2 + 1`.
pub fn quorum_size(replicas: usize) -> usize {
    replicas / 2 + 1
}

/// The status to answer with, given one status per node asked (a node that
/// did not answer counts as 503), or `None` when no class reaches quorum
/// (the caller answers 503).
///
/// As Swift does: the first class among 1xx..4xx with at least `quorum`
/// members wins, and within it the highest status (so a 201 and a 202 for a
/// container PUT give 202: "it already existed somewhere").
pub fn best_status(statuses: &[u16], quorum: usize) -> Option<u16> {
    for hundred in [100u16, 200, 300, 400] {
        let class: Vec<u16> = statuses
            .iter()
            .copied()
            .filter(|s| (hundred..hundred + 100).contains(s))
            .collect();
        if class.len() >= quorum {
            return class.into_iter().max();
        }
    }
    None
}

/// Swift's `best_response` over a GET's answers: the index of the answer
/// to pass on, the first of the highest status in the first class among
/// 2xx, 3xx and 4xx that holds `quorum` answers.
pub fn best_index(statuses: &[u16], quorum: usize) -> Option<usize> {
    if statuses.is_empty() {
        return None;
    }
    for hundred in [200u16, 300, 400] {
        let class = |s: &u16| (hundred..hundred + 100).contains(s);
        if statuses.iter().filter(|s| class(s)).count() >= quorum {
            let top = statuses.iter().copied().filter(class).max()?;
            return statuses.iter().position(|s| *s == top);
        }
    }
    None
}

/// What an object server answers a write older than (or as old as) what it holds.
pub const CONFLICT: u16 = 409;

/// An object PUT's answer, as Swift's object controller gives it
/// (`_check_failure_put_connections`, then `best_response`): with
/// `If-None-Match: *`, any node that already has the object (412) makes
/// it 412; else any node holding a newer or equal timestamp (409: the
/// PUT lost a race, or repeats one already stored) makes it 202, since
/// the newer data stands and the client's request was taken; else the
/// quorum's choice, 503 without one.
pub fn put_status(statuses: &[u16], quorum: usize, if_none_match_star: bool) -> u16 {
    const PRECONDITION_FAILED: u16 = 412;
    const ACCEPTED: u16 = 202;
    if if_none_match_star && statuses.contains(&PRECONDITION_FAILED) {
        return PRECONDITION_FAILED;
    }
    if statuses.contains(&CONFLICT) {
        return ACCEPTED;
    }
    best_status(statuses, quorum).unwrap_or(503)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum() {
        assert_eq!(quorum_size(1), 1);
        assert_eq!(quorum_size(2), 2);
        assert_eq!(quorum_size(3), 2);
        assert_eq!(quorum_size(4), 3);
        assert_eq!(quorum_size(5), 3);
    }

    #[test]
    fn best() {
        assert_eq!(best_status(&[201, 201, 503], 2), Some(201));
        assert_eq!(best_status(&[201, 503, 503], 2), None);
        assert_eq!(best_status(&[201, 202, 201], 2), Some(202));
        assert_eq!(best_status(&[404, 404, 204], 2), Some(404));
        assert_eq!(best_status(&[204, 404, 204], 2), Some(204));
        assert_eq!(best_status(&[409, 409, 201], 2), Some(409));
        assert_eq!(best_status(&[422, 201, 503], 2), None);
    }

    #[test]
    fn best_answer() {
        assert_eq!(best_index(&[], 1), None);
        assert_eq!(best_index(&[404], 1), Some(0));
        assert_eq!(best_index(&[503, 404, 404], 2), Some(1));
        assert_eq!(best_index(&[404, 503], 2), None);
        assert_eq!(best_index(&[404, 412, 412], 2), Some(1));
    }

    /// Swift's test_obj.py cases for a PUT that meets an equal or newer
    /// timestamp (test_put_x_timestamp_conflict and its neighbours).
    #[test]
    fn put_conflicts_are_accepted() {
        assert_eq!(put_status(&[409, 409, 409], 2, false), 202);
        assert_eq!(put_status(&[409, 201, 201], 2, false), 202);
        assert_eq!(put_status(&[201, 201, 409], 2, false), 202);
        assert_eq!(put_status(&[409, 503, 503], 2, false), 202);
        assert_eq!(put_status(&[409, 412, 412], 2, true), 412);
        assert_eq!(put_status(&[201, 412, 201], 2, true), 412);
        assert_eq!(put_status(&[201, 412, 201], 2, false), 201);
        assert_eq!(put_status(&[201, 201, 503], 2, false), 201);
        assert_eq!(put_status(&[201, 503, 503], 2, false), 503);
    }
}
