//! swirl's account and container servers through the real processes:
//! container -> account count updates (at once, and through a pending record
//! while the account server is down), and the REPLICATE RPC.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::db_support::{devices_dir, swirl_config, swirl_db};
use crate::harness::{header, http_request, Proc};

fn req(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http_request(addr, method, path, headers, body).unwrap()
}

fn ts(i: u64) -> String {
    format!("{}.00000", 1_600_000_000 + i)
}

/// HEAD the account until `check` holds (or fail after 15 s).
fn wait_account(addr: SocketAddr, what: &str, check: impl Fn(&[(String, String)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, h, _) = req(addr, "HEAD", "/sda/0/acct", &[], b"");
        if st == 204 && check(&h) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "account never showed {what}: {st} {h:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count_is(h: &[(String, String)], containers: &str, objects: &str, bytes: &str) -> bool {
    header(h, "x-account-container-count") == Some(containers)
        && header(h, "x-account-object-count") == Some(objects)
        && header(h, "x-account-bytes-used") == Some(bytes)
}

fn pending_records(devices: &Path) -> usize {
    std::fs::read_dir(devices.join("sda").join("db_pending_updates"))
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
                .count()
        })
        .unwrap_or(0)
}

fn put_row(c: SocketAddr, name: &str, t: u64, size: usize) {
    let size = size.to_string();
    let (st, _, _) = req(
        c,
        "PUT",
        &format!("/sda/0/acct/cont/{name}"),
        &[
            ("X-Timestamp", &ts(t)),
            ("X-Size", &size),
            ("X-Etag", "e"),
            ("X-Content-Type", "text/plain"),
        ],
        b"",
    );
    assert_eq!(st, 201);
}

#[test]
fn container_reports_counts_to_account_even_after_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let acct_devices = devices_dir(dir.path(), "acct-devs");
    let acct_conf = swirl_config(dir.path(), "account", &acct_devices, "log_requests = false");
    let mut account = Proc::swirl_server(
        "account",
        &["account-server", acct_conf.to_str().unwrap()],
        Duration::from_secs(20),
    );
    let a = account.addr();
    let cont = swirl_db(
        dir.path(),
        "container",
        "log_requests = false\naccount_update_interval = 0.2",
    );
    let c = cont.proc.addr();
    let host = a.to_string();
    let acct_hdrs = [
        ("X-Account-Host", host.as_str()),
        ("X-Account-Device", "sda"),
        ("X-Account-Partition", "0"),
    ];

    assert_eq!(
        req(a, "PUT", "/sda/0/acct", &[("X-Timestamp", &ts(1))], b"").0,
        201
    );
    let mut h = vec![("X-Timestamp", ts(2))];
    h.extend(acct_hdrs.iter().map(|(k, v)| (*k, v.to_string())));
    let hv: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(req(c, "PUT", "/sda/0/acct/cont", &hv, b"").0, 201);
    // The container PUT reported at once.
    let (_, hh, _) = req(a, "HEAD", "/sda/0/acct", &[], b"");
    assert!(count_is(&hh, "1", "0", "0"), "{hh:?}");

    // Object rows: reported within moments.
    for i in 0..3 {
        put_row(c, &format!("o{i}"), 10 + i, 10);
    }
    wait_account(a, "3 objects", |h| count_is(h, "1", "3", "30"));

    // The account server goes away; rows still succeed and leave a pending record.
    account.kill9();
    put_row(c, "o3", 20, 5);
    put_row(c, "o4", 21, 5);
    let deadline = Instant::now() + Duration::from_secs(15);
    while pending_records(&cont.devices) == 0 {
        assert!(Instant::now() < deadline, "no pending record written");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Back on the same port: the pending record is delivered and removed.
    let port = a.port().to_string();
    let text = std::fs::read_to_string(&acct_conf)
        .unwrap()
        .replace("bind_port = 0", &format!("bind_port = {port}"));
    std::fs::write(&acct_conf, text).unwrap();
    let account2 = Proc::swirl_server(
        "account",
        &["account-server", acct_conf.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(account2.addr(), a);
    wait_account(a, "5 objects", |h| count_is(h, "1", "5", "40"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while pending_records(&cont.devices) != 0 {
        assert!(Instant::now() < deadline, "pending record never removed");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Emptied and deleted: the account row goes too.
    for (i, n) in ["o0", "o1", "o2", "o3", "o4"].iter().enumerate() {
        let (st, _, _) = req(
            c,
            "DELETE",
            &format!("/sda/0/acct/cont/{n}"),
            &[("X-Timestamp", &ts(30 + i as u64))],
            b"",
        );
        assert_eq!(st, 204);
    }
    let mut h = vec![("X-Timestamp", ts(40))];
    h.extend(acct_hdrs.iter().map(|(k, v)| (*k, v.to_string())));
    let hv: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(req(c, "DELETE", "/sda/0/acct/cont", &hv, b"").0, 204);
    wait_account(a, "no containers", |h| count_is(h, "0", "0", "0"));
    // A deleted container keeps its tombstone: 404 with its timestamps.
    let (st, hh, _) = req(c, "HEAD", "/sda/0/acct/cont", &[], b"");
    assert_eq!(st, 404);
    assert_eq!(
        header(&hh, "x-backend-delete-timestamp"),
        Some(ts(40).as_str())
    );
}

/// A container server with one container (acct/cont on sda, partition 0),
/// and its database's REPLICATE path: the hash is the file name under
/// containers/0/<suffix>/<hash>/.
fn container_to_replicate(dir: &Path) -> (crate::db_support::Server, String) {
    let c = swirl_db(dir, "container", "log_requests = false");
    assert_eq!(
        req(
            c.proc.addr(),
            "PUT",
            "/sda/0/acct/cont",
            &[("X-Timestamp", &ts(1))],
            b""
        )
        .0,
        201
    );
    let part = c.devices.join("sda/containers/0");
    let suffix = std::fs::read_dir(&part)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let hash = std::fs::read_dir(&suffix)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let path = format!("/sda/0/{}", hash.to_string_lossy());
    (c, path)
}

#[test]
fn replicate_rpc_merges_rows_and_sync_points() {
    let dir = tempfile::tempdir().unwrap();
    let (c, path) = container_to_replicate(dir.path());
    let addr = c.proc.addr();

    let sync = |point: i64, db_hash: &str| {
        let body = format!(
            r#"["sync", {point}, "{db_hash}", "remote-1", "{}", "{}", "0", ""]"#,
            ts(1),
            ts(1)
        );
        let (st, _, b) = req(addr, "REPLICATE", &path, &[], body.as_bytes());
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        serde_json::from_slice::<serde_json::Value>(&b).unwrap()
    };
    let info = sync(-1, "x");
    assert_eq!(info["point"], -1);
    assert_eq!(info["max_row"], -1);

    let rows = r#"["merge_items", [
        {"ROWID": 7, "name": "b", "created_at": "1600000005.00000", "size": 3, "content_type": "t", "etag": "e", "deleted": 0, "storage_policy_index": 0},
        {"ROWID": 9, "name": "a", "created_at": "1600000006.00000", "size": 4, "content_type": "t", "etag": "e", "deleted": 0, "storage_policy_index": 0}
    ], "remote-1"]"#;
    assert_eq!(req(addr, "REPLICATE", &path, &[], rows.as_bytes()).0, 202);
    let (st, h, body) = req(addr, "GET", "/sda/0/acct/cont", &[], b"");
    assert_eq!((st, body.as_slice()), (200, &b"a\nb\n"[..]));
    assert_eq!(header(&h, "x-container-object-count"), Some("2"));
    let info = sync(9, "x");
    assert_eq!(
        info["point"], 9,
        "incoming sync point is the last merged ROWID"
    );
    // Equal hashes move the sync point to the remote's max row.
    let local_hash = info["hash"].as_str().unwrap().to_string();
    let info = sync(12, &local_hash);
    assert_eq!(info["point"], 12);
    let ms = r#"["merge_syncs", [{"remote_id": "other", "sync_point": 4}]]"#;
    assert_eq!(req(addr, "REPLICATE", &path, &[], ms.as_bytes()).0, 202);
    // Bad input: 400s; an unknown database: 404.
    assert_eq!(req(addr, "REPLICATE", &path, &[], b"{").0, 400);
    assert_eq!(req(addr, "REPLICATE", &path, &[], b"{}").0, 400);
    assert_eq!(
        req(addr, "REPLICATE", &path, &[], br#"["merge_items", 5]"#).0,
        400
    );
    assert_eq!(
        req(
            addr,
            "REPLICATE",
            "/sda/0/0123456789abcdef0123456789abcdef",
            &[],
            br#"["sync"]"#
        )
        .0,
        404
    );
}

#[test]
fn container_post_with_swift_limit_of_metadata_and_more_headers() {
    // Swift's 90 metadata items plus ~60 other header lines, as a proxy may
    // forward them: within the container server's header cap.
    let dir = tempfile::tempdir().unwrap();
    let c = swirl_db(dir.path(), "container", "log_requests = false");
    let addr = c.proc.addr();
    let put = req(
        addr,
        "PUT",
        "/sda/0/acct/cont",
        &[("X-Timestamp", &ts(1))],
        b"",
    );
    assert_eq!(put.0, 201);
    let names: Vec<(String, String)> = (0..90)
        .map(|i| (format!("X-Container-Meta-K{i}"), format!("v{i}")))
        .chain((0..60).map(|i| (format!("X-Extra-{i}"), "x".to_string())))
        .collect();
    let t = ts(2);
    let mut headers: Vec<(&str, &str)> = vec![("X-Timestamp", &t)];
    headers.extend(names.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (st, _, body) = req(addr, "POST", "/sda/0/acct/cont", &headers, b"");
    assert_eq!(st, 204, "{}", String::from_utf8_lossy(&body));
    let (st, h, _) = req(addr, "HEAD", "/sda/0/acct/cont", &[], b"");
    assert_eq!(st, 204);
    assert_eq!(header(&h, "x-container-meta-k89"), Some("v89"));
}

#[test]
fn replicate_rpc_takes_whole_databases() {
    use swirl_store::db::container::{ContainerBroker, ObjectUpdate};
    let dir = tempfile::tempdir().unwrap();
    let (c, path) = container_to_replicate(dir.path());
    let addr = c.proc.addr();
    put_row(addr, "local", 2, 3);

    // What a sending replicator ships: a snapshot of its database, named by
    // its id, in the device's tmp.
    let sender_db = dir.path().join("sender.db");
    assert!(ContainerBroker::initialize(&sender_db, "acct", "cont", &ts(1), 0).unwrap());
    let sender = ContainerBroker::open(&sender_db).unwrap();
    sender
        .put_rows(
            ["s1", "s2"]
                .iter()
                .map(|n| ObjectUpdate {
                    name: n.to_string(),
                    created_at: ts(3),
                    size: 5,
                    content_type: "t".into(),
                    etag: "e".into(),
                    deleted: false,
                    storage_policy_index: 0,
                    ctype_timestamp: None,
                    meta_timestamp: None,
                })
                .collect(),
        )
        .unwrap();
    let sender_id = sender.info().unwrap().id;
    let ship = || {
        let tmp = c.devices.join("sda/tmp").join(&sender_id);
        std::fs::create_dir_all(tmp.parent().unwrap()).unwrap();
        sender.snapshot(&tmp).unwrap();
        tmp
    };
    let call = |path: &str, op: &str| {
        let body = format!(r#"["{op}", "{sender_id}"]"#);
        req(addr, "REPLICATE", path, &[], body.as_bytes()).0
    };

    // complete_rsync: where no database is, the shipped one becomes this
    // replica's under a new id, in sync with the sender up to its last row.
    let elsewhere = "/sda/0/0123456789abcdef0123456789abcdef";
    assert_eq!(
        call(elsewhere, "complete_rsync"),
        404,
        "nothing shipped yet"
    );
    let tmp = ship();
    assert_eq!(call(elsewhere, "complete_rsync"), 204);
    assert!(!tmp.exists());
    let body = format!(
        r#"["sync", 2, "x", "{sender_id}", "{}", "{}", "0", ""]"#,
        ts(1),
        ts(1)
    );
    let (st, _, b) = req(addr, "REPLICATE", elsewhere, &[], body.as_bytes());
    assert_eq!(st, 200);
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_ne!(info["id"], sender_id.as_str());
    assert_eq!(
        (info["point"].as_i64(), info["count"].as_i64()),
        (Some(2), Some(2))
    );
    // A database in place is never replaced: 404, as Swift answers.
    let tmp = ship();
    assert_eq!(call(&path, "complete_rsync"), 404);
    assert!(tmp.exists());

    // rsync_then_merge: the shipped database takes this replica's rows and
    // replaces it; the server goes on serving it.
    assert_eq!(call(&path, "rsync_then_merge"), 204);
    assert!(!tmp.exists());
    let (st, h, body) = req(addr, "GET", "/sda/0/acct/cont", &[], b"");
    assert_eq!((st, body.as_slice()), (200, &b"local\ns1\ns2\n"[..]));
    assert_eq!(header(&h, "x-container-object-count"), Some("3"));
    put_row(addr, "after", 4, 1);
    let (_, h, _) = req(addr, "HEAD", "/sda/0/acct/cont", &[], b"");
    assert_eq!(header(&h, "x-container-object-count"), Some("4"));
    assert_eq!(call(&path, "rsync_then_merge"), 404, "nothing shipped");
    assert_eq!(
        req(
            addr,
            "REPLICATE",
            &path,
            &[],
            br#"["complete_rsync", "../x"]"#
        )
        .0,
        400
    );
}
