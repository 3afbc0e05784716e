//! Fault tests of the proxy's write and read paths, on swirl's storage
//! servers and on Swift's: handoffs when an object server is down, 503
//! without a quorum and nothing written, no object from a client that
//! disconnects mid-upload.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::http_request;
use crate::proxy_cluster::{backend_get, object_nodes, token, ProxyCluster, Storage};

const BOTH: [Storage; 2] = [Storage::Swirl, Storage::Swift];

/// A cluster on `storage`'s servers with `objects` object servers, and a
/// token of test:tester whose account holds `container`.
pub fn with_container(
    storage: Storage,
    objects: usize,
    container: &str,
) -> (ProxyCluster, std::net::SocketAddr, String, String) {
    let c = ProxyCluster::start_on(storage, objects);
    let addr = c.proxy.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let auth = [("X-Auth-Token", tok.as_str())];
    let (s, _, _) = http_request(addr, "PUT", &format!("{acct}/{container}"), &auth, b"").unwrap();
    assert_eq!(s, 201, "container PUT");
    (c, addr, tok, acct)
}

#[test]
fn one_object_server_down_uses_a_handoff() {
    for storage in BOTH {
        let (mut c, addr, tok, acct) = with_container(storage, 4, "f");
        let auth = [("X-Auth-Token", tok.as_str())];
        let (part, primaries, handoffs) = object_nodes(c.dir.path(), "AUTH_test", "f", "obj");
        assert_eq!(primaries.len(), 3);
        let handoff = handoffs[0];
        c.object_servers[primaries[0]].kill9();

        let body = vec![7u8; 100_000];
        let (s, _, _) = http_request(addr, "PUT", &format!("{acct}/f/obj"), &auth, &body).unwrap();
        assert_eq!(s, 201, "PUT with one primary down");
        assert_eq!(
            backend_get(&c, handoff, part, "/AUTH_test/f/obj"),
            200,
            "the handoff holds the object"
        );
        assert_eq!(backend_get(&c, primaries[1], part, "/AUTH_test/f/obj"), 200);
        let (s, _, b) = http_request(addr, "GET", &format!("{acct}/f/obj"), &auth, b"").unwrap();
        assert_eq!((s, b == body), (200, true), "GET with one primary down");

        // A second primary down too: the object is still read from the handoff.
        c.object_servers[primaries[1]].kill9();
        let (s, _, b) = http_request(addr, "GET", &format!("{acct}/f/obj"), &auth, b"").unwrap();
        assert_eq!((s, b == body), (200, true), "GET with two primaries down");
    }
}

/// The proxy keeps upload connections between PUTs; one to a server that
/// was restarted since must not be used (the PUT would lose that replica).
#[test]
fn restarted_object_server_gets_the_next_put_whole() {
    for storage in BOTH {
        let (mut c, addr, tok, acct) = with_container(storage, 3, "r");
        let auth = [("X-Auth-Token", tok.as_str())];
        // Warm the proxy's idle connections to every object server.
        for i in 0..8 {
            let (s, _, _) =
                http_request(addr, "PUT", &format!("{acct}/r/warm{i}"), &auth, b"w").unwrap();
            assert_eq!(s, 201);
        }
        for n in 0..3 {
            c.restart_object_server(n);
            let name = format!("after-restart-{n}");
            let body = format!("body {n}").into_bytes();
            let (s, _, _) =
                http_request(addr, "PUT", &format!("{acct}/r/{name}"), &auth, &body).unwrap();
            assert_eq!(s, 201, "{storage:?}: PUT right after restarting server {n}");
            let (part, primaries, _) = object_nodes(c.dir.path(), "AUTH_test", "r", &name);
            for p in primaries {
                assert_eq!(
                    backend_get(&c, p, part, &format!("/AUTH_test/r/{name}")),
                    200,
                    "{storage:?}: primary {p} has {name} (server {n} restarted)"
                );
            }
        }
    }
}

/// A TCP relay from `listen` to `to` that can play a server dying while
/// the proxy holds idle connections to it: `die` stops accepting (new
/// connections are refused) and closes each relayed connection when the
/// next bytes arrive on it, with no FIN before, so the proxy cannot know.
/// `cut` does the latter only: a live server closing idle connections.
struct Relay {
    dead: Arc<AtomicBool>,
    /// Connections accepted before the last `cut` close on their next bytes.
    cuts: Arc<AtomicUsize>,
    /// Held by the accepting thread only while it polls; `die` drops it, so
    /// from then on connecting is refused, as with a dead server.
    listener: Arc<Mutex<Option<TcpListener>>>,
}

impl Relay {
    fn start(listen: u16, to: u16) -> Relay {
        let dead = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind(("127.0.0.1", listen)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let listener = Arc::new(Mutex::new(Some(listener)));
        let (d, l, k) = (dead.clone(), listener.clone(), cuts.clone());
        std::thread::spawn(move || loop {
            let accepted = match l.lock().unwrap().as_ref() {
                Some(listener) => listener.accept(),
                None => return,
            };
            match accepted {
                Ok((client, _)) => {
                    client.set_nonblocking(false).unwrap();
                    let server = TcpStream::connect(("127.0.0.1", to)).unwrap();
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let gone = {
                        let (d, k, born) = (d.clone(), k.clone(), k.load(Ordering::SeqCst));
                        move || d.load(Ordering::SeqCst) || k.load(Ordering::SeqCst) != born
                    };
                    std::thread::spawn(move || Relay::pump(client, server, Some(Box::new(gone))));
                    std::thread::spawn(move || Relay::pump(s2, c2, None));
                }
                // Polling keeps the listener closable from `die`.
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        });
        Relay {
            dead,
            cuts,
            listener,
        }
    }

    /// Copies `from` to `to`; with `gone` (client to server), once it says
    /// so the next bytes close both sides instead of going through.
    fn pump(mut from: TcpStream, mut to: TcpStream, gone: Option<Box<dyn Fn() -> bool + Send>>) {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if gone.as_ref().is_some_and(|g| g()) {
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    }

    fn die(&self) {
        self.dead.store(true, Ordering::SeqCst);
        self.listener.lock().unwrap().take();
    }

    fn cut(&self) {
        self.cuts.fetch_add(1, Ordering::SeqCst);
    }
}

/// A swirl cluster of four object servers with a container, whose first
/// primary for `name` sits behind a `Relay` at its ring port.
struct Relayed {
    c: ProxyCluster,
    addr: std::net::SocketAddr,
    tok: String,
    acct: String,
    part: u32,
    primaries: Vec<usize>,
    handoffs: Vec<usize>,
    relay: Relay,
}

fn relayed_primary(container: &str, name: &str) -> Relayed {
    let (mut c, addr, tok, acct) = with_container(Storage::Swirl, 4, container);
    let (part, primaries, handoffs) = object_nodes(c.dir.path(), "AUTH_test", container, name);
    let ring_port = c.obj_ports[primaries[0]];
    let real = c.move_object_server(primaries[0]);
    let relay = Relay::start(ring_port, real);
    Relayed {
        c,
        addr,
        tok,
        acct,
        part,
        primaries,
        handoffs,
        relay,
    }
}

/// An object server dies while the proxy holds idle upload connections to
/// it: the next PUT fails on such a connection after "connecting", and
/// must start over on a handoff (three copies), as it would have had the
/// connection been refused.
#[test]
fn a_put_on_a_dead_kept_alive_connection_goes_to_a_handoff() {
    let name = "obj";
    let Relayed {
        c,
        addr,
        tok,
        acct,
        part,
        primaries,
        handoffs,
        relay,
    } = relayed_primary("k", name);
    let auth = [("X-Auth-Token", tok.as_str())];
    let victim = primaries[0];
    // Warm the proxy's idle connections to the victim, through the relay.
    let mut warmed = 0;
    for i in 0..40 {
        let o = format!("warm{i}");
        let (s, _, _) = http_request(addr, "PUT", &format!("{acct}/k/{o}"), &auth, b"w").unwrap();
        assert_eq!(s, 201);
        let (_, p, _) = object_nodes(c.dir.path(), "AUTH_test", "k", &o);
        warmed += usize::from(p.contains(&victim));
    }
    assert!(warmed > 0, "no warm-up PUT went to server {victim}");
    relay.die();
    for len in [10, 300_000] {
        let body = vec![9u8; len];
        let (s, _, _) =
            http_request(addr, "PUT", &format!("{acct}/k/{name}"), &auth, &body).unwrap();
        assert_eq!(s, 201, "PUT of {len} bytes after server {victim} died");
        let holders: Vec<usize> = primaries[1..]
            .iter()
            .chain(handoffs.iter())
            .copied()
            .filter(|&n| backend_get(&c, n, part, &format!("/AUTH_test/k/{name}")) == 200)
            .collect();
        assert_eq!(holders.len(), 3, "{len} bytes: copies on {holders:?}");
    }
}

/// A live object server that closes the proxy's idle connections (as any
/// server does after its keep-alive timeout) is not held to have failed:
/// each PUT that meets such a connection starts over on a fresh one to the
/// same server, which keeps its copy. Were each counted as a failure, the
/// error limiter would set the server aside after ten, and later PUTs
/// would go to a handoff.
#[test]
fn idle_connections_closed_by_a_live_server_cost_it_nothing() {
    let name = "obj";
    let Relayed {
        c,
        addr,
        tok,
        acct,
        part,
        primaries,
        handoffs,
        relay,
    } = relayed_primary("i", name);
    let auth = [("X-Auth-Token", tok.as_str())];
    let server = primaries[0];
    let put = |body: &[u8]| {
        let (s, _, _) =
            http_request(addr, "PUT", &format!("{acct}/i/{name}"), &auth, body).unwrap();
        assert_eq!(s, 201);
    };
    let backend = format!("/d{server}/{part}/AUTH_test/i/{name}");
    let policy = [("X-Backend-Storage-Policy-Index", "0")];
    put(b"first");
    for i in 0..15 {
        relay.cut();
        let body = format!("body {i}").into_bytes();
        put(&body);
        let got = http_request(
            c.object_servers[server].addr(),
            "GET",
            &backend,
            &policy,
            b"",
        );
        assert_eq!(
            got.map(|(s, _, b)| (s, b)).ok(),
            Some((200, body)),
            "PUT {i} after the server closed its idle connections: server {server} has it"
        );
        for &h in &handoffs {
            assert_eq!(
                backend_get(&c, h, part, &format!("/AUTH_test/i/{name}")),
                404,
                "PUT {i}: nothing went to handoff {h}"
            );
        }
    }
}

#[test]
fn two_of_three_down_is_503_and_nothing_written() {
    for storage in BOTH {
        let (mut c, addr, tok, acct) = with_container(storage, 3, "f");
        let auth = [("X-Auth-Token", tok.as_str())];
        let (part, primaries, _) = object_nodes(c.dir.path(), "AUTH_test", "f", "obj");
        c.object_servers[primaries[0]].kill9();
        c.object_servers[primaries[1]].kill9();
        let (s, _, _) =
            http_request(addr, "PUT", &format!("{acct}/f/obj"), &auth, b"payload").unwrap();
        assert_eq!(s, 503);
        assert_eq!(
            backend_get(&c, primaries[2], part, "/AUTH_test/f/obj"),
            404,
            "the live node got nothing"
        );
        // As Swift 2.30: the one live primary's 404 (no tombstone) is set
        // aside as maybe a rebalance's (rebalance_missing_suppression_count),
        // leaving no answer to go by: 503, not a 404 two nodes could belie.
        let (s, _, _) = http_request(addr, "GET", &format!("{acct}/f/obj"), &auth, b"").unwrap();
        assert_eq!(s, 503);
        let (_, _, listing) = http_request(addr, "GET", &format!("{acct}/f"), &auth, b"").unwrap();
        assert!(
            listing.is_empty(),
            "listing: {}",
            String::from_utf8_lossy(&listing)
        );
    }
}

#[test]
fn client_disconnect_mid_upload_leaves_no_object() {
    for storage in BOTH {
        let (c, addr, tok, acct) = with_container(storage, 3, "f");
        let auth = [("X-Auth-Token", tok.as_str())];
        for (name, chunked) in [("cl", false), ("chunked", true)] {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let framing = if chunked {
                "Transfer-Encoding: chunked".to_string()
            } else {
                "Content-Length: 10000000".to_string()
            };
            write!(
                s,
                "PUT {acct}/f/{name} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {tok}\r\n{framing}\r\n\r\n"
            )
            .unwrap();
            let chunk = vec![1u8; 65536];
            for _ in 0..16 {
                if chunked {
                    write!(s, "10000\r\n").unwrap();
                    s.write_all(&chunk).unwrap();
                    write!(s, "\r\n").unwrap();
                } else {
                    s.write_all(&chunk).unwrap();
                }
            }
            s.flush().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            drop(s);
            // The object must never appear: watch it for two seconds.
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                let (st, _, _) =
                    http_request(addr, "HEAD", &format!("{acct}/f/{name}"), &auth, b"").unwrap();
                assert_eq!(st, 404, "{name}: half-uploaded object became visible");
                std::thread::sleep(Duration::from_millis(100));
            }
            let (part, primaries, _) = object_nodes(c.dir.path(), "AUTH_test", "f", name);
            for n in primaries {
                assert_eq!(
                    backend_get(&c, n, part, &format!("/AUTH_test/f/{name}")),
                    404
                );
            }
        }
        let (_, _, listing) = http_request(addr, "GET", &format!("{acct}/f"), &auth, b"").unwrap();
        assert!(
            listing.is_empty(),
            "listing: {}",
            String::from_utf8_lossy(&listing)
        );
    }
}

/// As Swift's proxy: when every primary answers 404, a read goes on to the
/// handoffs (up to request_node_count), so an object written to a handoff
/// while a primary was down is readable before replication moves it; a
/// tombstone on the primaries newer than the handoff's copy still wins.
#[test]
fn read_finds_an_object_only_a_handoff_holds() {
    for storage in BOTH {
        let (mut c, addr, tok, acct) = with_container(storage, 4, "h");
        let auth = [("X-Auth-Token", tok.as_str())];
        let (part, primaries, handoffs) = object_nodes(c.dir.path(), "AUTH_test", "h", "obj");
        let handoff = handoffs[0];
        c.object_servers[primaries[0]].kill9();
        let body = vec![5u8; 70_000];
        let (s, _, _) = http_request(addr, "PUT", &format!("{acct}/h/obj"), &auth, &body).unwrap();
        assert_eq!(s, 201, "{storage:?}: PUT with one primary down");
        assert_eq!(backend_get(&c, handoff, part, "/AUTH_test/h/obj"), 200);

        // Every primary comes back without the object: they all answer 404.
        for &p in &primaries {
            c.object_servers[p].kill9();
            let objects = c.dir.path().join(format!("object{p}/d{p}/objects"));
            let _ = std::fs::remove_dir_all(&objects);
            c.restart_object_server(p);
            assert_eq!(backend_get(&c, p, part, "/AUTH_test/h/obj"), 404);
        }
        let (s, _, b) = http_request(addr, "GET", &format!("{acct}/h/obj"), &auth, b"").unwrap();
        assert_eq!(
            (s, b == body),
            (200, true),
            "{storage:?}: GET finds the handoff's copy"
        );
        let (s, h, _) = http_request(addr, "HEAD", &format!("{acct}/h/obj"), &auth, b"").unwrap();
        assert_eq!(s, 200, "{storage:?}: HEAD finds the handoff's copy");
        assert_eq!(
            crate::harness::header(&h, "content-length"),
            Some("70000"),
            "{storage:?}"
        );

        // A DELETE leaves tombstones on the primaries, newer than the
        // handoff's .data: the object is gone.
        let (s, _, _) = http_request(addr, "DELETE", &format!("{acct}/h/obj"), &auth, b"").unwrap();
        // The primaries have no .data, so they answer 404 (as Swift's
        // servers do) and keep the tombstone.
        assert_eq!(s, 404, "{storage:?}: DELETE");
        assert_eq!(backend_get(&c, handoff, part, "/AUTH_test/h/obj"), 200);
        for method in ["GET", "HEAD"] {
            let (s, _, _) =
                http_request(addr, method, &format!("{acct}/h/obj"), &auth, b"").unwrap();
            assert_eq!(s, 404, "{storage:?}: {method} after DELETE");
        }
        // A name that was never written is a plain 404 after all nodes.
        let (s, _, _) = http_request(addr, "GET", &format!("{acct}/h/none"), &auth, b"").unwrap();
        assert_eq!(s, 404, "{storage:?}: GET of a missing object");
    }
}
