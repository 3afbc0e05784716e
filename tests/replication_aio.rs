//! Replication in `swirl aio`: a wiped device's objects come back by
//! themselves, an object rewritten with 1% changed reaches a stale replica as
//! a fast_rsync delta (a small fraction of the object on the wire, by the
//! replicator's own stats in object.recon), and the replication port refuses
//! peers without a certificate of the cluster CA in the TLS handshake.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness;

fn auth(addr: std::net::SocketAddr) -> String {
    let (st, h, _) = harness::http_request(
        addr,
        "GET",
        "/auth/v1.0",
        &[("X-Auth-User", "test:tester"), ("X-Auth-Key", "testing")],
        b"",
    )
    .unwrap();
    assert_eq!(st, 200);
    harness::header(&h, "x-auth-token").unwrap().to_string()
}

fn put(addr: std::net::SocketAddr, token: &str, path: &str, body: &[u8]) {
    let (st, _, b) =
        harness::http_request(addr, "PUT", path, &[("X-Auth-Token", token)], body).unwrap();
    assert!(
        st == 201 || st == 202,
        "PUT {path}: {st} {}",
        String::from_utf8_lossy(&b)
    );
}

fn get(addr: std::net::SocketAddr, token: &str, path: &str) -> Vec<u8> {
    let (st, _, b) =
        harness::http_request(addr, "GET", path, &[("X-Auth-Token", token)], b"").unwrap();
    assert_eq!(st, 200, "GET {path}");
    b
}

/// Every `.data` file under the aio's devices, with its size.
fn data_files(srv: &Path) -> Vec<(PathBuf, u64)> {
    fn walk(d: &Path, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "data") {
                out.push((p.clone(), e.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
    }
    let mut v = Vec::new();
    walk(srv, &mut v);
    v
}

fn recon(data: &Path) -> serde_json::Value {
    std::fs::read(data.join("cache/object.recon"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn aio_heals_a_wiped_device_and_sends_deltas() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let srv = data.join("srv");
    let mut aio = harness::start_aio(&data);
    let a = aio.addr();
    let token = auth(a);
    put(a, &token, "/v1/AUTH_test/c", b"");
    let small: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| (format!("o{i}"), harness::pattern(100 + i * 7, i as u64)))
        .collect();
    for (n, b) in &small {
        put(a, &token, &format!("/v1/AUTH_test/c/{n}"), b);
    }
    let v1 = harness::pattern(8 << 20, 99);
    put(a, &token, "/v1/AUTH_test/c/img", &v1);
    // Keep one replica of v1 aside, then rewrite the object with 1% changed.
    let (v1_path, _) = data_files(&srv)
        .into_iter()
        .find(|(_, len)| *len >= 8 << 20)
        .unwrap();
    let v1_copy = std::fs::read(&v1_path).unwrap();
    let mut v2 = v1.clone();
    let at = 3 << 20;
    v2[at..at + (8 << 20) / 100].copy_from_slice(&harness::pattern((8 << 20) / 100, 7));
    put(a, &token, "/v1/AUTH_test/c/img", &v2);
    aio.kill9();
    drop(aio);

    // Phase 1: d1's objects/ wiped; the aio's own replicator restores them.
    let before = data_files(&srv).len();
    let wiped = data_files(&srv.join("d1")).len();
    assert!(wiped > 0);
    std::fs::remove_dir_all(srv.join("d1/objects")).unwrap();
    let aio = harness::start_aio(&data);
    wait_for(
        "the wiped device to be refilled",
        Duration::from_secs(120),
        || data_files(&srv).len() == before,
    );
    let a = aio.addr();
    let token = auth(a);
    for (n, b) in &small {
        assert_eq!(&get(a, &token, &format!("/v1/AUTH_test/c/{n}")), b);
    }
    assert_eq!(get(a, &token, "/v1/AUTH_test/c/img"), v2);
    drop(aio);

    // Phase 2: one replica of img goes back to v1; the next pass sends v2 to
    // it as a delta against v1.
    let (v2_path, _) = data_files(&srv)
        .into_iter()
        .find(|(_, len)| *len >= 8 << 20)
        .unwrap();
    let dir = v2_path.parent().unwrap().to_path_buf();
    std::fs::remove_file(&v2_path).unwrap();
    std::fs::write(dir.join(v1_path.file_name().unwrap()), &v1_copy).unwrap();
    let part = dir.parent().unwrap().parent().unwrap();
    let sfx = dir.parent().unwrap().file_name().unwrap().to_str().unwrap();
    std::fs::write(part.join("hashes.invalid"), format!("{sfx}\n")).unwrap();
    let _ = std::fs::remove_file(data.join("cache/object.recon"));
    let aio = harness::start_aio(&data);
    // One delta only: the jobs of one partition on this node's devices run
    // one after the other, so the second finds the peer repaired.
    wait_for("a pass that sent a delta", Duration::from_secs(90), || {
        recon(&data)["replication_stats"]["deltas"]
            .as_u64()
            .is_some_and(|d| d >= 1)
    });
    let st = &recon(&data)["replication_stats"];
    assert_eq!(st["deltas"].as_u64(), Some(1), "{st}");
    let sent = st["bytes_sent"].as_u64().unwrap();
    assert!(
        sent < (8 << 20) / 20,
        "bytes sent {sent} for an 8 MiB object with 1% changed"
    );
    assert_eq!(st["files_sent"].as_u64(), Some(0), "{st}");
    assert!(st["delta_file_bytes"].as_u64().unwrap() >= 8 << 20);
    let token = auth(aio.addr());
    assert_eq!(get(aio.addr(), &token, "/v1/AUTH_test/c/img"), v2);
    // The rebuilt replica is the new version, byte for byte.
    let rebuilt = data_files(&dir)
        .into_iter()
        .map(|(p, _)| p)
        .collect::<Vec<_>>();
    assert_eq!(rebuilt.len(), 1);
    assert_eq!(rebuilt[0].file_name(), v2_path.file_name());
    assert!(!dir.join(v1_path.file_name().unwrap()).exists());
}

fn repl_port(data: &Path) -> u16 {
    let text = std::fs::read_to_string(data.join("etc/object-server.toml")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("replication_port = "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn replication_port_refuses_strangers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let aio = harness::start_aio(&data);
    let url = format!("https://127.0.0.1:{}/healthcheck", repl_port(&data));
    let node = data.join("etc/tls/node");
    let (ca, cert, key) = (
        node.join("ca.pem"),
        node.join("node.pem"),
        node.join("node.key"),
    );
    // A member of the cluster gets in.
    let member = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "--cacert"])
        .arg(&ca)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&member.stdout),
        "OK",
        "{}",
        String::from_utf8_lossy(&member.stderr)
    );
    // No certificate: refused in the handshake.
    let anon = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "--cacert"])
        .arg(&ca)
        .arg(&url)
        .output()
        .unwrap();
    assert!(!anon.status.success());
    assert!(anon.stdout.is_empty());
    // A certificate of another CA: refused too.
    let other = tmp.path().join("other");
    let s = harness::swirl(
        tmp.path(),
        &["cluster-ca", "init", other.join("ca").to_str().unwrap()],
    );
    assert!(s.status.success());
    let s = harness::swirl(
        tmp.path(),
        &[
            "cluster-ca",
            "issue",
            other.join("ca").to_str().unwrap(),
            other.join("n").to_str().unwrap(),
            "--name",
            "rogue",
            "--ip",
            "127.0.0.1",
        ],
    );
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let rogue = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "--cacert"])
        .arg(&ca)
        .arg("--cert")
        .arg(other.join("n/node.pem"))
        .arg("--key")
        .arg(other.join("n/node.key"))
        .arg(&url)
        .output()
        .unwrap();
    assert!(!rogue.status.success());
    assert!(rogue.stdout.is_empty());
    // The object API is not served on the replication port.
    let obj = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
            "--cacert",
        ])
        .arg(&ca)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg(format!("https://127.0.0.1:{}/d1/0/a/c/o", repl_port(&data)))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&obj.stdout), "405");
    drop(aio);
}

/// Every container database file under the aio's devices.
fn container_dbs(srv: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "db")
                && p.components().any(|c| c.as_os_str() == "containers")
            {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(srv, &mut v);
    v.sort();
    v
}

/// Takes the replication settings back out of a server config, as a DIR
/// made before the server had a replication listener looked (swift_dir
/// stays: an operator may have set it).
fn strip_replication(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line == "[cluster_tls]" || line.ends_with("-replicator]");
        }
        if skipping || line.starts_with("replication_") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// The aio's container replicator restores a lost container database, on a
/// DIR whose account and container servers had no replication listener
/// yet (upgraded on start: configs and rings), and the account still
/// counts the container's objects.
#[test]
fn aio_restores_a_lost_container_database_after_an_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let srv = data.join("srv");
    let mut aio = harness::start_aio(&data);
    let a = aio.addr();
    let token = auth(a);
    put(a, &token, "/v1/AUTH_test/dbc", b"");
    for i in 0..30 {
        put(a, &token, &format!("/v1/AUTH_test/dbc/o{i}"), b"x");
    }
    aio.kill9();
    drop(aio);
    let dbs = container_dbs(&srv);
    assert_eq!(dbs.len(), 3, "{dbs:?}");
    let lost = dbs[0].clone();
    std::fs::remove_dir_all(lost.parent().unwrap()).unwrap();
    // An older DIR: no replication listener for the database servers.
    let etc = data.join("etc");
    for role in ["account", "container"] {
        strip_replication(&etc.join(format!("{role}-server.toml")));
    }
    let _ = std::fs::remove_file(data.join("cache/container.recon"));

    let aio = harness::start_aio(&data);
    wait_for(
        "the lost container database to come back",
        Duration::from_secs(90),
        || container_dbs(&srv).contains(&lost),
    );
    for role in ["account", "container"] {
        let text = std::fs::read_to_string(etc.join(format!("{role}-server.toml"))).unwrap();
        assert!(text.contains("replication_port"), "{role}: {text}");
    }
    wait_for(
        "a container replication pass",
        Duration::from_secs(90),
        || {
            std::fs::read(data.join("cache/container.recon"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v["replication_stats"]["attempted"].as_u64() >= Some(1))
        },
    );
    let a = aio.addr();
    let token = auth(a);
    let (st, h, _) =
        harness::http_request(a, "HEAD", "/v1/AUTH_test", &[("X-Auth-Token", &token)], b"")
            .unwrap();
    assert_eq!(st, 204);
    assert_eq!(harness::header(&h, "x-account-object-count"), Some("30"));
    // The restored replica lists every object.
    let b = swirl_store::db::container::ContainerBroker::open(&lost).unwrap();
    assert_eq!(b.info().unwrap().object_count, 30);
}
