//! A token-bucket rate limiter for the auditors (Swift's
//! `EventletRateLimiter`, blocking): each call pays for `n` units (files or
//! bytes) at `per_second` and sleeps until they are paid for. An idle
//! limiter banks at most [`BURST`] of credit, so a slow stretch (a directory
//! walk) is made up for, but never a long pause; a new limiter starts with
//! none, so the first second is held to the rate too.

use std::time::{Duration, Instant};

/// Most credit an idle limiter keeps.
pub const BURST: Duration = Duration::from_secs(1);

/// Units per second, or none.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    /// When everything paid for so far is due (None: nothing yet).
    next: Option<Instant>,
}

impl RateLimiter {
    /// A limiter of `per_second` units; 0 (or less) is no limit.
    pub fn new(per_second: f64) -> Self {
        RateLimiter {
            per_second,
            next: None,
        }
    }

    /// Whether this limiter limits anything.
    pub fn limited(&self) -> bool {
        self.per_second > 0.0 && self.per_second.is_finite()
    }

    /// Pays for `n` units at `now`; returns how long to sleep.
    pub fn delay(&mut self, n: u64, now: Instant) -> Duration {
        if !self.limited() {
            return Duration::ZERO;
        }
        let floor = now.checked_sub(BURST).unwrap_or(now);
        let start = self.next.map_or(now, |t| t.max(floor));
        let due = start + Duration::from_secs_f64(n as f64 / self.per_second);
        self.next = Some(due);
        due.saturating_duration_since(now)
    }

    /// Pays for `n` units, sleeping as long as needed.
    pub fn wait(&mut self, n: u64) {
        let d = self.delay(n, Instant::now());
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_bursts_and_unlimited() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(100.0);
        // 100 units at 100/s: the first waits 10 ms, the hundredth 1 s.
        assert_eq!(r.delay(1, t0), Duration::from_millis(10));
        for _ in 0..98 {
            r.delay(1, t0);
        }
        let d = r.delay(1, t0);
        assert!((d.as_secs_f64() - 1.0).abs() < 1e-6, "{d:?}");
        // Idle for 10 s: at most BURST of credit is banked.
        let later = t0 + Duration::from_secs(11);
        let mut free = 0;
        while r.delay(1, later).is_zero() {
            free += 1;
        }
        // One second of credit: 100 units (floating point may round one off).
        assert!((99..=100).contains(&free), "{free}");
        let mut u = RateLimiter::new(0.0);
        assert!(!u.limited());
        assert_eq!(u.delay(1 << 40, t0), Duration::ZERO);
    }

    #[test]
    fn wait_holds_the_measured_rate() {
        let mut r = RateLimiter::new(2000.0);
        let t = Instant::now();
        for _ in 0..200 {
            r.wait(1);
        }
        let rate = 200.0 / t.elapsed().as_secs_f64();
        // Never faster than the limit (sleeps only overshoot).
        assert!(rate <= 2000.0 * 1.01, "{rate}/s");
    }
}
