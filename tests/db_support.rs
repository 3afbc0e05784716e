//! Helpers for the account/container server tests: start swirl's and Swift's
//! servers over their own temp device directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{free_port, swift_server, write_swift_conf, Proc};

pub const SUFFIX: &str = "h5-db-tests";

/// A server and the directory holding its devices.
pub struct Server {
    pub proc: Proc,
    pub devices: PathBuf,
}

/// Makes `<dir>/<name>/sda` and returns `<dir>/<name>`.
pub fn devices_dir(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(d.join("sda")).unwrap();
    d
}

/// Writes a swirl db-server config and returns its path.
pub fn swirl_config(dir: &Path, kind: &str, devices: &Path, extra: &str) -> PathBuf {
    let p = dir.join(format!("swirl-{kind}.toml"));
    let plain = plain_unless(extra);
    std::fs::write(
        &p,
        format!(
            "devices = \"{}\"\nmount_check = false\nbind_ip = \"127.0.0.1\"\nbind_port = 0\n\
             swift_hash_path_suffix = \"{SUFFIX}\"\n{extra}\n\
             [[storage_policy]]\nindex = 0\nname = \"gold\"\ndefault = true\n{plain}",
            devices.display()
        ),
    )
    .unwrap();
    p
}

/// These tests (and Swift's servers in db_side_by_side) send unsigned
/// backend requests: the documented plain mode.
fn plain_unless(extra: &str) -> &'static str {
    if extra.contains("backend_auth") {
        ""
    } else {
        "\n[backend_auth]\nmode = \"plain\"\n"
    }
}

/// Starts `swirl <kind>-server` over a fresh devices dir under `dir`.
pub fn swirl_db(dir: &Path, kind: &str, extra: &str) -> Server {
    let devices = devices_dir(dir, &format!("swirl-{kind}-devs"));
    let conf = swirl_config(dir, kind, &devices, extra);
    let proc = Proc::swirl_server(
        &format!("swirl {kind}-server"),
        &[&format!("{kind}-server"), conf.to_str().unwrap()],
        Duration::from_secs(20),
    );
    Server { proc, devices }
}

/// Starts Swift's `swift-<kind>-server` (Debian's package) over a fresh devices dir.
pub fn swift_db(dir: &Path, kind: &str) -> Server {
    let devices = devices_dir(dir, &format!("swift-{kind}-devs"));
    let swift_conf = write_swift_conf(dir, "", SUFFIX);
    let port = free_port();
    let conf = dir.join(format!("swift-{kind}.conf"));
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ndevices = {}\nmount_check = false\nbind_ip = 127.0.0.1\nbind_port = {port}\n\
             workers = 0\nlog_name = {kind}-server\nlog_address = /dev/null\nlog_level = ERROR\n\n\
             [pipeline:main]\npipeline = healthcheck {kind}-server\n\n\
             [app:{kind}-server]\nuse = egg:swift#{kind}\n\n\
             [filter:healthcheck]\nuse = egg:swift#healthcheck\n",
            devices.display()
        ),
    )
    .unwrap();
    let proc = swift_server(
        &format!("swift-{kind}-server"),
        &format!("swift-{kind}-server"),
        &conf,
        &swift_conf,
        port,
    );
    Server { proc, devices }
}

/// Percent-encodes a name for a request path (keeps '/').
pub fn quote(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
