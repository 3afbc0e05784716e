//! Error limiting: a node that keeps failing is skipped for a while, as
//! Swift's proxy does (`error_suppression_limit` errors within
//! `error_suppression_interval` seconds; an immediate limit on 507), with
//! two refinements so that load never turns into an outage:
//!
//! - What failed is limited, no more: a connection that could not be made
//!   counts against the server (`ip:port`, every device behind it); a 5xx,
//!   a 507 or a request that got no answer counts against the device
//!   (`ip:port/device`) alone.
//! - An overloaded node is not a failed one: a connect failure or a
//!   request left unanswered while the same server (for a connect) or the
//!   same device (for a request) answered other requests since this one
//!   began is load, not failure, and is not counted. A server that died
//!   answers nobody, so its failures count as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::rings::Node;

#[derive(Debug, Clone, Copy)]
struct Stat {
    errors: u32,
    last: Instant,
}

/// How a backend request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection: refused, or not accepted within conn_timeout.
    Connect,
    /// Connected, but no (whole) answer: a timeout or a broken connection.
    NoAnswer,
    /// The device answered with a server error (not 507).
    ServerError,
}

/// Per-server and per-device error counts, shared by all requests of a proxy.
pub struct ErrorLimiter {
    limit: u32,
    interval: Duration,
    stats: Mutex<HashMap<String, Stat>>,
    /// When each server (`ip:port`) and device last answered anything.
    answers: Mutex<HashMap<String, Instant>>,
}

impl ErrorLimiter {
    pub fn new(limit: u32, interval: Duration) -> Self {
        ErrorLimiter {
            limit,
            interval,
            stats: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// Is the node (its device, or its whole server) skipped right now?
    pub fn is_limited(&self, node: &Node) -> bool {
        let now = Instant::now();
        self.key_limited(&node.key(), now) || self.key_limited(&node.addr(), now)
    }

    fn key_limited(&self, key: &str, now: Instant) -> bool {
        let Ok(mut stats) = self.stats.lock() else {
            return false;
        };
        match stats.get(key).copied() {
            Some(s) if now.saturating_duration_since(s.last) > self.interval => {
                // The window passed: a fresh start.
                stats.remove(key);
                false
            }
            Some(s) => s.errors > self.limit,
            None => false,
        }
    }

    /// The server accepted a connection.
    pub fn connected(&self, node: &Node) {
        self.seen(node.addr(), Instant::now());
    }

    /// The device answered (anything but a 5xx).
    pub fn answered(&self, node: &Node) {
        let now = Instant::now();
        self.seen(node.addr(), now);
        self.seen(node.key(), now);
    }

    fn seen(&self, key: String, now: Instant) {
        if let Ok(mut a) = self.answers.lock() {
            a.insert(key, now);
        }
    }

    fn answered_since(&self, key: &str, since: Instant) -> bool {
        self.answers
            .lock()
            .ok()
            .and_then(|a| a.get(key).copied())
            .is_some_and(|t| t >= since)
    }

    /// Records a failure of a request to `node` begun at `started`;
    /// returns whether it counted (false: the node is busy, not failed).
    pub fn failed(&self, node: &Node, failure: Failure, started: Instant) -> bool {
        let key = match failure {
            Failure::Connect => node.addr(),
            Failure::NoAnswer | Failure::ServerError => node.key(),
        };
        let busy = failure != Failure::ServerError && self.answered_since(&key, started);
        if busy {
            tracing::debug!(node = %node.key(), ?failure, "node busy, answering others: not counted");
            return false;
        }
        self.count(&key, Instant::now());
        true
    }

    fn count(&self, key: &str, now: Instant) {
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

    /// Limits the device at once (a 507: unmounted or full).
    pub fn limit(&self, node: &Node) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.insert(
                node.key(),
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

    fn node(port: u16, device: &str) -> Node {
        Node {
            id: 0,
            ip: "127.0.0.1".into(),
            port,
            device: device.into(),
            index: 0,
            handoff: false,
        }
    }

    #[test]
    fn limits_after_threshold_and_recovers() {
        let l = ErrorLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..2 {
            l.count("n", t0);
        }
        assert!(!l.key_limited("n", t0));
        l.count("n", t0);
        assert!(l.key_limited("n", t0));
        assert!(!l.key_limited("other", t0));
        assert!(!l.key_limited("n", t0 + Duration::from_secs(61)));
        let m = node(1, "d");
        l.limit(&m);
        assert!(l.is_limited(&m));
        assert!(!l.is_limited(&node(1, "e")), "a 507 limits its device only");
    }

    #[test]
    fn a_dead_server_is_limited_with_all_its_devices() {
        let l = ErrorLimiter::new(1, Duration::from_secs(60));
        let (a, b) = (node(1, "a"), node(1, "b"));
        l.answered(&a);
        let started = Instant::now();
        assert!(l.failed(&a, Failure::Connect, started));
        assert!(l.failed(&b, Failure::Connect, started));
        assert!(l.is_limited(&a) && l.is_limited(&b));
        assert!(!l.is_limited(&node(2, "a")));
    }

    #[test]
    fn a_busy_server_is_not_limited() {
        let l = ErrorLimiter::new(1, Duration::from_secs(60));
        let (a, b) = (node(1, "a"), node(1, "b"));
        let started = Instant::now();
        // It answered someone on another device after this request began.
        l.answered(&b);
        for _ in 0..5 {
            assert!(!l.failed(&a, Failure::Connect, started));
        }
        assert!(!l.is_limited(&a));
        // Device a timing out while only b answers is a's failure.
        for _ in 0..2 {
            assert!(l.failed(&a, Failure::NoAnswer, started));
        }
        assert!(l.is_limited(&a) && !l.is_limited(&b));
        // Server errors always count.
        assert!(l.failed(&b, Failure::ServerError, Instant::now()));
    }
}
