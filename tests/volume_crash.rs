//! kill -9 of a volume gateway: every byte acknowledged by FLUSH (on any
//! connection of the export, as multi-conn promises) or written with FUA is
//! there when a restarted gateway (same gateway_id, new ports) serves the
//! volume, whether the gateway died idle after a flush or in the middle of
//! a stream of writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::volume_support::{pattern, Api, Cluster, Gateway, NbdClient};

const MIB: u64 = 1 << 20;

fn api(g: &Gateway, c: &Cluster) -> Api {
    Api {
        addr: g.api,
        token: c.token.clone(),
    }
}

/// Reads `len` bytes at `off` in 4 MiB requests.
fn read_all(n: &mut NbdClient, off: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    let mut at = off;
    while at < off + len {
        let l = (off + len - at).min(4 * MIB) as u32;
        out.extend(n.read(at, l).unwrap());
        at += u64::from(l);
    }
    out
}

#[test]
fn volume_gateway_kill9_keeps_every_flushed_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::start(&tmp.path().join("aio"));
    let gdir = tmp.path().join("gw");
    let mut g1 = Gateway::start(&gdir, c.proxy, "crash-gw");

    // Phase 1: writes, FLUSH, more writes left unflushed, kill -9.
    let vol = api(&g1, &c).create(1, "crash1");
    let (_att, export) = api(&g1, &c).attach(&vol);
    let mut n = NbdClient::connect(g1.nbd, &export).unwrap();
    let mut model = vec![0u8; (64 * MIB) as usize];
    let mut put = |n: &mut NbdClient, off: u64, data: Vec<u8>| {
        n.write(off, &data).unwrap();
        model[off as usize..off as usize + data.len()].copy_from_slice(&data);
    };
    put(&mut n, 3 * MIB - 5, pattern(10 << 20, 1));
    let mut x = 12345u64;
    for i in 0..300u64 {
        // 4 KiB and odd-sized writes scattered over 40-60 MiB, overlapping.
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let off = 40 * MIB + (x >> 33) % (20 * MIB - 8192);
        let len = if i % 3 == 0 {
            4096
        } else {
            1 + (x >> 20) as usize % 7000
        };
        put(&mut n, off, pattern(len, 100 + i));
    }
    // A second connection to the same export: its writes are made durable
    // by the FLUSH sent on the first (multi-conn), and its FUA write after
    // that flush needs no flush at all.
    let mut m = NbdClient::connect(g1.nbd, &export).unwrap();
    assert!(m.flags & (1 << 8) != 0, "multi-conn not advertised");
    for i in 0..6u64 {
        let (off, data) = (20 * MIB + i * 700_001, pattern(300_000, 500 + i));
        m.write(off, &data).unwrap();
        model[off as usize..off as usize + data.len()].copy_from_slice(&data);
    }
    n.flush().unwrap();
    let (off, data) = (30 * MIB - 2048, pattern(5 * 4096, 600));
    m.write_fua(off, &data).unwrap();
    model[off as usize..off as usize + data.len()].copy_from_slice(&data);
    // Not flushed: another region, never to be relied on.
    for i in 0..8u64 {
        n.write(80 * MIB + i * MIB, &pattern(MIB as usize, 900 + i))
            .unwrap();
    }
    g1.proc.kill9();
    drop((n, m));

    let mut g2 = Gateway::start(&gdir, c.proxy, "crash-gw");
    let mut n = NbdClient::connect(g2.nbd, &export).unwrap();
    assert_eq!(n.size, 1 << 30);
    let got = read_all(&mut n, 0, 64 * MIB);
    assert!(got == model, "flushed data lost or changed after kill -9");
    // The unflushed region reads (old or new data, but it reads).
    read_all(&mut n, 80 * MIB, 8 * MIB);
    n.disconnect();

    // Phase 2: a writer streams 1 MiB writes with a FLUSH every 4 and
    // notes how far the flushes reached; the gateway dies mid-stream.
    let vol2 = api(&g2, &c).create(1, "crash2");
    let (_att2, export2) = api(&g2, &c).attach(&vol2);
    let flushed = Arc::new(AtomicU64::new(0));
    let writer = {
        let (addr, export2, flushed) = (g2.nbd, export2.clone(), flushed.clone());
        std::thread::spawn(move || {
            let mut n = NbdClient::connect(addr, &export2).unwrap();
            for i in 0..1000u64 {
                if n.write(i * MIB, &pattern(MIB as usize, 5000 + i)).is_err() {
                    return i;
                }
                if i % 4 == 3 {
                    if n.flush().is_err() {
                        return i;
                    }
                    flushed.store(i + 1, Ordering::SeqCst);
                }
            }
            1000
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while flushed.load(Ordering::SeqCst) < 24 {
        assert!(Instant::now() < deadline, "the writer made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    g2.proc.kill9();
    let stopped_at = writer.join().unwrap();
    let upto = flushed.load(Ordering::SeqCst);
    assert!(stopped_at < 1000, "the writer outlived the gateway");

    let g3 = Gateway::start(&gdir, c.proxy, "crash-gw");
    let mut n = NbdClient::connect(g3.nbd, &export2).unwrap();
    for i in 0..upto {
        let got = n.read(i * MIB, MIB as u32).unwrap();
        assert!(
            got == pattern(MIB as usize, 5000 + i),
            "flushed MiB {i} of {upto} lost"
        );
    }
    n.disconnect();
}
