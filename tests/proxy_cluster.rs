//! A test cluster for the proxy: storage servers on loopback behind
//! `swirl proxy-server`, with the SAIO's tempauth users. The storage servers
//! are Swift's own (Debian's packages: a swirl proxy must work on them) or
//! swirl's. Everything is killed and removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{self, Proc};

/// Hash path secret shared by the proxy and the storage servers.
pub const SUFFIX: &str = "proxytest";

/// Swift's SAIO users (tempauth `user_<account>_<user>`).
pub const USERS: &[(&str, &str)] = &[
    ("user_admin_admin", "admin .admin .reseller_admin"),
    ("user_test_tester", "testing .admin"),
    ("user_test_tester2", "testing2 .admin"),
    ("user_test_tester3", "testing3"),
    ("user_test2_tester2", "testing2 .admin"),
    ("user_test5_tester5", "testing5 service"),
];

/// Whose storage servers sit behind the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Swift,
    Swirl,
}

pub struct ProxyCluster {
    pub dir: tempfile::TempDir,
    pub storage: Storage,
    pub obj_ports: Vec<u16>,
    pub object_servers: Vec<Proc>,
    /// The container server, then the account server.
    pub _db_servers: Vec<Proc>,
    /// Their ports, in the same order.
    pub db_ports: Vec<u16>,
    pub proxy: Proc,
}

fn server_conf(dir: &Path, kind: &str, n: usize, port: u16) -> PathBuf {
    let devices = dir.join(format!("{kind}{n}"));
    std::fs::create_dir_all(&devices).unwrap();
    let conf = dir.join(format!("{kind}-{n}.conf"));
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ndevices = {}\nmount_check = false\ndisable_fallocate = true\n\
             bind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 0\nswift_dir = {}\n\
             log_name = {kind}-{n}\nlog_level = WARNING\n\n\
             [pipeline:main]\npipeline = healthcheck {kind}-server\n\n\
             [app:{kind}-server]\nuse = egg:swift#{kind}\n\n\
             [filter:healthcheck]\nuse = egg:swift#healthcheck\n",
            devices.display(),
            dir.display()
        ),
    )
    .unwrap();
    conf
}

/// Starts `swirl <kind>-server` on `<dir>/<kind><n>` at `port`.
fn swirl_server(dir: &Path, kind: &str, n: usize, port: u16) -> Proc {
    let devices = dir.join(format!("{kind}{n}"));
    let conf = dir.join(format!("{kind}-{n}.toml"));
    // The rings: object servers send container updates only to the
    // container ring's hosts, container servers report to the account ring.
    let swift_dir = format!(
        "swift_dir = \"{}\"\nrecon_cache_path = \"{}\"\n",
        dir.display(),
        dir.join("cache").display()
    );
    std::fs::write(
        &conf,
        format!(
            "devices = \"{}\"\nmount_check = false\nbind_ip = \"127.0.0.1\"\n\
             bind_port = {port}\nswift_hash_path_suffix = \"{SUFFIX}\"\n{swift_dir}",
            devices.display()
        ),
    )
    .unwrap();
    let p = Proc::swirl_server(
        &format!("{kind}{n}"),
        &[&format!("{kind}-server"), conf.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert!(harness::wait_healthcheck(p.addr(), Duration::from_secs(10)));
    p
}

/// Starts one storage server of `storage`'s kind on `port` (config under `d`).
fn start_server(storage: Storage, d: &Path, kind: &str, n: usize, port: u16) -> Proc {
    match storage {
        Storage::Swift => harness::swift_server(
            &format!("{kind}{n}"),
            &format!("swift-{kind}-server"),
            &server_conf(d, kind, n, port),
            &d.join("swift.conf"),
            port,
        ),
        Storage::Swirl => swirl_server(d, kind, n, port),
    }
}

impl ProxyCluster {
    /// Three object servers (one device each, zones 1-3), one container and
    /// one account server (three devices each), rings from Swift's builder.
    pub fn start() -> Self {
        Self::start_with(3)
    }

    /// As `start`, with `objects` object servers (3 replicas: a fourth one
    /// is a handoff for every partition).
    pub fn start_with(objects: usize) -> Self {
        Self::start_on(Storage::Swift, objects)
    }

    /// As `start_with`, on `storage`'s servers.
    pub fn start_on(storage: Storage, objects: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        harness::write_swift_conf(d, "", SUFFIX);
        let obj_ports: Vec<u16> = (0..objects).map(|_| harness::free_port()).collect();
        let cont_port = harness::free_port();
        let acct_port = harness::free_port();
        // Device dirs: object server n holds d<n>; the db servers hold all three.
        for (n, _) in obj_ports.iter().enumerate() {
            std::fs::create_dir_all(d.join(format!("object{n}")).join(format!("d{n}"))).unwrap();
        }
        for kind in ["container", "account"] {
            for n in 0..3 {
                std::fs::create_dir_all(d.join(format!("{kind}0")).join(format!("d{n}"))).unwrap();
            }
        }
        let spec = serde_json::json!({
            "object": obj_ports.iter().enumerate().map(|(n, p)| serde_json::json!({"port": p, "device": format!("d{n}"), "zone": n % 3 + 1})).collect::<Vec<_>>(),
            "container": (0..3).map(|n| serde_json::json!({"port": cont_port, "device": format!("d{n}"), "zone": n + 1})).collect::<Vec<_>>(),
            "account": (0..3).map(|n| serde_json::json!({"port": acct_port, "device": format!("d{n}"), "zone": n + 1})).collect::<Vec<_>>(),
        });
        match storage {
            Storage::Swift => {
                let out = Command::new("/usr/bin/python3")
                    .arg(harness::py_dir().join("proxy_make_rings.py"))
                    .arg(d)
                    .arg(spec.to_string())
                    .output()
                    .expect("run proxy_make_rings.py");
                assert!(
                    out.status.success(),
                    "make rings: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            // swirl's own builder: a swirl cluster needs no Swift installed.
            Storage::Swirl => make_rings(d, &spec),
        }
        let start = |kind: &str, n: usize, port: u16| start_server(storage, d, kind, n, port);
        let object_servers: Vec<Proc> = obj_ports
            .iter()
            .enumerate()
            .map(|(n, p)| start("object", n, *p))
            .collect();
        let others = vec![
            start("container", 0, cont_port),
            start("account", 0, acct_port),
        ];
        let proxy = start_proxy(d, d, SUFFIX, "");
        ProxyCluster {
            dir,
            storage,
            obj_ports,
            object_servers,
            _db_servers: others,
            db_ports: vec![cont_port, acct_port],
            proxy,
        }
    }

    /// Kills object server `n` (-9) and starts it again on the same port.
    pub fn restart_object_server(&mut self, n: usize) {
        self.object_servers[n].kill9();
        let p = start_server(
            self.storage,
            self.dir.path(),
            "object",
            n,
            self.obj_ports[n],
        );
        self.object_servers[n] = p;
    }

    /// Kills object server `n` (-9) and starts it again on a new port that
    /// the ring does not name (its ring port is left free for the test);
    /// returns the new port.
    pub fn move_object_server(&mut self, n: usize) -> u16 {
        self.object_servers[n].kill9();
        let port = harness::free_port();
        self.object_servers[n] = start_server(self.storage, self.dir.path(), "object", n, port);
        port
    }

    /// Kills the container server (-9).
    pub fn stop_container_server(&mut self) {
        self._db_servers[0].kill9();
    }

    /// Starts the container server again on its port.
    pub fn start_container_server(&mut self) {
        self._db_servers[0] = start_server(
            self.storage,
            self.dir.path(),
            "container",
            0,
            self.db_ports[0],
        );
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.proxy.addr())
    }

    pub fn auth_url(&self) -> String {
        format!("{}/auth/v1.0", self.url())
    }
}

/// As `tests/py/proxy_make_rings.py`, with swirl's builder: for each ring
/// of `spec` (`{"object": [{"port", "device", "zone"}, ...], ...}`), part
/// power 8, 3 replicas (or fewer devices), min_part_hours 1, a fixed seed.
fn make_rings(dir: &Path, spec: &serde_json::Value) {
    use rand::SeedableRng;
    for (name, devs) in spec.as_object().unwrap() {
        let devs = devs.as_array().unwrap();
        let mut b = swirl_ring::builder::RingBuilder::new(8, devs.len().min(3) as f64, 1).unwrap();
        for d in devs {
            let port = d["port"].as_u64().unwrap() as u16;
            b.add_dev(
                swirl_ring::Device {
                    region: 1,
                    zone: d["zone"].as_u64().unwrap() as u32,
                    ip: "127.0.0.1".into(),
                    port,
                    replication_ip: "127.0.0.1".into(),
                    replication_port: port,
                    device: d["device"].as_str().unwrap().to_string(),
                    weight: 100.0,
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        b.rebalance(&mut rng, 0, &mut |_| {}).unwrap();
        let ring = b.get_ring().unwrap();
        let file = std::fs::File::create(dir.join(format!("{name}.ring.gz"))).unwrap();
        swirl_ring::codec::write_ring(&ring, file, 1).unwrap();
    }
}

/// Writes a proxy config over `swift_dir` and starts `swirl proxy-server`.
pub fn start_proxy(dir: &Path, swift_dir: &Path, suffix: &str, extra: &str) -> Proc {
    let mut users = String::new();
    for (k, v) in USERS {
        users.push_str(&format!("{k} = \"{v}\"\n"));
    }
    let conf = dir.join("proxy.toml");
    std::fs::write(
        &conf,
        format!(
            "bind_ip = \"127.0.0.1\"\nbind_port = 0\nswift_dir = \"{}\"\n\
             swift_hash_path_suffix = \"{suffix}\"\naccount_autocreate = true\n\
             allow_account_management = true\nnode_timeout = 5.0\nconn_timeout = 1.0\n{extra}\n\
             [tempauth]\nreseller_prefix = [\"AUTH\", \"SERVICE\"]\n\
             require_group = {{ SERVICE = \"service\" }}\n[tempauth.users]\n{users}",
            swift_dir.display()
        ),
    )
    .unwrap();
    let p = Proc::swirl_server(
        "proxy",
        &["proxy-server", conf.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert!(harness::wait_healthcheck(p.addr(), Duration::from_secs(10)));
    p
}

/// Runs python-swiftclient's `swift` CLI against `auth_url` as test:tester.
pub fn swift_cli(auth_url: &str, cwd: &Path, args: &[&str]) -> (bool, String, String) {
    swift_as(auth_url, ("test:tester", "testing"), cwd, args)
}

/// `swift <args>` as `user` (name, key): success, stdout, stderr.
pub fn swift_as(
    auth: &str,
    user: (&str, &str),
    cwd: &Path,
    args: &[&str],
) -> (bool, String, String) {
    let out = Command::new("/usr/bin/swift")
        .args(["-A", auth, "-U", user.0, "-K", user.1])
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run /usr/bin/swift");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Gets a token and storage URL (path part) for `user`/`key`.
pub fn token(addr: std::net::SocketAddr, user: &str, key: &str) -> (String, String) {
    let (status, h, _) = harness::http_request(
        addr,
        "GET",
        "/auth/v1.0",
        &[("X-Auth-User", user), ("X-Auth-Key", key)],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200, "auth {user}");
    harness::token_and_path(&h)
}

/// Object server indexes (device d<n> lives on object server n): primaries
/// then handoffs of an object, from the ring file, as the proxy computes them.
pub fn object_nodes(
    dir: &Path,
    account: &str,
    container: &str,
    object: &str,
) -> (u32, Vec<usize>, Vec<usize>) {
    let bytes = std::fs::read(dir.join("object.ring.gz")).unwrap();
    let ring = swirl_ring::codec::read_ring(&bytes[..]).unwrap();
    let cfg = swirl_ring::hash::HashPathConfig::new("", SUFFIX);
    let part = ring.get_part(&cfg, account, Some(container), Some(object));
    let idx = |d: &str| d.trim_start_matches('d').parse::<usize>().unwrap();
    let primaries = ring
        .get_part_nodes(part)
        .iter()
        .map(|n| idx(&n.dev.device))
        .collect();
    let handoffs = ring
        .get_more_nodes(part)
        .map(|n| idx(&n.dev.device))
        .collect();
    (part, primaries, handoffs)
}

/// GETs an object straight from object server `n` (backend protocol).
pub fn backend_get(c: &ProxyCluster, n: usize, part: u32, path: &str) -> u16 {
    let addr = c.object_servers[n].addr();
    harness::http_request(
        addr,
        "GET",
        &format!("/d{n}/{part}{path}"),
        &[("X-Backend-Storage-Policy-Index", "0")],
        b"",
    )
    .map(|r| r.0)
    .unwrap_or(0)
}
