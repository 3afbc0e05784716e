//! Swift's ratelimit middleware (`swift/common/middleware/ratelimit.py`,
//! 2.30): writes are slowed to configured rates, per account and per
//! container, by sleeping before they go on; a request that would have to
//! sleep `max_sleep_time_seconds` or more is answered 498 "Slow down"
//! instead. What is limited, as in Swift:
//! - container PUT and DELETE, per account, at `account_ratelimit`;
//! - object PUT, DELETE, POST and COPY, per container, at the rate
//!   `container_ratelimit_<size>` gives for the container's object count
//!   (a line between the configured sizes, flat after the last);
//! - container GETs (listings), per container, likewise at
//!   `container_listing_ratelimit_<size>`;
//! - every write (PUT, DELETE, POST, COPY) of an account whose
//!   `X-Account-Sysmeta-Global-Write-Ratelimit` is a positive number, at
//!   that rate.
//!
//! That sysmeta set to `WHITELIST` (or the account in the deprecated
//! `account_whitelist`) exempts an account; `BLACKLIST` (or
//! `account_blacklist`) refuses all its requests, after a second, with 497
//! "Your account has been blacklisted". Each key's next free slot is a
//! counter in milliseconds (`clock_accuracy` per second) that may run at
//! most `rate_buffer_seconds` behind the clock (so a quiet key saves up
//! that many seconds of burst). Swift keeps the counters in memcache,
//! shared by all proxies; swirl has no memcache, so each proxy keeps its
//! own in memory: with several proxies the limits hold per proxy. Keys
//! idle past their buffer are forgotten.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::app::Proxy;
use crate::auth::keystone::config::StrList;
use crate::error::{Error, Result};
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// `[ratelimit]` options (Swift's names and defaults).
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitConfig {
    /// Container PUTs and DELETEs per second in one account (0: no limit).
    #[serde(default)]
    pub account_ratelimit: f64,
    /// A request that would sleep this long is refused (498).
    #[serde(default = "default_max_sleep")]
    pub max_sleep_time_seconds: f64,
    /// Sleeps longer than this are logged (0: none).
    #[serde(default)]
    pub log_sleep_time_seconds: f64,
    /// Counter ticks per second.
    #[serde(default = "default_clock_accuracy")]
    pub clock_accuracy: i64,
    /// Seconds of unused rate a key may save up for a burst.
    #[serde(default = "default_rate_buffer")]
    pub rate_buffer_seconds: i64,
    /// Accounts never limited (deprecated in Swift for the sysmeta).
    #[serde(default = "no_accounts")]
    pub account_whitelist: StrList,
    /// Accounts always refused, 497 (deprecated in Swift for the sysmeta).
    #[serde(default = "no_accounts")]
    pub account_blacklist: StrList,
    /// `container_ratelimit_<size>` and `container_listing_ratelimit_<size>`.
    #[serde(flatten)]
    pub sizes: BTreeMap<String, f64>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            account_ratelimit: 0.0,
            max_sleep_time_seconds: default_max_sleep(),
            log_sleep_time_seconds: 0.0,
            clock_accuracy: default_clock_accuracy(),
            rate_buffer_seconds: default_rate_buffer(),
            account_whitelist: no_accounts(),
            account_blacklist: no_accounts(),
            sizes: BTreeMap::new(),
        }
    }
}

fn default_max_sleep() -> f64 {
    60.0
}
fn default_clock_accuracy() -> i64 {
    1000
}
fn default_rate_buffer() -> i64 {
    5
}
fn no_accounts() -> StrList {
    StrList::List(Vec::new())
}

const CONTAINER: &str = "container_ratelimit_";
const LISTING: &str = "container_listing_ratelimit_";

impl RateLimitConfig {
    /// The `(size, rate)` pairs of one prefix, by size (Swift's `conf_limits`).
    fn pairs(&self, prefix: &str) -> Vec<(i64, f64)> {
        let mut out: Vec<(i64, f64)> = self
            .sizes
            .iter()
            .filter_map(|(k, v)| {
                // A listing key also starts with "container_"; only exact prefixes count.
                let n = k.strip_prefix(prefix)?;
                Some((n.trim().parse().ok()?, *v))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        out
    }

    /// Checks the numbers and the per-size keys.
    pub fn validate(&self) -> std::result::Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((format!("ratelimit.{k}"), m.to_string()));
        for (k, v) in [
            ("account_ratelimit", self.account_ratelimit),
            ("max_sleep_time_seconds", self.max_sleep_time_seconds),
            ("log_sleep_time_seconds", self.log_sleep_time_seconds),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(k, "must be a number, 0 or more");
            }
        }
        if self.clock_accuracy <= 0 {
            return bad("clock_accuracy", "must be positive");
        }
        if self.rate_buffer_seconds < 0 {
            return bad("rate_buffer_seconds", "must be 0 or more");
        }
        for (k, v) in &self.sizes {
            let size = k
                .strip_prefix(LISTING)
                .or_else(|| k.strip_prefix(CONTAINER))
                .map(|n| n.trim().parse::<i64>());
            match size {
                None => {
                    return Err((
                        format!("ratelimit.{k}"),
                        format!(
                            "unknown key (per-size keys are {CONTAINER}<size>, {LISTING}<size>)"
                        ),
                    ))
                }
                Some(Err(_)) => return bad(k, "the size must be a whole number"),
                Some(Ok(_)) if !(v.is_finite() && *v >= 0.0) => {
                    return bad(k, "must be a number, 0 or more")
                }
                Some(Ok(_)) => {}
            }
        }
        Ok(())
    }
}

/// Rates by container size (Swift's `interpret_conf_limits` and
/// `get_maxrate`): from each configured size on, a line to the next
/// size's rate; after the last, its rate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SizeRates(Vec<(i64, f64)>);

impl SizeRates {
    pub fn new(pairs: Vec<(i64, f64)>) -> Self {
        SizeRates(pairs)
    }

    /// Requests per second for a container of `size` objects; None below
    /// the first size, for an empty container, or none configured.
    pub fn max_rate(&self, size: i64) -> Option<f64> {
        if size == 0 {
            return None;
        }
        let i = self.0.iter().take_while(|(s, _)| size >= *s).count();
        let (cur_size, cur_rate) = *self.0.get(i.checked_sub(1)?)?;
        Some(match self.0.get(i) {
            Some((next_size, next_rate)) => {
                let slope = (next_rate - cur_rate) / (next_size - cur_size) as f64;
                (size - cur_size) as f64 * slope + cur_rate
            }
            None => cur_rate,
        })
    }

    /// What /info shows: `[[size, rate], ...]`.
    fn info(&self) -> Value {
        Value::Array(self.0.iter().map(|(s, r)| json!([s, r])).collect())
    }
}

/// The counters' settings.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Ticks per second.
    pub accuracy: i64,
    pub rate_buffer_seconds: i64,
    pub max_sleep_time_seconds: f64,
}

/// One key's counter: the tick its next request may start at, and the
/// step last added (to tell when it can be forgotten).
#[derive(Debug, Clone, Copy)]
struct Slot {
    value: i64,
    step: i64,
}

/// The counters, in memory (Swift's are in memcache).
#[derive(Default)]
pub struct Counters {
    slots: Mutex<HashMap<String, Slot>>,
}

/// Keys kept before idle ones are swept.
const SWEEP_AT: usize = 10_000;

/// Python 3's `int(round(x))`: halves to even.
fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

impl Counters {
    /// Seconds a request on `key` must sleep to stay within `max_rate`
    /// per second at tick `now` (Swift's `_get_sleep_time`), or, when that
    /// reaches the maximum, `Err` with the sleep refused (the request
    /// then does not count).
    pub fn sleep_time(
        &self,
        key: &str,
        max_rate: f64,
        now: i64,
        clock: Clock,
    ) -> std::result::Result<f64, f64> {
        let step = py_round(clock.accuracy as f64 / max_rate);
        let buffer = clock.rate_buffer_seconds.saturating_mul(clock.accuracy);
        let Ok(mut slots) = self.slots.lock() else {
            // As Swift when memcache fails: no limit.
            return Ok(0.0);
        };
        if slots.len() >= SWEEP_AT {
            slots.retain(|_, s| s.value.saturating_add(s.step) >= now.saturating_sub(buffer));
        }
        // memcache's incr: a missing key starts at the delta.
        let slot = slots
            .entry(key.to_string())
            .or_insert(Slot { value: 0, step });
        slot.value = slot.value.saturating_add(step);
        slot.step = step;
        let running = slot.value;
        let mut need = 0;
        if now.saturating_sub(running) > buffer {
            slot.value = now.saturating_add(step);
        } else {
            need = running.saturating_sub(now).saturating_sub(step).max(0);
        }
        let max_sleep = clock.max_sleep_time_seconds * clock.accuracy as f64;
        let secs = need as f64 / clock.accuracy as f64;
        if max_sleep - need as f64 <= clock.accuracy as f64 * 0.01 {
            // Refused: take the request back out (memcache's decr stops at 0).
            slot.value = slot.value.saturating_sub(step).max(0);
            return Err(secs);
        }
        Ok(secs)
    }
}

/// The ratelimit filter, with its counters.
pub struct RateLimit {
    counters: Arc<Counters>,
}

impl RateLimit {
    pub fn new() -> Self {
        RateLimit {
            counters: Arc::new(Counters::default()),
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

/// How long a blacklisted account's request waits for its 497.
const BLACKLIST_SLEEP: Duration = Duration::from_secs(1);

/// The sysmeta that sets an account's global write rate (or lists it).
const GLOBAL: &str = "x-account-sysmeta-global-write-ratelimit";

impl Filter for RateLimit {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        if req.account().is_none() {
            return next.run(req);
        }
        let counters = self.counters.clone();
        Box::pin(async move {
            limit(&req, &next, &counters).await?;
            next.run(req).await
        })
    }

    fn info(&self, proxy: &Proxy, out: &mut Map<String, Value>) {
        let c = &proxy.cfg.ratelimit;
        out.insert(
            "ratelimit".into(),
            json!({
                "account_ratelimit": c.account_ratelimit,
                "max_sleep_time_seconds": c.max_sleep_time_seconds,
                "container_ratelimits": SizeRates::new(c.pairs(CONTAINER)).info(),
                "container_listing_ratelimits": SizeRates::new(c.pairs(LISTING)).info(),
            }),
        );
    }
}

fn now_ticks(accuracy: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    py_round(now * accuracy as f64)
}

/// The keys a request counts against, with their rates (Swift's
/// `get_ratelimitable_key_tuples`), in the order they are checked.
async fn keys(req: &Req, next: &Next, global: Option<&str>) -> Result<Vec<(String, f64)>> {
    let proxy = next.proxy();
    let cfg = &proxy.cfg.ratelimit;
    let method = req.ctx.method.as_str();
    let write = matches!(method, "PUT" | "DELETE" | "POST" | "COPY");
    let mut out = Vec::new();
    let (account, container, object) = match &req.endpoint {
        Endpoint::Account { account } => (account, None, false),
        Endpoint::Container { account, container } => (account, Some(container), false),
        Endpoint::Object {
            account, container, ..
        } => (account, Some(container), true),
        _ => return Ok(out),
    };
    if let Some(container) = container {
        // COPYs of containers are not limited, as in Swift.
        if cfg.account_ratelimit > 0.0 && !object && matches!(method, "PUT" | "DELETE") {
            out.push((format!("ratelimit/{account}"), cfg.account_ratelimit));
        }
        let table = if object && write {
            Some((CONTAINER, "ratelimit"))
        } else if !object && method == "GET" {
            Some((LISTING, "ratelimit_listing"))
        } else {
            None
        };
        if let Some((prefix, name)) = table {
            let rates = SizeRates::new(cfg.pairs(prefix));
            if rates != SizeRates::default() {
                let ctx = req.ctx.subrequest(http::Method::HEAD, None).by("RL");
                let info = proxy.container_info(&ctx, account, container).await?;
                let size = info
                    .header("x-container-object-count")
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .unwrap_or(0);
                if let Some(rate) = rates.max_rate(size).filter(|r| *r != 0.0) {
                    out.push((format!("{name}/{account}/{container}"), rate));
                }
            }
        }
    }
    if write {
        if let Some(rate) = global.and_then(|g| g.trim().parse::<f64>().ok()) {
            if rate > 0.0 {
                out.push((format!("ratelimit/global-write/{account}"), rate));
            }
        }
    }
    Ok(out)
}

/// Sleeps as the request's keys require, or refuses it (Swift's
/// `handle_ratelimit`).
async fn limit(req: &Req, next: &Next, counters: &Counters) -> Result<()> {
    let proxy = next.proxy();
    let cfg = &proxy.cfg.ratelimit;
    let Some(account) = req.account() else {
        return Ok(());
    };
    // As Swift's get_account_info: an account that cannot be read has no sysmeta.
    let global = proxy
        .account_info(&req.ctx, account)
        .await
        .ok()
        .and_then(|i| i.header(GLOBAL).map(str::to_string));
    let listed = |l: &StrList| l.items().iter().any(|a| a == account);
    if listed(&cfg.account_whitelist) || global.as_deref() == Some("WHITELIST") {
        return Ok(());
    }
    if listed(&cfg.account_blacklist) || global.as_deref() == Some("BLACKLIST") {
        tokio::time::sleep(BLACKLIST_SLEEP).await;
        return Err(Error::Blacklisted(account.to_string()));
    }
    let clock = Clock {
        accuracy: cfg.clock_accuracy,
        rate_buffer_seconds: cfg.rate_buffer_seconds,
        max_sleep_time_seconds: cfg.max_sleep_time_seconds,
    };
    for (key, rate) in keys(req, next, global.as_deref()).await? {
        match counters.sleep_time(&key, rate, now_ticks(clock.accuracy), clock) {
            Ok(secs) => {
                if cfg.log_sleep_time_seconds > 0.0 && secs > cfg.log_sleep_time_seconds {
                    tracing::warn!(txn = %req.ctx.txn, sleep = secs, key = %key,
                        "Ratelimit sleep log");
                }
                if secs > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                }
            }
            Err(secs) => {
                return Err(Error::RateLimited(format!(
                    "{} to {key}: Max Sleep Time Exceeded: {secs:.2}",
                    req.ctx.method
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_by_size_are_swifts_lines() {
        // Swift's own example: 100 -> 100/s, 200 -> 50/s, 500 -> 20/s.
        let r = SizeRates::new(vec![(100, 100.0), (200, 50.0), (500, 20.0)]);
        assert_eq!(r.max_rate(0), None);
        assert_eq!(r.max_rate(99), None);
        assert_eq!(r.max_rate(100), Some(100.0));
        assert_eq!(r.max_rate(150), Some(75.0));
        assert_eq!(r.max_rate(200), Some(50.0));
        assert_eq!(r.max_rate(350), Some(35.0));
        assert_eq!(r.max_rate(500), Some(20.0));
        assert_eq!(r.max_rate(100_000), Some(20.0));
        assert_eq!(SizeRates::default().max_rate(5), None);
        assert_eq!(SizeRates::new(vec![(0, 2.0)]).max_rate(0), None);
        assert_eq!(SizeRates::new(vec![(0, 2.0)]).max_rate(1), Some(2.0));
    }

    #[test]
    fn config_keys_by_size() {
        let c: RateLimitConfig = toml::from_str(
            "container_ratelimit_200 = 50\ncontainer_ratelimit_100 = 100.0\n\
             container_listing_ratelimit_0 = 1\naccount_blacklist = \"a, b,\"",
        )
        .unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.pairs(CONTAINER), vec![(100, 100.0), (200, 50.0)]);
        assert_eq!(c.pairs(LISTING), vec![(0, 1.0)]);
        assert_eq!(c.account_blacklist.items(), ["a", "b"]);
        let bad: RateLimitConfig = toml::from_str("container_ratelimit = 5").unwrap();
        assert_eq!(
            bad.validate().unwrap_err().0,
            "ratelimit.container_ratelimit"
        );
        let bad: RateLimitConfig = toml::from_str("container_ratelimit_x = 5").unwrap();
        assert!(bad.validate().is_err());
        let bad: RateLimitConfig = toml::from_str("bogus = 1").unwrap();
        assert!(bad.validate().is_err());
        assert!(toml::from_str::<RateLimitConfig>("container_ratelimit_1 = \"x\"").is_err());
    }

    const CLOCK: Clock = Clock {
        accuracy: 1000,
        rate_buffer_seconds: 5,
        max_sleep_time_seconds: 60.0,
    };

    #[test]
    fn sleeps_spread_requests_at_the_rate() {
        let c = Counters::default();
        let now = 1_700_000_000_000;
        // 10/s: 100 ticks apart. The first request of a key starts its clock.
        assert_eq!(c.sleep_time("k", 10.0, now, CLOCK), Ok(0.0));
        // The next ones in the same instant wait their turn.
        assert_eq!(c.sleep_time("k", 10.0, now, CLOCK), Ok(0.1));
        assert_eq!(c.sleep_time("k", 10.0, now, CLOCK), Ok(0.2));
        // Another key is not held up.
        assert_eq!(c.sleep_time("other", 10.0, now, CLOCK), Ok(0.0));
        // Later, the slot has come: no sleep.
        assert_eq!(c.sleep_time("k", 10.0, now + 1000, CLOCK), Ok(0.0));
    }

    #[test]
    fn quiet_keys_save_a_buffer_of_burst() {
        let c = Counters::default();
        let now = 1_700_000_000_000;
        assert_eq!(c.sleep_time("k", 1.0, now, CLOCK), Ok(0.0));
        // Four seconds quiet at 1/s: four requests go at once, then sleeps.
        let later = now + 4000;
        for _ in 0..4 {
            assert_eq!(c.sleep_time("k", 1.0, later, CLOCK), Ok(0.0));
        }
        assert_eq!(c.sleep_time("k", 1.0, later, CLOCK), Ok(1.0));
        // Past the buffer the counter restarts from the clock.
        let much_later = later + 60_000;
        assert_eq!(c.sleep_time("k", 1.0, much_later, CLOCK), Ok(0.0));
        assert_eq!(c.sleep_time("k", 1.0, much_later, CLOCK), Ok(1.0));
    }

    #[test]
    fn max_sleep_refuses_and_does_not_count() {
        let c = Counters::default();
        let clock = Clock {
            max_sleep_time_seconds: 2.0,
            ..CLOCK
        };
        let now = 1_700_000_000_000;
        assert_eq!(c.sleep_time("k", 1.0, now, clock), Ok(0.0));
        assert_eq!(c.sleep_time("k", 1.0, now, clock), Ok(1.0));
        // Two seconds' sleep is the maximum: refused, 498.
        assert_eq!(c.sleep_time("k", 1.0, now, clock), Err(2.0));
        assert_eq!(c.sleep_time("k", 1.0, now, clock), Err(2.0));
        // A refused request took no slot: the waits go on a second apart.
        assert_eq!(c.sleep_time("k", 1.0, now + 1000, clock), Ok(1.0));
        assert_eq!(c.sleep_time("k", 1.0, now + 2000, clock), Ok(1.0));
    }

    #[test]
    fn rounding_is_pythons() {
        assert_eq!(py_round(2.5), 2);
        assert_eq!(py_round(3.5), 4);
        assert_eq!(py_round(333.333), 333);
    }

    #[test]
    fn idle_keys_are_swept() {
        let c = Counters::default();
        let now = 1_700_000_000_000;
        for i in 0..SWEEP_AT {
            let _ = c.sleep_time(&format!("k{i}"), 10.0, now, CLOCK);
        }
        let _ = c.sleep_time("new", 10.0, now + 60_000, CLOCK);
        assert_eq!(c.slots.lock().unwrap().len(), 1);
    }
}
