//! A set of byte ranges inside one chunk, kept merged and sorted: which
//! bytes of a cached chunk are known, and which were written since its
//! last upload began.

/// Disjoint, sorted, non-adjacent `[start, end)` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    r: Vec<(usize, usize)>,
}

impl RangeSet {
    pub fn new() -> Self {
        RangeSet::default()
    }

    /// The set holding `[0, len)`.
    pub fn full(len: usize) -> Self {
        let mut s = RangeSet::new();
        s.insert(0, len);
        s
    }

    pub fn is_empty(&self) -> bool {
        self.r.is_empty()
    }

    pub fn clear(&mut self) {
        self.r.clear();
    }

    /// Adds `[start, end)`, merging with what it touches.
    pub fn insert(&mut self, start: usize, end: usize) {
        if start >= end {
            return;
        }
        // First range that ends at or after `start` (could merge).
        let i = self.r.partition_point(|&(_, e)| e < start);
        let mut s = start;
        let mut e = end;
        let mut j = i;
        while j < self.r.len() && self.r[j].0 <= e {
            s = s.min(self.r[j].0);
            e = e.max(self.r[j].1);
            j += 1;
        }
        self.r.splice(i..j, [(s, e)]);
    }

    /// Takes `[start, end)` out of the set.
    pub fn remove_span(&mut self, start: usize, end: usize) {
        if start >= end {
            return;
        }
        let mut out = Vec::with_capacity(self.r.len() + 1);
        for &(s, e) in &self.r {
            if e <= start || s >= end {
                out.push((s, e));
                continue;
            }
            if s < start {
                out.push((s, start));
            }
            if e > end {
                out.push((end, e));
            }
        }
        self.r = out;
    }

    /// Whether `[start, end)` is wholly inside the set.
    pub fn covers(&self, start: usize, end: usize) -> bool {
        if start >= end {
            return true;
        }
        let i = self.r.partition_point(|&(_, e)| e <= start);
        self.r.get(i).is_some_and(|&(s, e)| s <= start && end <= e)
    }

    /// The parts of the set inside `[start, end)`.
    pub fn within(&self, start: usize, end: usize) -> Vec<(usize, usize)> {
        let i = self.r.partition_point(|&(_, e)| e <= start);
        self.r[i..]
            .iter()
            .take_while(|&&(s, _)| s < end)
            .map(|&(s, e)| (s.max(start), e.min(end)))
            .filter(|(s, e)| s < e)
            .collect()
    }

    /// The gaps of the set inside `[0, len)`.
    pub fn gaps(&self, len: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        for &(s, e) in &self.r {
            if s >= len {
                break;
            }
            if s > at {
                out.push((at, s));
            }
            at = at.max(e);
        }
        if at < len {
            out.push((at, len));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_and_gaps() {
        let mut s = RangeSet::new();
        s.insert(10, 20);
        s.insert(30, 40);
        assert_eq!(s.gaps(50), vec![(0, 10), (20, 30), (40, 50)]);
        s.insert(20, 30);
        assert_eq!(s.gaps(50), vec![(0, 10), (40, 50)]);
        assert!(s.covers(12, 38));
        assert_eq!(s.within(15, 45), vec![(15, 40)]);
        assert_eq!(s.within(0, 10), vec![]);
        assert_eq!(s.within(40, 50), vec![]);
        assert!(!s.covers(5, 12));
        s.insert(0, 50);
        assert!(s.covers(0, 50));
        assert_eq!(s.gaps(50), vec![]);
        assert_eq!(RangeSet::full(8).gaps(8), vec![]);
        s.clear();
        assert!(s.is_empty());
        s.insert(5, 5);
        assert!(s.is_empty());
    }

    proptest! {
        /// Against a plain bitmap: same coverage, same gaps.
        #[test]
        fn matches_a_bitmap(ops in proptest::collection::vec((0usize..200, 0usize..60), 0..40)) {
            let mut s = RangeSet::new();
            let mut bits = [false; 260];
            for (i, (start, len)) in ops.into_iter().enumerate() {
                if i % 5 == 4 {
                    s.remove_span(start, start + len);
                    for b in &mut bits[start..start + len] { *b = false; }
                } else {
                    s.insert(start, start + len);
                    for b in &mut bits[start..start + len] { *b = true; }
                }
            }
            let mut gaps = Vec::new();
            let mut i = 0;
            while i < 260 {
                if !bits[i] {
                    let j = (i..260).find(|&j| bits[j]).unwrap_or(260);
                    gaps.push((i, j));
                    i = j;
                } else { i += 1; }
            }
            prop_assert_eq!(s.gaps(260), gaps);
            for a in (0..260).step_by(7) {
                for b in (a..260).step_by(11) {
                    prop_assert_eq!(s.covers(a, b), bits[a..b].iter().all(|&x| x));
                    let inside: usize = s.within(a, b).iter().map(|(x, y)| y - x).sum();
                    prop_assert_eq!(inside, bits[a..b].iter().filter(|&&x| x).count());
                }
            }
        }
    }
}
