//! Validated tokens, kept `token_cache_time` seconds and never past their
//! expiry (keystonemiddleware's token cache), at most `capacity` of them.
//! Keys are the tokens' blake3 hashes, so the cache holds no usable token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::token::Token;

/// A token's hash -> (when it was validated, what it names).
type Entries = HashMap<[u8; 32], (Instant, Arc<Token>)>;

/// The bounded token cache.
pub struct TokenCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries>,
}

fn key(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

impl TokenCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TokenCache {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached identity of `token`, if it is fresh and not expired.
    pub fn get(&self, token: &str, now: SystemTime) -> Option<Arc<Token>> {
        let mut e = self.entries.lock().ok()?;
        let k = key(token);
        let (at, t) = e.get(&k)?;
        if at.elapsed() < self.ttl && !t.expired(now) {
            return Some(t.clone());
        }
        e.remove(&k);
        None
    }

    /// Keeps a validated token. When full, stale entries go first, then
    /// the oldest quarter.
    pub fn put(&self, token: &str, t: Arc<Token>, now: SystemTime) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut e) = self.entries.lock() else {
            return;
        };
        if e.len() >= self.capacity {
            let ttl = self.ttl;
            e.retain(|_, (at, t)| at.elapsed() < ttl && !t.expired(now));
        }
        if e.len() >= self.capacity {
            let mut ages: Vec<Instant> = e.values().map(|(at, _)| *at).collect();
            let nth = ages.len() / 4;
            let (_, cutoff, _) = ages.select_nth_unstable(nth);
            let cutoff = *cutoff;
            e.retain(|_, (at, _)| *at > cutoff);
        }
        e.insert(key(token), (Instant::now(), t));
    }

    /// Entries held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keystone::token::Named;

    fn tok(expires_in: i64) -> Arc<Token> {
        let now = SystemTime::now();
        let d = Duration::from_secs(expires_in.unsigned_abs());
        Arc::new(Token {
            user: Named::default(),
            user_domain: Named::default(),
            project: None,
            project_domain: None,
            roles: vec![],
            expires_at: if expires_in >= 0 { now + d } else { now - d },
        })
    }

    #[test]
    fn expiry_and_bound() {
        let c = TokenCache::new(Duration::from_secs(300), 8);
        let now = SystemTime::now();
        c.put("a", tok(60), now);
        assert!(c.get("a", now).is_some());
        assert!(c.get("b", now).is_none());
        // An expired token is never served from the cache.
        c.put("old", tok(-1), now);
        assert!(c.get("old", now).is_none());
        for i in 0..100 {
            c.put(&format!("t{i}"), tok(60), now);
            assert!(c.len() <= 8);
        }
        assert!(c.get("t99", now).is_some(), "the newest stays");
        let off = TokenCache::new(Duration::ZERO, 8);
        off.put("a", tok(60), now);
        assert!(off.get("a", now).is_none());
    }
}
