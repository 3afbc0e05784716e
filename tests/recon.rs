//! Swift's own `swift-recon` CLI (Debian's swift 2.30) against `swirl aio`,
//! unchanged: pointed at the aio's `etc` (its rings and swift.conf), it finds
//! the storage servers from the rings and reads their `/recon/<check>`
//! answers. The figures it prints must be sane: every host answers every
//! check, the rings' md5 sums match, no async pendings or quarantined
//! objects, replication passes reported, for the object servers and (with
//! `swift-recon account` / `container`) the database servers.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness;

fn swift_recon(etc: &Path, args: &[&str]) -> String {
    let out = Command::new("swift-recon")
        .arg("--swiftdir")
        .arg(etc)
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

/// The line starting with `prefix`.
pub(crate) fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
}

/// The `[name] low: .., high: .., total: N, ..` line's total, checking every
/// host reported.
pub(crate) fn total(text: &str, name: &str, hosts: usize) -> u64 {
    let l = line(text, &format!("[{name}] low:"));
    assert!(
        l.ends_with(&format!("no_result: 0, reported: {hosts}")),
        "{l}"
    );
    l.split("total: ")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{l}"))
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn swift_recon_reads_the_aio() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let aio = harness::start_aio(&data);
    let a = aio.addr();
    let (st, h, _) = harness::http_request(
        a,
        "GET",
        "/auth/v1.0",
        &[("X-Auth-User", "test:tester"), ("X-Auth-Key", "testing")],
        b"",
    )
    .unwrap();
    assert_eq!(st, 200);
    let token = harness::header(&h, "x-auth-token").unwrap().to_string();
    for p in [
        "/v1/AUTH_test/c",
        "/v1/AUTH_test/c/o1",
        "/v1/AUTH_test/c/o2",
    ] {
        let (st, _, _) =
            harness::http_request(a, "PUT", p, &[("X-Auth-Token", &token)], b"hello").unwrap();
        assert!(st == 201 || st == 202, "PUT {p}: {st}");
    }
    // The aio's replicators run passes by themselves; wait for one of each
    // kind to have reported in the recon cache.
    let cache = data.join("cache");
    wait_for(
        "a replication pass of each kind",
        Duration::from_secs(120),
        || {
            ["object", "container", "account"].iter().all(|k| {
                std::fs::read(cache.join(format!("{k}.recon")))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|v| v["replication_last"].is_number())
            })
        },
    );
    let etc = data.join("etc");

    let out = swift_recon(&etc, &["-r", "-a", "-q", "-d", "--md5"]);
    assert!(
        line(&out, "--> Starting reconnaissance on").contains("1 hosts (object)"),
        "{out}"
    );
    assert!(!out.contains("Error"), "{out}");
    assert!(!out.contains("No hosts returned valid data"), "{out}");
    assert_eq!(total(&out, "async_pending", 1), 0);
    for q in [
        "quarantined_objects",
        "quarantined_objects_0",
        "quarantined_objects_1",
    ] {
        assert_eq!(total(&out, q, 1), 0, "{q}");
    }
    for r in [
        "replication_time",
        "replication_failure",
        "replication_attempted",
    ] {
        total(&out, r, 1);
    }
    assert_eq!(total(&out, "replication_failure", 1), 0, "{out}");
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
    // Ring md5 sums first, swift.conf's second: the rings must match; the
    // swift.conf line only needs an answer (the CLI compares with the
    // machine's /etc/swift/swift.conf, not the aio's).
    let md5: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("hosts matched"))
        .collect();
    assert_eq!(md5.len(), 2, "{out}");
    assert_eq!(
        md5[0],
        "1/1 hosts matched, 0 error[s] while checking hosts."
    );
    assert!(
        md5[1].ends_with(", 0 error[s] while checking hosts."),
        "{out}"
    );
}
