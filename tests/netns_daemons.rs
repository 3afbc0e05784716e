//! The cluster's daemons at work on the 4-node cluster in network
//! namespaces ([`NetnsCluster`]), each run as its systemd unit in the
//! deployment guide runs it (`swirl <daemon> <its server's toml>`), with
//! `--once`, inside the node's namespace (Swift's probe tests: `Manager.once`):
//!
//! - container databases that diverged (a container server down during
//!   some writes, another during others) merged by the container
//!   replicators: every replica lists every object, with the same
//!   X-Container-Object-Count and bytes, and the account's replicas count
//!   the container right;
//! - async pendings: every container server of a container down while
//!   objects are written (the object servers keep the updates as async
//!   pendings), started again, the object updater run on every node: the
//!   listing shows every object and no async pending is left;
//! - X-Delete-At / X-Delete-After objects removed by one object expirer
//!   for the whole cluster, and gone from the listings;
//! - Swift's `swift-recon` (Debian's) against the cluster, from the switch
//!   namespace on the public network: `-r -a -q -d --md5` for the object
//!   servers, `-r --md5` for the container servers, with sane figures.
//!
//! In every scenario, every acknowledged write reads back byte-exact at
//! the end (the ledger, through the proxy and on every primary).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::harness::{header, pattern};
use crate::netns::ledger::{Expect, Ledger};
use crate::netns::{wait_until, Client, DaemonRun, NetnsCluster, Server, Spec};
use crate::recon::{line, total};

/// The cluster under test, its client and the ledger.
struct Run {
    c: NetnsCluster,
    cl: Client,
    ledger: Ledger,
    /// Every container made, by name.
    containers: Vec<String>,
    started: Instant,
}

/// A container as one replica (or the proxy) lists it.
#[derive(Debug, PartialEq, Eq)]
struct Listing {
    /// Object names with their sizes.
    objects: BTreeMap<String, u64>,
    count: u64,
    bytes: u64,
}

fn header_u64(h: &[(String, String)], name: &str) -> u64 {
    header(h, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {h:?}"))
}

/// `name -> bytes` of a JSON listing (of objects or of containers), with
/// each entry's `count` when it has one.
fn json_entries(body: &[u8]) -> BTreeMap<String, (u64, u64)> {
    if body.is_empty() {
        return BTreeMap::new();
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                (
                    e["bytes"].as_u64().unwrap(),
                    e["count"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

impl Run {
    fn section(&self, name: &str) {
        eprintln!("[{:>6.1}s] {name}", self.started.elapsed().as_secs_f64());
    }

    fn account(&self) -> String {
        self.ledger.account.clone()
    }

    fn put(&mut self, rel: &str, body: &[u8], headers: &[(&str, &str)]) {
        let r = self.cl.request("PUT", rel, headers, body);
        assert_eq!(r.0, 201, "PUT {rel}: {}", String::from_utf8_lossy(&r.2));
        self.ledger.put(rel, body, &[]);
    }

    fn make_container(&mut self, name: &str) {
        assert_eq!(self.cl.request("PUT", name, &[], b"").0, 201, "PUT {name}");
        self.containers.push(name.to_string());
    }

    fn fresh_proxy(&mut self) {
        self.c.restart_proxy();
        self.cl = self.c.client();
    }

    /// What the ledger says container `cont` must list.
    fn expected(&self, cont: &str) -> Listing {
        let objects: BTreeMap<String, u64> = self
            .ledger
            .entries
            .iter()
            .filter_map(|(rel, e)| {
                let (c, o) = rel.split_once('/')?;
                match e {
                    Expect::Object { body, .. } if c == cont => {
                        Some((o.to_string(), body.len() as u64))
                    }
                    _ => None,
                }
            })
            .collect();
        Listing {
            count: objects.len() as u64,
            bytes: objects.values().sum(),
            objects,
        }
    }

    /// Container `cont` as each of its replicas lists it (straight from
    /// the container servers), in ring order.
    fn replica_listings(&self, cont: &str) -> Vec<Listing> {
        let account = self.account();
        let pl = self
            .c
            .locate_in(Server::Container, &account, Some(cont), None);
        pl.primaries
            .iter()
            .map(|loc| {
                let path = format!("/{}/{}/{account}/{cont}?format=json", loc.dev, pl.part);
                let r = self
                    .c
                    .direct(loc.node, Server::Container, "GET", &path, &[], b"")
                    .unwrap();
                assert!(r.0 == 200 || r.0 == 204, "GET {path} on {loc}: {}", r.0);
                Listing {
                    objects: json_entries(&r.2)
                        .into_iter()
                        .map(|(n, (b, _))| (n, b))
                        .collect(),
                    count: header_u64(&r.1, "x-container-object-count"),
                    bytes: header_u64(&r.1, "x-container-bytes-used"),
                }
            })
            .collect()
    }

    /// Every replica of `cont`, and the proxy's listing, show exactly the
    /// ledger's objects, count and bytes.
    fn check_listings(&self, cont: &str) {
        let want = self.expected(cont);
        for (k, l) in self.replica_listings(cont).iter().enumerate() {
            assert_eq!(*l, want, "container {cont}, replica {k}");
        }
        let r = self
            .cl
            .request("GET", &format!("{cont}?format=json"), &[], b"");
        assert!(r.0 == 200 || r.0 == 204, "GET {cont}: {}", r.0);
        let got: BTreeMap<String, u64> = json_entries(&r.2)
            .into_iter()
            .map(|(n, (b, _))| (n, b))
            .collect();
        assert_eq!(got, want.objects, "container {cont} through the proxy");
        assert_eq!(header_u64(&r.1, "x-container-object-count"), want.count);
    }

    /// Whether every replica of the account counts every container as the
    /// ledger says (per container, and the account's totals).
    fn account_stats_right(&self) -> Result<(), String> {
        let account = self.account();
        let pl = self.c.locate_in(Server::Account, &account, None, None);
        let want: BTreeMap<String, (u64, u64)> = self
            .containers
            .iter()
            .map(|c| {
                let l = self.expected(c);
                (c.clone(), (l.bytes, l.count))
            })
            .collect();
        let (objects, bytes): (u64, u64) = want
            .values()
            .fold((0, 0), |(o, b), (cb, cc)| (o + cc, b + cb));
        for loc in &pl.primaries {
            let path = format!("/{}/{}/{account}?format=json", loc.dev, pl.part);
            let r = self
                .c
                .direct(loc.node, Server::Account, "GET", &path, &[], b"")
                .map_err(|e| e.to_string())?;
            let got = json_entries(&r.2);
            if got != want {
                return Err(format!("{loc}: containers {got:?}, expected {want:?}"));
            }
            let h = (
                header_u64(&r.1, "x-account-object-count"),
                header_u64(&r.1, "x-account-bytes-used"),
                header_u64(&r.1, "x-account-container-count"),
            );
            if h != (objects, bytes, want.len() as u64) {
                return Err(format!(
                    "{loc}: objects, bytes, containers {h:?}, expected {:?}",
                    (objects, bytes, want.len())
                ));
            }
        }
        Ok(())
    }

    /// The account's replicas come to count every container right (the
    /// container servers report changes within their
    /// `account_update_interval`, the replicators whatever was missed).
    fn wait_account_stats(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match self.account_stats_right() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("account stats: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// Every acknowledged write on every primary and through the proxy.
    fn verify(&self) {
        self.ledger.verify_replicas(&self.c);
        self.ledger.verify_reads(&self.cl);
    }

    /// `daemon --once` on every node; each must succeed.
    fn once_everywhere(&self, daemon: &str) -> Vec<DaemonRun> {
        let runs = self.c.run_daemon_everywhere(daemon, &["--once"]);
        for r in &runs {
            r.assert_success();
        }
        runs
    }

    /// Async pending files on every device of every node.
    fn async_pendings(&self) -> usize {
        fn files(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        }
        self.c
            .all_devices()
            .iter()
            .map(|l| files(&self.c.node(l.node).device(&l.dev).join("async_pending")))
            .sum()
    }

    /// Swift's `swift-recon <args>` from the switch namespace, with the
    /// cluster's rings (`--swiftdir`); its stdout.
    fn swift_recon(&self, args: &[&str]) -> String {
        let out = self
            .c
            .command_in(&self.c.admin_ns)
            .arg("swift-recon")
            .arg("--swiftdir")
            .arg(self.c.rings_dir())
            .args(args)
            .output()
            .expect("swift-recon (Debian's swift package: bench/swift-reference/install)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "swift-recon {args:?}: {}\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }
}

#[test]
fn netns_daemon_scenarios() {
    let started = Instant::now();
    // Container info cached long enough to write into a container whose
    // servers are all down (the async-pending scenario).
    let spec = Spec::default().set_proxy("recheck_container_existence", 600.0);
    let c = NetnsCluster::start_with(spec);
    let cl = c.client();
    let ledger = Ledger::new(cl.account_name());
    let mut r = Run {
        c,
        cl,
        ledger,
        containers: Vec::new(),
        started,
    };
    r.section("cluster up");
    for cont in ["g", "h", "x"] {
        r.make_container(cont);
    }
    diverged_containers(&mut r);
    async_pendings(&mut r);
    expired_objects(&mut r);
    swift_recon(&mut r);
    r.section("done");
}

/// Swift's test_container_failures / db replication probe tests: two
/// container servers of a container miss different writes; the container
/// replicators merge the rows.
fn diverged_containers(r: &mut Run) {
    r.section("(h) container databases diverge and are merged");
    let t = Instant::now();
    let account = r.account();
    let pl = r.c.locate_in(Server::Container, &account, Some("g"), None);
    let (a, b) = (pl.primaries[0].node, pl.primaries[1].node);
    let write = |r: &mut Run, down: usize, tag: &str, seed: u64| {
        r.c.stop_server(down, Server::Container);
        for i in 0..40u64 {
            let body = pattern(100 + i as usize * 7, seed + i);
            r.put(&format!("g/{tag}{i:03}"), &body, &[]);
        }
        r.c.start_server(down, Server::Container);
        // A proxy that has not error-limited the server just stopped.
        r.fresh_proxy();
    };
    write(r, a, "x", 5000);
    write(r, b, "y", 6000);
    let names = |l: &Listing, tag: &str| l.objects.keys().filter(|n| n.starts_with(tag)).count();
    let before = r.replica_listings("g");
    assert_eq!(
        (names(&before[0], "x"), names(&before[0], "y")),
        (0, 40),
        "replica on n{a} missed the x rows only"
    );
    assert_eq!(
        (names(&before[1], "x"), names(&before[1], "y")),
        (40, 0),
        "replica on n{b} missed the y rows only"
    );
    assert_eq!(before[2].count, 80, "the third replica took every row");
    let runs = r.once_everywhere("container-replicator");
    let merged: u64 = (1..=4)
        .map(|n| {
            let v: serde_json::Value = std::fs::read(r.c.node(n).cache().join("container.recon"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            v["replication_stats"]["rows_merged"].as_u64().unwrap_or(0)
        })
        .sum();
    assert!(merged >= 80, "{merged} rows merged");
    r.check_listings("g");
    r.wait_account_stats();
    r.verify();
    r.section(&format!(
        "    {merged} rows merged ({:?} slowest pass); every replica lists 80 objects, the account counts them; {:?}",
        runs.iter().map(|r| r.elapsed).max().unwrap(),
        t.elapsed()
    ));
}

/// Swift's test_object_async_update: every container server of a
/// container down during writes; the object updater delivers the async
/// pendings once they are back.
fn async_pendings(r: &mut Run) {
    r.section("(i) async pendings delivered by the object updater");
    let t = Instant::now();
    let account = r.account();
    // The proxy caches the container's info before its servers go.
    r.put("h/first", &pattern(321, 7000), &[]);
    let before = r.async_pendings();
    let pl = r.c.locate_in(Server::Container, &account, Some("h"), None);
    let nodes: Vec<usize> = pl.primaries.iter().map(|l| l.node).collect();
    for &n in &nodes {
        r.c.stop_server(n, Server::Container);
    }
    for i in 0..40u64 {
        let body = pattern(200 + i as usize * 11, 7100 + i);
        r.put(&format!("h/o{i:03}"), &body, &[]);
    }
    let pending = r.async_pendings();
    assert!(
        pending >= before + 40,
        "{pending} async pendings ({before} before 40 writes)"
    );
    for &n in &nodes {
        r.c.start_server(n, Server::Container);
    }
    // swift-recon sees them, on every node.
    let out = r.swift_recon(&["-a"]);
    assert_eq!(total(&out, "async_pending", 4), pending as u64, "{out}");
    for l in r.replica_listings("h") {
        assert_eq!(l.count, 1, "a container server took a row while down");
    }
    let runs = r.once_everywhere("object-updater");
    assert_eq!(r.async_pendings(), 0, "async pendings left");
    r.check_listings("h");
    r.check_listings("g");
    r.wait_account_stats();
    r.verify();
    r.section(&format!(
        "    {} async pendings delivered ({:?} slowest pass), listings complete; {:?}",
        pending,
        runs.iter().map(|r| r.elapsed).max().unwrap(),
        t.elapsed()
    ));
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Swift's test_object_expirer: objects with X-Delete-At and
/// X-Delete-After are removed by one expirer for the cluster (on node 1,
/// the objects' primaries anywhere) and leave the listings.
fn expired_objects(r: &mut Run) {
    r.section("(j) expired objects removed by the object expirer");
    let t = Instant::now();
    // Delete-at times a few seconds after each PUT (a time already past
    // is refused), the latest kept to wait for.
    let mut latest = 0;
    let mut soon = || {
        let at = now_secs() + 3;
        latest = latest.max(at);
        at.to_string()
    };
    for i in 0..5u64 {
        r.put(&format!("x/keep{i}"), &pattern(300, 8000 + i), &[]);
        r.put(
            &format!("x/after{i}"),
            &pattern(400, 8100 + i),
            &[("X-Delete-After", "2")],
        );
        r.put(
            &format!("x/at{i}"),
            &pattern(500, 8200 + i),
            &[("X-Delete-At", &soon())],
        );
    }
    // Rewritten without an expiry: it stays. The rewrite leaves the old
    // queue row's removal as an async pending (as Swift's object server
    // does: the request names no host for it), which the updaters deliver.
    r.put(
        "x/rewritten",
        &pattern(600, 8300),
        &[("X-Delete-At", &soon())],
    );
    r.put("x/rewritten", &pattern(700, 8301), &[]);
    let at = latest.max(now_secs() + 2);
    r.once_everywhere("object-updater");
    assert_eq!(r.async_pendings(), 0);
    wait_until(
        "the objects' delete-at time",
        Duration::from_secs(30),
        || now_secs() > at,
    );
    // Expired objects read as gone at once, but stay listed until the
    // expirer deletes them.
    assert_eq!(r.cl.request("GET", "x/after0", &[], b"").0, 404);
    assert_eq!(r.replica_listings("x")[0].count, 16);
    let run = r.c.run_daemon(1, "object-expirer", &["--once"]);
    run.assert_success();
    assert!(
        run.stdout
            .contains(": 10 objects expired, 0 errors, 10 due rows"),
        "{run}"
    );
    for i in 0..5 {
        r.ledger.delete(&format!("x/after{i}"));
        r.ledger.delete(&format!("x/at{i}"));
    }
    assert_eq!(r.expected("x").count, 6);
    r.check_listings("x");
    // The queue is empty: a second pass finds nothing due.
    let again = r.c.run_daemon(1, "object-expirer", &["--once"]);
    again.assert_success();
    assert!(
        again
            .stdout
            .contains(": 0 objects expired, 0 errors, 0 due rows"),
        "{again}"
    );
    r.wait_account_stats();
    r.verify();
    r.section(&format!(
        "    10 objects expired by one expirer, gone from listings; {:?}",
        t.elapsed()
    ));
}

/// Swift's swift-recon against the cluster: every node answers every
/// check with sane figures.
fn swift_recon(r: &mut Run) {
    r.section("(k) swift-recon against the cluster");
    let t = Instant::now();
    // One object replication pass on every node, for -r to report.
    r.once_everywhere("object-replicator");
    let out = r.swift_recon(&["-r", "-a", "-q", "-d", "--md5"]);
    assert!(
        line(&out, "--> Starting reconnaissance on").contains("4 hosts (object)"),
        "{out}"
    );
    assert!(!out.contains("Error"), "{out}");
    assert!(!out.contains("No hosts returned valid data"), "{out}");
    assert_eq!(total(&out, "async_pending", 4), 0, "{out}");
    let quarantine: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("[quarantined_")?.split(']').next())
        .collect();
    assert!(quarantine.contains(&"objects"), "{out}");
    for q in quarantine {
        assert_eq!(total(&out, &format!("quarantined_{q}"), 4), 0, "{q}: {out}");
    }
    assert!(total(&out, "replication_attempted", 4) > 0, "{out}");
    assert_eq!(total(&out, "replication_failure", 4), 0, "{out}");
    total(&out, "replication_time", 4);
    assert!(
        line(&out, "Most recent completion was").contains("ago"),
        "{out}"
    );
    assert!(
        line(&out, "Disk usage: space used:").contains(" of "),
        "{out}"
    );
    assert!(
        line(&out, "Disk usage: lowest:").contains("highest"),
        "{out}"
    );
    let md5: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("hosts matched"))
        .collect();
    assert_eq!(md5.len(), 2, "{out}");
    assert_eq!(
        md5[0], "4/4 hosts matched, 0 error[s] while checking hosts.",
        "{out}"
    );
    assert!(
        md5[1].ends_with(", 0 error[s] while checking hosts."),
        "{out}"
    );

    let out = r.swift_recon(&["container", "-r", "--md5"]);
    assert!(
        line(&out, "--> Starting reconnaissance on").contains("4 hosts (container)"),
        "{out}"
    );
    assert!(!out.contains("Error"), "{out}");
    assert!(total(&out, "replication_attempted", 4) > 0, "{out}");
    assert_eq!(total(&out, "replication_failure", 4), 0, "{out}");
    let md5: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("hosts matched"))
        .collect();
    assert_eq!(
        md5[0], "4/4 hosts matched, 0 error[s] while checking hosts.",
        "{out}"
    );
    r.verify();
    r.section(&format!(
        "    every node answered every check; {:?}",
        t.elapsed()
    ));
}
