//! Keystone v3 authentication through `swirl aio --keystone-url`: a real
//! Keystone (`keystone_support`), python-swiftclient's `swift` CLI with
//! `--auth-version 3` and python-openstackclient's object and volume
//! commands found through Keystone's catalog (object-store, and volumev3
//! for the aio's volume gateway); forged, revoked, expired and other projects'
//! tokens (401/403, never 5xx); ACLs naming project:user by id and name;
//! the reseller admin; service tokens on SERVICE_ accounts; tempauth beside
//! Keystone; Keystone out of reach (503, while cached tokens still work).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::harness::{header, http_request};
use crate::keystone_support::{
    dave_token, keystone_aio, password_token, token_for, Keystone, World, PW,
};

/// A client command with only PATH and HOME from our environment (no OS_* leaks in).
fn clean(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "HOME",
            std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()),
        );
    c
}

fn run(c: &mut Command, what: &str) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: stdout={} stderr={}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keystone password credentials of a user of the default domain, scoped
/// to a project of it, as the OpenStack clients take them.
fn credentials(c: &mut Command, ks: &Keystone, (user, project): (&str, &str)) {
    c.args(["--os-auth-url", &ks.url()])
        .args(["--os-username", user, "--os-password", PW])
        .args(["--os-project-name", project])
        .args([
            "--os-user-domain-id",
            "default",
            "--os-project-domain-id",
            "default",
        ]);
}

/// `swift --auth-version 3 ... <args>` as alice in project alpha.
fn swift_v3(ks: &Keystone, cwd: &Path, args: &[&str]) -> String {
    let mut c = clean("/usr/bin/swift");
    c.args(["--auth-version", "3"]);
    credentials(&mut c, ks, ("alice", "alpha"));
    c.args(args).current_dir(cwd);
    run(&mut c, &format!("swift {args:?}"))
}

/// `cinder ... <args>` as a user of the default domain in a project, the
/// volume endpoint from Keystone's catalog.
fn cinder(ks: &Keystone, cwd: &Path, who: (&str, &str), args: &[&str]) -> String {
    let mut c = clean("/usr/bin/cinder");
    credentials(&mut c, ks, who);
    c.args(args).current_dir(cwd);
    run(&mut c, &format!("cinder {args:?}"))
}

/// `openstack ... <args>` as alice in project alpha.
fn openstack(ks: &Keystone, cwd: &Path, args: &[&str]) -> String {
    let mut c = clean("/usr/bin/openstack");
    credentials(&mut c, ks, ("alice", "alpha"));
    c.args(["--os-identity-api-version", "3", "--os-interface", "public"])
        .args(args)
        .current_dir(cwd);
    run(&mut c, &format!("openstack {args:?}"))
}

fn req(
    proxy: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>) {
    let (s, h, _) = http_request(proxy, method, path, headers, body).unwrap();
    (s, h)
}

#[test]
fn swift_and_openstack_clients_through_keystone() {
    let ks = Keystone::start();
    let w = World::make(&ks);
    let data = tempfile::tempdir().unwrap();
    let mut proxy = keystone_aio(data.path(), &ks);
    ks.register_object_store(proxy.addr());
    ks.register_volume(proxy.ready_addr("volume-api"));
    let work = tempfile::tempdir().unwrap();
    let wd = work.path();

    // python-swiftclient, v3 auth, the storage URL from the catalog.
    let stat = swift_v3(&ks, wd, &["stat"]);
    assert!(
        stat.contains(&format!("Account: AUTH_{}", w.alpha)),
        "{stat}"
    );
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(wd.join("f.bin"), &body).unwrap();
    swift_v3(&ks, wd, &["upload", "c1", "f.bin"]);
    assert_eq!(swift_v3(&ks, wd, &["list"]).trim(), "c1");
    assert_eq!(swift_v3(&ks, wd, &["list", "c1"]).trim(), "f.bin");
    swift_v3(&ks, wd, &["download", "c1", "f.bin", "-o", "back.bin"]);
    assert_eq!(std::fs::read(wd.join("back.bin")).unwrap(), body);
    swift_v3(&ks, wd, &["delete", "c1", "f.bin"]);
    assert_eq!(swift_v3(&ks, wd, &["list", "c1"]).trim(), "");

    // python-openstackclient's object commands.
    openstack(&ks, wd, &["container", "create", "oc"]);
    let list = openstack(&ks, wd, &["container", "list", "-f", "value"]);
    assert!(list.lines().any(|l| l.trim() == "oc"), "{list}");
    std::fs::write(wd.join("o.txt"), b"through the catalog").unwrap();
    openstack(&ks, wd, &["object", "create", "oc", "o.txt"]);
    let objs = openstack(&ks, wd, &["object", "list", "oc", "-f", "value"]);
    assert_eq!(objs.trim(), "o.txt");
    openstack(
        &ks,
        wd,
        &["object", "save", "oc", "o.txt", "--file", "saved.txt"],
    );
    assert_eq!(
        std::fs::read(wd.join("saved.txt")).unwrap(),
        b"through the catalog"
    );
    let shown = openstack(
        &ks,
        wd,
        &[
            "container",
            "show",
            "oc",
            "-f",
            "value",
            "-c",
            "object_count",
        ],
    );
    assert_eq!(shown.trim(), "1", "{shown}");
    openstack(&ks, wd, &["object", "delete", "oc", "o.txt"]);
    let objs = openstack(&ks, wd, &["object", "list", "oc", "-f", "value"]);
    assert_eq!(objs.trim(), "");
    openstack(&ks, wd, &["container", "delete", "oc"]);
    let list = openstack(&ks, wd, &["container", "list", "-f", "value"]);
    assert!(!list.lines().any(|l| l.trim() == "oc"), "{list}");

    // Volumes, the gateway found through the catalog (volumev3) with
    // Keystone tokens: the cinder CLI, and openstack's listing; kept in the
    // project's own account, invisible to another project's user.
    cinder(
        &ks,
        wd,
        ("alice", "alpha"),
        &["create", "--name", "kv", "1"],
    );
    let field = |table: &str, name: &str| {
        table
            .lines()
            .find_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells.get(1) == Some(&name)).then(|| cells.get(2).unwrap_or(&"").to_string())
            })
            .unwrap_or_default()
    };
    eventually(Duration::from_secs(60), "volume kv available", || {
        field(
            &cinder(&ks, wd, ("alice", "alpha"), &["show", "kv"]),
            "status",
        ) == "available"
    });
    let vols = openstack(&ks, wd, &["volume", "list", "-f", "value", "-c", "Name"]);
    assert_eq!(vols.trim(), "kv");
    let containers = swift_v3(&ks, wd, &["list"]);
    assert!(
        containers.lines().any(|l| l.trim() == "swirl-volumes"),
        "{containers}"
    );
    let theirs = cinder(&ks, wd, ("carol", "beta"), &["list"]);
    assert!(
        !theirs.contains("kv"),
        "carol sees no volume of alpha's: {theirs}"
    );
    cinder(&ks, wd, ("alice", "alpha"), &["delete", "kv"]);
    eventually(Duration::from_secs(60), "volume kv deleted", || {
        !cinder(&ks, wd, ("alice", "alpha"), &["list"]).contains("kv")
    });

    // /info names both auth filters.
    let (s, _, b) = http_request(proxy.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200);
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        info["keystoneauth"]["reseller_prefix"],
        json!(["AUTH_", "SERVICE_"])
    );
    assert!(info["tempauth"].is_object(), "{info}");

    // tempauth beside Keystone, under its own prefix.
    let (s, h) = req(
        proxy.addr(),
        "GET",
        "/auth/v1.0",
        &[("X-Auth-User", "test:tester"), ("X-Auth-Key", "testing")],
        b"",
    );
    assert_eq!(s, 200);
    let ttoken = header(&h, "x-auth-token").unwrap().to_string();
    let url = header(&h, "x-storage-url").unwrap().to_string();
    assert!(url.ends_with("/v1/TEMPAUTH_test"), "{url}");
    let (s, _) = req(
        proxy.addr(),
        "PUT",
        "/v1/TEMPAUTH_test/tc",
        &[("X-Auth-Token", &ttoken)],
        b"",
    );
    assert_eq!(s, 201);
    let (alice, _) = password_token(ks.addr, "alice", PW, "alpha");
    let alpha = format!("/v1/AUTH_{}", w.alpha);
    let (s, _) = req(
        proxy.addr(),
        "HEAD",
        "/v1/TEMPAUTH_test/tc",
        &[("X-Auth-Token", &alice)],
        b"",
    );
    assert_eq!(s, 401, "a Keystone token is nobody in tempauth's accounts");
    let (s, _) = req(
        proxy.addr(),
        "HEAD",
        &alpha,
        &[("X-Auth-Token", &ttoken)],
        b"",
    );
    assert_eq!(s, 403, "a tempauth user owns nothing of Keystone's");
    let (s, _) = req(
        proxy.addr(),
        "HEAD",
        &alpha,
        &[("X-Auth-Token", &alice)],
        b"",
    );
    assert_eq!(s, 204);
}

/// Polls `f` until it returns true, or fails after `timeout`.
fn eventually(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(100);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// ISO 8601 UTC for `t` (Keystone's expires_at input).
fn iso(t: SystemTime) -> String {
    let s = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn keystone_tokens_acls_admin_and_service_tokens() {
    let mut ks = Keystone::start();
    let w = World::make(&ks);
    let data = tempfile::tempdir().unwrap();
    let proxy = keystone_aio(data.path(), &ks);
    let p = proxy.addr();
    let alpha = format!("/v1/AUTH_{}", w.alpha);
    let (alice, _) = password_token(ks.addr, "alice", PW, "alpha");
    let (bob, _) = password_token(ks.addr, "bob", PW, "alpha");
    let (carol, _) = password_token(ks.addr, "carol", PW, "beta");
    let (reseller, _) = password_token(ks.addr, "reseller", PW, "admin");
    let (glance, _) = password_token(ks.addr, "glance", PW, "service");
    let dave = dave_token(ks.addr);
    let t = |tok: &str| vec![("X-Auth-Token", tok.to_string())];
    let call = |m: &str, path: &str, h: Vec<(&str, String)>| {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        req(p, m, path, &h, b"")
    };

    // The owner; the account is created with its project's domain.
    assert_eq!(call("PUT", &format!("{alpha}/c"), t(&alice)).0, 201);
    assert_eq!(call("PUT", &format!("{alpha}/c/o"), t(&alice)).0, 201);
    let (s, h) = call("HEAD", &alpha, t(&alice));
    assert_eq!(s, 204);
    assert_eq!(header(&h, "x-account-project-domain-id"), Some("default"));

    // Forged, absent, other projects', non-operators' tokens.
    let (s, h) = call("GET", &format!("{alpha}/c/o"), t("gAAAAABforged-token-000"));
    assert_eq!(s, 401);
    let challenges: Vec<&str> = h
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        challenges.contains(&format!("Keystone uri=\"{}\"", ks.url()).as_str()),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Swift realm=")),
        "{challenges:?}"
    );
    assert_eq!(call("GET", &format!("{alpha}/c/o"), vec![]).0, 401);
    assert_eq!(call("GET", &format!("{alpha}/c/o"), t(&carol)).0, 403);
    assert_eq!(
        call("HEAD", &alpha, t(&bob)).0,
        403,
        "member is no operator"
    );
    assert_eq!(
        call("DELETE", &alpha, t(&alice)).0,
        403,
        "nobody deletes their own account"
    );

    // A revoked token, never used before.
    let (revoked, _) = password_token(ks.addr, "alice", PW, "alpha");
    ks.revoke(&revoked);
    assert_eq!(call("HEAD", &alpha, t(&revoked)).0, 401);

    // An expiring token: one from an application credential that expires
    // in a few seconds. Valid first, then 401 (never 5xx) once expired.
    let expires = SystemTime::now() + Duration::from_secs(8);
    let (st, _, v) = crate::keystone_support::call(
        ks.addr,
        "POST",
        &format!("/v3/users/{}/application_credentials", w.alice),
        &[("X-Auth-Token", &alice)],
        Some(json!({"application_credential": {"name": "short", "expires_at": iso(expires)}})),
    );
    assert_eq!(st, 201, "{v}");
    let (short, _) = token_for(
        ks.addr,
        json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": v["application_credential"]["id"],
                "secret": v["application_credential"]["secret"]}}}}),
    );
    assert_eq!(call("HEAD", &alpha, t(&short)).0, 204);
    eventually(Duration::from_secs(60), "expired token refused", || {
        let s = call("HEAD", &alpha, t(&short)).0;
        assert!(s == 204 || s == 401, "status {s}");
        s == 401
    });

    // Container ACLs by project:user id and name, and by role.
    let acl = |c: &str, read: &str, write: &str| {
        let h = vec![
            ("X-Auth-Token", alice.clone()),
            ("X-Container-Read", read.to_string()),
            ("X-Container-Write", write.to_string()),
        ];
        assert_eq!(call("PUT", &format!("{alpha}/{c}"), h).0, 201);
        assert_eq!(call("PUT", &format!("{alpha}/{c}/o"), t(&alice)).0, 201);
    };
    acl("by-name", "beta:carol", "");
    acl(
        "by-id",
        &format!("{}:{}", w.beta, w.carol),
        &format!("{}:*", w.beta),
    );
    acl("d2-name", "gamma:dave", "");
    acl("d2-id", &format!("{}:{}", w.gamma, w.dave), "");
    acl("role", "member", "");
    assert_eq!(call("GET", &format!("{alpha}/by-name/o"), t(&carol)).0, 200);
    assert_eq!(
        call("GET", &format!("{alpha}/by-name"), t(&carol)).0,
        200,
        "listing"
    );
    assert_eq!(
        call("PUT", &format!("{alpha}/by-name/new"), t(&carol)).0,
        403
    );
    assert_eq!(call("GET", &format!("{alpha}/by-id/o"), t(&carol)).0, 200);
    assert_eq!(call("PUT", &format!("{alpha}/by-id/new"), t(&carol)).0, 201);
    assert_eq!(call("GET", &format!("{alpha}/by-id/o"), t(&bob)).0, 403);
    // Names outside the default domain do not count; ids do.
    assert_eq!(call("GET", &format!("{alpha}/d2-name/o"), t(&dave)).0, 403);
    assert_eq!(call("GET", &format!("{alpha}/d2-id/o"), t(&dave)).0, 200);
    // A role in an ACL counts in its own project only.
    assert_eq!(call("GET", &format!("{alpha}/role/o"), t(&bob)).0, 200);
    assert_eq!(call("GET", &format!("{alpha}/role/o"), t(&carol)).0, 403);
    // Referrer ACLs serve anonymous readers (delay_auth_decision).
    acl("public", ".r:*", "");
    assert_eq!(call("GET", &format!("{alpha}/public/o"), vec![]).0, 200);
    assert_eq!(
        call("GET", &format!("{alpha}/public"), vec![]).0,
        401,
        "no .rlistings"
    );
    // Only owners see ACLs.
    let (_, h) = call("HEAD", &format!("{alpha}/by-name"), t(&carol));
    assert_eq!(header(&h, "x-container-read"), None);
    let (_, h) = call("HEAD", &format!("{alpha}/by-name"), t(&alice));
    assert_eq!(header(&h, "x-container-read"), Some("beta:carol"));

    // The reseller admin owns every account.
    assert_eq!(call("GET", &format!("{alpha}/c"), t(&reseller)).0, 200);
    let beta = format!("/v1/AUTH_{}", w.beta);
    assert_eq!(
        call("PUT", &format!("{beta}/fromadmin"), t(&reseller)).0,
        201
    );
    // account_quotas: only a reseller request sets an account's quota
    // (Swift's keystoneauth marks the reseller admin role's requests so).
    let quota = |tok: &str| {
        let mut h = t(tok);
        h.push(("X-Account-Meta-Quota-Bytes", "1000".to_string()));
        call("POST", &beta, h).0
    };
    assert_eq!(quota(&carol), 403, "an operator sets no quota");
    assert_eq!(quota(&reseller), 204);
    let (_, h) = call("HEAD", &beta, t(&carol));
    assert_eq!(header(&h, "x-account-meta-quota-bytes"), Some("1000"));

    // SERVICE_ accounts need an operator's token and a service token
    // with the service role.
    let svc = format!("/v1/SERVICE_{}", w.alpha);
    assert_eq!(call("PUT", &format!("{svc}/s"), t(&alice)).0, 403);
    let both = |service: &str| {
        vec![
            ("X-Auth-Token", alice.clone()),
            ("X-Service-Token", service.to_string()),
        ]
    };
    assert_eq!(call("PUT", &format!("{svc}/s"), both(&glance)).0, 201);
    assert_eq!(
        call("PUT", &format!("{svc}/s"), both(&bob)).0,
        403,
        "no service role"
    );
    assert_eq!(
        call("PUT", &format!("{svc}/s"), both("gAAAAABforged")).0,
        401,
        "invalid service token"
    );
    assert_eq!(
        call(
            "HEAD",
            &format!("{svc}/s"),
            vec![("X-Auth-Token", glance.clone())]
        )
        .0,
        403
    );

    // Keystone out of reach: tokens validated before still work from the
    // cache; a new one is a 503, not a 401 or 500.
    ks.stop();
    assert_eq!(call("HEAD", &alpha, t(&alice)).0, 204);
    assert_eq!(call("HEAD", &alpha, t("gAAAAABnever-seen")).0, 503);
    assert_eq!(
        call("GET", &format!("{alpha}/public/o"), vec![]).0,
        200,
        "anonymous needs no Keystone"
    );
}
