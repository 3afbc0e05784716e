//! The nonces a server has accepted within the clock window, so that a
//! captured request cannot be sent again. Bounded: when full, the entries
//! with the oldest times go first, and from then on any request whose time
//! is not after the newest time dropped is refused as a possible replay
//! (the window shrinks under extreme load instead of memory growing, and a
//! replay is never let through).

use std::collections::BTreeSet;

/// Nonces kept at most (about 40 bytes each): at 50,000 backend requests
/// a second, five seconds' worth before the window starts to shrink.
pub const CAPACITY: usize = 1 << 18;

/// Accepted `(time_ms, nonce)` pairs, oldest time first.
#[derive(Debug)]
pub struct SeenNonces {
    seen: BTreeSet<(u64, u128)>,
    capacity: usize,
    /// Times at or below this were dropped while still in the window.
    floor: Option<u64>,
}

impl SeenNonces {
    pub fn new(capacity: usize) -> Self {
        SeenNonces {
            seen: BTreeSet::new(),
            capacity,
            floor: None,
        }
    }

    /// Forgets entries older than `oldest_ms` (out of the window: the clock
    /// check refuses them anyway).
    pub fn expire(&mut self, oldest_ms: u64) {
        while let Some(&(t, _)) = self.seen.first() {
            if t >= oldest_ms {
                break;
            }
            self.seen.pop_first();
        }
    }

    /// Records a nonce; false when it was seen already, or may have been
    /// (its time is at or below what a full set dropped).
    pub fn insert(&mut self, time_ms: u64, nonce: u128) -> bool {
        if self.floor.is_some_and(|f| time_ms <= f) {
            return false;
        }
        if !self.seen.insert((time_ms, nonce)) {
            return false;
        }
        while self.seen.len() > self.capacity {
            if let Some((t, _)) = self.seen.pop_first() {
                self.floor = Some(self.floor.map_or(t, |f| f.max(t)));
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_once() {
        let mut s = SeenNonces::new(10);
        assert!(s.insert(100, 1));
        assert!(s.insert(100, 2));
        assert!(!s.insert(100, 1));
        // Same nonce at another time is another request.
        assert!(s.insert(101, 1));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn expiry_forgets_only_the_old() {
        let mut s = SeenNonces::new(10);
        for t in 100..105 {
            assert!(s.insert(t, 9));
        }
        s.expire(103);
        assert_eq!(s.len(), 2);
        assert!(!s.insert(103, 9));
        assert!(!s.insert(104, 9));
    }

    #[test]
    fn full_set_refuses_what_it_dropped() {
        let mut s = SeenNonces::new(3);
        for (t, n) in [(105, 1), (101, 2), (103, 3)] {
            assert!(s.insert(t, n));
        }
        // Full: the oldest (101) goes, and nothing at or before it passes.
        assert!(s.insert(104, 4));
        assert_eq!(s.len(), 3);
        assert!(!s.insert(101, 2), "a dropped nonce replayed");
        assert!(!s.insert(100, 7), "older than what was dropped");
        assert!(s.insert(102, 8));
        assert!(!s.insert(103, 3));
        assert!(!s.is_empty());
    }
}
