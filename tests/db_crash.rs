//! kill -9 during 10,000 concurrent object row updates: after a restart the
//! container database opens (and passes SQLite's integrity check), every
//! acknowledged row is listed, and the counts match the rows.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db_support::{devices_dir, swirl_config};
use crate::harness::{header, http_request, Proc};

const TOTAL: usize = 10_000;
const THREADS: usize = 32;

#[test]
fn kill9_during_row_updates_loses_no_acknowledged_row() {
    let dir = tempfile::tempdir().unwrap();
    let devices = devices_dir(dir.path(), "devs");
    let conf = swirl_config(dir.path(), "container", &devices, "log_requests = false");
    let args = ["container-server", conf.to_str().unwrap()];
    let mut server = Proc::swirl_server("container", &args, Duration::from_secs(20));
    let addr = server.addr();
    let (st, _, _) = http_request(
        addr,
        "PUT",
        "/sda/3/acct/crash",
        &[("X-Timestamp", "1600000000.00000")],
        b"",
    )
    .unwrap();
    assert_eq!(st, 201);

    let acked = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (acked, done, stop) = (acked.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in (t..TOTAL).step_by(THREADS) {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let name = format!("obj-{i:05}");
                    let ts = format!("{}.{:05}", 1_600_000_001 + i / 1000, i % 1000);
                    let r = http_request(
                        addr,
                        "PUT",
                        &format!("/sda/3/acct/crash/{name}"),
                        &[
                            ("X-Timestamp", &ts),
                            ("X-Size", "1"),
                            ("X-Etag", "e"),
                            ("X-Content-Type", "t"),
                        ],
                        b"",
                    );
                    match r {
                        Ok((201, _, _)) => {
                            acked.lock().unwrap().insert(name);
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        // The server died under us: that request is not acknowledged.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    // Kill in the middle of the run, with every thread mid-request.
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.load(Ordering::Relaxed) < TOTAL / 3 {
        assert!(Instant::now() < deadline, "updates too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= TOTAL / 3 && acked.len() < TOTAL,
        "acked {}",
        acked.len()
    );

    // The file passes SQLite's own check (Debian's python sqlite3).
    let db = find_db(&devices);
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('pragma integrity_check').fetchone()[0])"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = Proc::swirl_server("container", &args, Duration::from_secs(20));
    let addr = server.addr();
    let mut listed = HashSet::new();
    let mut marker = String::new();
    loop {
        let (st, _, body) = http_request(
            addr,
            "GET",
            &format!("/sda/3/acct/crash?marker={marker}"),
            &[],
            b"",
        )
        .unwrap();
        if st == 204 {
            break;
        }
        assert_eq!(st, 200);
        let text = String::from_utf8(body).unwrap();
        let names: Vec<&str> = text.lines().collect();
        marker = names.last().unwrap().to_string();
        listed.extend(names.into_iter().map(str::to_string));
    }
    let missing: Vec<&String> = acked.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged rows lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let (st, h, _) = http_request(addr, "HEAD", "/sda/3/acct/crash", &[], b"").unwrap();
    assert_eq!(st, 204);
    let n = listed.len().to_string();
    assert_eq!(header(&h, "x-container-object-count"), Some(n.as_str()));
    assert_eq!(header(&h, "x-container-bytes-used"), Some(n.as_str()));
    eprintln!(
        "kill -9 after {} acknowledged of {TOTAL}; {} rows after restart",
        acked.len(),
        listed.len()
    );
}

fn find_db(devices: &std::path::Path) -> std::path::PathBuf {
    let mut stack = vec![devices.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "db") {
                return p;
            }
        }
    }
    panic!("no database under {}", devices.display());
}
