//! glance_store's Swift driver, installed from PyPI by scripts/install-deps
//! (one venv per version under `/opt/swirl-venvs`), against `swirl aio` in
//! its three modes: glance_store 4.10 single-tenant with tempauth v1 auth;
//! 5.7 single-tenant with Keystone v3 (a real Keystone, `keystone_support`);
//! 5.7 multi-tenant with a user's Keystone token and the service catalog
//! naming swirl as object-store. `tests/py/glance_store_modes.py` drives the
//! driver: a 300 MiB image in 64 MB segments under a DLO manifest, read back
//! byte for byte against the checksum the driver returned, a partial and a
//! ranged read across a segment boundary, multi-tenant ACLs, and delete.
//! This side checks afterwards through the Swift API, with its own token,
//! that nothing is left.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::harness::{header, http_request, py_dir, start_aio};
use crate::keystone_support::{keystone_aio, password_token, Keystone, World, PW};

/// Where scripts/install-deps makes the venvs.
const VENVS: &str = "/opt/swirl-venvs";

/// The python of glance_store `version`'s venv; a missing venv fails.
fn venv_python(version: &str) -> PathBuf {
    let py = Path::new(VENVS)
        .join(format!("glance_store-{version}"))
        .join("bin")
        .join("python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-deps",
        py.display()
    );
    py
}

/// Runs the driver script in `version`'s venv; its JSON result line.
fn run_mode(version: &str, scratch: &Path, args: &[&str]) -> Value {
    let t = Instant::now();
    let out = Command::new(venv_python(version))
        .args(["-W", "ignore"])
        .arg(py_dir().join("glance_store_modes.py"))
        .args(["--dir", scratch.to_str().unwrap()])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", scratch)
        .output()
        .expect("run glance_store_modes.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "glance_store {version} {args:?} failed: {stdout}\n{}",
        stderr
            .lines()
            .filter(|l| !l.contains("deprecat"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    eprintln!(
        "glance_store {version} {}: {:.1} s in all ({v})",
        v["mode"],
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        v["glance_store"].as_str().unwrap()[..version.len()],
        *version
    );
    assert_eq!(v["size"], 300 * 1024 * 1024);
    assert_eq!(v["segments"], 5);
    v
}

/// The path part of a storage URL (`/v1/AUTH_x`).
fn account_path(storage_url: &str) -> String {
    let at = storage_url.find("/v1/").expect("storage URL");
    storage_url[at..].to_string()
}

/// Through the Swift API: no object or segment named after the image is
/// left in `container` (or, multi-tenant, the container is gone too).
fn assert_nothing_left(proxy: SocketAddr, token: &str, v: &Value, multi: bool) {
    let account = account_path(v["storage_url"].as_str().unwrap());
    let container = v["container"].as_str().unwrap();
    let id = v["image_id"].as_str().unwrap();
    let auth = [("X-Auth-Token", token)];
    let (s, _, _) = http_request(
        proxy,
        "HEAD",
        &format!("{account}/{container}/{id}"),
        &auth,
        b"",
    )
    .unwrap();
    assert_eq!(s, 404, "manifest of {id} left");
    let (s, _, body) = http_request(
        proxy,
        "GET",
        &format!("{account}/{container}?format=json&prefix={id}"),
        &auth,
        b"",
    )
    .unwrap();
    if multi {
        assert_eq!(s, 404, "container {container} left");
    } else {
        assert_eq!(s, 200);
        let names: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(names, serde_json::json!([]), "segments of {id} left");
    }
}

#[test]
fn glance_store_4_10_single_tenant_tempauth_v1() {
    let data = tempfile::tempdir().unwrap();
    let proxy = start_aio(data.path());
    let scratch = tempfile::tempdir().unwrap();
    let auth_url = format!("http://{}/auth/v1.0", proxy.addr());
    let v = run_mode(
        "4.10",
        scratch.path(),
        &[
            "--mode",
            "v1",
            "--auth-url",
            &auth_url,
            "--user",
            "test:tester",
            "--key",
            "testing",
        ],
    );
    assert!(v["storage_url"]
        .as_str()
        .unwrap()
        .ends_with("/v1/AUTH_test"));
    assert!(v["location"]
        .as_str()
        .unwrap()
        .starts_with("swift+config://ref1/glance/"));
    let (s, h, _) = http_request(
        proxy.addr(),
        "GET",
        "/auth/v1.0",
        &[("X-Auth-User", "test:tester"), ("X-Auth-Key", "testing")],
        b"",
    )
    .unwrap();
    assert_eq!(s, 200);
    let token = header(&h, "x-auth-token").unwrap().to_string();
    assert_nothing_left(proxy.addr(), &token, &v, false);
}

#[test]
fn glance_store_5_7_keystone_single_and_multi_tenant() {
    let ks = Keystone::start();
    let w = World::make(&ks);
    let data = tempfile::tempdir().unwrap();
    let proxy = keystone_aio(data.path(), &ks);
    ks.register_object_store(proxy.addr());
    let (alice, _) = password_token(ks.addr, "alice", PW, "alpha");
    let account = format!("/v1/AUTH_{}", w.alpha);

    // Single-tenant: the store's own user alice in project alpha; the
    // storage URL from the catalog. glance_store 5.x cannot write a known
    // size that is not a multiple of its chunk size (see the script), so
    // the image goes as glance-api gets a chunked upload: size unknown.
    let scratch = tempfile::tempdir().unwrap();
    let v = run_mode(
        "5.7",
        scratch.path(),
        &[
            "--mode",
            "v3",
            "--auth-url",
            &ks.url(),
            "--user",
            "alpha:alice",
            "--key",
            PW,
            "--unknown-size",
        ],
    );
    assert_eq!(account_path(v["storage_url"].as_str().unwrap()), account);
    assert_nothing_left(proxy.addr(), &alice, &v, false);

    // Multi-tenant: alice's token and catalog; carol (project beta) reads
    // the image once set_acls named beta.
    let scratch = tempfile::tempdir().unwrap();
    let v = run_mode(
        "5.7",
        scratch.path(),
        &[
            "--mode",
            "multi",
            "--auth-url",
            &ks.url(),
            "--user",
            "alice",
            "--project",
            "alpha",
            "--reader-user",
            "carol",
            "--reader-project",
            "beta",
            "--key",
            PW,
            "--unknown-size",
        ],
    );
    assert_eq!(account_path(v["storage_url"].as_str().unwrap()), account);
    assert_eq!(v["acl_read"], true);
    assert!(v["location"]
        .as_str()
        .unwrap()
        .starts_with(&format!("swift+http://{}{account}/glance_", proxy.addr())));
    assert_nothing_left(proxy.addr(), &alice, &v, true);
}
