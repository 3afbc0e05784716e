//! `swirl bench` against a real endpoint for a couple of seconds (the CI smoke test of
//! the load generator): every workload must see successful operations, the figures
//! must add up (bytes = ops x size, listings return the whole container), server CPU
//! must be read from /proc, and failures must be counted by status.

use std::process::Command;

use serde_json::Value;

use crate::harness::swirl_bin;

/// Runs `swirl bench <args> --json` and returns (exit code, the JSON result).
fn bench(args: &[&str]) -> (i32, Value) {
    let out = Command::new(swirl_bin())
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg("--quiet")
        .output()
        .expect("run swirl bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("bench {args:?}: no JSON ({e}): {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), v)
}

fn n(v: &Value, k: &str) -> f64 {
    v[k].as_f64()
        .unwrap_or_else(|| panic!("no number {k} in {v}"))
}

/// Drives every workload against `auth` for a few seconds in all and checks the figures.
/// `pid` is the server process whose CPU is counted.
fn exercise(auth: &str, user: &str, key: &str, pid: u32) {
    let pid = pid.to_string();
    let common = ["--auth", auth, "--user", user, "--key", key, "--pid", &pid];
    let run = |extra: &[&str]| {
        let a: Vec<&str> = common.iter().chain(extra.iter()).copied().collect();
        bench(&a)
    };

    // PUT for a second and a half, unique names, two containers
    let (rc, put) = run(&[
        "-w",
        "put",
        "-c",
        "4",
        "-d",
        "1.5",
        "-s",
        "4KiB",
        "--container",
        "smoke",
        "--containers",
        "2",
    ]);
    assert_eq!(rc, 0, "{put}");
    let ops = n(&put, "ops");
    assert!(ops >= 10.0, "too few PUTs: {put}");
    assert_eq!(n(&put, "errors"), 0.0, "{put}");
    assert_eq!(n(&put, "bytes"), ops * 4096.0, "{put}");
    assert_eq!(n(&put, "written_up_to"), ops, "{put}");
    assert!(
        n(&put, "server_cpu_s") > 0.0,
        "server CPU not counted: {put}"
    );
    assert!(n(&put["latency_ms"], "p50") > 0.0, "{put}");
    assert!(n(&put["latency_ms"], "max") >= n(&put["latency_ms"], "p99"));
    let pool = (ops as u64).to_string();

    // GET and HEAD of random objects of that pool
    let (rc, get) = run(&[
        "-w",
        "get",
        "-c",
        "4",
        "-d",
        "1",
        "--container",
        "smoke",
        "--containers",
        "2",
        "--objects",
        &pool,
    ]);
    assert_eq!(rc, 0, "{get}");
    assert!(n(&get, "ops") >= 10.0, "{get}");
    assert_eq!(n(&get, "errors"), 0.0, "{get}");
    assert_eq!(n(&get, "bytes"), n(&get, "ops") * 4096.0, "{get}");
    let (rc, head) = run(&[
        "-w",
        "head",
        "-c",
        "2",
        "-n",
        "20",
        "--container",
        "smoke",
        "--containers",
        "2",
        "--objects",
        &pool,
    ]);
    assert_eq!(rc, 0, "{head}");
    assert_eq!((n(&head, "ops"), n(&head, "errors")), (20.0, 0.0), "{head}");

    // listing of a prepared container: each listing returns all 60 names
    let (rc, list) = run(&[
        "-w",
        "list",
        "-c",
        "2",
        "-n",
        "10",
        "--container",
        "smoke-list",
        "--objects",
        "60",
        "--prepare",
    ]);
    assert_eq!(rc, 0, "{list}");
    assert_eq!(n(&list, "ops"), 10.0, "{list}");
    let per_listing = n(&list, "bytes") / 10.0;
    assert!(
        per_listing > 60.0 * 100.0,
        "a listing of 60 objects is only {per_listing} bytes"
    );

    // a short mixed run
    let (rc, mixed) = run(&[
        "-w",
        "mixed",
        "-c",
        "4",
        "-d",
        "1",
        "--container",
        "smoke-mixed",
        "--objects",
        "20",
        "--prepare",
        "--mix",
        "put=2,get=5,head=1,delete=2",
    ]);
    assert_eq!(rc, 0, "{mixed}");
    assert!(n(&mixed, "ops") > 0.0, "{mixed}");
    assert_eq!(n(&mixed, "errors"), 0.0, "{mixed}");
    assert!(
        mixed["per_op"]["get"]["ops"].as_f64().unwrap() > 0.0,
        "{mixed}"
    );

    // DELETE the whole pool; the run ends when it is used up
    let (rc, del) = run(&[
        "-w",
        "delete",
        "-c",
        "4",
        "-d",
        "30",
        "--container",
        "smoke",
        "--containers",
        "2",
        "--objects",
        &pool,
    ]);
    assert_eq!(rc, 0, "{del}");
    assert_eq!((n(&del, "ops"), n(&del, "errors")), (ops, 0.0), "{del}");

    // now every GET fails: counted by status, and the run fails
    let (rc, gone) = run(&[
        "-w",
        "get",
        "-c",
        "2",
        "-n",
        "6",
        "--container",
        "smoke",
        "--containers",
        "2",
        "--objects",
        &pool,
    ]);
    assert_eq!(rc, 1, "{gone}");
    assert_eq!(n(&gone, "ops"), 0.0, "{gone}");
    assert_eq!(gone["errors_by_status"]["404"], 6, "{gone}");
}

/// The all-in-one cluster (every role in one process, 4 devices, 3 replicas), as the
/// SAIO's test:tester.
#[test]
fn bench_workloads_against_aio() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let aio = crate::harness::start_aio(&data);
    let auth = format!("http://{}/auth/v1.0", aio.addr());
    exercise(&auth, "test:tester", "testing", aio.pid());
}

#[test]
fn bench_disk_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(swirl_bin())
        .args(["bench", "disk", "--dir", dir.path().to_str().unwrap()])
        .args([
            "--size",
            "1MiB",
            "--count",
            "6",
            "--concurrency",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(n(&v, "object_mb_per_s") > 0.0, "{v}");
    // (serde_json's float parsing may be one ulp off: compare with a tolerance)
    let ratio = n(&v, "disk_mb_per_s") / n(&v, "object_mb_per_s");
    assert!((ratio - 3.0).abs() < 1e-9, "{v}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bench_rejects_bad_options() {
    for args in [
        vec!["bench", "-c", "0"],
        vec!["bench", "-s", "12X"],
        vec![
            "bench",
            "--auth",
            "https://127.0.0.1:1/auth/v1.0",
            "-d",
            "1",
        ],
        vec!["bench", "--container", "a/b", "-d", "1"],
    ] {
        let out = Command::new(swirl_bin()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

/// `bench/auth-compare --swirl-only --quick`: a real Keystone, `swirl aio
/// --keystone-url`, and both authenticated read modes of the bench (Keystone
/// token, tempurl signatures) end to end; every GET must succeed (a bad
/// signature or an unvalidated token would be a 401) and CPU must be counted.
#[test]
fn auth_compare_quick_against_swirl() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("bench")
        .join("auth-compare");
    let run = Command::new(script)
        .args(["--swirl-only", "--quick"])
        .env("SWIRL_BIN", swirl_bin())
        .env("OUT", &out)
        .env("SWIRL_DATA", dir.path().join("data"))
        .env("SWIRL_PORT", crate::harness::free_port().to_string())
        .env("KS_PORT", crate::harness::free_port().to_string())
        .output()
        .expect("run bench/auth-compare");
    assert!(
        run.status.success(),
        "auth-compare: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    for phase in ["token", "tempurl"] {
        let p = out.join("swirl").join(format!("{phase}.json"));
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert!(n(&v, "ops") >= 10.0, "{phase}: {v}");
        assert_eq!(n(&v, "errors"), 0.0, "{phase}: {v}");
        assert!(n(&v, "server_cpu_s") > 0.0, "{phase}: {v}");
        assert!(v["server_cpu_by_role"]["aio"].as_f64().is_some(), "{v}");
    }
    let table = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(table.contains("| Keystone token (cached) |"), "{table}");
    assert!(table.contains("| tempurl sha256 |"), "{table}");
}
