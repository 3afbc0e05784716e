//! A real Keystone for the tests (Debian's python3-keystone, SQLite, on a
//! free loopback port, set up by `scripts/keystone`), and the projects,
//! users and roles Swift's keystoneauth needs, made through Keystone's own
//! v3 API. Dropping it stops Keystone and removes its directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{free_port, header, http_request, Proc};

/// The admin user's password (bootstrap) and every test user's.
pub const ADMIN_PW: &str = "adminpw";
pub const PW: &str = "secret-pw";

/// A running Keystone.
pub struct Keystone {
    pub proc: Option<Proc>,
    pub addr: SocketAddr,
    admin_token: String,
    _dir: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("keystone")
}

/// One request to Keystone: status, headers, body as JSON (Null if none).
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Vec<(String, String)>, Value) {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut h: Vec<(&str, &str)> = headers.to_vec();
    if !text.is_empty() {
        h.push(("Content-Type", "application/json"));
    }
    let (status, hs, b) = http_request(addr, method, path, &h, text.as_bytes())
        .unwrap_or_else(|e| panic!("keystone {method} {path}: {e}"));
    let v = serde_json::from_slice(&b).unwrap_or(Value::Null);
    (status, hs, v)
}

/// A scoped token of `user` (in the default domain) for `project`:
/// (token, token body).
pub fn password_token(addr: SocketAddr, user: &str, pw: &str, project: &str) -> (String, Value) {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": pw}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
    token_for(addr, body)
}

/// Authenticates with `auth` (a full `{"auth": ...}` body).
pub fn token_for(addr: SocketAddr, auth: Value) -> (String, Value) {
    let (status, h, v) = call(addr, "POST", "/v3/auth/tokens", &[], Some(auth));
    assert_eq!(status, 201, "keystone auth: {v}");
    (header(&h, "x-subject-token").unwrap().to_string(), v)
}

impl Keystone {
    /// Sets Keystone up in a temporary directory and waits until it answers.
    pub fn start() -> Keystone {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let out = Command::new(script())
            .args([
                "setup",
                dir.path().to_str().unwrap(),
                &port.to_string(),
                ADMIN_PW,
            ])
            .output()
            .expect("run scripts/keystone (scripts/install-deps installs Keystone)");
        assert!(
            out.status.success(),
            "scripts/keystone setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(dir.path().join("wsgi.out")).unwrap();
        let proc = Proc::polled(
            "keystone",
            Command::new(script())
                .args(["serve", dir.path().to_str().unwrap(), &port.to_string()])
                .stdout(log.try_clone().unwrap())
                .stderr(log),
            addr,
            || matches!(http_request(addr, "GET", "/v3", &[], b""), Ok((200, _, _))),
            Duration::from_secs(60),
        );
        let (admin_token, _) = password_token(addr, "admin", ADMIN_PW, "admin");
        Keystone {
            proc: Some(proc),
            addr,
            admin_token,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT/v3`.
    pub fn url(&self) -> String {
        format!("http://{}/v3", self.addr)
    }

    /// An admin API call; panics unless Keystone answers 2xx.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, _, v) = call(
            self.addr,
            method,
            path,
            &[("X-Auth-Token", &self.admin_token)],
            body,
        );
        assert!(
            (200..300).contains(&status),
            "keystone {method} {path}: {status} {v}"
        );
        v
    }

    /// Creates `kind` (`roles`, `projects`, `users`, `domains`...) and returns its id.
    pub fn create(&self, kind: &str, body: Value) -> String {
        let one = kind.trim_end_matches('s');
        let v = self.admin("POST", &format!("/v3/{kind}"), Some(json!({ one: body })));
        v[one]["id"].as_str().unwrap().to_string()
    }

    /// The id of the role named `name`.
    pub fn role_id(&self, name: &str) -> String {
        let v = self.admin("GET", &format!("/v3/roles?name={name}"), None);
        v["roles"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no role {name}"))
            .to_string()
    }

    /// Gives `user` the role on `project`.
    pub fn grant(&self, project: &str, user: &str, role: &str) {
        let r = self.role_id(role);
        self.admin(
            "PUT",
            &format!("/v3/projects/{project}/users/{user}/roles/{r}"),
            None,
        );
    }

    /// Revokes a token (`DELETE /v3/auth/tokens`).
    pub fn revoke(&self, token: &str) {
        let (status, _, v) = call(
            self.addr,
            "DELETE",
            "/v3/auth/tokens",
            &[
                ("X-Auth-Token", &self.admin_token),
                ("X-Subject-Token", token),
            ],
            None,
        );
        assert_eq!(status, 204, "revoke: {v}");
    }

    /// Registers Swift's object-store endpoints for `proxy` in the catalog
    /// (public and internal `.../v1/AUTH_%(project_id)s`, admin `.../v1`).
    pub fn register_object_store(&self, proxy: SocketAddr) {
        let svc = self.create("services", json!({"type": "object-store", "name": "swift"}));
        for (iface, url) in [
            ("public", format!("http://{proxy}/v1/AUTH_%(project_id)s")),
            ("internal", format!("http://{proxy}/v1/AUTH_%(project_id)s")),
            ("admin", format!("http://{proxy}/v1")),
        ] {
            self.create(
                "endpoints",
                json!({"service_id": svc, "interface": iface, "url": url, "region_id": "RegionOne"}),
            );
        }
    }

    /// Registers the volume gateway's Cinder v3 API at `api` in the catalog
    /// (type volumev3, `.../v3/%(project_id)s`, as Cinder's).
    pub fn register_volume(&self, api: SocketAddr) {
        let svc = self.create("services", json!({"type": "volumev3", "name": "cinderv3"}));
        for iface in ["public", "internal", "admin"] {
            self.create(
                "endpoints",
                json!({"service_id": svc, "interface": iface,
                    "url": format!("http://{api}/v3/%(project_id)s"), "region_id": "RegionOne"}),
            );
        }
    }

    /// Stops Keystone (its clients then meet a closed port).
    pub fn stop(&mut self) {
        self.proc.take();
    }
}

/// The users, projects and roles of the Keystone tests.
pub struct World {
    /// Project ids.
    pub alpha: String,
    pub beta: String,
    pub gamma: String,
    /// User ids.
    pub alice: String,
    pub carol: String,
    pub dave: String,
}

impl World {
    /// Swift's roles, the proxy's service user `swift` (admin and
    /// ResellerAdmin on project `service`), and:
    /// - alice: swiftoperator on alpha; bob: member of alpha
    /// - carol: swiftoperator on beta
    /// - dave: member of gamma, both in domain d2 (names in ACLs do not count)
    /// - reseller: ResellerAdmin (on project admin)
    /// - glance: the `service` role on project service (service tokens)
    pub fn make(ks: &Keystone) -> World {
        for r in ["swiftoperator", "ResellerAdmin", "service"] {
            ks.create("roles", json!({"name": r}));
        }
        let project = |name: &str, domain: &str| {
            ks.create("projects", json!({"name": name, "domain_id": domain}))
        };
        let user = |name: &str, domain: &str| {
            ks.create(
                "users",
                json!({"name": name, "password": PW, "domain_id": domain}),
            )
        };
        let service = project("service", "default");
        let swift = user("swift", "default");
        ks.grant(&service, &swift, "admin");
        // The aio's volume gateway signs in as swift and keeps volumes in
        // every project's account.
        ks.grant(&service, &swift, "ResellerAdmin");
        let alpha = project("alpha", "default");
        let beta = project("beta", "default");
        let alice = user("alice", "default");
        ks.grant(&alpha, &alice, "swiftoperator");
        let bob = user("bob", "default");
        ks.grant(&alpha, &bob, "member");
        let carol = user("carol", "default");
        ks.grant(&beta, &carol, "swiftoperator");
        let d2 = ks.create("domains", json!({"name": "d2"}));
        let gamma = project("gamma", &d2);
        let dave = user("dave", &d2);
        ks.grant(&gamma, &dave, "member");
        let reseller = user("reseller", "default");
        let admin_project = ks.admin("GET", "/v3/projects?name=admin", None)["projects"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        ks.grant(&admin_project, &reseller, "ResellerAdmin");
        let glance = user("glance", "default");
        ks.grant(&service, &glance, "service");
        World {
            alpha,
            beta,
            gamma,
            alice,
            carol,
            dave,
        }
    }
}

/// A token of dave (domain d2) for gamma.
pub fn dave_token(addr: SocketAddr) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "dave", "domain": {"name": "d2"}, "password": PW}}},
        "scope": {"project": {"name": "gamma", "domain": {"name": "d2"}}}}});
    token_for(addr, body).0
}

/// `swirl aio` pointed at `ks` with `--keystone-url` (service user swift,
/// password `PW`), healthy before it returns.
pub fn keystone_aio(data: &std::path::Path, ks: &Keystone) -> crate::harness::Proc {
    let url = ks.url();
    let extra = ["--keystone-url", url.as_str(), "--keystone-password", PW];
    let p = crate::harness::aio_ready_with(data, &extra);
    assert!(crate::harness::wait_healthcheck(
        p.addr(),
        std::time::Duration::from_secs(30)
    ));
    p
}
