//! Bad input to a volume gateway (a standalone process whose panic hook
//! aborts, so a panic anywhere would kill it): the protocol's answers to
//! specific malformed NBD input, then a seeded, bounded fuzz of the NBD
//! handshake and command stream and of the Cinder API. The gateway stays
//! up, the API never answers 5xx, and a volume nobody fuzzed keeps its data.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::http_request;
use crate::volume_support::{pattern, Api, Cluster, Gateway, NbdClient};

/// xorshift64*: reproducible fuzz input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads whatever comes until the peer closes (true) or goes quiet (false).
fn drain(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 65536];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                total += n;
                if total > 64 << 20 {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

/// Waits (a few seconds at most) for the server to close the connection.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn option(opt: u32, data: &[u8]) -> Vec<u8> {
    let mut b = b"IHAVEOPT".to_vec();
    b.extend_from_slice(&opt.to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    b
}

fn go_data(name: &str) -> Vec<u8> {
    let mut d = (name.len() as u32).to_be_bytes().to_vec();
    d.extend_from_slice(name.as_bytes());
    d.extend_from_slice(&1u16.to_be_bytes());
    d.extend_from_slice(&3u16.to_be_bytes());
    d
}

fn meta_data(name: &str, queries: &[&str]) -> Vec<u8> {
    let mut d = (name.len() as u32).to_be_bytes().to_vec();
    d.extend_from_slice(name.as_bytes());
    d.extend_from_slice(&(queries.len() as u32).to_be_bytes());
    for q in queries {
        d.extend_from_slice(&(q.len() as u32).to_be_bytes());
        d.extend_from_slice(q.as_bytes());
    }
    d
}

fn request(kind: u16, flags: u16, cookie: u64, offset: u64, len: u32) -> Vec<u8> {
    let mut h = 0x2560_9513u32.to_be_bytes().to_vec();
    h.extend_from_slice(&flags.to_be_bytes());
    h.extend_from_slice(&kind.to_be_bytes());
    h.extend_from_slice(&cookie.to_be_bytes());
    h.extend_from_slice(&offset.to_be_bytes());
    h.extend_from_slice(&len.to_be_bytes());
    h
}

/// Reads option replies until a final one; returns its type.
fn final_reply(s: &mut TcpStream) -> u32 {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    loop {
        let mut h = [0u8; 20];
        s.read_exact(&mut h).unwrap();
        let typ = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let len = u32::from_be_bytes(h[16..20].try_into().unwrap()) as usize;
        let mut d = vec![0u8; len];
        s.read_exact(&mut d).unwrap();
        if typ != 3 && typ != 4 {
            return typ;
        }
    }
}

/// A connection that completed the handshake for `export` (simple replies).
fn attached(addr: SocketAddr, export: &str) -> TcpStream {
    let mut s = connect(addr);
    let mut g = [0u8; 18];
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.read_exact(&mut g).unwrap();
    s.write_all(&3u32.to_be_bytes()).unwrap();
    s.write_all(&option(7, &go_data(export))).unwrap();
    assert_eq!(final_reply(&mut s), 1, "GO {export}");
    s
}

/// A simple reply's error.
fn simple_error(s: &mut TcpStream) -> u32 {
    let mut r = [0u8; 16];
    s.read_exact(&mut r).unwrap();
    assert_eq!(&r[..4], &0x6744_6698u32.to_be_bytes());
    u32::from_be_bytes(r[4..8].try_into().unwrap())
}

/// The protocol's specific answers to specific bad input.
fn malformed_inputs(nbd: SocketAddr, export: &str) {
    // Unknown client flags: dropped.
    let mut s = connect(nbd);
    s.write_all(&0xffu32.to_be_bytes()).unwrap();
    assert!(closed_by_server(&mut s), "bad client flags");
    // A command before negotiation ends: not an option, dropped.
    let mut s = connect(nbd);
    s.write_all(&3u32.to_be_bytes()).unwrap();
    s.write_all(&request(0, 0, 1, 0, 512)).unwrap();
    assert!(closed_by_server(&mut s), "command during the handshake");
    // Option data larger than any option: dropped.
    let mut s = connect(nbd);
    s.write_all(&3u32.to_be_bytes()).unwrap();
    let mut h = b"IHAVEOPT".to_vec();
    h.extend_from_slice(&7u32.to_be_bytes());
    h.extend_from_slice(&u32::MAX.to_be_bytes());
    s.write_all(&h).unwrap();
    assert!(closed_by_server(&mut s), "4 GiB option");
    // An unknown export, and a real volume id with a made-up attachment.
    let mut s = connect(nbd);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut g = [0u8; 18];
    s.read_exact(&mut g).unwrap();
    s.write_all(&3u32.to_be_bytes()).unwrap();
    s.write_all(&option(7, &go_data("AUTH_test/nope"))).unwrap();
    assert_eq!(final_reply(&mut s), 0x8000_0006, "unknown export");
    let forged = format!(
        "{}/00000000-0000-4000-8000-000000000000",
        export.rsplit_once('/').unwrap().0
    );
    s.write_all(&option(7, &go_data(&forged))).unwrap();
    assert_eq!(final_reply(&mut s), 0x8000_0006, "forged attachment id");
    // Extended headers are refused, and negotiation goes on.
    s.write_all(&option(11, &[])).unwrap();
    assert_eq!(final_reply(&mut s), 0x8000_0001);
    s.write_all(&option(8, &[])).unwrap();
    assert_eq!(final_reply(&mut s), 1);
    s.write_all(&option(10, &meta_data(export, &["base:allocation"])))
        .unwrap();
    assert_eq!(final_reply(&mut s), 1);

    // In transmission: errors the protocol names, the stream stays usable.
    let mut s = attached(nbd, export);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let size = 1u64 << 30;
    s.write_all(&request(0, 0, 1, size - 10, 20)).unwrap();
    assert_eq!(simple_error(&mut s), 22, "READ past the end");
    s.write_all(&request(1, 0, 2, size - 2, 4)).unwrap();
    s.write_all(&[1, 2, 3, 4]).unwrap();
    assert_eq!(simple_error(&mut s), 28, "WRITE past the end");
    s.write_all(&request(42, 0, 3, 0, 0)).unwrap();
    assert_eq!(simple_error(&mut s), 22, "unknown command");
    s.write_all(&request(7, 0, 4, 0, 4096)).unwrap();
    assert_eq!(simple_error(&mut s), 22, "BLOCK_STATUS without a context");
    s.write_all(&request(1, 0x8000, 5, 0, 2)).unwrap();
    s.write_all(&[9, 9]).unwrap();
    assert_eq!(simple_error(&mut s), 22, "unknown flag");
    s.write_all(&request(0, 0, 6, 0, 8)).unwrap();
    assert_eq!(simple_error(&mut s), 0, "READ after the errors");
    let mut d = [0u8; 8];
    s.read_exact(&mut d).unwrap();
    // A WRITE longer than the maximum payload: dropped.
    s.write_all(&request(1, 0, 7, 0, 64 << 20)).unwrap();
    assert!(closed_by_server(&mut s), "64 MiB WRITE");
    // Bad request magic: dropped.
    let mut s = attached(nbd, export);
    s.write_all(&[0xde; 28]).unwrap();
    assert!(closed_by_server(&mut s), "bad request magic");
}

/// One fuzzed NBD session.
fn nbd_session(rng: &mut Rng, nbd: SocketAddr, export: &str) {
    let mut s = connect(nbd);
    match rng.below(4) {
        0 => {
            // Garbage from the first byte.
            let n = rng.below(3000) as usize;
            let _ = s.write_all(&rng.bytes(n));
        }
        1 => {
            // Options with random numbers, lengths and data.
            let flags = if rng.below(4) == 0 {
                rng.next() as u32
            } else {
                3
            };
            let _ = s.write_all(&flags.to_be_bytes());
            for _ in 0..rng.below(8) + 1 {
                let wild = rng.next() as u32;
                let opt = *rng.pick(&[1u32, 2, 3, 5, 6, 7, 8, 9, 10, 11, 0, 99, wild]);
                let data = match rng.below(5) {
                    0 => go_data(export),
                    1 => go_data(&String::from_utf8_lossy(&rng.bytes(20))),
                    2 => meta_data(export, &["base:allocation", "base:", "x:y"]),
                    _ => {
                        let n = rng.below(200) as usize;
                        rng.bytes(n)
                    }
                };
                let mut b = b"IHAVEOPT".to_vec();
                b.extend_from_slice(&opt.to_be_bytes());
                // Sometimes a length that does not match the data.
                let len = if rng.below(6) == 0 {
                    rng.next() as u32
                } else {
                    data.len() as u32
                };
                b.extend_from_slice(&len.to_be_bytes());
                b.extend_from_slice(&data);
                if s.write_all(&b).is_err() {
                    break;
                }
                if opt == 7 && len as usize == data.len() && rng.below(2) == 0 {
                    // Sometimes drop straight into commands after a GO.
                    let _ = s.write_all(&request(rng.below(10) as u16, 0, 1, 0, 512));
                }
            }
        }
        _ => {
            // A good handshake, then a stream of random commands.
            let mut g = [0u8; 18];
            let _ = s.read_exact(&mut g);
            let _ = s.write_all(&3u32.to_be_bytes());
            if rng.below(2) == 0 {
                let _ = s.write_all(&option(8, &[]));
                let _ = s.write_all(&option(10, &meta_data(export, &["base:allocation"])));
            }
            let _ = s.write_all(&option(7, &go_data(export)));
            drain(&mut s);
            let size = 1u64 << 30;
            for cookie in 0..rng.below(40) + 1 {
                let wild = rng.next() as u16;
                let kind = *rng.pick(&[0u16, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, wild]);
                let flags = if rng.below(3) == 0 {
                    rng.next() as u16
                } else {
                    rng.below(32) as u16
                };
                // Writes land in a few chunks (the start and the end of the
                // volume, or past it): the fuzz is of the protocol, and a
                // stream of whole-chunk write-backs across the volume would
                // only load the cluster's disks (on a busy CI machine, past
                // the proxy's node_timeout).
                let offset = match rng.below(4) {
                    0 => rng.below(8 << 20),
                    1 => size - rng.below(8192),
                    2 => rng.next(),
                    _ => rng.below(12 << 20),
                };
                let len = match rng.below(5) {
                    0 => rng.next() as u32,
                    1 => 0,
                    _ => rng.below(256 << 10) as u32,
                };
                let mut b = request(kind, flags, cookie, offset, len);
                if kind == 1 {
                    // A payload, or part of one (the client vanishes mid-write).
                    let n = if rng.below(8) == 0 {
                        rng.below(u64::from(len).min(1 << 20))
                    } else {
                        u64::from(len).min(1 << 20)
                    };
                    b.extend(rng.bytes(n as usize));
                }
                if rng.below(20) == 0 {
                    b.truncate(rng.below(b.len() as u64) as usize);
                }
                if s.write_all(&b).is_err() {
                    break;
                }
            }
        }
    }
    drain(&mut s);
}

/// One fuzzed API request; returns its status.
fn api_request(rng: &mut Rng, api: &Api, real: &str) -> (u16, String, String) {
    let id = match rng.below(7) {
        0 => real.to_string(),
        1 => "8b0c7a36-2c1d-4e5f-9a8b-7c6d5e4f3a2b".into(),
        2 => "../../etc".into(),
        3 => "x".repeat(rng.below(400) as usize),
        4 => "%00%ff".into(),
        5 => "vol-a".into(),
        _ => String::new(),
    };
    let project = *rng.pick(&[
        "AUTH_test",
        "AUTH_test",
        "AUTH_test",
        "other",
        "AUTH_",
        "a%2Fb",
        "Ω",
    ]);
    let kind = *rng.pick(&["volumes", "snapshots", "attachments", "backups", "types"]);
    let path = match rng.below(8) {
        0 => "/".to_string(),
        1 => "/v3/".to_string(),
        2 => format!("/v3/{project}/{kind}"),
        3 => format!("/v3/{project}/{kind}/detail?name={id}&limit=x&marker={id}&all_tenants=1"),
        4 => format!("/v3/{project}/{kind}/{id}/action"),
        5 => format!("/v3/{project}/{kind}/{id}?cascade=maybe"),
        6 => format!("/v3/{project}/{kind}/{id}/{id}"),
        _ => format!("/v3/{project}/{kind}/{id}"),
    };
    let method = *rng.pick(&["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]);
    let good = [
        r#"{"volume": {"size": 1, "name": "f"}}"#,
        r#"{"volume": {"size": 1, "snapshot_id": "ID"}}"#,
        r#"{"volume": {"source_volid": "ID"}}"#,
        r#"{"volume": {"size": 1, "imageRef": "ID"}}"#,
        r#"{"os-extend": {"new_size": 3}}"#,
        r#"{"os-complete": null}"#,
        r#"{"snapshot": {"volume_id": "ID", "force": true}}"#,
        r#"{"attachment": {"volume_uuid": "ID", "connector": {"host": "h"}}}"#,
        r#"{"attachment": {"connector": {"host": "h"}}}"#,
        r#"{"volume": {"name": "n", "metadata": {"k": "v"}}}"#,
    ];
    let body: Vec<u8> = match rng.below(6) {
        0 => rng.pick(&good).replace("ID", &id).into_bytes(),
        1 => {
            // A good body with one value swapped for something odd.
            let b = rng.pick(&good).replace("ID", &id);
            let odd = *rng.pick(&[
                "-1",
                "1e400",
                "null",
                "[]",
                "{}",
                "\"\"",
                "18446744073709551616",
                "true",
            ]);
            b.replacen("1", odd, 1)
                .replacen("\"h\"", odd, 1)
                .into_bytes()
        }
        2 => {
            let n = rng.below(2000) as usize;
            rng.bytes(n)
        }
        3 => "[".repeat(5000).into_bytes(),
        4 => {
            let b = rng.pick(&good).replace("ID", &id);
            b.as_bytes()[..rng.below(b.len() as u64) as usize].to_vec()
        }
        _ => Vec::new(),
    };
    let token = match rng.below(6) {
        0 => "bogus".to_string(),
        1 => String::new(),
        _ => api.token.clone(),
    };
    let version = *rng.pick(&[
        "volume 3.70",
        "volume 3.0",
        "volume 3.27",
        "volume 9.9",
        "volume x",
        "compute 2.1",
        "volume latest",
    ]);
    let mut headers = vec![("OpenStack-API-Version", version)];
    if !token.is_empty() {
        headers.push(("X-Auth-Token", token.as_str()));
    }
    let (s, _, b) = http_request(api.addr, method, &path, &headers, &body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (
        s,
        format!("{method} {path} body={}", String::from_utf8_lossy(&body)),
        String::from_utf8_lossy(&b).into_owned(),
    )
}

#[test]
fn volume_gateway_survives_bad_nbd_and_api_input() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::start(&tmp.path().join("aio"));
    let mut g = Gateway::start(&tmp.path().join("gw"), c.proxy, "fuzz-gw");
    let api = Api {
        addr: g.api,
        token: c.token.clone(),
    };
    let target = api.create(1, "fuzzed");
    let (_ta, target_export) = api.attach(&target);
    let bystander = api.create(1, "bystander");
    let (_ba, by_export) = api.attach(&bystander);
    let mut n = NbdClient::connect(g.nbd, &by_export).unwrap();
    let kept = pattern(6 << 20, 42);
    n.write(3 << 20, &kept).unwrap();
    n.flush().unwrap();
    n.disconnect();

    malformed_inputs(g.nbd, &target_export);

    let seed = std::env::var("SWIRL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d_u64);
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut sessions = 0;
    while sessions < 300 && Instant::now() < deadline {
        nbd_session(&mut rng, g.nbd, &target_export);
        sessions += 1;
    }
    assert!(
        g.proc.child.try_wait().unwrap().is_none(),
        "the gateway died (seed {seed})"
    );

    let api_target = api.create(1, "api-fuzzed");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut requests = 0;
    while requests < 600 && Instant::now() < deadline {
        let (status, what, body) = api_request(&mut rng, &api, &api_target);
        assert!(status < 500, "{status} for {what}: {body} (seed {seed})");
        requests += 1;
    }
    // A body larger than any call takes.
    let (s, _, _) = http_request(
        g.api,
        "POST",
        "/v3/AUTH_test/volumes",
        &[("X-Auth-Token", &c.token)],
        &vec![b' '; 2 << 20],
    )
    .unwrap();
    assert_eq!(s, 413);
    assert!(
        g.proc.child.try_wait().unwrap().is_none(),
        "the gateway died (seed {seed})"
    );

    // The gateway still serves, and the volume nobody fuzzed is intact.
    let mut n = NbdClient::connect(g.nbd, &target_export).unwrap();
    n.write(0, b"still here").unwrap();
    n.flush().unwrap();
    assert_eq!(n.read(0, 10).unwrap(), b"still here");
    n.disconnect();
    let mut n = NbdClient::connect(g.nbd, &by_export).unwrap();
    assert!(
        n.read(3 << 20, 6 << 20).unwrap() == kept,
        "the bystander volume changed"
    );
    assert_eq!(n.read(0, 4096).unwrap(), vec![0u8; 4096]);
    n.disconnect();
    eprintln!("fuzz: {sessions} NBD sessions, {requests} API requests (seed {seed})");
    g.proc.kill9();
}
