//! The auditors against `swirl aio`'s files: a flipped byte in the middle
//! of one replica and a truncated replica of another object are both
//! quarantined by `swirl object-auditor --once`, and the object replicator
//! brings every replica back byte-exact (read directly from the object
//! server); a damaged container database is quarantined by `swirl
//! container-auditor --once` and restored by the container replicator; the
//! full pass keeps to `bytes_per_second`; and an auditor killed with -9
//! mid-pass resumes from its checkpoints, checking only what was left.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness;

fn auth(addr: SocketAddr) -> String {
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

fn put(addr: SocketAddr, token: &str, path: &str, body: &[u8]) {
    let (st, _, b) =
        harness::http_request(addr, "PUT", path, &[("X-Auth-Token", token)], body).unwrap();
    assert!(
        st == 201 || st == 202,
        "PUT {path}: {st} {}",
        String::from_utf8_lossy(&b)
    );
}

/// Every file under `dir` whose name ends with `ext`, with its size, sorted.
fn files(dir: &Path, ext: &str) -> Vec<(PathBuf, u64)> {
    fn walk(d: &Path, ext: &str, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "quarantined") {
                    walk(&p, ext, out);
                }
            } else if p.to_string_lossy().ends_with(ext) {
                out.push((p.clone(), e.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, ext, &mut v);
    v.sort();
    v
}

/// The replicas (`.data` paths) of a body of `len` bytes: its file is the
/// body, 32 bytes per 64 KiB block and a metadata tail of under 4 KiB.
fn replicas_of(srv: &Path, len: u64) -> Vec<PathBuf> {
    files(srv, ".data")
        .into_iter()
        .filter(|(_, n)| (len..len + 4096 + len / 2048).contains(n))
        .map(|(p, _)| p)
        .collect()
}

/// (device, partition) of an object file `srv/<dev>/objects/<part>/<sfx>/<hash>/<f>`.
fn dev_part(srv: &Path, p: &Path) -> (String, String) {
    let rel: Vec<String> = p
        .strip_prefix(srv)
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (rel[0].clone(), rel[2].clone())
}

/// A copy of the aio's object-server.toml with `[object-auditor]` set to `table`.
fn object_config(data: &Path, name: &str, table: &str) -> PathBuf {
    let text = std::fs::read_to_string(data.join("etc/object-server.toml")).unwrap();
    let mut cfg: toml::Table = text.parse().unwrap();
    cfg.insert(
        "object-auditor".into(),
        toml::Value::Table(table.parse().unwrap()),
    );
    let p = data.join(name);
    std::fs::write(&p, toml::to_string(&cfg).unwrap()).unwrap();
    p
}

/// Totals of one pass from an auditor's output: (files, bytes, quarantined,
/// errors, MB/s) of the line starting with `what`.
fn totals(out: &str, what: &str) -> (u64, u64, u64, u64, f64) {
    let line = out
        .lines()
        .find(|l| l.starts_with(what))
        .unwrap_or_else(|| panic!("no {what:?} line in {out:?}"));
    let n = |after: &str| -> u64 {
        let end = line
            .find(after)
            .unwrap_or_else(|| panic!("{after} in {line}"));
        line[..end]
            .rsplit([' ', ','])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mbps: f64 = n_f64(line, " MB/s)");
    (
        n(" files,"),
        n(" bytes,"),
        n(" quarantined,"),
        n(" errors"),
        mbps,
    )
}

/// The number just before `after` in `line`.
fn n_f64(line: &str, after: &str) -> f64 {
    let end = line
        .find(after)
        .unwrap_or_else(|| panic!("{after} in {line}"));
    line[..end].rsplit(' ').next().unwrap().parse().unwrap()
}

fn run(data: &Path, args: &[&str]) -> String {
    let out = harness::swirl(data, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "swirl {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn auditors_quarantine_damage_and_replicators_restore_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let srv = data.join("srv");
    let aio = harness::start_aio(&data);
    let a = aio.addr();
    let token = auth(a);
    put(a, &token, "/v1/AUTH_test/c", b"");
    let flipped = harness::pattern(300_001, 1);
    let cut = harness::pattern(200_003, 2);
    put(a, &token, "/v1/AUTH_test/c/flipped", &flipped);
    put(a, &token, "/v1/AUTH_test/c/cut", &cut);
    for i in 0..4 {
        put(
            a,
            &token,
            &format!("/v1/AUTH_test/c/o{i}"),
            &harness::pattern(50_000 + i, 10 + i as u64),
        );
    }
    drop(aio);
    let flipped_at = replicas_of(&srv, 300_001);
    let cut_at = replicas_of(&srv, 200_003);
    assert_eq!((flipped_at.len(), cut_at.len()), (3, 3));
    harness::flip_byte(&flipped_at[1], 150_000);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&cut_at[2])
        .unwrap();
    f.set_len(100_000).unwrap();
    drop(f);
    let total = files(&srv, ".data").len() as u64;

    let cfg = object_config(
        &data,
        "audit.toml",
        "files_per_second = 0\nbytes_per_second = 0\nzero_byte_files_per_second = 0\n",
    );
    let out = run(&data, &["object-auditor", cfg.to_str().unwrap(), "--once"]);
    let zbf = totals(&out, "object audit (ZBF)");
    let all = totals(&out, "object audit (ALL)");
    // The two passes run side by side: the truncated replica goes to
    // whichever sees it first, the flipped byte only to the full pass.
    assert_eq!(zbf.2 + all.2, 2, "{out}");
    assert!(all.2 >= 1 && zbf.3 == 0 && all.3 == 0, "{out}");
    assert!(zbf.0 >= total - 1 && zbf.1 == 0, "{out}");
    assert!(all.1 >= (total - 2) * 50_000, "{out}");
    for p in [&flipped_at[1], &cut_at[2]] {
        assert!(!p.exists(), "{} still there", p.display());
        let (dev, _) = dev_part(&srv, p);
        let hash = p.parent().unwrap().file_name().unwrap();
        assert!(srv
            .join(dev)
            .join("quarantined/objects")
            .join(hash)
            .is_dir());
    }

    // A container database with its pages overwritten.
    let dbs = files(&srv, ".db");
    let (db, len) = dbs
        .iter()
        .find(|(p, _)| p.to_string_lossy().contains("/containers/"))
        .cloned()
        .unwrap();
    assert!(len > 4096, "{} is {len} bytes", db.display());
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    std::fs::write(&db, {
        let mut b = std::fs::read(&db).unwrap();
        b[100..].fill(0xa5);
        b
    })
    .unwrap();
    let ccfg = data.join("etc/container-server.toml");
    let out = run(
        &data,
        &["container-auditor", ccfg.to_str().unwrap(), "--once"],
    );
    let c = totals(&out, "container audit");
    assert!(c.0 >= 3 && (c.2, c.3) == (1, 0), "{out}");
    assert!(!db.exists());
    let (cdev, _) = dev_part(&srv, &db);
    let chash = db.parent().unwrap().file_name().unwrap();
    assert!(srv
        .join(&cdev)
        .join("quarantined/containers")
        .join(chash)
        .join(db.file_name().unwrap())
        .is_file());

    // The replicators put every replica back. (The container server's file
    // loses its auditor section first, as a DIR from before the auditors:
    // the aio puts it back.)
    let text = std::fs::read_to_string(&ccfg).unwrap();
    let cut_at_section = text.find("[container-auditor]").unwrap();
    std::fs::write(&ccfg, &text[..cut_at_section]).unwrap();
    let aio = harness::start_aio(&data);
    let text = std::fs::read_to_string(&ccfg).unwrap();
    assert!(text.contains("[container-auditor]"), "{text}");
    let ocfg = data.join("etc/object-server.toml");
    wait_for(
        "the quarantined replicas back",
        Duration::from_secs(90),
        || {
            let _ = harness::swirl(
                &data,
                &["object-replicator", ocfg.to_str().unwrap(), "--once"],
            );
            let _ = harness::swirl(
                &data,
                &["container-replicator", ccfg.to_str().unwrap(), "--once"],
            );
            [&flipped_at[1], &cut_at[2]]
                .iter()
                .all(|p| !files(p.parent().unwrap(), ".data").is_empty())
                && db.exists()
        },
    );
    let text = std::fs::read_to_string(&ocfg).unwrap();
    let ocfg_t: toml::Table = text.parse().unwrap();
    let port = ocfg_t["bind_port"].as_integer().unwrap() as u16;
    let server: SocketAddr = ([127, 0, 0, 1], port).into();
    // The storage servers take only requests signed with the cluster's key.
    let signer = harness::aio_backend_auth(&data);
    for (name, body, at) in [("flipped", &flipped, &flipped_at), ("cut", &cut, &cut_at)] {
        for p in at.iter() {
            let (dev, part) = dev_part(&srv, p);
            let (st, _, got) = harness::signed_request(
                &signer,
                server,
                "GET",
                &format!("/{dev}/{part}/AUTH_test/c/{name}"),
                &[],
                b"",
            )
            .unwrap();
            assert_eq!(st, 200, "{name} on {dev}");
            assert!(got == *body, "{name} on {dev}: {} bytes differ", got.len());
        }
    }
    // The object server's recon reports the auditor's passes.
    let (st, _, body) =
        harness::http_request(server, "GET", "/recon/auditor/object", &[], b"").unwrap();
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let q = |k: &str| v[k]["quarantined"].as_u64().unwrap();
    assert_eq!(
        q("object_auditor_stats_ALL") + q("object_auditor_stats_ZBF"),
        2,
        "{v}"
    );
    assert!(
        v["object_auditor_stats_ALL"]["bytes_processed"]
            .as_u64()
            .unwrap()
            > 0
    );
    let a = aio.addr();
    let (st, _, listing) = harness::http_request(
        a,
        "GET",
        "/v1/AUTH_test/c",
        &[("X-Auth-Token", &auth(a))],
        b"",
    )
    .unwrap();
    assert_eq!(st, 200);
    assert!(String::from_utf8_lossy(&listing).contains("flipped"));
}

#[test]
fn object_auditor_keeps_its_rate_and_resumes_after_kill9() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let srv = data.join("srv");
    let aio = harness::start_aio(&data);
    let a = aio.addr();
    let token = auth(a);
    put(a, &token, "/v1/AUTH_test/big", b"");
    for i in 0..12 {
        put(
            a,
            &token,
            &format!("/v1/AUTH_test/big/o{i}"),
            &harness::pattern(1 << 20, i),
        );
    }
    drop(aio);
    let total = files(&srv, ".data").len() as u64;
    assert_eq!(total, 36);

    // Unlimited, then at 50 MB/s.
    let fast = object_config(
        &data,
        "fast.toml",
        "files_per_second = 0\nbytes_per_second = 0\nzero_byte_files_per_second = 0\n",
    );
    let limited = object_config(
        &data,
        "limited.toml",
        "files_per_second = 0\nbytes_per_second = 50000000\nzero_byte_files_per_second = 0\n",
    );
    let f = totals(
        &run(&data, &["object-auditor", fast.to_str().unwrap(), "--once"]),
        "object audit (ALL)",
    );
    let l = totals(
        &run(
            &data,
            &["object-auditor", limited.to_str().unwrap(), "--once"],
        ),
        "object audit (ALL)",
    );
    eprintln!(
        "object audit (ALL) of {} bytes: unlimited {:.2} MB/s, bytes_per_second = 50 MB/s: {:.2} MB/s",
        f.1, f.4, l.4
    );
    assert_eq!((f.0, l.0, f.1), (total, total, total << 20));
    assert!(l.4 <= 50.0 * 1.03, "limited to {} MB/s", l.4);

    // At 2 MB/s (19 s for the pass), checkpoints every half second; killed
    // once 6 files are in them.
    let slow = object_config(
        &data,
        "slow.toml",
        "files_per_second = 0\nbytes_per_second = 2000000\nzero_byte_files_per_second = 0\n\
         checkpoint_interval = 0.5\n",
    );
    let checkpointed = || -> u64 {
        (1..=4)
            .filter_map(|i| std::fs::read(srv.join(format!("d{i}/auditor_status_ALL.json"))).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map(|v| v["files"].as_u64().unwrap_or(0))
            .sum()
    };
    let mut child = Command::new(harness::swirl_bin())
        .args(["object-auditor", slow.to_str().unwrap(), "--once"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a checkpoint of 6 files", Duration::from_secs(60), || {
        checkpointed() >= 6
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let done = checkpointed();
    assert!((6..total).contains(&done), "{done} of {total} checkpointed");
    let out = run(&data, &["object-auditor", fast.to_str().unwrap(), "--once"]);
    let r = totals(&out, "object audit (ALL)");
    assert_eq!(r.0, total - done, "{out}");
    assert!(out.contains("resumed from a checkpoint"), "{out}");
    assert_eq!(checkpointed(), 0, "a finished pass clears its checkpoints");
    // And the next pass is a whole one again.
    let r = totals(
        &run(&data, &["object-auditor", fast.to_str().unwrap(), "--once"]),
        "object audit (ALL)",
    );
    assert_eq!(r.0, total);
}
