//! [`NetnsCluster`]: a multi-node swirl cluster in network namespaces, for
//! Swift's probe-test scenarios (kill a node, cut a link, wipe a device, run
//! a daemon once, look at the files on a device).
//!
//! Layout (all made by the test, named after its pid, removed on drop):
//!
//! ```text
//!  <tag>-sw   the switch: bridges "pub" (192.0.2.1/24) and "rep" (198.51.100.1/24);
//!             the test's own vantage point for direct backend requests
//!  <tag>-px   the proxy, 192.0.2.2 on the public network
//!  <tag>-nN   storage node N: 192.0.2.(10+N) public, 198.51.100.(10+N) replication;
//!             account, container and object servers on devices d1, d2, ...
//! ```
//!
//! Each node's configs are rendered from the deployment guide's templates
//! (`docs/multi-node/`), every server and daemon runs the command of the
//! guide's systemd unit (`docs/multi-node/systemd/`, [`unit_in`]), inside
//! the node's namespace, its certificate is issued by `swirl cluster-ca`, and
//! the rings are built with `swirl ring-builder` from the nodes' public and
//! replication addresses. The servers listen on the guide's fixed ports
//! (6200-6202, replication 6300): every node has its own namespace and
//! addresses, so nothing can clash with another test or another run.
//!
//! ```text
//! let mut c = NetnsCluster::start();           // or start_with(Spec::default().set(..))
//! let cl = c.client();                         // test:tester: token, /v1/AUTH_test
//! cl.request("PUT", "cont/obj", &[], b"body"); // through the proxy
//! c.kill_node(4); c.start_node(4);             // kill -9 / start every server of n4
//! c.stop_server(2, Server::Container);         // SIGTERM one server; start_server
//! c.run_daemon_everywhere("object-replicator", &["--once"]); // exit status, output
//! c.cut_replication(3); c.heal_replication(3); // link down / up
//! let p = c.locate("AUTH_test", "cont/obj");   // part, hash, primaries, handoffs
//! c.direct_object(&p.primaries[0], p.part, "AUTH_test", "cont/obj", "HEAD");
//! c.object_files(&p.primaries[0], &p);         // the files on that device
//! ```

#![allow(dead_code)]

pub mod conn;
pub mod ledger;
pub mod net;
pub mod template;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{self, Proc, RawResponse};

/// First three octets of the public network (client and backend traffic).
pub const PUBLIC_NET: &str = "192.0.2";
/// First three octets of the replication network.
pub const REPLICATION_NET: &str = "198.51.100";
/// The proxy's tempauth users (`account:user`, key).
pub const TESTER: (&str, &str) = ("test:tester", "testing");
pub const ADMIN: (&str, &str) = ("admin:admin", "admin");

/// How long a daemon run (`--once`) may take before the test fails.
pub const DAEMON_DEADLINE: Duration = Duration::from_secs(300);

/// A storage server of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Server {
    Account,
    Container,
    Object,
}

impl Server {
    pub const ALL: [Server; 3] = [Server::Account, Server::Container, Server::Object];

    pub fn name(self) -> &'static str {
        match self {
            Server::Account => "account",
            Server::Container => "container",
            Server::Object => "object",
        }
    }

    /// The public port (the guide's templates).
    pub fn port(self) -> u16 {
        match self {
            Server::Account => 6202,
            Server::Container => 6201,
            Server::Object => 6200,
        }
    }

    /// The replication port the rings carry.
    pub fn replication_port(self) -> u16 {
        self.port() + 100
    }

    /// The server whose config a daemon reads (`object-replicator` ->
    /// object, `container-updater` -> container, ...).
    pub fn of_daemon(daemon: &str) -> Server {
        match daemon.split('-').next() {
            Some("account") => Server::Account,
            Some("container") => Server::Container,
            Some("object") => Server::Object,
            _ => panic!("which server's config does {daemon} read?"),
        }
    }
}

/// One of the two networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Public,
    Replication,
}

impl Network {
    /// The node's link on this network.
    fn dev(self) -> &'static str {
        match self {
            Network::Public => "p",
            Network::Replication => "r",
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Spec {
    pub nodes: usize,
    pub devices_per_node: usize,
    pub part_power: u32,
    pub replicas: u32,
    /// Keys set in every node's rendered config of a server
    /// (`key` or `table.key`).
    pub overrides: Vec<(Server, String, toml::Value)>,
    /// Keys set in the proxy's rendered config.
    pub proxy_overrides: Vec<(String, toml::Value)>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            nodes: 4,
            devices_per_node: 2,
            part_power: 7,
            replicas: 3,
            overrides: Vec::new(),
            proxy_overrides: Vec::new(),
        }
    }
}

impl Spec {
    /// Sets `key` in every node's config of `server`.
    pub fn set(mut self, server: Server, key: &str, value: impl Into<toml::Value>) -> Self {
        self.overrides.push((server, key.into(), value.into()));
        self
    }

    /// Sets `key` in the proxy's config.
    pub fn set_proxy(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.proxy_overrides.push((key.into(), value.into()));
        self
    }
}

/// A storage node.
pub struct Node {
    /// 1-based: node N is `nN`.
    pub n: usize,
    pub ns: String,
    pub public_ip: String,
    pub replication_ip: String,
    pub root: PathBuf,
    /// Its device names, in the rings.
    pub devs: Vec<String>,
    servers: BTreeMap<Server, Proc>,
}

impl Node {
    /// The devices directory (`devices` in its configs).
    pub fn devices(&self) -> PathBuf {
        self.root.join("srv")
    }

    pub fn device(&self, dev: &str) -> PathBuf {
        self.devices().join(dev)
    }

    /// Configs, rings (`swift_dir`) and `tls/`.
    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }

    pub fn config(&self, s: Server) -> PathBuf {
        self.etc().join(format!("{}-server.toml", s.name()))
    }

    pub fn tls(&self) -> PathBuf {
        self.etc().join("tls")
    }

    /// `recon_cache_path`.
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("log")
    }

    pub fn addr(&self, s: Server) -> SocketAddr {
        format!("{}:{}", self.public_ip, s.port()).parse().unwrap()
    }

    pub fn replication_addr(&self, s: Server) -> SocketAddr {
        format!("{}:{}", self.replication_ip, s.replication_port())
            .parse()
            .unwrap()
    }

    pub fn is_running(&self, s: Server) -> bool {
        self.servers.contains_key(&s)
    }

    /// The node's `object.recon` (Null when there is none yet).
    pub fn object_recon(&self) -> serde_json::Value {
        std::fs::read(self.cache().join("object.recon"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// One device of one node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub node: usize,
    pub dev: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{}/{}", self.node, self.dev)
    }
}

/// Where the ring puts a name.
#[derive(Debug, Clone)]
pub struct Placement {
    pub part: u32,
    /// The hash path (an object's hash directory name).
    pub hash: String,
    pub primaries: Vec<Location>,
    pub handoffs: Vec<Location>,
}

/// A finished daemon run.
#[derive(Debug)]
pub struct DaemonRun {
    pub node: usize,
    pub daemon: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl DaemonRun {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with its output unless it exited 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "{self}");
        self
    }
}

impl std::fmt::Display for DaemonRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        write!(
            f,
            "{} on n{}: {} after {:?}\nstdout:\n{}\nstderr (tail):\n{}",
            self.daemon,
            self.node,
            self.status,
            self.elapsed,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

/// A daemon running in the background; killed on drop.
pub struct Daemon {
    child: Option<Child>,
    pub node: usize,
    pub daemon: String,
    started: Instant,
    out: PathBuf,
    err: PathBuf,
}

impl Daemon {
    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Its run, if it has ended.
    fn try_finish(&mut self) -> Option<DaemonRun> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.child = None;
        Some(DaemonRun {
            node: self.node,
            daemon: self.daemon.clone(),
            status,
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
            elapsed: self.started.elapsed(),
        })
    }

    /// Waits for it to exit; panics (killing it) once it has run for
    /// `deadline`.
    pub fn wait(self, deadline: Duration) -> DaemonRun {
        wait_all(vec![self], deadline).pop().unwrap()
    }
}

/// Waits for every daemon to exit (each run's `elapsed` is its own);
/// panics, killing them, once one has run for `deadline`.
pub fn wait_all(mut daemons: Vec<Daemon>, deadline: Duration) -> Vec<DaemonRun> {
    let mut runs: Vec<Option<DaemonRun>> = daemons.iter().map(|_| None).collect();
    loop {
        for (d, r) in daemons.iter_mut().zip(runs.iter_mut()) {
            if r.is_none() {
                *r = d.try_finish();
                if r.is_none() && d.started.elapsed() > deadline {
                    panic!(
                        "{} on n{} still running after {deadline:?}; stderr:\n{}",
                        d.daemon,
                        d.node,
                        std::fs::read_to_string(&d.err).unwrap_or_default()
                    );
                }
            }
        }
        if runs.iter().all(Option::is_some) {
            return runs.into_iter().flatten().collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A proxy client holding a token (cheap to clone into threads).
#[derive(Debug, Clone)]
pub struct Client {
    pub ns: String,
    pub addr: SocketAddr,
    pub token: String,
    /// The storage path, `/v1/AUTH_test`.
    pub account: String,
}

impl Client {
    /// `method <account>/<rel>` with the token; `rel` empty for the account.
    pub fn request(
        &self,
        method: &str,
        rel: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let path = if rel.is_empty() {
            self.account.clone()
        } else {
            format!("{}/{rel}", self.account)
        };
        let mut h = vec![("X-Auth-Token", self.token.as_str())];
        h.extend_from_slice(headers);
        request_in(&self.ns, self.addr, method, &path, &h, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// As [`request`](Self::request), on `pool`'s kept connection.
    pub fn request_via(
        &self,
        pool: &mut conn::Pool,
        method: &str,
        rel: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let path = if rel.is_empty() {
            self.account.clone()
        } else {
            format!("{}/{rel}", self.account)
        };
        let mut h = vec![("X-Auth-Token", self.token.as_str())];
        h.extend_from_slice(headers);
        pool.request(self.addr, method, &path, &h, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Kept-alive connections for one thread's requests ([`request_via`](Self::request_via)).
    pub fn pool(&self) -> conn::Pool {
        conn::Pool::new(&self.ns)
    }

    /// The account name (`AUTH_test`).
    pub fn account_name(&self) -> &str {
        self.account.rsplit('/').next().unwrap_or_default()
    }
}

/// The command of the guide's unit `swirl-<daemon>.service`, run in
/// namespace `ns` with this build's `swirl` and the configs in `etc`.
pub fn unit_in(ns: &str, daemon: &str, etc: &Path) -> std::process::Command {
    let mut cmd = net::command_in(ns);
    cmd.args(template::unit_command(daemon, &harness::swirl_bin(), etc));
    cmd
}

/// A request to `addr` from inside namespace `ns`.
pub fn request_in(
    ns: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let s = net::connect_in(ns, addr, Duration::from_secs(5))?;
    harness::http_request_on(s, &addr.to_string(), method, path, headers, body)
}

/// Where clusters keep their files: `SWIRL_NETNS_DIR` if set, else
/// `/dev/shm` when it has room, else the temp dir. On a disk shared with
/// other work, every object PUT's syncfs waits for everyone's dirty pages
/// (half the suite's time went there); these scenarios are about
/// replication between live processes, not power loss, which the crash
/// tests cover on disk.
pub fn base_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SWIRL_NETNS_DIR") {
        return PathBuf::from(d);
    }
    let shm = Path::new("/dev/shm");
    let roomy =
        rustix::fs::statvfs(shm).is_ok_and(|s| s.f_bavail.saturating_mul(s.f_frsize) >= 2 << 30);
    if roomy {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Polls `f` until it holds; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// The multi-node cluster. Everything it made goes on drop, also when the
/// test panics (then the tail of every server log is printed first).
pub struct NetnsCluster {
    /// `swn<pid>-<k>`: the prefix of its namespaces and temp dir.
    pub tag: String,
    pub spec: Spec,
    /// The switch namespace (on both networks): where direct backend
    /// requests and rogue peers come from.
    pub admin_ns: String,
    pub proxy_ns: String,
    pub nodes: Vec<Node>,
    /// `swift_hash_path_suffix`.
    pub suffix: String,
    proxy: Option<Proc>,
    proxy_addr: Option<SocketAddr>,
    namespaces: Vec<String>,
    /// Rings as built, read once (cleared by `ring_builder`).
    rings: std::sync::Mutex<BTreeMap<Server, std::sync::Arc<swirl_ring::RingData>>>,
    dir: tempfile::TempDir,
}

static CLUSTERS: AtomicUsize = AtomicUsize::new(0);

impl NetnsCluster {
    /// The default cluster: 4 nodes of 2 devices, 3 replicas.
    pub fn start() -> Self {
        Self::start_with(Spec::default())
    }

    pub fn start_with(spec: Spec) -> Self {
        let tmp = base_dir();
        net::clean_stale(&std::env::temp_dir());
        net::clean_stale(&tmp);
        let k = CLUSTERS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{}-{k}", net::PREFIX, std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&format!("{tag}-"))
            .tempdir_in(&tmp)
            .unwrap();
        let nodes = (1..=spec.nodes)
            .map(|n| Node {
                n,
                ns: format!("{tag}-n{n}"),
                public_ip: format!("{PUBLIC_NET}.{}", 10 + n),
                replication_ip: format!("{REPLICATION_NET}.{}", 10 + n),
                root: dir.path().join(format!("n{n}")),
                devs: (1..=spec.devices_per_node)
                    .map(|d| format!("d{d}"))
                    .collect(),
                servers: BTreeMap::new(),
            })
            .collect();
        let mut c = NetnsCluster {
            admin_ns: format!("{tag}-sw"),
            proxy_ns: format!("{tag}-px"),
            tag,
            spec,
            nodes,
            suffix: format!("{:032x}", rand::random::<u128>()),
            proxy: None,
            proxy_addr: None,
            namespaces: Vec::new(),
            rings: Default::default(),
            dir,
        };
        c.build_networks();
        c.make_certificates();
        c.make_rings();
        c.write_configs();
        for n in 1..=c.nodes.len() {
            c.start_node(n);
        }
        c.start_proxy();
        c
    }

    /// The cluster's own directory (CA, ring builders, nodes, proxy).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cluster CA (`ca.pem`, `ca.key`).
    pub fn ca_dir(&self) -> PathBuf {
        self.dir().join("ca")
    }

    /// The ring builders and the rings as built (pushed to the nodes by
    /// [`push_rings`](Self::push_rings)).
    pub fn rings_dir(&self) -> PathBuf {
        self.dir().join("rings")
    }

    fn proxy_etc(&self) -> PathBuf {
        self.dir().join("proxy")
    }

    /// Node `n` (1-based).
    pub fn node(&self, n: usize) -> &Node {
        &self.nodes[n - 1]
    }

    fn build_networks(&mut self) {
        let sw = self.admin_ns.clone();
        self.namespaces.push(sw.clone());
        net::add_namespace(&sw);
        net::add_bridge(&sw, "pub", &format!("{PUBLIC_NET}.1/24"));
        net::add_bridge(&sw, "rep", &format!("{REPLICATION_NET}.1/24"));
        let px = self.proxy_ns.clone();
        self.namespaces.push(px.clone());
        net::add_namespace(&px);
        net::plug(&px, "p", &format!("{PUBLIC_NET}.2/24"), &sw, "pxp", "pub");
        for i in 0..self.nodes.len() {
            let (ns, n) = (self.nodes[i].ns.clone(), self.nodes[i].n);
            self.namespaces.push(ns.clone());
            net::add_namespace(&ns);
            let public = format!("{}/24", self.nodes[i].public_ip);
            let repl = format!("{}/24", self.nodes[i].replication_ip);
            net::plug(&ns, "p", &public, &sw, &format!("n{n}p"), "pub");
            net::plug(&ns, "r", &repl, &sw, &format!("n{n}r"), "rep");
        }
    }

    /// Runs `swirl <args>` in the cluster's directory; panics on failure.
    pub fn swirl(&self, args: &[&str]) -> std::process::Output {
        let out = harness::swirl(self.dir(), args);
        assert!(
            out.status.success(),
            "swirl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn make_certificates(&mut self) {
        let ca = self.ca_dir();
        let tag = self.tag.clone();
        self.swirl(&["cluster-ca", "init", ca.to_str().unwrap(), "--name", &tag]);
        for node in &self.nodes {
            let name = format!("n{}", node.n);
            self.swirl(&[
                "cluster-ca",
                "issue",
                ca.to_str().unwrap(),
                node.tls().to_str().unwrap(),
                "--name",
                &name,
                "--ip",
                &node.replication_ip,
            ]);
        }
    }

    /// Runs `swirl ring-builder <rings>/<ring>.builder <args>` (exit 0, or
    /// 1 for a rebalance's warning); returns its output.
    pub fn ring_builder(&self, ring: &str, args: &[&str]) -> String {
        let builder = self.rings_dir().join(format!("{ring}.builder"));
        let mut all = vec!["ring-builder", builder.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = harness::swirl(&self.rings_dir(), &all);
        self.rings.lock().unwrap().clear();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "swirl {}: {text}",
            all.join(" ")
        );
        text
    }

    /// The ring-builder `add` argument of `dev` on node `n` for `s`:
    /// `r1zN-<public>:<port>R<replication>:<port>/<dev>`.
    pub fn device_arg(&self, n: usize, s: Server, dev: &str) -> String {
        let node = self.node(n);
        format!(
            "r1z{n}-{}:{}R{}:{}/{dev}",
            node.public_ip,
            s.port(),
            node.replication_ip,
            s.replication_port()
        )
    }

    fn make_rings(&mut self) {
        std::fs::create_dir_all(self.rings_dir()).unwrap();
        let (pp, rep) = (
            self.spec.part_power.to_string(),
            self.spec.replicas.to_string(),
        );
        for s in Server::ALL {
            self.ring_builder(s.name(), &["create", &pp, &rep, "0"]);
            for node in &self.nodes {
                for dev in &node.devs {
                    let arg = self.device_arg(node.n, s, dev);
                    self.ring_builder(s.name(), &["add", &arg, "100"]);
                }
            }
            self.ring_builder(s.name(), &["rebalance"]);
        }
        for node in &self.nodes {
            for dev in &node.devs {
                std::fs::create_dir_all(node.device(dev)).unwrap();
            }
            std::fs::create_dir_all(node.cache()).unwrap();
            std::fs::create_dir_all(node.logs()).unwrap();
        }
        std::fs::create_dir_all(self.proxy_etc()).unwrap();
        // Swift's swift.conf beside the rings, for Swift's tools (swift-recon).
        let vars = [("HASH_PATH_SUFFIX", self.suffix.clone())].into();
        std::fs::write(
            self.rings_dir().join("swift.conf"),
            template::render_file("swift.conf", &vars),
        )
        .unwrap();
        self.push_rings();
    }

    /// Copies the rings as built, and swift.conf, to every node and the
    /// proxy (each file replaced atomically, as an operator's deploy script
    /// would).
    pub fn push_rings(&self) {
        let mut targets: Vec<PathBuf> = self.nodes.iter().map(Node::etc).collect();
        targets.push(self.proxy_etc());
        let names = Server::ALL
            .iter()
            .map(|s| format!("{}.ring.gz", s.name()))
            .chain(["swift.conf".to_string()]);
        for name in names {
            let src = self.rings_dir().join(&name);
            for t in &targets {
                std::fs::create_dir_all(t).unwrap();
                let tmp = t.join(format!(".{name}.tmp"));
                std::fs::copy(&src, &tmp).unwrap();
                std::fs::rename(&tmp, t.join(&name)).unwrap();
            }
        }
    }

    /// The template variables of node `n`.
    pub fn node_vars(&self, n: usize) -> BTreeMap<&'static str, String> {
        let node = self.node(n);
        let p = |p: PathBuf| p.display().to_string();
        [
            ("DEVICES", p(node.devices())),
            ("MOUNT_CHECK", "false".to_string()),
            ("PUBLIC_IP", node.public_ip.clone()),
            ("REPLICATION_IP", node.replication_ip.clone()),
            ("HASH_PATH_SUFFIX", self.suffix.clone()),
            ("SWIFT_DIR", p(node.etc())),
            ("TLS_DIR", p(node.tls())),
            ("RECON_CACHE_PATH", p(node.cache())),
        ]
        .into()
    }

    fn write_configs(&mut self) {
        for node in &self.nodes {
            let vars = self.node_vars(node.n);
            for s in Server::ALL {
                let text = template::render_file(&format!("{}-server.toml", s.name()), &vars);
                let over: Vec<(String, toml::Value)> = self
                    .spec
                    .overrides
                    .iter()
                    .filter(|(srv, _, _)| *srv == s)
                    .map(|(_, k, v)| (k.clone(), v.clone()))
                    .collect();
                std::fs::write(node.config(s), template::apply_overrides(&text, &over)).unwrap();
            }
        }
        let vars: BTreeMap<&str, String> = [
            ("PROXY_IP", format!("{PUBLIC_NET}.2")),
            ("PROXY_PORT", "0".to_string()),
            ("SWIFT_DIR", self.proxy_etc().display().to_string()),
            ("HASH_PATH_SUFFIX", self.suffix.clone()),
            ("ADMIN_KEY", ADMIN.1.to_string()),
            ("TESTER_KEY", TESTER.1.to_string()),
            ("BACKEND_KEY", self.backend_key().display().to_string()),
        ]
        .into();
        let text = template::render_file("proxy-server.toml", &vars);
        std::fs::write(
            self.proxy_etc().join("proxy-server.toml"),
            template::apply_overrides(&text, &self.spec.proxy_overrides),
        )
        .unwrap();
    }

    fn log_file(path: &Path) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    }

    /// Starts server `s` of node `n` (`ip netns exec nsN swirl <s>-server
    /// <its toml>`) and waits until it listens (the object server: on both
    /// its ports).
    pub fn start_server(&mut self, n: usize, s: Server) {
        let node = &self.nodes[n - 1];
        assert!(!node.is_running(s), "n{n} {} already running", s.name());
        let mut cmd = unit_in(&node.ns, &format!("{}-server", s.name()), &node.etc());
        cmd.stderr(Self::log_file(
            &node.logs().join(format!("{}-server.log", s.name())),
        ));
        // Every server has its replication listener (the guide's configs).
        let replication = format!("{}-replication", s.name());
        let roles = [s.name(), replication.as_str()];
        let name = format!("n{n}-{}", s.name());
        let p = Proc::spawn_ready_roles(&name, cmd, &roles, Duration::from_secs(60));
        self.nodes[n - 1].servers.insert(s, p);
    }

    /// kill -9 of server `s` of node `n` (a crash).
    pub fn kill_server(&mut self, n: usize, s: Server) {
        if let Some(mut p) = self.nodes[n - 1].servers.remove(&s) {
            p.kill9();
        }
    }

    /// SIGTERM to server `s` of node `n`, waiting for it to exit (killed
    /// after 20 s).
    pub fn stop_server(&mut self, n: usize, s: Server) {
        if let Some(mut p) = self.nodes[n - 1].servers.remove(&s) {
            if let Some(pid) = rustix::process::Pid::from_raw(p.pid() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while p.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            p.kill9();
        }
    }

    pub fn restart_server(&mut self, n: usize, s: Server) {
        self.stop_server(n, s);
        self.start_server(n, s);
    }

    /// Starts every server of node `n` that is not running.
    pub fn start_node(&mut self, n: usize) {
        for s in Server::ALL {
            if !self.node(n).is_running(s) {
                self.start_server(n, s);
            }
        }
    }

    /// kill -9 of every server of node `n` (the node crashes).
    pub fn kill_node(&mut self, n: usize) {
        for s in Server::ALL {
            self.kill_server(n, s);
        }
    }

    /// SIGTERM to every server of node `n`.
    pub fn stop_node(&mut self, n: usize) {
        for s in Server::ALL {
            self.stop_server(n, s);
        }
    }

    /// SIGTERM to every server of node `n`, then starts them again.
    pub fn restart_node(&mut self, n: usize) {
        self.stop_node(n);
        self.start_node(n);
    }

    /// Starts the proxy (port 0 on the public network) and waits for its
    /// healthcheck.
    pub fn start_proxy(&mut self) {
        assert!(self.proxy.is_none(), "proxy already running");
        let etc = self.proxy_etc();
        let mut cmd = unit_in(&self.proxy_ns, "proxy-server", &etc);
        cmd.stderr(Self::log_file(&etc.join("proxy-server.log")));
        let p = Proc::spawn_ready("proxy", cmd, Duration::from_secs(60));
        let addr = p.addr();
        self.proxy = Some(p);
        self.proxy_addr = Some(addr);
        let ns = self.proxy_ns.clone();
        wait_until("the proxy's healthcheck", Duration::from_secs(30), || {
            request_in(&ns, addr, "GET", "/healthcheck", &[], b"").is_ok_and(|r| r.0 == 200)
        });
    }

    pub fn kill_proxy(&mut self) {
        if let Some(mut p) = self.proxy.take() {
            p.kill9();
        }
    }

    /// A new proxy process: forgets error limits and cached info.
    pub fn restart_proxy(&mut self) {
        self.kill_proxy();
        self.start_proxy();
    }

    /// The proxy's address on the public network (reachable from the
    /// cluster's namespaces: [`request_in`], [`command_in`](Self::command_in)).
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr.expect("proxy started")
    }

    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.proxy_addr())
    }

    pub fn auth_url(&self) -> String {
        format!("{}/auth/v1.0", self.proxy_url())
    }

    /// A client authenticated as `user` (`account:user`) with `key`.
    pub fn client_as(&self, user: &str, key: &str) -> Client {
        let (ns, addr) = (self.proxy_ns.clone(), self.proxy_addr());
        let r = request_in(
            &ns,
            addr,
            "GET",
            "/auth/v1.0",
            &[("X-Auth-User", user), ("X-Auth-Key", key)],
            b"",
        )
        .unwrap();
        assert_eq!(r.0, 200, "auth {user}");
        let (token, account) = harness::token_and_path(&r.1);
        Client {
            ns,
            addr,
            token,
            account,
        }
    }

    /// A client of test:tester (account AUTH_test).
    pub fn client(&self) -> Client {
        self.client_as(TESTER.0, TESTER.1)
    }

    /// A command run inside namespace `ns` (`ip netns exec`), e.g. Swift's
    /// `swift` or `swift-recon` against [`auth_url`](Self::auth_url).
    pub fn command_in(&self, ns: &str) -> std::process::Command {
        net::command_in(ns)
    }

    /// A request straight to server `s` of node `n` on the public network,
    /// from the switch namespace (Swift's direct_client).
    pub fn direct(
        &self,
        n: usize,
        s: Server,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<RawResponse> {
        // Signed with the cluster's backend key, as every node signs.
        let auth = self.backend_auth();
        let text = harness::signed_text_headers(&auth, method, path, headers, body);
        let refs: Vec<(&str, &str)> = text.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        request_in(
            &self.admin_ns,
            self.node(n).addr(s),
            method,
            path,
            &refs,
            body,
        )
    }

    /// The cluster's backend key (`swirl cluster-ca init` made it beside
    /// the CA; each node has its copy in its TLS directory).
    pub fn backend_key(&self) -> PathBuf {
        self.ca_dir().join(swirl_common::tls::issue::BACKEND_KEY)
    }

    /// What signs requests straight to the servers, as a node does.
    pub fn backend_auth(&self) -> swirl_common::backend_auth::BackendAuth {
        swirl_common::backend_auth::BackendAuthConfig::signed(self.backend_key())
            .load()
            .unwrap()
    }

    /// `method /<dev>/<part>/<account>/<rel>` on the object server holding
    /// `loc`, for policy 0; status 0 when the server does not answer.
    pub fn direct_object(
        &self,
        loc: &Location,
        part: u32,
        account: &str,
        rel: &str,
        method: &str,
    ) -> RawResponse {
        let path = format!("/{}/{part}/{account}/{rel}", loc.dev);
        self.direct(
            loc.node,
            Server::Object,
            method,
            &path,
            &[("X-Backend-Storage-Policy-Index", "0")],
            b"",
        )
        .unwrap_or((0, Vec::new(), Vec::new()))
    }

    /// As [`direct_object`](Self::direct_object), on `pool`'s kept
    /// connections (a pool of the switch namespace: [`admin_pool`](Self::admin_pool)).
    pub fn direct_object_via(
        &self,
        pool: &mut conn::Pool,
        loc: &Location,
        part: u32,
        account: &str,
        rel: &str,
        method: &str,
    ) -> RawResponse {
        let path = format!("/{}/{part}/{account}/{rel}", loc.dev);
        let auth = self.backend_auth();
        let text = harness::signed_text_headers(
            &auth,
            method,
            &path,
            &[("X-Backend-Storage-Policy-Index", "0")],
            b"",
        );
        let refs: Vec<(&str, &str)> = text.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pool.request(
            self.node(loc.node).addr(Server::Object),
            method,
            &path,
            &refs,
            b"",
        )
        .unwrap_or((0, Vec::new(), Vec::new()))
    }

    /// Kept-alive connections from the switch namespace, for one thread.
    pub fn admin_pool(&self) -> conn::Pool {
        conn::Pool::new(&self.admin_ns)
    }

    /// Sets node `n`'s link on `net` up or down (the switch's end stays up,
    /// so peers see silence, not a refusal).
    pub fn set_link(&self, n: usize, net: Network, up: bool) {
        net::set_link(&self.node(n).ns, net.dev(), up);
    }

    /// Cuts node `n` off the replication network.
    pub fn cut_replication(&self, n: usize) {
        self.set_link(n, Network::Replication, false);
    }

    /// Reconnects node `n` to the replication network and waits until it
    /// routes again.
    pub fn heal_replication(&self, n: usize) {
        self.set_link(n, Network::Replication, true);
        let ns = self.node(n).ns.clone();
        let target: SocketAddr = format!("{REPLICATION_NET}.1:9").parse().unwrap();
        wait_until("the replication link", Duration::from_secs(10), || {
            match net::connect_in(&ns, target, Duration::from_millis(500)) {
                Ok(_) => true,
                // Nothing listens there: a refusal proves the path works.
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            }
        });
    }

    /// Starts `swirl <daemon> <node n's config of that server> <args>` (the
    /// command of the guide's unit, plus `args`) in
    /// node `n`'s namespace, in the background (logs at info unless
    /// SWIRL_TEST_LOG says otherwise).
    pub fn spawn_daemon(&self, n: usize, daemon: &str, args: &[&str]) -> Daemon {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let node = self.node(n);
        let k = RUNS.fetch_add(1, Ordering::Relaxed);
        let out = node.logs().join(format!("{daemon}-{k}.out"));
        let err = node.logs().join(format!("{daemon}-{k}.err"));
        let mut cmd = unit_in(&node.ns, daemon, &node.etc());
        cmd.args(args)
            .env(
                "RUST_LOG",
                std::env::var("SWIRL_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap());
        let child = cmd.spawn().unwrap();
        Daemon {
            child: Some(child),
            node: n,
            daemon: daemon.to_string(),
            started: Instant::now(),
            out,
            err,
        }
    }

    /// Runs a daemon on node `n` to its end (e.g. `object-replicator`
    /// with `--once`).
    pub fn run_daemon(&self, n: usize, daemon: &str, args: &[&str]) -> DaemonRun {
        self.spawn_daemon(n, daemon, args).wait(DAEMON_DEADLINE)
    }

    /// Runs a daemon on every node at once, to their ends (Swift's
    /// `Manager.once`).
    pub fn run_daemon_everywhere(&self, daemon: &str, args: &[&str]) -> Vec<DaemonRun> {
        let all: Vec<Daemon> = (1..=self.nodes.len())
            .map(|n| self.spawn_daemon(n, daemon, args))
            .collect();
        wait_all(all, DAEMON_DEADLINE)
    }

    /// The ring of `s` as built (the admin's copy).
    pub fn ring(&self, s: Server) -> std::sync::Arc<swirl_ring::RingData> {
        let mut cache = self.rings.lock().unwrap();
        cache
            .entry(s)
            .or_insert_with(|| {
                let bytes =
                    std::fs::read(self.rings_dir().join(format!("{}.ring.gz", s.name()))).unwrap();
                std::sync::Arc::new(swirl_ring::codec::read_ring(&bytes[..]).unwrap())
            })
            .clone()
    }

    /// The node whose public or replication address is `ip`.
    pub fn node_of_ip(&self, ip: &str) -> usize {
        self.nodes
            .iter()
            .find(|n| n.public_ip == ip || n.replication_ip == ip)
            .map(|n| n.n)
            .unwrap_or_else(|| panic!("no node has address {ip}"))
    }

    /// Where ring `s` puts `/account[/container[/object]]`.
    pub fn locate_in(
        &self,
        s: Server,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Placement {
        let ring = self.ring(s);
        let cfg = swirl_ring::hash::HashPathConfig::new("", self.suffix.as_bytes());
        let part = ring.get_part(&cfg, account, container, object);
        let hash = swirl_ring::hash::hash_path_hex(&cfg, account, container, object);
        let loc = |d: &swirl_ring::Device| Location {
            node: self.node_of_ip(&d.ip),
            dev: d.device.clone(),
        };
        Placement {
            part,
            hash,
            primaries: ring
                .get_part_nodes(part)
                .iter()
                .map(|n| loc(n.dev))
                .collect(),
            handoffs: ring.get_more_nodes(part).map(|n| loc(n.dev)).collect(),
        }
    }

    /// Where the object ring puts `/account/<rel>` (`rel` = `container/object`).
    pub fn locate(&self, account: &str, rel: &str) -> Placement {
        let (c, o) = rel.split_once('/').expect("container/object");
        self.locate_in(Server::Object, account, Some(c), Some(o))
    }

    /// The hash directory of an object on a device (policy 0).
    pub fn hash_dir(&self, loc: &Location, p: &Placement) -> PathBuf {
        let layout =
            swirl_store::object::DeviceLayout::new(&self.node(loc.node).devices(), &loc.dev, 0);
        layout.hash_dir(p.part, &p.hash)
    }

    /// File names in an object's hash directory on a device (sorted; empty
    /// when there is none).
    pub fn object_files(&self, loc: &Location, p: &Placement) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.hash_dir(loc, p))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every device of every node.
    pub fn all_devices(&self) -> Vec<Location> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.devs.iter().map(|d| Location {
                    node: n.n,
                    dev: d.clone(),
                })
            })
            .collect()
    }

    /// Adds an (empty) device directory `dev` to node `n` (in no ring yet).
    pub fn add_device(&mut self, n: usize, dev: &str) -> PathBuf {
        let node = &mut self.nodes[n - 1];
        std::fs::create_dir_all(node.device(dev)).unwrap();
        node.devs.push(dev.to_string());
        node.device(dev)
    }

    fn print_logs(&self) {
        let mut logs: Vec<PathBuf> = vec![self.proxy_etc().join("proxy-server.log")];
        for node in &self.nodes {
            for s in Server::ALL {
                logs.push(node.logs().join(format!("{}-server.log", s.name())));
            }
        }
        for p in logs {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                eprintln!("--- {} (last lines)", p.display());
                for l in &lines[lines.len().saturating_sub(20)..] {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        self.kill_proxy();
        for node in &mut self.nodes {
            for (_, mut p) in std::mem::take(&mut node.servers) {
                p.kill9();
            }
        }
        // Whatever else runs in them (a daemon a failed test left) goes too.
        for ns in &self.namespaces {
            net::destroy(ns);
        }
    }
}
