//! Runs one measured phase: `concurrency` worker tasks, each with its own keep-alive
//! connection, issue requests until the deadline or the request budget; a ticker
//! prints a progress line on stderr once per second.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;

use super::histogram::{Histogram, Snapshot};
use super::workload::{Mix, Naming, Op, Pool, Rng};
use crate::client::{Conn, Endpoint, Payload};

/// Operations in output order.
pub const OPS: [Op; 5] = [Op::Put, Op::Get, Op::Head, Op::Delete, Op::List];

fn op_slot(op: Op) -> usize {
    match op {
        Op::Put => 0,
        Op::Get => 1,
        Op::Head => 2,
        Op::Delete => 3,
        Op::List => 4,
    }
}

/// Everything a phase needs.
pub struct Plan {
    /// Shown in the progress line.
    pub label: String,
    /// Storage endpoint (host, port, account path).
    pub endpoint: Endpoint,
    /// X-Auth-Token.
    pub token: String,
    /// Operation weights.
    pub mix: Mix,
    /// Moving pool (mixed) or fixed pool.
    pub mixed: bool,
    /// Workers.
    pub concurrency: usize,
    /// Stop issuing after this long.
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub count: Option<u64>,
    /// PUT body size.
    pub size: u64,
    /// Names.
    pub naming: Naming,
    /// Pool size.
    pub objects: u64,
    /// First PUT index.
    pub start: u64,
    /// Path and query of the listing request (after the account path).
    pub list_query: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Print progress on stderr.
    pub progress: bool,
    /// Reads as temporary URLs (no token) signed by this.
    pub tempurl: Option<super::tempurl::Signer>,
}

/// Counters shared by the workers.
struct Shared {
    hist: Vec<Histogram>,
    ok: Vec<AtomicU64>,
    bytes: AtomicU64,
    failures: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    first_error: Mutex<Option<String>>,
    raced: AtomicU64,
    issued: AtomicU64,
    min_failed_put: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn error(&self, key: String, detail: Option<String>) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.errors.lock() {
            *m.entry(key).or_insert(0) += 1;
        }
        if let Some(d) = detail {
            if let Ok(mut f) = self.first_error.lock() {
                f.get_or_insert(d);
            }
        }
    }
    fn ok_total(&self) -> u64 {
        self.ok.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Per-operation result.
#[derive(Clone, Debug)]
pub struct OpResult {
    /// The operation.
    pub op: Op,
    /// Successful (2xx) requests.
    pub ok: u64,
    /// Their latencies (µs).
    pub latency: Snapshot,
}

/// What a phase measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Wall time from the start signal to the last reply.
    pub elapsed: Duration,
    /// Successful requests.
    pub ok: u64,
    /// Payload bytes of successful PUTs plus response body bytes of successful reads.
    pub bytes: u64,
    /// Latency of every successful request (µs).
    pub latency: Snapshot,
    /// Per operation (only those that ran).
    pub per_op: Vec<OpResult>,
    /// Failed requests by HTTP status or "io".
    pub errors: BTreeMap<String, u64>,
    /// The first failure's description.
    pub first_error: Option<String>,
    /// Mixed workload: reads that found an object deleted meanwhile (not errors).
    pub raced: u64,
    /// One past the last index of the leading run of successful PUTs.
    pub written_up_to: u64,
}

impl Outcome {
    /// Failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// A 1 MiB (or object-sized, if smaller) buffer of pseudo-random bytes that every
/// PUT body is cut from.
pub fn make_chunk(size: u64) -> Bytes {
    let n = size.clamp(1, 1 << 20) as usize;
    let mut rng = Rng::new(0x5eed);
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(n);
    Bytes::from(v)
}

/// Runs the phase and returns what it measured.
pub async fn run(plan: Plan) -> Outcome {
    let plan = Arc::new(plan);
    let shared = Arc::new(Shared {
        hist: OPS.iter().map(|_| Histogram::new()).collect(),
        ok: OPS.iter().map(|_| AtomicU64::new(0)).collect(),
        bytes: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
        first_error: Mutex::new(None),
        raced: AtomicU64::new(0),
        issued: AtomicU64::new(0),
        min_failed_put: AtomicU64::new(u64::MAX),
        stop: AtomicBool::new(false),
    });
    let pool = Arc::new(Pool::new(
        plan.concurrency,
        plan.objects,
        plan.start,
        plan.mixed,
    ));
    let chunk = make_chunk(plan.size);
    let barrier = Arc::new(tokio::sync::Barrier::new(plan.concurrency + 1));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut tasks = Vec::with_capacity(plan.concurrency);
    for w in 0..plan.concurrency {
        let (plan, shared, pool, chunk, barrier) = (
            plan.clone(),
            shared.clone(),
            pool.clone(),
            chunk.clone(),
            barrier.clone(),
        );
        let rng = Rng::new(seed ^ ((w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        tasks.push(tokio::spawn(async move {
            worker(w, plan, shared, pool, chunk, barrier, rng).await
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let ticker = plan
        .progress
        .then(|| tokio::spawn(progress(plan.clone(), shared.clone(), start)));
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    if let Some(t) = ticker {
        t.abort();
        let _ = t.await;
        progress_line(&plan, &shared, elapsed, 0, 0, true);
    }
    let mut per_op = Vec::new();
    let mut latency = Snapshot::default();
    for (i, &op) in OPS.iter().enumerate() {
        let ok = shared.ok[i].load(Ordering::Relaxed);
        let snap = shared.hist[i].snapshot();
        if ok > 0 || plan.mix.weight(op) > 0 {
            latency.merge(&snap);
            per_op.push(OpResult {
                op,
                ok,
                latency: snap,
            });
        }
    }
    let errors = shared.errors.lock().map(|m| m.clone()).unwrap_or_default();
    let first_error = shared.first_error.lock().ok().and_then(|f| f.clone());
    Outcome {
        elapsed,
        ok: shared.ok_total(),
        bytes: shared.bytes.load(Ordering::Relaxed),
        latency,
        per_op,
        errors,
        first_error,
        raced: shared.raced.load(Ordering::Relaxed),
        written_up_to: pool
            .puts_issued()
            .min(shared.min_failed_put.load(Ordering::Relaxed)),
    }
}

async fn worker(
    w: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    chunk: Bytes,
    barrier: Arc<tokio::sync::Barrier>,
    mut rng: Rng,
) {
    let mut conn = Conn::new(&plan.endpoint, plan.timeout);
    // Connect before the clock starts, like a warmed-up client would be.
    let _ = conn.warm().await;
    barrier.wait().await;
    let start = Instant::now();
    let acct = plan.endpoint.path.as_str();
    let token = [("X-Auth-Token", plan.token.as_str())];
    let read_headers: &[(&str, &str)] = if plan.tempurl.is_some() { &[] } else { &token };
    let read_path = |idx: u64| {
        let p = format!("{acct}{}", plan.naming.object_path(idx));
        match &plan.tempurl {
            Some(s) => s.url(&p),
            None => p,
        }
    };
    let put_headers = [
        ("X-Auth-Token", plan.token.as_str()),
        ("Content-Type", "application/octet-stream"),
    ];
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if plan.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        if let Some(c) = plan.count {
            if shared.issued.fetch_add(1, Ordering::Relaxed) >= c {
                break;
            }
        }
        let mut op = plan.mix.pick(rng.next_u64());
        let mut idx = 0;
        match op {
            Op::Get | Op::Head => match pool.read(rng.next_u64()) {
                Some(i) => idx = i,
                None => op = Op::Put,
            },
            Op::Delete => match pool.delete() {
                Some(i) => idx = i,
                None if plan.mixed => op = Op::Put,
                None => {
                    // the pool is used up: the phase is over
                    shared.stop.store(true, Ordering::Relaxed);
                    break;
                }
            },
            Op::Put | Op::List => {}
        }
        if op == Op::Put {
            idx = pool.put(w);
        }
        let (method, path, body, headers): (Method, String, Payload, &[(&str, &str)]) = match op {
            Op::Put => (
                Method::PUT,
                format!("{acct}{}", plan.naming.object_path(idx)),
                Payload::new(chunk.clone(), plan.size),
                &put_headers,
            ),
            Op::Get => (Method::GET, read_path(idx), Payload::empty(), read_headers),
            Op::Head => (Method::HEAD, read_path(idx), Payload::empty(), read_headers),
            Op::Delete => (
                Method::DELETE,
                format!("{acct}{}", plan.naming.object_path(idx)),
                Payload::empty(),
                &token,
            ),
            Op::List => (
                Method::GET,
                format!("{acct}{}", plan.list_query),
                Payload::empty(),
                &token,
            ),
        };
        let t0 = Instant::now();
        let r = conn.send(method, &path, headers, body).await;
        let us = t0.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        if op == Op::Put {
            pool.put_done(w);
        }
        let slot = op_slot(op);
        match r {
            Ok(rep) if (200..300).contains(&rep.status) => {
                shared.ok[slot].fetch_add(1, Ordering::Relaxed);
                shared.hist[slot].record(us);
                let b = if op == Op::Put {
                    plan.size
                } else {
                    rep.body_bytes
                };
                shared.bytes.fetch_add(b, Ordering::Relaxed);
                continue;
            }
            Ok(rep)
                if rep.status == 404
                    && plan.mixed
                    && matches!(op, Op::Get | Op::Head)
                    && pool.deleted(idx) =>
            {
                shared.raced.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(rep) => shared.error(
                rep.status.to_string(),
                Some(format!("{} {path}: HTTP {}", op.name(), rep.status)),
            ),
            Err(e) => shared.error("io".into(), Some(format!("{} {path}: {e}", op.name()))),
        }
        if op == Op::Put {
            shared.min_failed_put.fetch_min(idx, Ordering::Relaxed);
        }
    }
}

async fn progress(plan: Arc<Plan>, shared: Arc<Shared>, start: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let (mut last_ok, mut last_bytes) = (0u64, 0u64);
    loop {
        tick.tick().await;
        let ok = shared.ok_total();
        let bytes = shared.bytes.load(Ordering::Relaxed);
        progress_line(
            &plan,
            &shared,
            start.elapsed(),
            ok - last_ok,
            bytes - last_bytes,
            false,
        );
        (last_ok, last_bytes) = (ok, bytes);
    }
}

/// One progress line: the last second's rate, totals so far.
fn progress_line(
    plan: &Plan,
    shared: &Shared,
    elapsed: Duration,
    d_ok: u64,
    d_bytes: u64,
    last: bool,
) {
    let tty = std::io::stderr().is_terminal();
    let ok = shared.ok_total();
    let errors = shared.failures.load(Ordering::Relaxed);
    let line = if last {
        let s = elapsed.as_secs_f64().max(1e-9);
        format!(
            "[{:6.1}s] {}: {ok} ok, {:.0} ops/s, {:.1} MB/s, {errors} errors (done)",
            elapsed.as_secs_f64(),
            plan.label,
            ok as f64 / s,
            shared.bytes.load(Ordering::Relaxed) as f64 / s / 1e6,
        )
    } else {
        format!(
            "[{:4}s] {}: {ok} ok, {d_ok} ops/s, {:.1} MB/s, {errors} errors",
            elapsed.as_secs(),
            plan.label,
            d_bytes as f64 / 1e6,
        )
    };
    let mut err = std::io::stderr().lock();
    let _ = if tty {
        write!(err, "\r\x1b[2K{line}{}", if last { "\n" } else { "" })
    } else {
        writeln!(err, "{line}")
    };
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes() {
        assert_eq!(make_chunk(0).len(), 1);
        assert_eq!(make_chunk(4096).len(), 4096);
        assert_eq!(make_chunk(64 << 20).len(), 1 << 20);
        let c = make_chunk(4096);
        assert!(c.iter().any(|&b| b != c[0]));
    }
}
