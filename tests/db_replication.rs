//! The account and container replicators against real servers: four nodes
//! on loopback (each an account and a container server with a replication
//! listener over the cluster's mutual TLS, one device), rings with three
//! replicas built here, `swirl container-replicator --once` /
//! `swirl account-replicator --once` run as an operator would. Every check
//! reads the replicas directly (backend GETs and HEADs on each server) and
//! the replicators' own stats in their recon cache.
//!
//! Rows are written as the object servers write them (backend PUT and
//! DELETE of object rows on the container replicas that are up), so a
//! replica that was down misses them as it would in a cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use swirl_ring::builder::RingBuilder;
use swirl_ring::hash::HashPathConfig;
use swirl_ring::{Device, RingData};

use crate::harness::{free_port, header, http_request, swirl_bin, Proc};

const SUFFIX: &str = "db-replication-tests";
const NODES: usize = 4;

/// One node: an account and a container server over one device.
struct Node {
    root: PathBuf,
    ports: [u16; 4], // account, account replication, container, container replication
    account: Option<Proc>,
    container: Option<Proc>,
}

impl Node {
    fn conf(&self, kind: &str) -> PathBuf {
        self.root.join(format!("{kind}-server.toml"))
    }
    fn devices(&self) -> PathBuf {
        self.root.join("srv")
    }
    fn addr(&self, kind: &str) -> SocketAddr {
        let port = if kind == "account" {
            self.ports[0]
        } else {
            self.ports[2]
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
    fn start(&mut self, kind: &str) {
        let conf = self.conf(kind);
        let p = Proc::swirl_server(
            kind,
            &[&format!("{kind}-server"), conf.to_str().unwrap()],
            Duration::from_secs(30),
        );
        if kind == "account" {
            self.account = Some(p);
        } else {
            self.container = Some(p);
        }
    }
    fn stop(&mut self, kind: &str) {
        if kind == "account" {
            self.account = None;
        } else {
            self.container = None;
        }
    }
    /// The replicator's stats of its last pass.
    fn recon(&self, kind: &str) -> serde_json::Value {
        let p = self.root.join(format!("cache/{kind}.recon"));
        let text = std::fs::read(&p).unwrap_or_default();
        serde_json::from_slice::<serde_json::Value>(&text).unwrap_or_default()["replication_stats"]
            .clone()
    }
}

struct Cluster {
    _tmp: tempfile::TempDir,
    _etc: PathBuf,
    nodes: Vec<Node>,
    rings: [RingData; 2], // account, container
    hash: HashPathConfig,
}

static CLOCK: AtomicU64 = AtomicU64::new(0);

/// A fresh, increasing timestamp (as a proxy stamps requests).
fn ts() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
        / 10;
    // Never the same twice, even within one 10 µs tick.
    let prev = CLOCK
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
            Some(c.max(now.saturating_sub(1)) + 1)
        })
        .unwrap();
    let t = prev.max(now.saturating_sub(1)) + 1;
    format!("{}.{:05}", t / 100_000, t % 100_000)
}

fn build_ring(ports: &[(u16, u16)]) -> RingData {
    let mut b = RingBuilder::new(4, 3.0, 1).unwrap();
    for (i, (port, repl)) in ports.iter().enumerate() {
        b.add_dev(
            Device {
                region: 1,
                zone: i as u32 + 1,
                ip: "127.0.0.1".into(),
                port: *port,
                replication_ip: "127.0.0.1".into(),
                replication_port: *repl,
                device: "d1".into(),
                weight: 100.0,
                ..Default::default()
            },
            None,
        )
        .unwrap();
    }
    b.rebalance(&mut rand::rng(), 0, &mut |_| {}).unwrap();
    b.get_ring().unwrap()
}

fn write_ring(path: &Path, ring: &RingData) {
    let f = std::fs::File::create(path).unwrap();
    swirl_ring::codec::write_ring(ring, f, 1).unwrap();
}

impl Cluster {
    /// Four nodes; `replicator` goes into both replicators' sections.
    fn start(replicator: &str) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let etc = tmp.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        let ca = tmp.path().join("ca");
        let tls = tmp.path().join("tls");
        swirl_common::tls::issue::create_ca(&ca, "db-replication-test").unwrap();
        swirl_common::tls::issue::issue_node(
            &ca,
            &tls,
            "node",
            &["127.0.0.1".parse().unwrap()],
            &[],
        )
        .unwrap();
        let mut nodes = Vec::new();
        for i in 0..NODES {
            let root = tmp.path().join(format!("n{i}"));
            std::fs::create_dir_all(root.join("srv/d1")).unwrap();
            let ports = [free_port(), free_port(), free_port(), free_port()];
            for (kind, port, repl) in [
                ("account", ports[0], ports[1]),
                ("container", ports[2], ports[3]),
            ] {
                let text = format!(
                    "devices = \"{srv}\"\nmount_check = false\nbind_ip = \"127.0.0.1\"\n\
                     bind_port = {port}\nswift_hash_path_suffix = \"{SUFFIX}\"\nlog_requests = false\n\
                     replication_ip = \"127.0.0.1\"\nreplication_port = {repl}\n\
                     swift_dir = \"{etc}\"\nrecon_cache_path = \"{cache}\"\n\n\
                     [cluster_tls]\nca_file = \"{t}/ca.pem\"\ncert_file = \"{t}/node.pem\"\n\
                     key_file = \"{t}/node.key\"\n\n\
                     [{kind}-replicator]\ndatabases_per_second = 0\n{replicator}\n",
                    srv = root.join("srv").display(),
                    etc = etc.display(),
                    cache = root.join("cache").display(),
                    t = tls.display(),
                );
                std::fs::write(root.join(format!("{kind}-server.toml")), text).unwrap();
            }
            nodes.push(Node {
                root,
                ports,
                account: None,
                container: None,
            });
        }
        let rings = [
            build_ring(
                &nodes
                    .iter()
                    .map(|n| (n.ports[0], n.ports[1]))
                    .collect::<Vec<_>>(),
            ),
            build_ring(
                &nodes
                    .iter()
                    .map(|n| (n.ports[2], n.ports[3]))
                    .collect::<Vec<_>>(),
            ),
        ];
        write_ring(&etc.join("account.ring.gz"), &rings[0]);
        write_ring(&etc.join("container.ring.gz"), &rings[1]);
        for n in nodes.iter_mut() {
            n.start("account");
            n.start("container");
        }
        Cluster {
            _tmp: tmp,
            _etc: etc,
            nodes,
            rings,
            hash: HashPathConfig::new("", SUFFIX),
        }
    }

    fn ring(&self, kind: &str) -> &RingData {
        &self.rings[usize::from(kind != "account")]
    }

    /// Partition and primary nodes (indexes into `nodes`) of a path.
    fn place(&self, kind: &str, account: &str, container: Option<&str>) -> (u32, Vec<usize>) {
        let ring = self.ring(kind);
        let (part, nodes) = ring.get_nodes(&self.hash, account, container, None);
        let port_at = if kind == "account" { 0 } else { 2 };
        let idx = nodes
            .map(|n| {
                self.nodes
                    .iter()
                    .position(|x| x.ports[port_at] == n.dev.port)
                    .unwrap()
            })
            .collect();
        (part, idx)
    }

    /// A node holding no replica of the container (its first handoff).
    fn handoff(&self, account: &str, container: &str) -> usize {
        let (_, prim) = self.place("container", account, Some(container));
        (0..NODES).find(|i| !prim.contains(i)).unwrap()
    }

    fn request(
        &self,
        node: usize,
        kind: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        http_request(self.nodes[node].addr(kind), method, path, headers, b"").unwrap()
    }

    fn create_account(&self, account: &str) {
        let (part, prim) = self.place("account", account, None);
        let t = ts();
        for n in prim {
            let (st, _, _) = self.request(
                n,
                "account",
                "PUT",
                &format!("/d1/{part}/{account}"),
                &[("X-Timestamp", &t)],
            );
            assert!(st == 201 || st == 202, "account PUT: {st}");
        }
    }

    /// The X-Account-* headers a proxy gives container replica `i`.
    fn account_headers(&self, account: &str, i: usize) -> (String, String, String) {
        let (apart, aprim) = self.place("account", account, None);
        let a = aprim[i % aprim.len()];
        (
            format!("127.0.0.1:{}", self.nodes[a].ports[0]),
            "d1".to_string(),
            apart.to_string(),
        )
    }

    /// Creates the container on `on` (its primaries when None), at `t`.
    fn create_container_at(&self, account: &str, container: &str, on: Option<&[usize]>, t: &str) {
        let (part, prim) = self.place("container", account, Some(container));
        let nodes = on.map(<[usize]>::to_vec).unwrap_or(prim);
        for (i, n) in nodes.into_iter().enumerate() {
            let (host, dev, apart) = self.account_headers(account, i);
            let (st, _, b) = self.request(
                n,
                "container",
                "PUT",
                &format!("/d1/{part}/{account}/{container}"),
                &[
                    ("X-Timestamp", t),
                    ("X-Account-Host", &host),
                    ("X-Account-Device", &dev),
                    ("X-Account-Partition", &apart),
                ],
            );
            assert!(
                st == 201 || st == 202,
                "container PUT: {st} {}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    fn create_container(&self, account: &str, container: &str, on: Option<&[usize]>) {
        self.create_container_at(account, container, on, &ts());
    }

    /// An object row on the container replicas `on`, as object servers send it.
    fn put_row(&self, account: &str, container: &str, object: &str, size: u64, on: &[usize]) {
        let (part, _) = self.place("container", account, Some(container));
        let t = ts();
        let size = size.to_string();
        for &n in on {
            let (st, _, _) = self.request(
                n,
                "container",
                "PUT",
                &format!("/d1/{part}/{account}/{container}/{object}"),
                &[
                    ("X-Timestamp", &t),
                    ("X-Size", &size),
                    ("X-Etag", "d41d8cd98f00b204e9800998ecf8427e"),
                    ("X-Content-Type", "application/octet-stream"),
                ],
            );
            assert_eq!(st, 201, "row PUT on node {n}");
        }
    }

    fn delete_row(&self, account: &str, container: &str, object: &str, on: &[usize]) {
        let (part, _) = self.place("container", account, Some(container));
        let t = ts();
        for &n in on {
            let (st, _, _) = self.request(
                n,
                "container",
                "DELETE",
                &format!("/d1/{part}/{account}/{container}/{object}"),
                &[("X-Timestamp", &t)],
            );
            assert_eq!(st, 204, "row DELETE on node {n}");
        }
    }

    /// The object names a container replica lists (None: it has none).
    fn listing(&self, node: usize, account: &str, container: &str) -> Option<Vec<String>> {
        let (part, _) = self.place("container", account, Some(container));
        let mut names = Vec::new();
        let mut marker = String::new();
        loop {
            let (st, _, b) = self.request(
                node,
                "container",
                "GET",
                &format!("/d1/{part}/{account}/{container}?format=json&marker={marker}"),
                &[],
            );
            if st == 404 {
                return None;
            }
            assert_eq!(st, 200);
            let page: Vec<serde_json::Value> = serde_json::from_slice(&b).unwrap();
            if page.is_empty() {
                return Some(names);
            }
            for o in &page {
                names.push(o["name"].as_str().unwrap().to_string());
            }
            marker = names.last().unwrap().clone();
        }
    }

    fn head(&self, node: usize, kind: &str, path: &str) -> (u16, Vec<(String, String)>) {
        let (st, h, _) = self.request(node, kind, "HEAD", path, &[]);
        (st, h)
    }

    /// The container database file on `node` (whether or not it exists).
    fn db_file(&self, node: usize, account: &str, container: &str) -> PathBuf {
        let (part, _) = self.place("container", account, Some(container));
        let h = swirl_store::db::placement::db_hash(&self.hash, account, Some(container));
        swirl_store::db::placement::db_path(
            &self.nodes[node].devices(),
            "d1",
            swirl_store::db::placement::DbKind::Container,
            part,
            &h,
        )
    }

    /// `swirl <kind>-replicator <conf> --once` on `node`: its output line.
    fn replicate(&self, kind: &str, node: usize) -> String {
        let out = std::process::Command::new(swirl_bin())
            .arg(format!("{kind}-replicator"))
            .arg(self.nodes[node].conf(kind))
            .arg("--once")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.contains("databases replicated"),
            "{kind}-replicator on node {node}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// One `--once` pass of `kind`'s replicator on every node, in order.
    fn replicate_all(&self, kind: &str) -> Vec<String> {
        (0..NODES).map(|n| self.replicate(kind, n)).collect()
    }
}

/// Sums a counter of the last passes' stats over every node.
fn total(c: &Cluster, kind: &str, key: &str) -> u64 {
    c.nodes
        .iter()
        .map(|n| n.recon(kind)[key].as_u64().unwrap_or(0))
        .sum()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:05}")).collect()
}

/// A container server down while objects are written; back, one container
/// replicator pass: every replica lists the same objects (deletions too),
/// rows went as `merge_items` batches (no whole copies), and the account
/// replicas count the container's objects right.
#[test]
fn replicas_converge_after_a_container_server_was_down() {
    let mut c = Cluster::start("");
    let (a, cont) = ("AUTH_test", "c1");
    c.create_account(a);
    c.create_container(a, cont, None);
    let (_, prim) = c.place("container", a, Some(cont));
    let down = prim[1];
    let up: Vec<usize> = prim.iter().copied().filter(|&n| n != down).collect();
    c.nodes[down].stop("container");
    let objs = names("obj", 200);
    for (i, o) in objs.iter().enumerate() {
        c.put_row(a, cont, o, i as u64 + 1, &up);
    }
    for o in &objs[..20] {
        c.delete_row(a, cont, o, &up);
    }
    c.nodes[down].start("container");
    assert_eq!(c.listing(down, a, cont).unwrap(), Vec::<String>::new());

    let t0 = Instant::now();
    c.replicate_all("container");
    let took = t0.elapsed();
    let want: Vec<String> = objs[20..].to_vec();
    for &n in &prim {
        assert_eq!(c.listing(n, a, cont).unwrap(), want, "replica on node {n}");
    }
    assert!(
        total(&c, "container", "rows_merged") >= 200,
        "rows merged: {}",
        total(&c, "container", "rows_merged")
    );
    assert_eq!(total(&c, "container", "whole_copies"), 0);
    assert_eq!(total(&c, "container", "deltas"), 0);
    assert_eq!(total(&c, "container", "failure"), 0);
    eprintln!("200 rows missed by one replica converged in {took:?} (4 replicator passes)");

    // The account: every replica counts the container's 180 objects and
    // their bytes (rows 21..=200 of sizes 21..=200).
    let bytes: u64 = (21..=200).sum();
    let (apart, aprim) = c.place("account", a, None);
    c.replicate_all("account");
    for &n in &aprim {
        wait_for("the account to count the objects", || {
            let (st, h) = c.head(n, "account", &format!("/d1/{apart}/{a}"));
            st == 204
                && header(&h, "x-account-object-count") == Some("180")
                && header(&h, "x-account-bytes-used") == Some(&bytes.to_string())
                && header(&h, "x-account-container-count") == Some("1")
        });
    }
    // A second pass finds nothing to do.
    c.replicate_all("container");
    assert_eq!(total(&c, "container", "rows_merged"), 0);
    assert_eq!(total(&c, "container", "diff"), 0);
}

/// A replica far behind (under half the rows, more than per_diff behind)
/// gets the whole database as a fast_rsync delta against its own older
/// copy, merged with its own rows and metadata (`rsync_then_merge`); a
/// replica without the database gets it streamed whole (`complete_rsync`).
#[test]
fn far_behind_gets_a_delta_and_missing_gets_a_whole_copy() {
    let mut c = Cluster::start("per_diff = 100\ndelta_min_size = 4096\n");
    let (a, cont) = ("AUTH_test", "c2");
    c.create_account(a);
    c.create_container(a, cont, None);
    let (part, prim) = c.place("container", a, Some(cont));
    let (sender, other, behind) = (prim[0], prim[1], prim[2]);
    let objs = names("a-rather-long-object-name-so-rows-fill-pages", 1000);
    for (i, o) in objs[..300].iter().enumerate() {
        c.put_row(a, cont, o, i as u64, &prim);
    }
    // Metadata only the replica that falls behind has.
    let path = format!("/d1/{part}/{a}/{cont}");
    let t = ts();
    let (st, _, _) = c.request(
        behind,
        "container",
        "POST",
        &path,
        &[("X-Timestamp", &t), ("X-Container-Meta-Owner", "behind")],
    );
    assert_eq!(st, 204);
    c.nodes[behind].stop("container");
    for (i, o) in objs[300..].iter().enumerate() {
        c.put_row(a, cont, o, i as u64, &[sender, other]);
    }
    c.nodes[behind].start("container");

    let line = c.replicate("container", sender);
    let st = c.nodes[sender].recon("container");
    assert_eq!(st["remote_merge"], 1, "{line}");
    assert_eq!(st["deltas"], 1, "{line}");
    assert_eq!(st["whole_copies"], 0, "{line}");
    let file = st["delta_file_bytes"].as_u64().unwrap();
    let sent = st["bytes_sent"].as_u64().unwrap();
    assert!(
        sent < file,
        "the delta paid: {sent} bytes sent for a {file} byte database ({line})"
    );
    eprintln!("far-behind replica: {sent} bytes sent for a {file} byte database");
    assert_eq!(c.listing(behind, a, cont).unwrap(), objs);
    // Its own metadata survived the merge, and reached the sender.
    for n in [behind, sender] {
        let (_, h) = c.head(n, "container", &path);
        assert_eq!(
            header(&h, "x-container-meta-owner"),
            Some("behind"),
            "node {n}"
        );
    }

    // A replica that lost the database altogether (a replaced disk).
    c.nodes[other].stop("container");
    let db = c.db_file(other, a, cont);
    std::fs::remove_dir_all(db.parent().unwrap()).unwrap();
    c.nodes[other].start("container");
    assert!(c.listing(other, a, cont).is_none());
    c.replicate("container", sender);
    let st = c.nodes[sender].recon("container");
    assert_eq!(st["rsync"], 1);
    assert_eq!(st["whole_copies"], 1);
    assert_eq!(c.listing(other, a, cont).unwrap(), objs);
    // A copy of its own: a new id, in sync with the sender.
    let id = |n: usize| {
        let b = swirl_store::db::container::ContainerBroker::open(&c.db_file(n, a, cont)).unwrap();
        b.info().unwrap().id
    };
    assert_ne!(id(other), id(sender));
    c.replicate("container", sender);
    let st = c.nodes[sender].recon("container");
    assert_eq!(
        st["no_change"].as_u64().unwrap() + st["hashmatch"].as_u64().unwrap(),
        2
    );
    assert_eq!(st["rows_merged"], 0);
}

/// A container written only to a handoff (its primaries were all down)
/// goes to every primary and is then removed from the handoff; a deleted
/// container past reclaim_age is removed everywhere.
#[test]
fn handoff_goes_home_and_deleted_databases_are_reclaimed() {
    let c = Cluster::start("reclaim_age = 600\n");
    let a = "AUTH_test";
    c.create_account(a);
    let cont = "c4";
    let h = c.handoff(a, cont);
    c.create_container(a, cont, Some(&[h]));
    let objs = names("o", 40);
    for o in &objs {
        c.put_row(a, cont, o, 10, &[h]);
    }
    // Deleted an hour ago: past reclaim_age (600 s here).
    let old = "c-deleted";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    c.create_container_at(a, old, None, &format!("{}.00000", now - 3600));
    let (opart, oprim) = c.place("container", a, Some(old));
    for (i, &n) in oprim.iter().enumerate() {
        let (host, dev, apart) = c.account_headers(a, i);
        let (st, _, _) = c.request(
            n,
            "container",
            "DELETE",
            &format!("/d1/{opart}/{a}/{old}"),
            &[
                ("X-Timestamp", &format!("{}.00000", now - 3000)),
                ("X-Account-Host", &host),
                ("X-Account-Device", &dev),
                ("X-Account-Partition", &apart),
            ],
        );
        assert_eq!(st, 204);
    }
    assert!(oprim.iter().all(|&n| c.db_file(n, a, old).exists()));

    c.replicate_all("container");
    let (_, prim) = c.place("container", a, Some(cont));
    for &n in &prim {
        assert_eq!(c.listing(n, a, cont).unwrap(), objs, "primary {n}");
    }
    assert!(
        !c.db_file(h, a, cont).exists(),
        "the handoff's copy is gone once every primary has it"
    );
    assert!(c.listing(h, a, cont).is_none());
    assert_eq!(total(&c, "container", "whole_copies"), 3);
    for &n in &oprim {
        assert!(!c.db_file(n, a, old).exists(), "reclaimed on node {n}");
    }
    assert_eq!(total(&c, "container", "remove"), 1 + 3);
    assert_eq!(total(&c, "container", "failure"), 0);

    // The account hears of the container from its new homes.
    c.replicate_all("account");
    let (apart, aprim) = c.place("account", a, None);
    for &n in &aprim {
        wait_for("the account to count the handoff's objects", || {
            let (_, h) = c.head(n, "account", &format!("/d1/{apart}/{a}"));
            header(&h, "x-account-object-count") == Some("40")
                && header(&h, "x-account-container-count") == Some("1")
        });
    }
}

/// Container metadata set on different replicas at different times merges
/// as Swift does: the newest value of each key wins, on every replica.
#[test]
fn container_metadata_merges_newest_per_key() {
    let c = Cluster::start("");
    let (a, cont) = ("AUTH_test", "c5");
    c.create_account(a);
    c.create_container(a, cont, None);
    let (part, prim) = c.place("container", a, Some(cont));
    let path = format!("/d1/{part}/{a}/{cont}");
    let post = |n: usize, k: &str, v: &str| {
        let t = ts();
        let (st, _, _) = c.request(
            n,
            "container",
            "POST",
            &path,
            &[("X-Timestamp", &t), (k, v)],
        );
        assert_eq!(st, 204);
    };
    post(prim[0], "X-Container-Meta-Color", "red");
    post(prim[1], "X-Container-Meta-Color", "blue");
    post(prim[2], "X-Container-Meta-Shape", "round");
    post(prim[0], "X-Container-Meta-Size", "big");
    post(prim[2], "X-Container-Meta-Size", "small");
    c.replicate_all("container");
    for &n in &prim {
        let (st, h) = c.head(n, "container", &path);
        assert_eq!(st, 204);
        let md = |k: &str| header(&h, k).map(str::to_string);
        assert_eq!(
            (
                md("x-container-meta-color"),
                md("x-container-meta-shape"),
                md("x-container-meta-size")
            ),
            (
                Some("blue".into()),
                Some("round".into()),
                Some("small".into())
            ),
            "replica on node {n}"
        );
    }
}
