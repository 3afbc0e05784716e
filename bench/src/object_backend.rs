//! Load on Swift's backend object API, the way a proxy loads an object server:
//! what `bench/object-compare` runs against swirl's and Swift's object servers.
//!
//! `concurrency` workers, one keep-alive connection each, PUT (with the
//! X-Timestamp a proxy sends) or GET `/sda/<i % partitions>/a/c/<prefix><i>`
//! for i in 0..count. Prints one JSON line: op, size, concurrency, ok, errors,
//! secs, ops_per_s, mb_per_s.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::Method;
use serde_json::{json, Value};

use crate::client::{Conn, Endpoint, Payload};
use crate::error::Error;
use crate::load::runner::make_chunk;

/// PUT or GET.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Write objects of `size` bytes.
    Put,
    /// Read them back.
    Get,
}

/// Command line of `object-loadgen`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "object-loadgen",
    about = "Load on one object server's backend API"
)]
pub struct Args {
    /// The object server, host:port.
    pub addr: String,
    /// What to do.
    #[arg(value_enum)]
    pub op: Op,
    /// Object size in bytes (what a PUT sends).
    pub size: u64,
    /// Requests in flight (one connection each).
    pub concurrency: usize,
    /// Requests in all.
    pub count: u64,
    /// Object names are <prefix><i, 8 digits>.
    pub prefix: String,
    /// Partitions the objects are spread over (device `sda`).
    #[arg(default_value_t = 64)]
    pub partitions: u64,
}

/// Counters the workers share.
#[derive(Default)]
struct Counters {
    next: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
}

/// Entry point: `argv` starts with the program name.
pub fn main(argv: impl IntoIterator<Item = String>) -> ExitCode {
    let a: Args = match crate::parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if a.concurrency == 0 || a.partitions == 0 {
        eprintln!("object-loadgen: concurrency and partitions must be positive");
        return ExitCode::from(2);
    }
    let result = crate::runtime(a.concurrency.min(4)).and_then(|rt| rt.block_on(run(&a)));
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("object-loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the load and returns its JSON summary.
pub async fn run(a: &Args) -> Result<Value, Error> {
    let endpoint = Endpoint::parse(&format!("http://{}", a.addr))?;
    // One timestamp for every PUT of the run, as one proxy request would carry.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let timestamp: Arc<str> = format!("{now:016.5}").into();
    let chunk = make_chunk(a.size);
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let mut workers = Vec::with_capacity(a.concurrency);
    for _ in 0..a.concurrency {
        let (endpoint, timestamp, chunk) = (endpoint.clone(), timestamp.clone(), chunk.clone());
        let counters = counters.clone();
        let (op, size, count, parts) = (a.op, a.size, a.count, a.partitions);
        let prefix = a.prefix.clone();
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(&endpoint, Duration::from_secs(300));
            loop {
                let i = counters.next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let path = format!("/sda/{}/a/c/{prefix}{i:08}", i % parts);
                let reply = match op {
                    Op::Put => {
                        let headers = [
                            ("X-Timestamp", &*timestamp),
                            ("Content-Type", "application/octet-stream"),
                        ];
                        let body = Payload::new(chunk.clone(), size);
                        conn.send(Method::PUT, &path, &headers, body).await
                    }
                    Op::Get => conn.send(Method::GET, &path, &[], Payload::empty()).await,
                };
                match reply {
                    Ok(r) if (200..300).contains(&r.status) => {
                        counters.ok.fetch_add(1, Ordering::Relaxed);
                        let moved = if op == Op::Put { size } else { r.body_bytes };
                        counters.bytes.fetch_add(moved, Ordering::Relaxed);
                    }
                    _ => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await
            .map_err(|e| Error::Setup(format!("a worker failed: {e}")))?;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let ok = counters.ok.load(Ordering::Relaxed);
    let round = |x: f64, places: i32| (x * 10f64.powi(places)).round() / 10f64.powi(places);
    Ok(json!({
        "op": format!("{:?}", a.op).to_lowercase(),
        "size": a.size,
        "concurrency": a.concurrency,
        "ok": ok,
        "errors": counters.errors.load(Ordering::Relaxed),
        "secs": round(secs, 3),
        "ops_per_s": round(ok as f64 / secs, 1),
        "mb_per_s": round(counters.bytes.load(Ordering::Relaxed) as f64 / secs / 1e6, 1),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn arguments_are_the_scripts() {
        let a =
            Args::try_parse_from(["x", "127.0.0.1:1", "put", "4096", "16", "100", "p-"]).unwrap();
        assert_eq!(
            (a.op, a.size, a.concurrency, a.count),
            (Op::Put, 4096, 16, 100)
        );
        assert_eq!((a.prefix.as_str(), a.partitions), ("p-", 64));
        assert!(Args::try_parse_from(["x", "h:1", "post", "1", "1", "1", "p"]).is_err());
    }

    #[tokio::test]
    async fn unreachable_server_counts_errors() {
        // A port nobody listens on: every request fails, none is lost count of.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let a =
            Args::try_parse_from(["x", &format!("127.0.0.1:{port}"), "get", "0", "2", "5", "o"])
                .unwrap();
        let v = run(&a).await.unwrap();
        assert_eq!((v["ok"].as_u64(), v["errors"].as_u64()), (Some(0), Some(5)));
        assert_eq!(v["op"], "get");
    }
}
