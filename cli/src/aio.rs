//! `swirl aio [--data DIR] [--bind HOST:PORT]`: a whole cluster in one
//! process. The first start creates DIR with one TOML config per role (Swift's
//! option names; each also starts that role alone: `swirl object-server
//! DIR/etc/object-server.toml`), rings for four devices built with swirl's
//! builder, and a random hash-path suffix. Later starts reuse all of it, so
//! the data survives restarts. Storage servers listen on loopback ports
//! chosen free at creation; the proxy on --bind (default 127.0.0.1:8080).
//! The volume gateway (`etc/volume-gateway.toml`) serves Cinder's v3 API on
//! --volume-api (default 127.0.0.1:8776) and NBD on --volume-nbd (default
//! 127.0.0.1:10809), storing volumes through the proxy as admin:admin.
//!
//! The storage policies are the SAIO's: 0 "gold" (the default, aliases
//! yellow and orange; `object.ring.gz`, 3 replicas) and 1 "silver"
//! (`object-1.ring.gz`, 2 replicas). A DIR made by an older swirl, whose
//! configs name no policies, gets them (and the silver ring) on its next start.
//!
//! Every storage server has a replication listener (mutual TLS with the
//! aio's own CA, on the rings' replication ports), and the object, container
//! and account replicators run every 30 s, so a lost replica comes back by
//! itself; the object, container and account auditors (`[*-auditor]` in the
//! servers' files) find damaged files and quarantine them, so that the
//! replicators restore them. A DIR from before a server had its listener gets one on its next
//! start (config and rings).
//! The object updater and expirer run every 10 s
//! (`[object-updater]`, `[object-expirer]` of the object server's file; an
//! older DIR gets both sections on its next start).
//! Backend requests are signed with the aio's cluster key and the storage
//! servers refuse unsigned ones (`aio_backend_auth`).
//! With `--keystone-url` the proxy authenticates with Keystone v3 as well
//! (`aio_keystone`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rand::Rng;
use swirl_ring::builder::RingBuilder;
use swirl_ring::Device;

/// Devices of the all-in-one cluster (zones 1-4, one device each).
const DEVICES: usize = 4;
const REPLICAS: f64 = 3.0;
const PART_POWER: u32 = 10;
/// Replicas of policy 1 (silver), as in Swift's SAIO.
const SILVER_REPLICAS: f64 = 2.0;
/// Seconds between object audit passes (and before the first one).
const OBJECT_AUDIT_INTERVAL: u64 = 300;
/// Seconds between account or container audit passes (and before the first).
const DB_AUDIT_INTERVAL: u64 = 600;

/// The policies as the proxy sees them (names, aliases, default).
const PROXY_POLICIES: &str = "\n# Storage policies (swift.conf [storage-policy:N]), as in Swift's SAIO.\n\
    [[storage_policy]]\nindex = 0\nname = \"gold\"\naliases = [\"yellow\", \"orange\"]\ndefault = true\n\n\
    [[storage_policy]]\nindex = 1\nname = \"silver\"\n";
/// The same policies for the storage servers.
const STORAGE_POLICIES: &str =
    "\n# Storage policies (swift.conf [storage-policy:N]), as in Swift's SAIO.\n\
    [[storage_policy]]\nindex = 0\nname = \"gold\"\ndefault = true\n\n\
    [[storage_policy]]\nindex = 1\nname = \"silver\"\n";

/// The object updater's and expirer's sections of the aio's object server
/// file: short intervals, so a failed container update or an expired
/// object is dealt with within seconds.
const OBJECT_DAEMONS: &str =
    "\n# The object updater and expirer (swirl object-updater / object-expirer).\n\
    [object-updater]\ninterval = 10\n\n[object-expirer]\ninterval = 10\n";

/// The filters the aio runs beyond the default pipeline.
const AIO_EXTRA_FILTERS: &[&str] = &[
    "domain_remap",
    "formpost",
    "ratelimit",
    "crossdomain",
    "list_endpoints",
];

/// The tempauth users of Swift's SAIO and functional tests (test.conf).
const USERS: &[(&str, &str)] = &[
    ("user_admin_admin", "admin .admin .reseller_admin"),
    ("user_test_tester", "testing .admin"),
    ("user_test_tester2", "testing2 .admin"),
    ("user_test_tester3", "testing3"),
    ("user_test2_tester2", "testing2 .admin"),
    ("user_test5_tester5", "testing5 service"),
    ("user_test_tester6", "testing6 .reseller_admin"),
    // As in the SAIO: the benchmark's and other clients' own accounts, kept
    // apart from AUTH_test, which Swift's functional tests empty.
    ("user_bench_bench", "bench .admin"),
    ("user_glance_glance", "glance .admin"),
];

struct Args {
    data: PathBuf,
    bind: String,
    volume_api: String,
    volume_nbd: String,
    /// `None`: `<data>/volume-nbd.sock`; `Some("none")`: no Unix socket.
    volume_nbd_socket: Option<String>,
    keystone: crate::aio_keystone::KeystoneFlags,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        data: PathBuf::from("swirl-data"),
        bind: "127.0.0.1:8080".into(),
        volume_api: "127.0.0.1:8776".into(),
        volume_nbd: "127.0.0.1:10809".into(),
        volume_nbd_socket: None,
        keystone: Default::default(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{name} needs a value"))
        };
        match name {
            "--data" => a.data = PathBuf::from(value()?),
            "--bind" => a.bind = value()?,
            "--volume-api" => a.volume_api = value()?,
            "--volume-nbd" => a.volume_nbd = value()?,
            "--volume-nbd-socket" => a.volume_nbd_socket = Some(value()?),
            "-h" | "--help" => return Err(String::new()),
            other => {
                if !a.keystone.take(other, &mut value)? {
                    return Err(format!("unknown option {other:?}"));
                }
            }
        }
    }
    Ok(a)
}

/// A port for a ring: held by this process until its server binds it, so
/// that no other process (another aio, any outgoing connection) takes it.
fn free_port() -> Result<u16, String> {
    swirl_common::listen::reserve("127.0.0.1").map_err(|e| format!("finding a free port: {e}"))
}

pub(crate) fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_ring(path: &Path, port: u16, repl_port: u16, replicas: f64) -> Result<(), String> {
    let mut b = RingBuilder::new(PART_POWER, replicas, 1).map_err(|e| e.to_string())?;
    for i in 0..DEVICES {
        let dev = Device {
            region: 1,
            zone: i as u32 + 1,
            ip: "127.0.0.1".into(),
            port,
            replication_ip: "127.0.0.1".into(),
            replication_port: repl_port,
            device: format!("d{}", i + 1),
            weight: 100.0,
            ..Default::default()
        };
        b.add_dev(dev, None).map_err(|e| e.to_string())?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    b.rebalance(&mut rand::rng(), now, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let ring = b.get_ring().map_err(|e| e.to_string())?;
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    swirl_ring::codec::write_ring(&ring, file, 1).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Creates DIR's configs, device dirs and rings (first start only).
fn create(dir: &Path, bind: &str) -> Result<(), String> {
    let etc = dir.join("etc");
    let srv = dir.join("srv");
    for i in 1..=DEVICES {
        std::fs::create_dir_all(srv.join(format!("d{i}")))
            .map_err(|e| format!("{}: {e}", srv.display()))?;
    }
    std::fs::create_dir_all(&etc).map_err(|e| format!("{}: {e}", etc.display()))?;
    let suffix = format!("{:032x}", rand::rng().random::<u128>());
    let common = format!(
        "swift_hash_path_suffix = {}\ndevices = {}\nmount_check = false\nbind_ip = \"127.0.0.1\"\n",
        toml_str(&suffix),
        toml_str(&srv.display().to_string())
    );
    for role in ["object", "container", "account"] {
        let port = free_port()?;
        let repl_port = free_port()?;
        let replication = replication_block(dir, repl_port, role)?;
        if role == "object" {
            write_ring(
                &etc.join("object-1.ring.gz"),
                port,
                repl_port,
                SILVER_REPLICAS,
            )?;
        }
        write_ring(
            &etc.join(format!("{role}.ring.gz")),
            port,
            repl_port,
            REPLICAS,
        )?;
        let (head, tables) = replication
            .split_once("\n[")
            .map_or((replication.as_str(), String::new()), |(h, t)| {
                (h, format!("\n[{t}"))
            });
        let daemons = if role == "object" { OBJECT_DAEMONS } else { "" };
        let text = format!(
            "# swirl {role} server of the all-in-one cluster\n{common}bind_port = {port}\n{head}{STORAGE_POLICIES}{tables}{daemons}\n{}",
            auditor_section(role)
        );
        std::fs::write(etc.join(format!("{role}-server.toml")), text).map_err(|e| e.to_string())?;
    }
    let (ip, port) = bind
        .rsplit_once(':')
        .ok_or(format!("--bind {bind:?}: expected HOST:PORT"))?;
    let mut users = String::new();
    for (k, v) in USERS {
        users.push_str(&format!("{k} = {}\n", toml_str(v)));
    }
    // The default pipeline and what Swift's development cluster adds
    // (domain_remap for example.net, as the functional tests' config,
    // formpost, ratelimit with its defaults, which limit nothing, and
    // crossdomain), and list_endpoints.
    let pipeline = swirl_proxy::pipeline::registry::default_with(AIO_EXTRA_FILTERS)
        .iter()
        .map(|n| toml_str(n))
        .collect::<Vec<_>>()
        .join(", ");
    let proxy = format!(
        "# swirl proxy of the all-in-one cluster (Swift's proxy-server.conf option names)\n\
         bind_ip = {}\nbind_port = {port}\nswift_dir = {}\nswift_hash_path_suffix = {}\n\
         account_autocreate = true\nallow_account_management = true\n\
         pipeline = [{pipeline}]\n\n\
         [domain_remap]\nstorage_domain = [\"example.net\"]\n\n\
         [versioned_writes]\nallow_versioned_writes = true\nallow_object_versioning = true\n\n\
         [tempauth]\nreseller_prefix = [\"AUTH\", \"SERVICE\"]\nrequire_group = {{ SERVICE = \"service\" }}\n\n\
         [tempauth.users]\n{users}{PROXY_POLICIES}",
        toml_str(ip.trim_start_matches('[').trim_end_matches(']')),
        toml_str(&etc.display().to_string()),
        toml_str(&suffix)
    );
    std::fs::write(etc.join("proxy-server.toml"), proxy).map_err(|e| e.to_string())?;
    write_gateway_config(&etc)
}

/// The volume gateway's config. Its addresses and the proxy's URL are set
/// from the command line at every start; the rest is the operator's.
fn write_gateway_config(etc: &Path) -> Result<(), String> {
    let text =
        "# swirl volume gateway of the all-in-one cluster (see volume-gateway.sample.toml).\n\
        # bind_ip/bind_port, nbd_bind_ip/nbd_bind_port, proxy_url and auth_url come from\n\
        # `swirl aio --volume-api/--volume-nbd/--bind` at each start.\n\
        proxy_url = \"http://127.0.0.1:8080\"\n\
        auth_url = \"http://127.0.0.1:8080/auth/v1.0\"\n\
        auth_user = \"admin:admin\"\n\
        auth_key = \"admin\"\n\
        gateway_id = \"aio\"\n\
        image_account = \"AUTH_glance\"\n";
    let path = etc.join("volume-gateway.toml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Splits HOST:PORT (brackets around an IPv6 host are dropped).
fn host_port(flag: &str, v: &str) -> Result<(String, u16), String> {
    let (ip, port) = v
        .rsplit_once(':')
        .ok_or(format!("{flag} {v:?}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{flag} {v:?}: bad port"))?;
    Ok((
        ip.trim_start_matches('[').trim_end_matches(']').to_string(),
        port,
    ))
}

/// A storage server's replication settings for the aio (top-level keys,
/// then its tables: the TLS files and its replicator's section), creating
/// the cluster CA and the node's certificate in `DIR/etc/tls` when they are
/// not there yet. Replication passes every 30 s.
fn replication_block(dir: &Path, repl_port: u16, role: &str) -> Result<String, String> {
    let tls = dir.join("etc").join("tls");
    let ca = tls.join("ca");
    let node = tls.join("node");
    if !ca.join(swirl_common::tls::issue::CA_CERT).exists() {
        swirl_common::tls::issue::create_ca(&ca, "aio").map_err(|e| e.to_string())?;
    }
    if !node.join(swirl_common::tls::issue::NODE_CERT).exists() {
        swirl_common::tls::issue::issue_node(
            &ca,
            &node,
            "aio",
            &["127.0.0.1".parse().map_err(|_| "ip")?],
            &["localhost".into()],
        )
        .map_err(|e| e.to_string())?;
    }
    let f = swirl_common::tls::ClusterTlsConfig::in_dir(&node);
    Ok(format!(
        "# Replication: a mutual-TLS listener on the ring's replication port, rings in swift_dir.\n\
         replication_ip = \"127.0.0.1\"\nreplication_port = {repl_port}\nswift_dir = {}\nrecon_cache_path = {}\n\n\
         [cluster_tls]\nca_file = {}\ncert_file = {}\nkey_file = {}\n\n\
         [{role}-replicator]\ninterval = 30\nstats_interval = 30\n",
        toml_str(&dir.join("etc").display().to_string()),
        toml_str(&dir.join("cache").display().to_string()),
        toml_str(&f.ca_file.display().to_string()),
        toml_str(&f.cert_file.display().to_string()),
        toml_str(&f.key_file.display().to_string()),
    ))
}

/// A storage server's auditor section for the aio: the four devices share
/// one machine's disk, so a pass at most every 5 minutes (objects; 10
/// minutes for databases) at Swift's rates, which bound the whole node.
fn auditor_section(role: &str) -> String {
    if role == "object" {
        format!(
            "# The object auditor (swirl object-auditor): Swift's rates, a pass every {OBJECT_AUDIT_INTERVAL} s.\n\
             [object-auditor]\ninterval = {OBJECT_AUDIT_INTERVAL}\nfiles_per_second = 20\n\
             bytes_per_second = 10000000\nzero_byte_files_per_second = 50\nlog_time = 300\n"
        )
    } else {
        format!(
            "# The {role} auditor (swirl {role}-auditor): a pass every {DB_AUDIT_INTERVAL} s.\n\
             [{role}-auditor]\ninterval = {DB_AUDIT_INTERVAL}\ndatabases_per_second = 50\nlog_time = 300\n"
        )
    }
}

/// Just whether a server config has a replication listener.
#[derive(serde::Deserialize)]
struct HasReplication {
    replication_port: Option<u16>,
}

/// Gives a storage server's config made by an older swirl (no replication
/// listener) one, and points its rings' replication port at it (the object
/// rings, or the container or account ring).
fn upgrade_replication(dir: &Path) -> Result<(), String> {
    let etc = dir.join("etc");
    for role in ["object", "container", "account"] {
        let path = etc.join(format!("{role}-server.toml"));
        let has: HasReplication = load(&path)?;
        if has.replication_port.is_some() {
            continue;
        }
        let repl_port = free_port()?;
        let block = replication_block(dir, repl_port, role)?;
        let (head, tables) = block.split_once("\n[").ok_or("replication block")?;
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Top-level keys must come before any table; a key the file sets
        // already (swift_dir, say) stays as the operator set it.
        let set: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
            .collect();
        let head: String = head
            .lines()
            .filter(|l| {
                l.split_once('=')
                    .is_none_or(|(k, _)| !set.contains(&k.trim()))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let new = format!("{head}\n{text}\n[{tables}");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, new).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        for entry in std::fs::read_dir(&etc)
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = match role {
                "object" => name.starts_with("object") && name.ends_with(".ring.gz"),
                _ => name == format!("{role}.ring.gz"),
            };
            if !ours {
                continue;
            }
            let bytes = std::fs::read(entry.path()).map_err(|e| e.to_string())?;
            let mut ring = swirl_ring::codec::read_ring(&bytes[..]).map_err(|e| e.to_string())?;
            for d in ring.devs.iter_mut().flatten() {
                d.replication_port = repl_port;
            }
            let tmp = entry.path().with_extension("tmp");
            let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
            swirl_ring::codec::write_ring(&ring, file, 1).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, entry.path()).map_err(|e| e.to_string())?;
        }
        eprintln!(
            "swirl aio: {role}-server.toml: added a replication listener on 127.0.0.1:{repl_port}"
        );
    }
    Ok(())
}

/// Gives a storage server's config made by an older swirl (no auditor
/// section) the aio's; one the file has is the operator's and stays.
fn upgrade_auditors(etc: &Path) -> Result<(), String> {
    for role in ["object", "container", "account"] {
        let path = etc.join(format!("{role}-server.toml"));
        let table: std::collections::BTreeMap<String, serde::de::IgnoredAny> = load(&path)?;
        if table.contains_key(&format!("{role}-auditor")) {
            continue;
        }
        let mut text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // A table may follow anything, so appending is valid TOML.
        text.push('\n');
        text.push_str(&auditor_section(role));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("swirl aio: {role}-server.toml: added a [{role}-auditor] section");
    }
    Ok(())
}

fn load<T: serde::de::DeserializeOwned>(p: &Path) -> Result<T, String> {
    swirl_common::config::load(p).map_err(|e| e.to_string())
}

/// Just whether a config file names storage policies.
#[derive(serde::Deserialize)]
struct NamesPolicies {
    storage_policy: Option<serde::de::IgnoredAny>,
}

/// Just whether the object server's file has the updater's or expirer's section.
#[derive(serde::Deserialize)]
struct HasObjectDaemons {
    #[serde(rename = "object-updater")]
    object_updater: Option<serde::de::IgnoredAny>,
    #[serde(rename = "object-expirer")]
    object_expirer: Option<serde::de::IgnoredAny>,
}

/// Brings a DIR made by an older swirl (no storage policies anywhere, no
/// `object-1.ring.gz`) up to the SAIO's two policies. A config that already
/// names policies is the operator's and is left as it is.
fn upgrade(etc: &Path) -> Result<(), String> {
    for (file, block) in [
        ("proxy-server.toml", PROXY_POLICIES),
        ("object-server.toml", STORAGE_POLICIES),
        ("container-server.toml", STORAGE_POLICIES),
        ("account-server.toml", STORAGE_POLICIES),
    ] {
        let path = etc.join(file);
        let has: NamesPolicies = load(&path)?;
        if has.storage_policy.is_some() {
            continue;
        }
        let mut text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // Arrays of tables may follow any table, so appending is valid TOML.
        text.push_str(block);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("swirl aio: {file}: added storage policies gold (0) and silver (1)");
    }
    let obj_path = etc.join("object-server.toml");
    let has: HasObjectDaemons = load(&obj_path)?;
    if has.object_updater.is_none() && has.object_expirer.is_none() {
        let mut text = std::fs::read_to_string(&obj_path)
            .map_err(|e| format!("{}: {e}", obj_path.display()))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(OBJECT_DAEMONS);
        let tmp = obj_path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &obj_path).map_err(|e| format!("{}: {e}", obj_path.display()))?;
        eprintln!(
            "swirl aio: object-server.toml: added the object updater's and expirer's sections"
        );
    }
    if !etc.join("volume-gateway.toml").exists() {
        write_gateway_config(etc)?;
        eprintln!("swirl aio: created volume-gateway.toml (the volume gateway's config)");
    }
    let proxy: swirl_proxy::Config = load(&etc.join("proxy-server.toml"))?;
    crate::aio_swift_conf::ensure(etc, &proxy.swift_hash_path_suffix, &proxy.storage_policy)?;
    let obj: swirl_object::Config = load(&etc.join("object-server.toml"))?;
    for p in proxy.storage_policy.iter().filter(|p| p.index > 0) {
        let ring = etc.join(format!("object-{}.ring.gz", p.index));
        if !ring.exists() {
            write_ring(
                &ring,
                obj.listen.bind_port,
                obj.replication_port.unwrap_or(obj.listen.bind_port),
                SILVER_REPLICAS,
            )?;
            eprintln!(
                "swirl aio: created {} for policy {} ({})",
                ring.display(),
                p.index,
                p.name
            );
        }
    }
    Ok(())
}

pub fn main(args: &[String]) -> ExitCode {
    let a = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("swirl aio: {e}");
            }
            eprintln!(
                "usage: swirl aio [--data DIR] [--bind HOST:PORT] [--volume-api HOST:PORT] [--volume-nbd HOST:PORT]\n\
                 \x20         [--volume-nbd-socket PATH|none]\n\
                 \x20         [--keystone-url URL --keystone-password PW [--keystone-user U] [--keystone-project P] [--keystone-domain D]]\n\
                 (defaults ./swirl-data, 127.0.0.1:8080, 127.0.0.1:8776, 127.0.0.1:10809, DIR/volume-nbd.sock; Keystone off,\n\
                 with --keystone-url: user swift, project service, domain default; accounts AUTH_<project id>,\n\
                 tempauth's users then under TEMPAUTH_)"
            );
            return ExitCode::from(2);
        }
    };
    swirl_common::logging::init();
    let etc = a.data.join("etc");
    if !etc.join("proxy-server.toml").exists() {
        if let Err(e) = create(&a.data, &a.bind) {
            eprintln!("Error: creating {}: {e}", a.data.display());
            return ExitCode::FAILURE;
        }
        eprintln!("swirl aio: created a new cluster in {}", a.data.display());
    }
    let loaded = (|| -> Result<_, String> {
        upgrade(&etc)?;
        upgrade_replication(&a.data)?;
        upgrade_auditors(&etc)?;
        crate::aio_backend_auth::ensure(&a.data)?;
        let obj: swirl_object::Config = load(&etc.join("object-server.toml"))?;
        let cont: swirl_db::Config = load(&etc.join("container-server.toml"))?;
        let acct: swirl_db::Config = load(&etc.join("account-server.toml"))?;
        let mut proxy: swirl_proxy::Config = load(&etc.join("proxy-server.toml"))?;
        let (ip, port) = a
            .bind
            .rsplit_once(':')
            .ok_or(format!("--bind {:?}: expected HOST:PORT", a.bind))?;
        proxy.listen.bind_ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
        proxy.listen.bind_port = port
            .parse()
            .map_err(|_| format!("--bind {:?}: bad port", a.bind))?;
        let mut vol: swirl_volume::Config = load(&etc.join("volume-gateway.toml"))?;
        a.keystone.apply(&mut proxy, &mut vol)?;
        proxy
            .validate()
            .map_err(|(k, m)| format!("proxy-server.toml: {k}: {m}"))?;
        (vol.bind_ip, vol.bind_port) = host_port("--volume-api", &a.volume_api)?;
        (vol.nbd_bind_ip, vol.nbd_bind_port) = host_port("--volume-nbd", &a.volume_nbd)?;
        vol.nbd_socket = nbd_socket(&a)?;
        vol.validate()
            .map_err(|(k, m)| format!("volume-gateway.toml: {k}: {m}"))?;
        Ok((obj, cont, acct, proxy, vol))
    })();
    let (obj, cont, acct, proxy, vol) = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(rt) = crate::role::runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(run(&etc, obj, cont, acct, proxy, vol))
}

/// The volume gateway's NBD Unix socket: `--volume-nbd-socket` (`none`:
/// none), by default `volume-nbd.sock` in the data folder, unless that
/// path is too long for a socket address (then TCP only, said on stderr).
fn nbd_socket(a: &Args) -> Result<Option<PathBuf>, String> {
    // sockaddr_un's sun_path: 108 bytes with the final NUL.
    const MAX: usize = 107;
    let abs = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    match a.volume_nbd_socket.as_deref() {
        Some("none") => Ok(None),
        Some(p) => {
            let p = abs(Path::new(p))?;
            if p.as_os_str().len() > MAX {
                return Err(format!(
                    "--volume-nbd-socket {}: longer than a socket path may be ({MAX} bytes)",
                    p.display()
                ));
            }
            Ok(Some(p))
        }
        None => {
            let p = abs(&a.data.join("volume-nbd.sock"))?;
            if p.as_os_str().len() > MAX {
                eprintln!(
                    "swirl aio: {} is too long for a socket path: NBD over TCP only \
                     (see --volume-nbd-socket)",
                    p.display()
                );
                return Ok(None);
            }
            Ok(Some(p))
        }
    }
}

/// Waits (10 s at most) until this process's listener on `port` accepts.
async fn wait_listening(port: u16) {
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn bind(addr: String) -> Result<tokio::net::TcpListener, String> {
    swirl_common::listen::bind(&addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))
}

async fn run(
    etc: &Path,
    obj: swirl_object::Config,
    cont: swirl_db::Config,
    acct: swirl_db::Config,
    proxy: swirl_proxy::Config,
    mut vol: swirl_volume::Config,
) -> ExitCode {
    let listeners = async {
        Ok::<_, String>((
            bind(format!("{}:{}", obj.listen.bind_ip, obj.listen.bind_port)).await?,
            bind(format!("{}:{}", cont.listen.bind_ip, cont.listen.bind_port)).await?,
            bind(format!("{}:{}", acct.listen.bind_ip, acct.listen.bind_port)).await?,
        ))
    }
    .await;
    let (lo, lc, la) = match listeners {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let paddr = format!("{}:{}", proxy.listen.bind_ip, proxy.listen.bind_port);
    let lp = match swirl_common::server::bind_and_announce("proxy", &paddr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Error: bind {paddr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shown = lp.local_addr().map(|a| a.to_string()).unwrap_or(paddr);
    let vapi = format!("{}:{}", vol.bind_ip, vol.bind_port);
    let vnbd = format!("{}:{}", vol.nbd_bind_ip, vol.nbd_bind_port);
    let gateway = async {
        let api = swirl_common::server::bind_and_announce("volume-api", &vapi)
            .await
            .map_err(|e| format!("bind {vapi}: {e}"))?;
        let nbd = swirl_common::server::bind_and_announce("volume-nbd", &vnbd)
            .await
            .map_err(|e| format!("bind {vnbd}: {e}"))?;
        let unix = crate::serve_volume::bind_nbd_socket(&vol).await?;
        Ok::<_, String>((api, nbd, unix))
    }
    .await;
    let (lva, lvn, lvu) = match gateway {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "Error: {e} (the volume gateway's port; see --volume-api/--volume-nbd/--volume-nbd-socket)"
            );
            return ExitCode::FAILURE;
        }
    };
    let api_shown = lva.local_addr().map(|a| a.to_string()).unwrap_or(vapi);
    let mut nbd_shown = lvn.local_addr().map(|a| a.to_string()).unwrap_or(vnbd);
    if let Some(p) = &vol.nbd_socket {
        nbd_shown = format!("{nbd_shown} and unix:{}", p.display());
    }
    eprintln!(
        "swirl aio: auth URL http://{shown}/auth/v1.0\n\
         swirl aio: credentials test:tester / testing (also admin:admin/admin, test:tester3/testing3, \
         test2:tester2/testing2, test5:tester5/testing5)\n\
         swirl aio: try  swift -A http://{shown}/auth/v1.0 -U test:tester -K testing stat\n\
         swirl aio: volume API (Cinder v3) http://{api_shown}/v3/AUTH_test, NBD on {nbd_shown}\n\
         swirl aio: try  cinder --os-auth-type admin_token --os-endpoint http://{api_shown}/v3/AUTH_test \
         --os-project-id AUTH_test --os-token <X-Auth-Token of test:tester> list"
    );
    if let Some(k) = &proxy.authtoken {
        eprintln!(
            "swirl aio: Keystone at {} (service user {}): accounts AUTH_<project id>; tempauth's \
             accounts are {}_<name>; register object-store as http://{shown}/v1/AUTH_%(project_id)s              and volumev3 as http://{api_shown}/v3/%(project_id)s; the volume gateway signs in              as {} too, which needs the ResellerAdmin role",
            k.auth_url,
            k.username,
            crate::aio_keystone::TEMPAUTH_PREFIX,
            k.username
        );
    }
    vol.proxy_url = format!("http://{shown}");
    if !vol.keystone_auth() {
        vol.auth_url = format!("http://{shown}/auth/v1.0");
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.changed().await;
    };
    // The object replicator reads the object server's own file.
    let repl = swirl_replicator::config::NodeConfig::load(&etc.join("object-server.toml"))
        .map_err(|e| e.to_string())
        .and_then(|c| {
            c.settings()
                .map_err(|(k, m)| format!("object-server.toml: {k}: {m}"))
        })
        .and_then(|s| {
            swirl_replicator::object::ObjectReplicator::new(s).map_err(|e| e.to_string())
        });
    let replicator = match repl {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: object replicator: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The account and container replicators read their servers' files.
    let db_repl = |kind: swirl_db::DbKind| {
        let file = format!("{}-server.toml", kind.name());
        swirl_replicator::db::DbNodeConfig::load(&etc.join(&file))
            .map_err(|e| e.to_string())
            .and_then(|c| {
                c.settings(kind)
                    .map_err(|(k, m)| format!("{file}: {k}: {m}"))
            })
            .and_then(|s| swirl_replicator::db::DbReplicator::new(s).map_err(|e| e.to_string()))
    };
    let (acct_repl, cont_repl) = match (
        db_repl(swirl_db::DbKind::Account),
        db_repl(swirl_db::DbKind::Container),
    ) {
        (Ok(a), Ok(c)) => (a, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("Error: database replicator: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The auditors read the servers' files too. Their first passes wait
    // an interval: a fresh aio has nothing to audit, and a test that
    // damages a file on purpose meets the servers' own checks first.
    let auditors = (|| -> Result<_, String> {
        use swirl_replicator::audit::config::{DbAuditNodeConfig, ObjectAuditNodeConfig};
        let o = ObjectAuditNodeConfig::load(&etc.join("object-server.toml"))
            .map_err(|e| e.to_string())?
            .settings()
            .map_err(|(k, m)| format!("object-server.toml: {k}: {m}"))?;
        let mut dbs = Vec::new();
        for kind in [swirl_db::DbKind::Account, swirl_db::DbKind::Container] {
            let file = format!("{}-server.toml", kind.name());
            let s = DbAuditNodeConfig::load(&etc.join(&file))
                .map_err(|e| e.to_string())?
                .settings(kind)
                .map_err(|(k, m)| format!("{file}: {k}: {m}"))?;
            dbs.push(swirl_replicator::audit::db::DbAuditor::new(s));
        }
        Ok((swirl_replicator::audit::object::ObjectAuditor::new(o), dbs))
    })();
    let (obj_auditor, db_auditors) = match auditors {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: auditor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let first = obj_auditor.settings().interval;
    let astop = stop(rx.clone());
    tokio::spawn(async move { obj_auditor.run_forever(first, astop).await });
    for a in db_auditors {
        let astop = stop(rx.clone());
        tokio::spawn(async move { a.run_forever(a.settings().interval, astop).await });
    }
    // The object updater and expirer read the object server's file too.
    let obj_file = etc.join("object-server.toml");
    let daemons = swirl_replicator::updater::config::UpdaterNodeConfig::load(&obj_file)
        .map_err(|e| e.to_string())
        .and_then(|c| {
            c.settings()
                .map_err(|(k, m)| format!("object-server.toml: {k}: {m}"))
        })
        .and_then(|s| swirl_replicator::updater::ObjectUpdater::new(s).map_err(|e| e.to_string()))
        .and_then(|u| {
            swirl_replicator::expirer::config::ExpirerNodeConfig::load(&obj_file)
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    c.settings()
                        .map_err(|(k, m)| format!("object-server.toml: {k}: {m}"))
                })
                .and_then(|s| {
                    swirl_replicator::expirer::ObjectExpirer::new(s).map_err(|e| e.to_string())
                })
                .map(|x| (u, x))
        });
    let (updater, expirer) = match daemons {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error: object updater/expirer: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The gateway stops first, so that it can write its caches back
    // through a proxy that is still running.
    let (vtx, vrx) = tokio::sync::watch::channel(false);
    let o = tokio::spawn(swirl_object::run(obj, lo, stop(rx.clone())));
    // Each first pass waits for this process's own replication listener.
    let rstop = stop(rx.clone());
    let port = replicator.settings().replication_port;
    tokio::spawn(async move {
        wait_listening(port).await;
        replicator.run_forever(rstop).await
    });
    // Their first passes wait for the servers they talk to.
    let (ustop, xstop) = (stop(rx.clone()), stop(rx.clone()));
    let (cport, aport) = (cont.listen.bind_port, acct.listen.bind_port);
    tokio::spawn(async move {
        wait_listening(cport).await;
        updater.run_forever(ustop).await
    });
    tokio::spawn(async move {
        wait_listening(aport).await;
        expirer.run_forever(xstop).await
    });
    for r in [acct_repl, cont_repl] {
        let rstop = stop(rx.clone());
        tokio::spawn(async move {
            wait_listening(r.settings().replication_port).await;
            r.run_forever(rstop).await
        });
    }
    let c = tokio::spawn(swirl_db::run(
        swirl_db::DbKind::Container,
        cont,
        lc,
        stop(rx.clone()),
    ));
    let a = tokio::spawn(swirl_db::run(
        swirl_db::DbKind::Account,
        acct,
        la,
        stop(rx.clone()),
    ));
    // One proxy serves clients and, in this process, the volume gateway.
    let built = swirl_proxy::tls(&proxy).and_then(|t| Ok((t, swirl_proxy::in_process(proxy)?)));
    let (tls, handler) = match built {
        Ok(h) => h,
        Err(e) => {
            eprintln!("Error: proxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let p = tokio::spawn(swirl_proxy::serve(
        handler.clone(),
        lp,
        tls,
        stop(rx.clone()),
    ));
    let ends = swirl_volume::Endpoints {
        api: lva,
        nbd: lvn,
        nbd_unix: lvu,
        proxy: std::sync::Arc::new(crate::internal_proxy::InProcess(handler.clone())),
        client_proxy: std::sync::Arc::new(crate::internal_proxy::InProcess(handler)),
    };
    let mut v = tokio::spawn(swirl_volume::run(vol, ends, stop(vrx)));
    let signal = crate::role::shutdown_signal();
    // Any role ending (an error) or a signal stops them all.
    let failed: Option<String> = tokio::select! {
        _ = signal => None,
        r = o => Some(format!("object server stopped: {r:?}")),
        r = c => Some(format!("container server stopped: {r:?}")),
        r = a => Some(format!("account server stopped: {r:?}")),
        r = p => Some(format!("proxy stopped: {r:?}")),
        r = &mut v => Some(format!("volume gateway stopped: {r:?}")),
    };
    let _ = vtx.send(true);
    if !v.is_finished() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), &mut v).await;
    }
    let _ = tx.send(true);
    match failed {
        None => ExitCode::SUCCESS,
        Some(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
