//! The test cluster's networks: network namespaces made with `ip netns`, a
//! "switch" namespace holding one bridge per network, and veth pairs created
//! straight into their namespaces (so no link ever appears in the root
//! namespace and two runs never clash on a link name). Every namespace is
//! named `<tag>-<role>`, where the tag holds the test process's pid, so a
//! later run can find and remove what a dead run left behind.
//!
//! The test process itself stays in the root namespace; a connection into a
//! namespace is opened by a short-lived thread that enters it (`setns` moves
//! only the calling thread), and the connected socket keeps working anywhere.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The prefix of every namespace these tests make.
pub const PREFIX: &str = "swn";

/// Runs `ip <args>`; panics with its stderr when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// `ip netns list`, names only.
pub fn namespaces() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("run ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Pids of the processes living in namespace `ns`.
pub fn pids_in(ns: &str) -> Vec<i32> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// SIGKILLs every process in `ns`, then deletes it (with its links).
pub fn destroy(ns: &str) {
    for pid in pids_in(ns) {
        if let Some(p) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
    // A namespace whose processes are gone goes with its name; retry briefly
    // while the killed processes are being reaped.
    for _ in 0..50 {
        let ok = Command::new("ip")
            .args(["netns", "del", ns])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok || !namespaces().iter().any(|n| n == ns) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid a name of ours carries (`swn<pid>-...`).
fn pid_of(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Removes the namespaces and temp dirs of earlier runs whose process is gone.
pub fn clean_stale(tmp: &Path) {
    let dead =
        |name: &str| pid_of(name).is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
    for ns in namespaces() {
        if dead(&ns) {
            destroy(&ns);
        }
    }
    if let Ok(rd) = std::fs::read_dir(tmp) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Creates namespace `ns` with its loopback up.
pub fn add_namespace(ns: &str) {
    ip(&["netns", "add", ns]);
    ip(&["-n", ns, "link", "set", "lo", "up"]);
}

/// A bridge `name` in namespace `ns`, up, with `addr` (CIDR) on it.
pub fn add_bridge(ns: &str, name: &str, addr: &str) {
    ip(&["-n", ns, "link", "add", name, "type", "bridge"]);
    ip(&["-n", ns, "addr", "add", addr, "dev", name]);
    ip(&["-n", ns, "link", "set", name, "up"]);
}

/// A veth pair: `dev` in `ns` with `addr` (CIDR), its peer `port` in the
/// switch namespace `sw` enslaved to `bridge`; both up.
pub fn plug(ns: &str, dev: &str, addr: &str, sw: &str, port: &str, bridge: &str) {
    ip(&[
        "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", port, "netns", sw,
    ]);
    ip(&["-n", sw, "link", "set", port, "master", bridge]);
    ip(&["-n", sw, "link", "set", port, "up"]);
    ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
    ip(&["-n", ns, "link", "set", dev, "up"]);
}

/// Sets link `dev` of namespace `ns` up or down.
pub fn set_link(ns: &str, dev: &str, up: bool) {
    ip(&["-n", ns, "link", "set", dev, if up { "up" } else { "down" }]);
}

/// Runs `f` on a thread that has entered namespace `ns`.
pub fn in_namespace<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path)?;
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&fd),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// A TCP connection to `addr` opened from inside namespace `ns`.
pub fn connect_in(ns: &str, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    in_namespace(ns, move || TcpStream::connect_timeout(&addr, timeout))
}

/// `ip netns exec <ns>` as a command to add the program and its args to.
pub fn command_in(ns: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]);
    c
}
