//! `swirl cluster-ca`: the cluster's own CA for node-to-node mutual TLS.
//!
//! - `swirl cluster-ca init <ca-dir> [--name NAME]`: a new CA (`ca.pem`, `ca.key`);
//! - `swirl cluster-ca issue <ca-dir> <node-dir> --name NODE [--ip IP]... [--dns NAME]...`:
//!   a node certificate (`ca.pem`, `node.pem`, `node.key` in `<node-dir>`),
//!   naming the addresses peers dial it at (its replication IPs), and a copy
//!   of the CA directory's `backend.key`;
//! - `swirl cluster-ca backend-key <ca-dir>`: the cluster's backend key
//!   (`backend.key`, which signs backend requests) in a CA made before
//!   `init` wrote one; an existing key is kept.

use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use swirl_common::tls::issue;

fn usage() -> ExitCode {
    eprintln!(
        "usage: swirl cluster-ca init <ca-dir> [--name NAME]\n       \
         swirl cluster-ca issue <ca-dir> <node-dir> --name NODE [--ip IP]... [--dns NAME]...\n       \
         swirl cluster-ca backend-key <ca-dir>"
    );
    ExitCode::from(2)
}

pub fn main(args: &[String]) -> ExitCode {
    let (mut pos, mut name, mut ips, mut dns) = (Vec::new(), None, Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--name" => name = it.next().cloned(),
            "--ip" => match it.next().and_then(|v| v.parse::<IpAddr>().ok()) {
                Some(ip) => ips.push(ip),
                None => return usage(),
            },
            "--dns" => match it.next() {
                Some(d) => dns.push(d.clone()),
                None => return usage(),
            },
            s if s.starts_with('-') => return usage(),
            s => pos.push(s.to_string()),
        }
    }
    let r = match (pos.first().map(String::as_str), pos.len()) {
        (Some("init"), 2) => {
            issue::create_ca(Path::new(&pos[1]), name.as_deref().unwrap_or("swirl"))
                .map(|_| format!("created cluster CA in {}", pos[1]))
        }
        (Some("issue"), 3) => {
            let Some(n) = name else {
                return usage();
            };
            issue::issue_node(Path::new(&pos[1]), Path::new(&pos[2]), &n, &ips, &dns)
                .map(|_| format!("issued {n}'s certificate into {}", pos[2]))
        }
        (Some("backend-key"), 2) => issue::create_backend_key(Path::new(&pos[1]))
            .map(|_| format!("backend key in {}", pos[1])),
        _ => return usage(),
    };
    match r {
        Ok(m) => {
            println!("{m}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
