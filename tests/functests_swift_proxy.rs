//! Contract 2 (a Swift proxy sits on swirl's storage servers): Swift
//! 2.30.1's own proxy (Debian's package, with the pipeline of Swift's
//! development cluster, `bench/swift-reference/proxy-conf`, as the
//! reference cluster's) over swirl's account, container and object servers,
//! and Swift's whole functional suite (`bench/swift-reference/functests`
//! without a module list: all of `test/functional` but s3api) through it.
//! Every test passes that passes over Swift's own servers: a failure, an
//! error, or a skip that Swift's run does not have fails this test, which
//! lists them all.
//!
//! The storage servers are plain (`[backend_auth] mode = "plain"`), as
//! Swift's: Swift's proxy signs nothing.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

// The whole suite (everything but s3api) collects what the aio run does
// (`functests::SWIFT_COLLECTED`: 786 pass, the 16 of `SWIFT_SKIPS` skip), as
// Swift's proxy over its own servers on XFS does (on plain ext4 directories,
// `start --fs plain`, 6 of tests.py's metadata tests fail there besides: the
// most metadata Swift allows does not fit in ext4's xattrs, 507).
use crate::functests::{
    functests_script, judge_against, run_functests, SWIFT_COLLECTED, SWIFT_SKIPS,
};
use crate::harness::{self, Proc};

/// The storage policies: Swift's development cluster's, in swift.conf for
/// Swift's proxy and in TOML for swirl's servers.
const SWIFT_CONF_POLICIES: &str = "\n[storage-policy:0]\nname = gold\naliases = yellow, orange\n\
    policy_type = replication\ndefault = yes\n\n[storage-policy:1]\nname = silver\n\
    policy_type = replication\n";
const TOML_POLICIES: &str = "\n[[storage_policy]]\nindex = 0\nname = \"gold\"\ndefault = true\n\n\
    [[storage_policy]]\nindex = 1\nname = \"silver\"\n";

/// Starts swirl's `role` server (object, container, account) on a port of
/// the OS's choosing over the devices in `srv`.
fn storage_server(role: &str, etc: &Path, srv: &Path, suffix: &str) -> Proc {
    let conf = etc.join(format!("{role}-server.toml"));
    let text = format!(
        "devices = {:?}\nmount_check = false\nbind_ip = \"127.0.0.1\"\nbind_port = 0\n\
         swift_hash_path_prefix = \"\"\nswift_hash_path_suffix = {suffix:?}\n\
         swift_dir = {:?}\nrecon_cache_path = {:?}\n{TOML_POLICIES}\n\
         # Swift's proxy signs nothing: check nothing, as Swift's servers.\n\
         [backend_auth]\nmode = \"plain\"\n",
        srv.display().to_string(),
        etc.display().to_string(),
        etc.join("recon").display().to_string(),
    );
    std::fs::write(&conf, text).unwrap();
    Proc::swirl_server(
        role,
        &[&format!("{role}-server"), conf.to_str().unwrap()],
        Duration::from_secs(60),
    )
}

/// Builds `<name>.ring.gz` in `etc` with swirl's ring builder CLI (in
/// swift-ring-builder's syntax): four devices d1-d4 in zones 1-4 of one
/// server at `addr`.
fn build_ring(etc: &Path, name: &str, replicas: u32, addr: SocketAddr) {
    let builder = etc.join(format!("{name}.builder"));
    let b = builder.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = harness::swirl(etc, &[&["ring-builder", b], args].concat());
        // Exit status 1 is a warning (balance), as swift-ring-builder's.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "ring-builder {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["create", "10", &replicas.to_string(), "1"]);
    for z in 1..=4 {
        run(&[
            "add",
            &format!("r1z{z}-127.0.0.1:{}/d{z}", addr.port()),
            "100",
        ]);
    }
    run(&["rebalance"]);
    assert!(
        etc.join(format!("{name}.ring.gz")).exists(),
        "{name}.ring.gz"
    );
}

/// memcached on a free port (tempauth keeps its tokens there), ready once it
/// takes connections.
fn memcached() -> Proc {
    let port = harness::free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cmd = Command::new("memcached");
    cmd.args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"]);
    // memcached refuses to run as root without a user to become.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        cmd.args(["-u", "root"]);
    }
    Proc::polled(
        "memcached",
        &mut cmd,
        addr,
        || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok(),
        Duration::from_secs(30),
    )
}

#[test]
fn swift_proxy_over_swirl_storage_passes_swifts_functional_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc");
    let srv = tmp.path().join("srv");
    for d in 1..=4 {
        std::fs::create_dir_all(srv.join(format!("d{d}"))).unwrap();
    }
    std::fs::create_dir_all(etc.join("recon")).unwrap();
    let suffix = format!("{:032x}", rand::random::<u128>());

    // The servers first (ports of the OS's choosing), then rings naming
    // them: the servers read the rings they use when the files change.
    let object = storage_server("object", &etc, &srv, &suffix);
    let container = storage_server("container", &etc, &srv, &suffix);
    let account = storage_server("account", &etc, &srv, &suffix);
    build_ring(&etc, "object", 3, object.addr());
    build_ring(&etc, "object-1", 2, object.addr());
    build_ring(&etc, "container", 3, container.addr());
    build_ring(&etc, "account", 3, account.addr());

    let swift_conf = etc.join("swift.conf");
    std::fs::write(
        &swift_conf,
        format!(
            "[swift-hash]\nswift_hash_path_prefix =\nswift_hash_path_suffix = {suffix}\n\
             {SWIFT_CONF_POLICIES}"
        ),
    )
    .unwrap();
    let cache = memcached();
    let port = harness::free_port();
    std::fs::write(
        etc.join("container-sync-realms.conf"),
        format!("[realm]\nkey = changeme\ncluster_reference = http://127.0.0.1:{port}/v1/\n"),
    )
    .unwrap();
    // No worker processes: the proxy serves in the process this test
    // started, so that dropping it ends it.
    let conf = Command::new(functests_script().with_file_name("proxy-conf"))
        .arg(port.to_string())
        .arg(&etc)
        .arg(cache.addr().port().to_string())
        .arg("0")
        .output()
        .expect("run bench/swift-reference/proxy-conf");
    assert!(conf.status.success(), "proxy-conf failed");
    let proxy_conf = etc.join("proxy-server.conf");
    std::fs::write(&proxy_conf, conf.stdout).unwrap();
    let proxy = harness::swift_server(
        "swift-proxy",
        "swift-proxy-server",
        &proxy_conf,
        &swift_conf,
        port,
    );

    let mut cmd = Command::new(functests_script());
    cmd.arg(proxy.addr().to_string());
    let (cases, stdout) = run_functests(cmd, &tmp.path().join("results"));
    let problems = judge_against(&cases, SWIFT_COLLECTED, SWIFT_SKIPS);
    assert!(
        problems.is_empty(),
        "Swift's functional tests through Swift's proxy over swirl's storage servers:\n{}\n\n\
         summary:\n{stdout}",
        problems.join("\n")
    );
    eprintln!("{stdout}");
    drop((proxy, cache, object, container, account));
}
