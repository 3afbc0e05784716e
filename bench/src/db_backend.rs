//! Load on Swift's backend container API, for `bench/db-compare/run.sh`: any
//! container server, Swift's or swirl's, over keep-alive HTTP/1.1.
//!
//! - `updates ADDR PATH N CONC`: N object-row PUTs under PATH/ (as object
//!   servers send them), CONC at once; prints `<rows/s> rows/s (...)`.
//! - `populate ADDR REPLICATE_PATH N BATCH`: N rows named `dddd/nnnnnn` (100
//!   per "directory") merged through REPLICATE `merge_items`, BATCH rows per
//!   request; prints `N rows merged in <s> s`.
//! - `list ADDR PATH_AND_QUERY REPS`: the GET REPS times; prints
//!   `<median> ms median (<rows> rows, <bytes> bytes, REPS runs)`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;

use crate::client::{Conn, Endpoint, Payload, Reply};
use crate::error::Error;

/// MD5 of nothing: the ETag every benchmark row carries.
const EMPTY_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// Command line of `db-loadgen`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "db-loadgen",
    about = "Load on one container server's backend API"
)]
pub enum Args {
    /// Object-row PUTs under a container, CONC at once.
    Updates {
        /// The container server, host:port.
        addr: String,
        /// The container's backend path, /<dev>/<part>/<account>/<container>.
        path: String,
        /// Rows to PUT.
        rows: usize,
        /// PUTs in flight.
        concurrency: usize,
    },
    /// Rows merged through REPLICATE merge_items.
    Populate {
        /// The container server, host:port.
        addr: String,
        /// The database's REPLICATE path, /<dev>/<part>/<hash>.
        path: String,
        /// Rows to merge.
        rows: usize,
        /// Rows per request.
        batch: usize,
    },
    /// The median time of one listing GET.
    List {
        /// The container server, host:port.
        addr: String,
        /// Path and query of the GET.
        path: String,
        /// Times to GET it.
        reps: usize,
    },
}

/// Entry point: `argv` starts with the program name.
pub fn main(argv: impl IntoIterator<Item = String>) -> ExitCode {
    let a: Args = match crate::parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let result = crate::runtime(2).and_then(|rt| {
        rt.block_on(async {
            match a {
                Args::Updates {
                    addr,
                    path,
                    rows,
                    concurrency,
                } => updates(&addr, &path, rows, concurrency).await,
                Args::Populate {
                    addr,
                    path,
                    rows,
                    batch,
                } => populate(&addr, &path, rows, batch).await,
                Args::List { addr, path, reps } => list(&addr, &path, reps).await,
            }
        })
    });
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("db-loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

fn connect(addr: &str) -> Result<Conn, Error> {
    let endpoint = Endpoint::parse(&format!("http://{addr}"))?;
    Ok(Conn::new(&endpoint, Duration::from_secs(600)).keeping_bodies())
}

/// Fails unless the reply's status is one of `want`.
fn expect(what: &str, r: Reply, want: &[u16]) -> Result<Reply, Error> {
    if want.contains(&r.status) {
        Ok(r)
    } else {
        let body = String::from_utf8_lossy(&r.body);
        Err(Error::Setup(format!("{what}: status {}: {body}", r.status)))
    }
}

/// `rows` object-row PUTs, `concurrency` at once; the rows/s line.
pub async fn updates(
    addr: &str,
    path: &str,
    rows: usize,
    concurrency: usize,
) -> Result<String, Error> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (mut conn, next, path) = (connect(addr)?, next.clone(), path.to_string());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= rows {
                    return Ok(());
                }
                // Distinct, increasing timestamps, as rows written one by one get.
                let ts = format!("{}.{:05}", 1_700_000_000 + i / 100_000, i % 100_000);
                let headers = [
                    ("X-Timestamp", ts.as_str()),
                    ("X-Size", "4096"),
                    ("X-Etag", EMPTY_ETAG),
                    ("X-Content-Type", "application/octet-stream"),
                ];
                let object = format!("{path}/obj-{i:08}");
                let r = conn
                    .send(Method::PUT, &object, &headers, Payload::empty())
                    .await?;
                expect("row update", r, &[201])?;
            }
        }));
    }
    for w in workers {
        w.await
            .map_err(|e| Error::Setup(format!("a worker failed: {e}")))??;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    Ok(format!(
        "{:.0} rows/s ({rows} rows, concurrency {concurrency}, {secs:.2} s)",
        rows as f64 / secs
    ))
}

/// One `merge_items` request body: rows `first..end` (ROWID = index + 1).
fn merge_items_body(first: usize, end: usize) -> String {
    let items: Vec<_> = (first..end)
        .map(|j| {
            json!({
                "ROWID": j + 1,
                "name": format!("{:04}/{j:06}", j / 100),
                "created_at": "1690000000.00000",
                "size": 4096,
                "content_type": "application/octet-stream",
                "etag": EMPTY_ETAG,
                "deleted": 0,
                "storage_policy_index": 0,
            })
        })
        .collect();
    json!(["merge_items", items, "bench-source"]).to_string()
}

/// `rows` rows merged in `batch`-row REPLICATE requests; the time it took.
pub async fn populate(addr: &str, path: &str, rows: usize, batch: usize) -> Result<String, Error> {
    let mut conn = connect(addr)?;
    let start = Instant::now();
    let mut i = 0;
    while i < rows {
        let end = (i + batch.max(1)).min(rows);
        let body = bytes::Bytes::from(merge_items_body(i, end));
        let len = body.len() as u64;
        let r = conn
            .send(
                Method::from_bytes(b"REPLICATE").map_err(|e| Error::Request(e.to_string()))?,
                path,
                &[],
                Payload::new(body, len),
            )
            .await?;
        expect("merge_items", r, &[202, 204])?;
        i = end;
    }
    Ok(format!(
        "{rows} rows merged in {:.1} s",
        start.elapsed().as_secs_f64()
    ))
}

/// The GET `reps` times; its median time, rows (lines) and bytes.
pub async fn list(addr: &str, path: &str, reps: usize) -> Result<String, Error> {
    let mut conn = connect(addr)?;
    let mut times = Vec::with_capacity(reps);
    let (mut rows, mut bytes) = (0, 0);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let r = conn.send(Method::GET, path, &[], Payload::empty()).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let r = expect("listing", r, &[200, 204])?;
        rows = r.body.iter().filter(|&&b| b == b'\n').count();
        bytes = r.body.len();
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(format!(
        "{median:.1} ms median ({rows} rows, {bytes} bytes, {} runs)",
        times.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_items_rows_are_swifts() {
        let v: serde_json::Value = serde_json::from_str(&merge_items_body(199, 201)).unwrap();
        assert_eq!(v[0], "merge_items");
        assert_eq!(v[2], "bench-source");
        let rows = v[1].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["name"], "0001/000199");
        assert_eq!(rows[1]["name"], "0002/000200");
        assert_eq!(rows[1]["ROWID"], 201);
        assert_eq!(rows[0]["etag"], EMPTY_ETAG);
    }
}
