//! Latency histogram with bounded memory: log-linear buckets (HDR-style) over
//! microseconds, shared by all workers through atomic counters.
//!
//! Values below 2^SIG_BITS are exact; above, each power of two is split into
//! 2^(SIG_BITS-1) buckets, so a reported percentile is within 1/128 of the true
//! value whatever the run length. The exact maximum is tracked separately.

use std::sync::atomic::{AtomicU64, Ordering};

/// Significant bits kept per value (precision 2^-(SIG_BITS-1) relative).
const SIG_BITS: u32 = 8;
const EXACT: u64 = 1 << SIG_BITS;
const HALF: u64 = 1 << (SIG_BITS - 1);
/// Enough buckets for any u64.
const BUCKETS: usize = (EXACT + (64 - SIG_BITS as u64) * HALF) as usize;

/// Bucket index of a value.
fn index(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb + 1 - SIG_BITS;
    let mantissa = v >> shift; // in [HALF, EXACT)
    (EXACT + u64::from(shift - 1) * HALF + (mantissa - HALF)) as usize
}

/// Lowest value and width of a bucket.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < EXACT {
        return (i, 1);
    }
    let shift = (i - EXACT) / HALF + 1;
    let mantissa = (i - EXACT) % HALF + HALF;
    (mantissa << shift, 1 << shift)
}

/// Concurrent histogram of microsecond latencies.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

/// A point-in-time copy of a [`Histogram`], for percentiles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    buckets: Vec<u64>,
    /// Number of recorded values.
    pub count: u64,
    /// Sum of recorded values (µs).
    pub sum: u64,
    /// Largest recorded value (µs), exact.
    pub max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value (µs).
    pub fn record(&self, us: u64) {
        if let Some(b) = self.buckets.get(index(us)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(us, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    /// Copies the current counts.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            count: self.count.load(Ordering::Relaxed),
            sum: self.sum.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
        }
    }
}

impl Snapshot {
    /// The value at percentile `p` (0-100) in µs: the middle of the bucket holding
    /// the ceil(p% * count)-th smallest value, capped at the exact maximum.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (lo, width) = bucket_range(i);
                return (lo + (width - 1) / 2).min(self.max);
            }
        }
        self.max
    }

    /// Adds another snapshot's counts to this one.
    pub fn merge(&mut self, other: &Snapshot) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// Mean in µs (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_range_round_trip() {
        for v in [
            0u64,
            1,
            255,
            256,
            257,
            511,
            512,
            1000,
            123_456,
            1 << 40,
            u64::MAX,
        ] {
            let (lo, w) = bucket_range(index(v));
            assert!(lo <= v && v - lo < w, "v={v} lo={lo} w={w}");
            assert!(index(v) < BUCKETS);
        }
        // buckets are contiguous and increasing
        for i in 1..BUCKETS {
            let (lo0, w0) = bucket_range(i - 1);
            let (lo1, _) = bucket_range(i);
            assert_eq!(lo0 + w0, lo1, "gap at {i}");
        }
    }

    #[test]
    fn percentiles_of_uniform_values() {
        let h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 10_000);
        assert_eq!(s.max, 10_000);
        for (p, want) in [(50.0, 5_000f64), (90.0, 9_000.0), (99.0, 9_900.0)] {
            let got = s.percentile(p) as f64;
            assert!((got - want).abs() / want < 0.01, "p{p}: {got} vs {want}");
        }
        assert_eq!(s.percentile(100.0), 10_000);
        assert!((s.mean() - 5_000.5).abs() < 1e-9);
    }

    #[test]
    fn small_values_exact_and_empty() {
        let h = Histogram::new();
        assert_eq!(h.snapshot().percentile(50.0), 0);
        h.record(7);
        h.record(7);
        h.record(200);
        let s = h.snapshot();
        assert_eq!(s.percentile(50.0), 7);
        assert_eq!(s.percentile(99.0), 200);
        let mut m = Snapshot::default();
        m.merge(&s);
        m.merge(&s);
        assert_eq!((m.count, m.max, m.percentile(50.0)), (6, 200, 7));
    }
}
