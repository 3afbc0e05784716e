//! Swift's probe tests (test/probe) on a 4-node swirl cluster in network
//! namespaces ([`NetnsCluster`]), run one after another on one cluster,
//! with one ledger of every write the proxy acknowledged:
//!
//! - a node killed (-9) during a few thousand writes: they succeed with
//!   quorum and land on handoffs; once it is back, one replication pass on
//!   every node puts every replica home and removes the handoff copies;
//! - corrupted `.data` files (a body byte, a block digest): the object
//!   auditor (`swirl object-auditor --once` in the node's namespace) finds
//!   and quarantines a copy no client read; GETs through the proxy still
//!   return the stored bytes, the object server quarantines the bad copy on
//!   read, a receiver refuses a file whose block digests are bad, and
//!   replication restores every copy byte for byte;
//! - a device wiped and refilled by replication;
//! - conflicting PUT/POST/DELETE on split nodes converge to the newest data
//!   and metadata;
//! - a node's replication link cut while replication runs and healed: passes
//!   end (with failures counted, nothing removed that was not confirmed),
//!   then converge;
//! - a device added and the ring rebalanced: data moves, the old locations
//!   are emptied, nothing is lost;
//! - a rogue peer without a certificate, or with one of another CA, refused
//!   on the replication port.
//!
//! After each scenario every acknowledged write is checked on every primary
//! (direct HEADs, as Swift's direct_client does) and through the proxy.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{flip_byte as flip, pattern};
use crate::netns::ledger::{Expect, Ledger};
use crate::netns::{wait_until, Client, DaemonRun, Location, NetnsCluster, Server, Spec};

/// The cluster under test, its client and the ledger.
struct Probe {
    c: NetnsCluster,
    cl: Client,
    ledger: Ledger,
    started: Instant,
}

impl Probe {
    fn section(&self, name: &str) {
        eprintln!("[{:>6.1}s] {name}", self.started.elapsed().as_secs_f64());
    }

    /// A PUT that must be acknowledged; recorded in the ledger.
    fn put(&mut self, rel: &str, body: &[u8], meta: &[(&str, &str)]) {
        let r = self.cl.request("PUT", rel, meta, body);
        assert_eq!(r.0, 201, "PUT {rel}: {}", String::from_utf8_lossy(&r.2));
        self.ledger.put(rel, body, meta);
    }

    fn post(&mut self, rel: &str, meta: &[(&str, &str)]) {
        let r = self.cl.request("POST", rel, meta, b"");
        assert_eq!(r.0, 202, "POST {rel}");
        self.ledger.post(rel, meta);
    }

    fn delete(&mut self, rel: &str) {
        let r = self.cl.request("DELETE", rel, &[], b"");
        assert_eq!(r.0, 204, "DELETE {rel}");
        self.ledger.delete(rel);
    }

    /// `swirl object-replicator --once` on every node at once.
    fn replicate(&self) -> Vec<DaemonRun> {
        self.c
            .run_daemon_everywhere("object-replicator", &["--once"])
    }

    /// A replication round that must end without failures on any node.
    fn replicate_clean(&self) {
        for r in self.replicate() {
            r.assert_success();
        }
    }

    /// Every acknowledged write on every primary, nowhere else, and readable.
    fn verify(&self) {
        self.ledger.verify_replicas(&self.c);
        self.ledger.verify_reads(&self.cl);
    }

    /// A new proxy process: error limits of an earlier scenario (a node
    /// that was down) would send writes to handoffs for another minute.
    fn fresh_proxy(&mut self) {
        self.c.restart_proxy();
        self.cl = self.c.client();
    }

    fn account(&self) -> String {
        self.ledger.account.clone()
    }

    /// The `.data` file of `rel` on device `loc`.
    fn data_file(&self, loc: &Location, rel: &str) -> std::path::PathBuf {
        let p = self.c.locate(&self.account(), rel);
        let files = self.c.object_files(loc, &p);
        let name = files
            .iter()
            .find(|f| f.ends_with(".data"))
            .unwrap_or_else(|| panic!("no .data of {rel} on {loc}: {files:?}"));
        self.c.hash_dir(loc, &p).join(name)
    }
}

#[test]
fn netns_probe_scenarios() {
    let started = Instant::now();
    // Passes with a peer unreachable cost conn_timeout per partition (or
    // node_timeout on a connection it had): more partitions at once and a
    // shorter node_timeout keep the link-cut scenario to seconds.
    let spec = Spec::default()
        .set(Server::Object, "object-replicator.concurrency", 4)
        .set(Server::Object, "object-replicator.node_timeout", 3)
        // The auditor's pass over a node's thousands of objects, unpaced.
        .set(Server::Object, "object-auditor.files_per_second", 0)
        .set(Server::Object, "object-auditor.bytes_per_second", 0)
        .set(
            Server::Object,
            "object-auditor.zero_byte_files_per_second",
            0,
        );
    let c = NetnsCluster::start_with(spec);
    let cl = c.client();
    let ledger = Ledger::new(cl.account_name());
    let mut p = Probe {
        c,
        cl,
        ledger,
        started,
    };
    p.section("cluster up");
    for cont in ["a", "c", "d", "e", "f"] {
        assert_eq!(p.cl.request("PUT", cont, &[], b"").0, 201);
    }
    rogue_peers_refused(&mut p);
    node_down_during_writes(&mut p, 10_000);
    corrupted_data_files(&mut p);
    device_wiped(&mut p);
    split_brain(&mut p);
    replication_link_cut(&mut p);
    device_added(&mut p);
    p.section("done");
}

/// Writes `count` objects `<prefix><i>` from 8 threads (each on its
/// kept-alive connection); calls `at_half` once half of them are
/// acknowledged (while the others keep writing).
/// Returns, per object, whether its write started after `at_half` returned.
fn write_many(
    p: &mut Probe,
    prefix: &str,
    count: usize,
    at_half: impl FnOnce(&mut NetnsCluster),
) -> Vec<bool> {
    let acked = AtomicUsize::new(0);
    let after = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let cl = p.cl.clone();
    let results: Vec<(usize, Vec<u8>, u16, bool)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (cl, acked, after, next) = (&cl, &acked, &after, &next);
                s.spawn(move || {
                    let mut pool = cl.pool();
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return out;
                        }
                        let late = after.load(Ordering::SeqCst);
                        let body = pattern(50 + (i * 37) % 2000, i as u64);
                        let r =
                            cl.request_via(&mut pool, "PUT", &format!("{prefix}{i}"), &[], &body);
                        if r.0 == 201 {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        out.push((i, body, r.0, late));
                    }
                })
            })
            .collect();
        // Workers that all ended early (a failed write panics, or too few
        // were acknowledged) must not leave this loop waiting forever.
        while acked.load(Ordering::Relaxed) < count / 2 && !workers.iter().all(|w| w.is_finished())
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        at_half(&mut p.c);
        after.store(true, Ordering::SeqCst);
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut late = vec![false; count];
    for (i, body, status, was_late) in results {
        assert_eq!(status, 201, "PUT {prefix}{i} with a node down");
        p.ledger.put(&format!("{prefix}{i}"), &body, &[]);
        late[i] = was_late;
    }
    late
}

/// test_object_handoff: node 4 crashes during the writes; the writes go to
/// handoffs; node 4 comes back and one replication pass on every node puts
/// every replica home and empties the handoffs.
fn node_down_during_writes(p: &mut Probe, count: usize) {
    p.section(&format!("(a) node 4 killed during {count} writes"));
    let t = Instant::now();
    let late = write_many(p, "a/o", count, |c| c.kill_node(4));
    p.section(&format!(
        "    {count} writes acknowledged in {:?}",
        t.elapsed()
    ));
    // Writes made while node 4 was down that it is a primary of went to a
    // handoff instead: 3 copies, none on node 4.
    let account = p.account();
    let mut on_handoff = 0;
    for (i, &was_late) in late.iter().enumerate() {
        let rel = format!("a/o{i}");
        let pl = p.c.locate(&account, &rel);
        if !was_late || !pl.primaries.iter().any(|l| l.node == 4) {
            continue;
        }
        let holders: Vec<Location> =
            p.c.all_devices()
                .into_iter()
                .filter(|l| !p.c.object_files(l, &pl).is_empty())
                .collect();
        assert!(holders.iter().all(|l| l.node != 4), "{rel}: {holders:?}");
        assert_eq!(holders.len(), 3, "{rel}: {holders:?}");
        assert!(
            holders.iter().any(|l| !pl.primaries.contains(l)),
            "{rel}: {holders:?}"
        );
        on_handoff += 1;
    }
    assert!(
        on_handoff > count / 10,
        "only {on_handoff} writes reached a handoff"
    );
    let missing = p.ledger.missing_replicas(&p.c);
    // What a user sees with the node still down: every write reads back.
    p.ledger.verify_reads(&p.cl);
    p.section(&format!(
        "    {on_handoff} objects on handoffs, {missing} replicas missing, all readable; node 4 back"
    ));
    p.c.start_node(4);
    let runs = p.replicate();
    for r in &runs {
        r.assert_success();
    }
    // The replicators' own account (object.recon): handoff partitions
    // removed, at least one file sent per missing replica, no failure.
    let stat = |key: &str| -> u64 {
        (1..=4)
            .map(|n| {
                p.c.node(n).object_recon()["replication_stats"][key]
                    .as_u64()
                    .unwrap()
            })
            .sum()
    };
    let (removed, sent) = (stat("remove"), stat("files_sent"));
    assert!(removed > 0, "no handoff partition removed");
    assert!(
        sent >= missing as u64,
        "{sent} files sent for {missing} missing replicas"
    );
    assert_eq!(stat("failure"), 0);
    p.section(&format!(
        "    one pass on every node ({:?} slowest), {removed} handoff partitions removed",
        runs.iter().map(|r| r.elapsed).max().unwrap()
    ));
    assert_eq!(p.ledger.missing_replicas(&p.c), 0);
    p.verify();
    p.section("    every replica home, handoffs empty, every write reads back");
}

/// test_object_failures: corrupt copies are found on read, quarantined and
/// restored by replication; a copy whose block digests are bad is refused
/// by the receiver.
fn corrupted_data_files(p: &mut Probe) {
    p.section("(c) corrupted .data files");
    p.fresh_proxy();
    let account = p.account();
    let small = pattern(3000, 1001);
    let big = pattern(300 * 1024, 1002);
    let big2 = pattern(300 * 1024, 1003);
    p.put("c/small", &small, &[("X-Object-Meta-Kind", "small")]);
    p.put("c/big", &big, &[]);
    p.put("c/big2", &big2, &[]);
    let audited = pattern(200 * 1024, 1004);
    p.put("c/audited", &audited, &[("X-Object-Meta-Kind", "audited")]);

    // A body byte of the second primary's copy, which no GET reads: the
    // auditor's full pass on that node finds it and quarantines it.
    let pl = p.c.locate(&account, "c/audited");
    let second = &pl.primaries[1];
    let path = p.data_file(second, "c/audited");
    flip(&path, 150 * 1024 + 3);
    let t = Instant::now();
    let run = p.c.run_daemon(
        second.node,
        "object-auditor",
        &["--once", "--devices", &second.dev],
    );
    run.assert_success();
    assert!(!path.exists(), "the auditor left the corrupt copy: {run}");
    let q =
        p.c.node(second.node)
            .device(&second.dev)
            .join("quarantined/objects")
            .join(&pl.hash);
    assert!(q.exists(), "{} missing: {run}", q.display());
    assert!(
        run.stdout.lines().any(|l| l.contains(" 1 quarantined")),
        "{run}"
    );
    assert_eq!(
        p.c.direct_object(second, pl.part, &account, "c/audited", "HEAD")
            .0,
        404
    );
    p.section(&format!(
        "    the auditor on n{} quarantined c/audited in {:?}",
        second.node,
        t.elapsed()
    ));

    // A body byte of the first primary's copy (the one the proxy reads first).
    for (rel, at) in [("c/small", 1500u64), ("c/big", 2 * 65536 + 77)] {
        let pl = p.c.locate(&account, rel);
        let first = &pl.primaries[0];
        let path = p.data_file(first, rel);
        flip(&path, at);
        let r = p.cl.request("GET", rel, &[], b"");
        assert_eq!(r.0, 200, "GET {rel}");
        let want = if rel == "c/small" { &small } else { &big };
        assert!(
            r.2 == *want,
            "GET {rel}: the stored bytes, not the corrupt ones"
        );
        wait_until(
            &format!("{rel} quarantined on {first}"),
            Duration::from_secs(20),
            || !path.exists(),
        );
        let q =
            p.c.node(first.node)
                .device(&first.dev)
                .join("quarantined/objects")
                .join(&pl.hash);
        assert!(q.exists(), "{} missing", q.display());
        assert_eq!(
            p.c.direct_object(first, pl.part, &account, rel, "HEAD").0,
            404
        );
    }

    // big2: the second primary's block digests go bad (its body is intact),
    // the third primary's copy is quarantined on a direct read.
    let pl = p.c.locate(&account, "c/big2");
    let (good, bad_digests, lost) = (&pl.primaries[0], &pl.primaries[1], &pl.primaries[2]);
    let bad_path = p.data_file(bad_digests, "c/big2");
    flip(&bad_path, 300 * 1024 + 40); // block 1's digest, right after the body
    let lost_path = p.data_file(lost, "c/big2");
    flip(&lost_path, 100);
    let _ = p.c.direct_object(lost, pl.part, &account, "c/big2", "GET");
    wait_until(
        "big2 quarantined on the third primary",
        Duration::from_secs(20),
        || !lost_path.exists(),
    );
    // Only the copy with bad digests may push to the third primary: it is
    // refused, the pass counts a failure.
    let part = pl.part.to_string();
    let r = p.c.run_daemon(
        bad_digests.node,
        "object-replicator",
        &["--once", "-d", &bad_digests.dev, "-p", &part],
    );
    assert!(
        !r.success(),
        "a file with bad block digests was accepted: {r}"
    );
    assert!(
        p.c.object_files(lost, &pl).is_empty(),
        "the receiver kept a file with bad block digests"
    );
    // The good copy fills it.
    p.c.run_daemon(
        good.node,
        "object-replicator",
        &["--once", "-d", &good.dev, "-p", &part],
    )
    .assert_success();
    // A read of the bad-digest copy quarantines it.
    let _ =
        p.c.direct_object(bad_digests, pl.part, &account, "c/big2", "GET");
    wait_until(
        "big2 quarantined on the second primary",
        Duration::from_secs(20),
        || !bad_path.exists(),
    );
    p.replicate_clean();
    // Every copy of every corrupted object is back, byte for byte the good one.
    for rel in ["c/small", "c/big", "c/big2", "c/audited"] {
        let pl = p.c.locate(&account, rel);
        let copies: Vec<Vec<u8>> = pl
            .primaries
            .iter()
            .map(|l| std::fs::read(p.data_file(l, rel)).unwrap())
            .collect();
        assert!(
            copies.iter().all(|c| *c == copies[0]),
            "{rel}: copies differ"
        );
    }
    p.verify();
    p.section(
        "    quarantined by the auditor and on read, refused with bad digests, restored byte for byte",
    );
}

/// test_replication_servers_working: a device replaced by an empty one is
/// refilled.
fn device_wiped(p: &mut Probe) {
    p.section("(b) device n2/d1 wiped");
    let dev = p.c.node(2).device("d1");
    p.c.kill_node(2);
    std::fs::remove_dir_all(&dev).unwrap();
    std::fs::create_dir_all(&dev).unwrap();
    p.c.start_node(2);
    let missing = p.ledger.missing_replicas(&p.c);
    assert!(
        missing > 100,
        "only {missing} replicas lost with the device"
    );
    // Before any repair, users still read every object (the proxy moves on
    // from the empty device's 404 to the other primaries).
    p.fresh_proxy();
    p.ledger.verify_reads(&p.cl);
    p.replicate_clean();
    assert_eq!(p.ledger.missing_replicas(&p.c), 0);
    p.verify();
    p.section(&format!("    {missing} lost replicas restored"));
}

/// test_object_metadata_replication: PUT/POST/DELETE applied to two halves
/// of the cluster at different times converge to the newest data and
/// metadata. The objects' primaries live on nodes 1, 2 and 3; the cluster
/// is split three times: nodes 3 and 4 down (X1), then nodes 1 and 2 down
/// (Y: writes reach node 3 and handoffs on node 4), then 3 and 4 again (X2).
fn split_brain(p: &mut Probe) {
    p.section("(e) conflicting writes on split nodes");
    let account = p.account();
    let mut names = Vec::new();
    let mut i = 0;
    while names.len() < 5 {
        let rel = format!("e/split{i}");
        let pl = p.c.locate(&account, &rel);
        let mut nodes: Vec<usize> = pl.primaries.iter().map(|l| l.node).collect();
        nodes.sort();
        // With nodes 1 and 2 down, a write reaches node 3 and the handoffs
        // the proxy may ask (request_node_count = 2 * replicas, so the first
        // three); a quorum of answers needs two of those on nodes 3 and 4.
        let live_handoffs = pl.handoffs[..3].iter().filter(|l| l.node >= 3).count();
        if nodes == [1, 2, 3] && live_handoffs >= 2 {
            names.push(rel);
        }
        i += 1;
    }
    let [put_post, put_del, del_put, del_post, meta_put] =
        [0, 1, 2, 3, 4].map(|k| names[k].clone());
    for (k, rel) in names.iter().enumerate() {
        p.put(
            rel,
            &pattern(500 + k, 2000 + k as u64),
            &[("X-Object-Meta-V", "1")],
        );
    }
    let split = |p: &mut Probe, down: [usize; 2]| {
        for n in 1..=4 {
            if down.contains(&n) {
                p.c.stop_server(n, Server::Object);
            } else if !p.c.node(n).is_running(Server::Object) {
                p.c.start_server(n, Server::Object);
            }
        }
        // A new proxy: no error limits carried over from the other split.
        p.fresh_proxy();
    };
    // X1: only nodes 1 and 2 (two primaries) take writes.
    split(p, [3, 4]);
    p.delete(&del_put);
    p.post(&meta_put, &[("X-Object-Meta-B", "2")]);
    // Y: only node 3 (one primary) and handoffs take writes.
    split(p, [1, 2]);
    let v2 = pattern(700, 2100);
    p.put(&put_post, &v2, &[("X-Object-Meta-Color", "red")]);
    p.put(&put_del, &pattern(600, 2101), &[]);
    let v3 = pattern(800, 2102);
    p.put(&del_put, &v3, &[("X-Object-Meta-Back", "yes")]);
    let v4 = pattern(900, 2103);
    p.put(&meta_put, &v4, &[]);
    // A DELETE that finds the object on one primary only: the handoffs
    // answer 404 and so does the proxy (Swift's quorum), but the tombstone
    // is written where the object was.
    let r = p.cl.request("DELETE", &del_post, &[], b"");
    assert!(r.0 == 204 || r.0 == 404, "DELETE {del_post}: {}", r.0);
    let pl = p.c.locate(&account, &del_post);
    let on3 = pl.primaries.iter().find(|l| l.node == 3).unwrap();
    let h = p.c.direct_object(on3, pl.part, &account, &del_post, "HEAD");
    assert!(
        h.0 == 404 && crate::harness::header(&h.1, "x-backend-timestamp").is_some(),
        "{h:?}"
    );
    p.ledger.delete(&del_post);
    // X2: nodes 1 and 2 again, still holding the old state.
    split(p, [3, 4]);
    p.post(&put_post, &[("X-Object-Meta-Shape", "round")]);
    p.delete(&put_del);
    // A POST to the old copy, newer than the DELETE: the DELETE still wins
    // (a POST updates the data it finds, it cannot bring back a deleted
    // object); the ledger keeps Deleted.
    let r =
        p.cl.request("POST", &del_post, &[("X-Object-Meta-Late", "1")], b"");
    assert_eq!(r.0, 202, "POST {del_post}");
    for n in 3..=4 {
        p.c.start_server(n, Server::Object);
    }
    p.fresh_proxy();
    // Swift's get_to_final_state: replication twice on every node.
    p.replicate_clean();
    p.replicate_clean();
    let obj = |body: &[u8], meta: &[(&str, &str)]| Expect::Object {
        body: body.to_vec(),
        meta: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    assert_eq!(
        p.ledger.entries[&put_post],
        obj(&v2, &[("x-object-meta-shape", "round")])
    );
    assert_eq!(p.ledger.entries[&put_del], Expect::Deleted);
    assert_eq!(
        p.ledger.entries[&del_put],
        obj(&v3, &[("x-object-meta-back", "yes")])
    );
    assert_eq!(p.ledger.entries[&del_post], Expect::Deleted);
    assert_eq!(p.ledger.entries[&meta_put], obj(&v4, &[]));
    p.verify();
    p.section("    newest data and metadata everywhere");
}

/// Objects held by a device that is not one of their primaries.
fn handoff_copies(p: &Probe) -> usize {
    let devices = p.c.all_devices();
    p.ledger
        .entries
        .keys()
        .map(|rel| {
            let pl = p.c.locate(&p.ledger.account, rel);
            devices
                .iter()
                .filter(|d| !pl.primaries.contains(d) && !p.c.object_files(d, &pl).is_empty())
                .count()
        })
        .sum()
}

/// The largest temp file under node `n`'s devices (a transfer in progress).
fn largest_temp_file(p: &Probe, n: usize) -> u64 {
    let node = p.c.node(n);
    node.devs
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(node.device(d).join("tmp"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// A node's replication link cut before and during replication, then
/// healed: passes end (counting failures, removing no handoff copy that
/// was not confirmed), and converge once the link is back.
fn replication_link_cut(p: &mut Probe) {
    p.section("(d) node 3's replication link cut");
    let account = p.account();
    // Node 3's object server misses some writes, among them a large object
    // (so that a transfer to node 3 is still running when the link goes).
    p.c.kill_server(3, Server::Object);
    p.fresh_proxy();
    for i in 0..300 {
        p.put(&format!("d/o{i}"), &pattern(100 + i, 3000 + i as u64), &[]);
    }
    let big = (0..)
        .map(|i| format!("d/big{i}"))
        .find(|rel| {
            p.c.locate(&account, rel)
                .primaries
                .iter()
                .any(|l| l.node == 3)
        })
        .unwrap();
    p.put(&big, &pattern(64 << 20, 3999), &[]);
    p.c.start_server(3, Server::Object);
    let missing = p.ledger.missing_replicas(&p.c);
    let on_handoffs = handoff_copies(p);
    assert!(
        missing > 50 && on_handoffs >= missing,
        "{missing} missing, {on_handoffs} on handoffs"
    );

    // Cut before the passes: they fail towards node 3 and keep every
    // handoff copy; node 3 gets nothing.
    p.c.cut_replication(3);
    let t = Instant::now();
    let runs = p.replicate();
    for r in runs.iter().filter(|r| r.node != 3) {
        assert!(!r.success(), "every node replicates with node 3: {r}");
    }
    assert_eq!(
        p.ledger.missing_replicas(&p.c),
        missing,
        "node 3 got files without a link"
    );
    assert_eq!(
        handoff_copies(p),
        on_handoffs,
        "handoff copies removed without confirmation"
    );
    p.section(&format!(
        "    passes with the link down failed in {:?}",
        t.elapsed()
    ));

    // Healed, then cut again while the large object streams to node 3:
    // its sender finds the peer silent within node_timeout, the passes end
    // and count failures.
    p.c.heal_replication(3);
    let daemons: Vec<_> = (1..=4)
        .map(|n| p.c.spawn_daemon(n, "object-replicator", &["--once"]))
        .collect();
    let t = Instant::now();
    let deadline = t + Duration::from_secs(60);
    while largest_temp_file(p, 3) < 1 << 20 {
        assert!(
            Instant::now() < deadline,
            "the large object never streamed to node 3"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    p.c.cut_replication(3);
    let runs = crate::netns::wait_all(daemons, Duration::from_secs(60));
    assert!(runs.iter().any(|r| !r.success()), "no pass noticed the cut");
    p.section(&format!(
        "    passes cut during a transfer ended in {:?}",
        t.elapsed()
    ));
    p.ledger.verify_reads(&p.cl);
    p.c.heal_replication(3);
    p.replicate_clean();
    p.verify();
    p.section("    healed and converged");
}

/// A device added to the object ring and the ring rebalanced.
fn device_added(p: &mut Probe) {
    p.section("(f) device n1/d3 added, ring rebalanced");
    p.c.add_device(1, "d3");
    let arg = p.c.device_arg(1, Server::Object, "d3");
    p.c.ring_builder("object", &["add", &arg, "100"]);
    p.c.ring_builder("object", &["rebalance"]);
    p.c.push_rings();
    p.fresh_proxy();
    let moved = p.ledger.missing_replicas(&p.c);
    assert!(moved > 50, "only {moved} replicas moved");
    p.replicate_clean();
    let d3 = Location {
        node: 1,
        dev: "d3".into(),
    };
    let on_d3 = p
        .ledger
        .entries
        .keys()
        .filter(|rel| {
            !p.c.object_files(&d3, &p.c.locate(&p.account(), rel))
                .is_empty()
        })
        .count();
    assert!(on_d3 > 0);
    p.verify();
    p.section(&format!(
        "    {moved} replicas moved ({on_d3} objects on the new device), old locations empty"
    ));
}

/// The replication port refuses peers without a certificate of the cluster
/// CA, from inside the replication network.
fn rogue_peers_refused(p: &mut Probe) {
    p.section("(g) rogue peers on the replication network");
    let target = p.c.node(2).replication_addr(Server::Object);
    let url = format!("https://{target}/healthcheck");
    let ca = p.c.node(1).tls().join("ca.pem");
    let curl = |extra: &[&str]| {
        let mut cmd = p.c.command_in(&p.c.admin_ns);
        cmd.args(["curl", "-s", "-S", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .args(extra)
            .arg(&url);
        cmd.output().unwrap()
    };
    // A member (node 1's certificate) gets in.
    let tls1 = p.c.node(1).tls();
    let (cert, key) = (tls1.join("node.pem"), tls1.join("node.key"));
    let ok = curl(&[
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "OK",
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // No certificate.
    let anon = curl(&[]);
    assert!(!anon.status.success() && anon.stdout.is_empty());
    // A certificate of another CA, naming the rogue's own address.
    let other = p.c.dir().join("rogue");
    let other_ca = other.join("ca");
    p.c.swirl(&[
        "cluster-ca",
        "init",
        other_ca.to_str().unwrap(),
        "--name",
        "rogue",
    ]);
    p.c.swirl(&[
        "cluster-ca",
        "issue",
        other_ca.to_str().unwrap(),
        other.join("n").to_str().unwrap(),
        "--name",
        "n9",
        "--ip",
        "198.51.100.1",
    ]);
    let (rc, rk) = (other.join("n/node.pem"), other.join("n/node.key"));
    let rogue = curl(&[
        "--cert",
        rc.to_str().unwrap(),
        "--key",
        rk.to_str().unwrap(),
    ]);
    assert!(
        !rogue.status.success() && rogue.stdout.is_empty(),
        "{rogue:?}"
    );
    // Plain HTTP gets no HTTP answer.
    let plain = crate::netns::request_in(&p.c.admin_ns, target, "GET", "/healthcheck", &[], b"");
    assert!(plain.is_err(), "{plain:?}");
    // And the replication port is not on the public network.
    let public: std::net::SocketAddr = format!("{}:{}", p.c.node(2).public_ip, target.port())
        .parse()
        .unwrap();
    assert!(crate::netns::net::connect_in(&p.c.admin_ns, public, Duration::from_secs(2)).is_err());
    p.section("    no certificate, another CA's and plain HTTP refused");
    // On the public network, the servers take only requests signed with
    // the cluster's backend key (the guide's configs turn it on); recon
    // stays open for swift-recon.
    let account = p.account();
    for s in Server::ALL {
        let addr = p.c.node(2).addr(s);
        let path = match s {
            Server::Account => format!("/d1/0/{account}"),
            Server::Container => format!("/d1/0/{account}/c"),
            Server::Object => format!("/d1/0/{account}/c/o"),
        };
        let r = crate::netns::request_in(&p.c.admin_ns, addr, "HEAD", &path, &[], b"").unwrap();
        assert_eq!(r.0, 401, "unsigned HEAD to the {} server", s.name());
        let r = p.c.direct(2, s, "HEAD", &path, &[], b"").unwrap();
        assert_ne!(r.0, 401, "signed HEAD to the {} server", s.name());
        let r = crate::netns::request_in(&p.c.admin_ns, addr, "GET", "/recon/ringmd5", &[], b"")
            .unwrap();
        assert_eq!(r.0, 200, "recon of the {} server", s.name());
    }
    p.section("    unsigned backend requests refused, recon open");
}
