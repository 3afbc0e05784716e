//! kill -9 of the object server during 1,000 concurrent PUTs: after a restart,
//! every PUT that was answered 201 reads back byte-exact, nothing else is
//! half-visible, and no temp or partial file is left anywhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::harness::http_request;
use crate::object_common::*;

const N: usize = 1000;

fn size_of(i: usize) -> usize {
    4096 + (i * 7919) % (256 * 1024)
}

#[test]
fn kill9_during_1000_concurrent_puts() {
    let d = tempfile::tempdir().unwrap();
    let mut s = start(d.path(), "");
    let addr = s.addr();
    let t = ts(-1.0);
    let ok = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(N + 1));
    let mut threads = Vec::new();
    for i in 0..N {
        let (ok, barrier, t) = (ok.clone(), barrier.clone(), t.clone());
        threads.push(
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let body = bytes(i as u64, size_of(i));
                    let path = format!("/sda/{}/a/c/o{i}", i % 16);
                    barrier.wait();
                    let r = http_request(
                        addr,
                        "PUT",
                        &path,
                        &[
                            ("X-Timestamp", &t),
                            ("Content-Type", "application/octet-stream"),
                        ],
                        &body,
                    );
                    let status = r.map(|x| x.0).unwrap_or(0);
                    if status == 201 {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    status
                })
                .unwrap(),
        );
    }
    barrier.wait();
    let t0 = Instant::now();
    // Kill once some PUTs have been acknowledged and others are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ok.load(Ordering::SeqCst) < 150 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    s.proc.kill9();
    let killed_at = t0.elapsed();
    let statuses: Vec<u16> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    let acked: Vec<usize> = (0..N).filter(|i| statuses[*i] == 201).collect();
    assert!(acked.len() >= 150, "only {} acknowledged", acked.len());
    assert!(
        acked.len() < N,
        "the kill came after every PUT finished; nothing was tested"
    );

    let joined_at = t0.elapsed();
    // Restart on the same devices.
    let s = restart_with(&s.config, &s.devices);
    let mut visible_unacked = 0;
    for (i, acked_status) in statuses.iter().enumerate() {
        let path = format!("/sda/{}/a/c/o{i}", i % 16);
        let (status, _, body) = http_request(s.addr(), "GET", &path, &[], b"").unwrap();
        if *acked_status == 201 {
            assert_eq!(status, 200, "acknowledged PUT {i} lost");
            assert!(
                body == bytes(i as u64, size_of(i)),
                "acknowledged PUT {i} not byte-exact"
            );
        } else {
            // Never half-visible: absent, or complete (committed but not yet answered).
            assert!(status == 404 || status == 200, "object {i}: {status}");
            if status == 200 {
                assert!(
                    body == bytes(i as u64, size_of(i)),
                    "unacknowledged PUT {i} visible but not exact"
                );
                visible_unacked += 1;
            }
        }
    }
    // No temp file left, and every file under objects/ is whole.
    assert!(
        walk(&s.devices.join("sda/tmp")).is_empty(),
        "{:?}",
        walk(&s.devices.join("sda/tmp"))
    );
    let mut datas = 0;
    for p in walk(&s.devices.join("sda/objects")) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if matches!(name.as_str(), "hashes.json" | "hashes.invalid" | ".lock") {
            continue;
        }
        assert!(name.ends_with(".data"), "unexpected file {}", p.display());
        let b = std::fs::read(&p).unwrap();
        let (md, body_len) = swirl_store::object::metadata::decode_tail(&b, b.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!(md.content_length(), Some(body_len), "{}", p.display());
        datas += 1;
    }
    assert_eq!(datas, acked.len() + visible_unacked);
    // REPLICATE lists exactly the partitions that hold objects.
    for part in 0..16 {
        let (status, _, body) = http_request(
            s.addr(),
            "REPLICATE",
            &format!("/sda/{part}"),
            &[("Accept", "application/json")],
            b"",
        )
        .unwrap();
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let held = (0..N)
            .filter(|i| i % 16 == part && statuses[*i] == 201)
            .count();
        if held > 0 {
            assert!(!v.as_object().unwrap().is_empty(), "partition {part}");
        }
    }
    eprintln!(
        "kill -9 after {killed_at:?} (threads done {joined_at:?}, checks done {:?}): {} of {N} PUTs acknowledged, \
         {visible_unacked} committed but unacknowledged",
        t0.elapsed(),
        acked.len()
    );
}
