//! Helpers for the object-server tests: start `swirl object-server` on a temp
//! devices dir, make timestamps, talk to it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{http_request, wait_healthcheck, Proc};

pub const SUFFIX: &str = "changeme";

/// A swirl object server over `<dir>/devices/sda`.
pub struct ObjServer {
    pub proc: Proc,
    pub devices: PathBuf,
    pub config: PathBuf,
}

/// Writes a config (plus `extra` TOML lines) and starts the server.
pub fn start(dir: &Path, extra: &str) -> ObjServer {
    let devices = dir.join("devices");
    std::fs::create_dir_all(devices.join("sda")).unwrap();
    let config = dir.join("object.toml");
    // Rings (the container ring that update targets are checked against)
    // are looked for beside the config; a top-level key, so before `extra`
    // (which may open tables).
    let swift_dir = if extra.contains("swift_dir") {
        String::new()
    } else {
        format!("swift_dir = \"{}\"\n", dir.display())
    };
    let mut text = format!(
        "devices = \"{}\"\nbind_ip = \"127.0.0.1\"\nbind_port = 0\nswift_hash_path_suffix = \"{SUFFIX}\"\n{swift_dir}{extra}\n",
        devices.display()
    );
    if !extra.contains("mount_check") {
        text.push_str("mount_check = false\n");
    }
    // These tests (and Swift's proxy in object_side_by_side) talk to the
    // server directly, unsigned: the documented plain mode.
    if !extra.contains("backend_auth") {
        text.push_str("\n[backend_auth]\nmode = \"plain\"\n");
    }
    std::fs::write(&config, text).unwrap();
    restart_with(&config, &devices)
}

/// Starts a server on an existing config.
pub fn restart_with(config: &Path, devices: &Path) -> ObjServer {
    let proc = Proc::swirl_server(
        "object-server",
        &["object-server", config.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert!(wait_healthcheck(proc.addr(), Duration::from_secs(10)));
    ObjServer {
        proc,
        devices: devices.to_path_buf(),
        config: config.to_path_buf(),
    }
}

impl ObjServer {
    pub fn addr(&self) -> SocketAddr {
        self.proc.addr()
    }
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let (status, headers, body) =
            http_request(self.addr(), method, path, headers, body).unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn h(&self, name: &str) -> Option<&str> {
        crate::harness::header(&self.headers, name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A timestamp `secs` seconds from now in Swift's internal form.
pub fn ts(offset_secs: f64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    format!("{:016.5}", now + offset_secs)
}

/// Hex MD5.
pub fn md5_hex(b: &[u8]) -> String {
    format!("{:x}", md5::compute(b))
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Deterministic pseudo-random bytes: a random 1 KiB block per seed, each copy
/// stamped with its index so misplaced or repeated blocks are caught. Cheap
/// enough for hundreds of MB in a debug build.
pub fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let block: Vec<u8> = (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let mut out = Vec::with_capacity(n + 1024);
    let mut i = 0u64;
    while out.len() < n {
        let start = out.len();
        out.extend_from_slice(&block);
        let stamp = (i ^ seed).to_le_bytes();
        out[start..start + 8].copy_from_slice(&stamp);
        i += 1;
    }
    out.truncate(n);
    out
}

/// Writes `<dir>/container.ring.gz` with one device per (host:port,
/// device) of `devs`, as many replicas as devices: the ring an object
/// server checks its container update targets against.
pub fn write_container_ring(dir: &Path, devs: &[(&str, &str)]) {
    use swirl_ring::builder::RingBuilder;
    let mut b = RingBuilder::new(4, devs.len() as f64, 0).unwrap();
    for (i, (host, dev)) in devs.iter().enumerate() {
        let (ip, port) = host.rsplit_once(':').unwrap();
        let d = swirl_ring::Device {
            region: 1,
            zone: i as u32 + 1,
            ip: ip.trim_matches(['[', ']']).to_string(),
            port: port.parse().unwrap(),
            replication_ip: ip.trim_matches(['[', ']']).to_string(),
            replication_port: port.parse().unwrap(),
            device: dev.to_string(),
            weight: 100.0,
            ..Default::default()
        };
        b.add_dev(d, None).unwrap();
    }
    b.rebalance(&mut rand::rng(), 0, &mut |_| {}).unwrap();
    let ring = b.get_ring().unwrap();
    let tmp = dir.join("container.ring.tmp");
    swirl_ring::codec::write_ring(&ring, std::fs::File::create(&tmp).unwrap(), 1).unwrap();
    std::fs::rename(&tmp, dir.join("container.ring.gz")).unwrap();
}
