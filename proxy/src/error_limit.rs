//! Error limiting: a node that keeps failing is skipped for a while, as
//! Swift's proxy does (`error_suppression_limit` errors within
//! `error_suppression_interval` seconds; an immediate limit on 507).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Stat {
    errors: u32,
    last: Instant,
}

/// Per-node error counts, shared by all requests of a proxy.
pub struct ErrorLimiter {
    limit: u32,
    interval: Duration,
    stats: Mutex<HashMap<String, Stat>>,
}

impl ErrorLimiter {
    pub fn new(limit: u32, interval: Duration) -> Self {
        ErrorLimiter {
            limit,
            interval,
            stats: Mutex::new(HashMap::new()),
        }
    }

    /// Is the node skipped right now?
    pub fn is_limited(&self, key: &str) -> bool {
        self.is_limited_at(key, Instant::now())
    }

    fn is_limited_at(&self, key: &str, now: Instant) -> bool {
        let Ok(mut stats) = self.stats.lock() else {
            return false;
        };
        match stats.get(key).copied() {
            Some(s) if now.saturating_duration_since(s.last) > self.interval => {
                // The window passed: the node gets a fresh start.
                stats.remove(key);
                false
            }
            Some(s) => s.errors > self.limit,
            None => false,
        }
    }

    /// Records one error (connection refused, timeout, 5xx).
    pub fn error(&self, key: &str) {
        self.error_at(key, Instant::now());
    }

    fn error_at(&self, key: &str, now: Instant) {
        if let Ok(mut stats) = self.stats.lock() {
            let s = stats.entry(key.to_string()).or_insert(Stat {
                errors: 0,
                last: now,
            });
            if now.saturating_duration_since(s.last) > self.interval {
                s.errors = 0;
            }
            s.errors = s.errors.saturating_add(1);
            s.last = now;
        }
    }

    /// Limits the node at once (a 507: the device is unmounted or full).
    pub fn limit(&self, key: &str) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.insert(
                key.to_string(),
                Stat {
                    errors: self.limit.saturating_add(1),
                    last: Instant::now(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_after_threshold_and_recovers() {
        let l = ErrorLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..2 {
            l.error_at("n", t0);
        }
        assert!(!l.is_limited_at("n", t0));
        l.error_at("n", t0);
        assert!(l.is_limited_at("n", t0));
        assert!(!l.is_limited_at("other", t0));
        assert!(!l.is_limited_at("n", t0 + Duration::from_secs(61)));
        l.limit("m");
        assert!(l.is_limited("m"));
    }
}
