//! The object updater and expirer on a small cluster of separate swirl
//! processes (three object servers, a container and an account server with
//! three devices each, a proxy; `proxy_cluster`):
//!
//! - container updates that fail (container server killed) leave async
//!   pendings; once it is back, `swirl object-updater --once` delivers them
//!   and removes them once every replica took them;
//! - objects with X-Delete-After / X-Delete-At (PUT or POST) are queued in
//!   `.expiring_objects`; `swirl object-expirer --once` deletes them and
//!   their rows once due, but not an object re-PUT without X-Delete-At
//!   since (its DELETE carries X-If-Delete-At: 412);
//! - an object server sends no update, and saves no pending, for a host a
//!   request names that the container ring does not have.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::{self, http_request};
use crate::proxy_cluster::{token, ProxyCluster, Storage, SUFFIX};

/// Files under `dir` (recursively).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every async pending of the cluster's object servers.
fn pendings(c: &ProxyCluster) -> Vec<PathBuf> {
    (0..c.obj_ports.len())
        .flat_map(|n| walk(&c.dir.path().join(format!("object{n}/d{n}/async_pending"))))
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Polls `f` until it holds or `secs` pass.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A client of the proxy as test:tester.
struct Client {
    addr: SocketAddr,
    tok: String,
    path: String,
}

impl Client {
    fn new(c: &ProxyCluster) -> Self {
        let (tok, path) = token(c.proxy.addr(), "test:tester", "testing");
        Client {
            addr: c.proxy.addr(),
            tok,
            path,
        }
    }

    fn req(&self, method: &str, rel: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
        let mut h = vec![("X-Auth-Token", self.tok.as_str())];
        h.extend_from_slice(headers);
        let p = format!("{}/{rel}", self.path);
        http_request(self.addr, method, &p, &h, body).unwrap().0
    }

    /// The names a container listing shows.
    fn listing(&self, container: &str) -> Vec<String> {
        let p = format!("{}/{container}?format=json", self.path);
        let (s, _, b) =
            http_request(self.addr, "GET", &p, &[("X-Auth-Token", &self.tok)], b"").unwrap();
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&b).unwrap();
        v.iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    }
}

fn run(args: &[&str]) -> (bool, String) {
    let t = Instant::now();
    let out = harness::swirl(Path::new("."), args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("swirl {} ({:.2?}): {}", args[0], t.elapsed(), text.trim());
    (out.status.success(), text)
}

fn object_conf(c: &ProxyCluster, n: usize) -> String {
    c.dir
        .path()
        .join(format!("object-{n}.toml"))
        .display()
        .to_string()
}

fn updater_all(c: &ProxyCluster) -> bool {
    // Every server's sweep runs, whatever the ones before said.
    let ok: Vec<bool> = (0..c.obj_ports.len())
        .map(|n| run(&["object-updater", &object_conf(c, n), "--once"]).0)
        .collect();
    ok.iter().all(|x| *x)
}

/// `account[/container]` listing names, union of the replicas, straight
/// from the cluster's account or container server.
fn backend_listing(c: &ProxyCluster, account: &str, container: Option<&str>) -> Vec<String> {
    let (ring_file, port) = match container {
        None => ("account.ring.gz", c.db_ports[1]),
        Some(_) => ("container.ring.gz", c.db_ports[0]),
    };
    let bytes = std::fs::read(c.dir.path().join(ring_file)).unwrap();
    let ring = swirl_ring::codec::read_ring(&bytes[..]).unwrap();
    let cfg = swirl_ring::hash::HashPathConfig::new("", SUFFIX);
    let part = ring.get_part(&cfg, account, container, None);
    let mut names = std::collections::BTreeSet::new();
    for n in ring.get_part_nodes(part) {
        let mut p = format!("/{}/{part}/{account}", n.dev.device);
        if let Some(cn) = container {
            p.push('/');
            p.push_str(cn);
        }
        p.push_str("?format=json");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let (s, _, b) = http_request(addr, "GET", &p, &[], b"").unwrap();
        if s == 404 {
            continue;
        }
        assert!((200..300).contains(&s), "{p}: {s}");
        if b.is_empty() {
            continue;
        }
        let v: Vec<serde_json::Value> = serde_json::from_slice(&b).unwrap();
        for e in v {
            names.insert(e["name"].as_str().unwrap().to_string());
        }
    }
    names.into_iter().collect()
}

/// Every row of the expirer queue, as `container/row`.
fn queue_rows(c: &ProxyCluster) -> Vec<String> {
    backend_listing(c, ".expiring_objects", None)
        .into_iter()
        .flat_map(|q| {
            backend_listing(c, ".expiring_objects", Some(&q))
                .into_iter()
                .map(move |r| format!("{q}/{r}"))
        })
        .collect()
}

#[test]
fn updater_delivers_container_updates_left_as_async_pendings() {
    let t0 = Instant::now();
    let mut c = ProxyCluster::start_on(Storage::Swirl, 3);
    let cl = Client::new(&c);
    assert_eq!(cl.req("PUT", "c", &[], b""), 201);
    // The proxy caches the container's info on this first write, so the
    // next ones need no container server.
    assert_eq!(
        cl.req("PUT", "c/first", &[("Content-Type", "text/plain")], b"1"),
        201
    );
    assert!(pendings(&c).is_empty());

    c.stop_container_server();
    let names: Vec<String> = (0..5).map(|i| format!("o{i}")).collect();
    for n in &names {
        let s = cl.req(
            "PUT",
            &format!("c/{n}"),
            &[("Content-Type", "text/plain")],
            n.as_bytes(),
        );
        assert_eq!(s, 201, "PUT {n}");
    }
    // Three replicas each, each left a pending for its container replica.
    let left = pendings(&c);
    assert_eq!(left.len(), 15, "{left:?}");

    c.start_container_server();
    let before = cl.listing("c");
    assert_eq!(before, ["first"], "the updates never reached the container");

    // One replica's device gone: the others take the updates, the
    // pendings stay, recording who took them.
    let cdir = c.dir.path().join("container0");
    std::fs::rename(cdir.join("d1"), cdir.join("d1.off")).unwrap();
    assert!(!updater_all(&c), "a replica failed: the sweeps say so");
    let left = pendings(&c);
    assert_eq!(left.len(), 15, "{left:?}");
    for p in &left {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        assert_eq!(v["successes"].as_array().unwrap().len(), 2, "{v}");
    }
    std::fs::rename(cdir.join("d1.off"), cdir.join("d1")).unwrap();

    let t = Instant::now();
    assert!(updater_all(&c), "a --once sweep reported failures");
    eprintln!("updater sweeps: {:.2?}", t.elapsed());
    let mut want = names.clone();
    want.insert(0, "first".into());
    assert_eq!(cl.listing("c"), want);
    assert!(pendings(&c).is_empty(), "{:?}", pendings(&c));
    // Nothing left: the next sweep has nothing to do and says so.
    let (ok, out) = run(&["object-updater", &object_conf(&c, 0), "--once"]);
    assert!(ok && out.contains("0 successes, 0 failures"), "{out}");
    eprintln!("updater test: {:.2?}", t0.elapsed());
}

#[test]
fn expirer_deletes_due_objects_but_not_rewritten_ones() {
    let t0 = Instant::now();
    let c = ProxyCluster::start_on(Storage::Swirl, 3);
    let cl = Client::new(&c);
    let ct = ("Content-Type", "text/plain");
    assert_eq!(cl.req("PUT", "c", &[], b""), 201);
    // Far enough ahead that `keep` is rewritten before it is due, on a
    // loaded machine too.
    let at = (now() + 8).to_string();
    assert_eq!(
        cl.req("PUT", "c/after", &[ct, ("X-Delete-After", "1")], b"a"),
        201
    );
    assert_eq!(
        cl.req("PUT", "c/at", &[ct, ("X-Delete-At", &at)], b"b"),
        201
    );
    assert_eq!(
        cl.req("PUT", "c/keep", &[ct, ("X-Delete-At", &at)], b"c"),
        201
    );
    // Rewritten without X-Delete-At: its row is stale. Its removal waits
    // for the updater (Swift's way: the write names no hosts for the old
    // row), so three rows are queued.
    assert_eq!(cl.req("PUT", "c/keep", &[ct], b"kept"), 201);
    // Given its X-Delete-At by a POST.
    assert_eq!(cl.req("PUT", "c/posted", &[ct], b"d"), 201);
    assert_eq!(
        cl.req("POST", "c/posted", &[("X-Delete-At", &at)], b""),
        202
    );
    wait_for(30, "four queue rows", || queue_rows(&c).len() == 4);
    assert_eq!(
        cl.listing("c"),
        ["after", "at", "keep", "posted"],
        "nothing expired yet"
    );

    let due: u64 = at.parse::<u64>().unwrap() + 1;
    wait_for(30, "the objects' X-Delete-At to pass", || now() >= due);
    let expirer = ["object-expirer", &object_conf(&c, 0), "--once"];
    let t = Instant::now();
    // The account listing of the queue is updated in the background:
    // passes until it found them.
    wait_for(60, "the expirer to delete the due objects", || {
        run(&expirer);
        ["after", "at", "posted"]
            .iter()
            .all(|o| cl.req("GET", &format!("c/{o}"), &[], b"") == 404)
    });
    eprintln!("expirer passes: {:.2?}", t.elapsed());
    assert_eq!(cl.listing("c"), ["keep"]);
    assert_eq!(
        cl.req("GET", "c/keep", &[], b""),
        200,
        "rewritten since: kept"
    );
    // Only the stale row of `keep` is left (412: it stays until reclaim_age),
    // and the pass that met it says it failed.
    let rows = queue_rows(&c);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].ends_with("-AUTH_test/c/keep"), "{rows:?}");
    let (ok, out) = run(&expirer);
    assert!(!ok && out.contains("0 objects expired, 1 errors"), "{out}");
    assert_eq!(cl.req("GET", "c/keep", &[], b""), 200);

    // The updater removes the stale row; then the queue is empty.
    assert!(updater_all(&c));
    assert!(queue_rows(&c).is_empty(), "{:?}", queue_rows(&c));
    wait_for(60, "the empty queue containers to go", || {
        let (ok, _) = run(&expirer);
        ok && backend_listing(&c, ".expiring_objects", None).is_empty()
    });
    eprintln!("expirer test: {:.2?}", t0.elapsed());
}

#[test]
fn no_updates_to_hosts_outside_the_container_ring() {
    let t0 = Instant::now();
    let c = ProxyCluster::start_on(Storage::Swirl, 3);
    // A listener that counts every connection made to it.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    let trap_addr = trap.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = hits.clone();
    std::thread::spawn(move || {
        for conn in trap.incoming() {
            if conn.is_ok() {
                h2.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let obj = c.object_servers[0].addr();
    let ts = format!("{}.00000", now());
    let at = (now() + 1000).to_string();
    let put = |path: &str, host: &str| {
        http_request(
            obj,
            "PUT",
            path,
            &[
                ("X-Timestamp", &ts),
                ("Content-Type", "text/plain"),
                ("X-Container-Host", host),
                ("X-Container-Device", "d0"),
                ("X-Container-Partition", "1"),
                ("X-Delete-At", &at),
                ("X-Delete-At-Host", host),
                ("X-Delete-At-Device", "d0"),
                ("X-Delete-At-Partition", "1"),
                ("X-Delete-At-Container", "1699920000"),
            ],
            b"x",
        )
        .unwrap()
        .0
    };
    assert_eq!(put("/d0/1/AUTH_test/c/o", &trap_addr), 201);
    // The container server's address with a device it does not have in the
    // ring is refused as well.
    let cont = format!("127.0.0.1:{}", c.db_ports[0]);
    assert_eq!(
        http_request(
            obj,
            "PUT",
            "/d0/1/AUTH_test/c/o2",
            &[
                ("X-Timestamp", &ts),
                ("Content-Type", "text/plain"),
                ("X-Container-Host", &cont),
                ("X-Container-Device", "sdz"),
                ("X-Container-Partition", "1"),
            ],
            b"x",
        )
        .unwrap()
        .0,
        201
    );
    // The answer comes after the updates were sent (or refused); a late
    // one would come within container_update_timeout.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a host outside the ring was contacted"
    );
    assert!(pendings(&c).is_empty(), "{:?}", pendings(&c));
    let (s, _, b) = http_request(obj, "GET", "/recon/swirl", &[], b"").unwrap();
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["since_start"]["container_updates_refused"], 3, "{v}");
    assert_eq!(v["since_start"]["async_pending_written"], 0, "{v}");
    eprintln!("ring check test: {:.2?}", t0.elapsed());
}

#[test]
fn aio_expires_objects_by_itself() {
    let t0 = Instant::now();
    let d = tempfile::tempdir().unwrap();
    let aio = harness::start_aio(d.path());
    let (tok, path) = token(aio.addr(), "test:tester", "testing");
    let req = |method: &str, rel: &str, h: &[(&str, &str)]| {
        let mut hs = vec![("X-Auth-Token", tok.as_str())];
        hs.extend_from_slice(h);
        http_request(aio.addr(), method, &format!("{path}/{rel}"), &hs, b"x").unwrap()
    };
    assert_eq!(req("PUT", "c", &[]).0, 201);
    let ct = ("Content-Type", "text/plain");
    assert_eq!(req("PUT", "c/gone", &[ct, ("X-Delete-After", "1")]).0, 201);
    assert_eq!(req("PUT", "c/stays", &[ct]).0, 201);
    let listing = || {
        let (s, _, b) = req("GET", "c?format=json", &[]);
        assert_eq!(s, 200);
        let v: Vec<serde_json::Value> = serde_json::from_slice(&b).unwrap();
        v.iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(listing(), ["gone", "stays"]);
    // Expired: unreadable at once, out of the listing once the aio's
    // expirer (every 10 s) has been by.
    wait_for(60, "the aio's expirer to remove the expired object", || {
        listing() == ["stays"]
    });
    assert_eq!(req("GET", "c/gone", &[]).0, 404);
    eprintln!("aio expirer test: {:.2?}", t0.elapsed());
}

/// A primary down: the others' answers make the quorum (the handoff
/// standing in answers 404 without a tombstone, X-If-Delete-At having
/// nothing to check, as Swift's object server does), and the row goes.
#[test]
fn expirer_expires_with_a_primary_down() {
    let t0 = Instant::now();
    // A fourth object server: a handoff for every partition.
    let mut c = ProxyCluster::start_on(Storage::Swirl, 4);
    let cl = Client::new(&c);
    assert_eq!(cl.req("PUT", "c", &[], b""), 201);
    let at = (now() + 2).to_string();
    assert_eq!(
        cl.req(
            "PUT",
            "c/o",
            &[("Content-Type", "text/plain"), ("X-Delete-At", &at)],
            b"x"
        ),
        201
    );
    wait_for(30, "the queue row", || queue_rows(&c).len() == 1);
    let (_, primaries, handoffs) =
        crate::proxy_cluster::object_nodes(c.dir.path(), "AUTH_test", "c", "o");
    c.object_servers[primaries[0]].kill9();
    let tombstones = |n: usize| {
        walk(&c.dir.path().join(format!("object{n}/d{n}/objects")))
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".ts"))
            .count()
    };
    assert_eq!(tombstones(handoffs[0]), 0);
    let due: u64 = at.parse::<u64>().unwrap() + 1;
    wait_for(30, "the object's X-Delete-At to pass", || now() >= due);
    wait_for(60, "the expirer to expire the object", || {
        let (_, out) = run(&["object-expirer", &object_conf(&c, primaries[1]), "--once"]);
        out.contains("1 objects expired")
    });
    assert_eq!(tombstones(primaries[1]) + tombstones(primaries[2]), 2);
    assert_eq!(tombstones(handoffs[0]), 0);
    // (The container replica the dead primary was to tell keeps the row
    // until container replication brings it the others' deletion.)
    assert!(queue_rows(&c).is_empty());
    eprintln!("expirer, primary down test: {:.2?}", t0.elapsed());
}
