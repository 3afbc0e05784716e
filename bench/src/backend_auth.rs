//! `swirl bench backend-auth`: what authenticating the backend costs, per
//! request, both ways the cluster could do it: signing each request's head
//! with the cluster key (`swirl_common::backend_auth`: sign plus verify of
//! an object PUT's headers) and mutual TLS with the cluster CA (the
//! handshake, and encrypting then decrypting a body of `--body-mib` MiB
//! over loopback, against the same body sent in the clear).
//!
//! Everything runs on one thread, client and server alike, so the wall
//! time of each part is the CPU time it costs (both ends' share, the
//! kernel's loopback copies included; the plain-TCP run gives that
//! baseline, and TLS minus plain is the encryption).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde::Serialize;
use swirl_common::backend_auth::{BackendAuth, BackendKey};
use swirl_common::backend_headers as bh;
use swirl_common::tls::{issue, ClusterTls};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::Error;

/// Options of `swirl bench backend-auth`.
#[derive(Parser, Debug)]
#[command(
    name = "swirl bench backend-auth",
    about = "Cost of a signed backend request against mutual TLS on a large body"
)]
struct Args {
    /// Requests signed and verified.
    #[arg(long, default_value_t = 200_000)]
    requests: u32,
    /// Body sent over TLS and over plain TCP, in MiB.
    #[arg(long, default_value_t = 64)]
    body_mib: usize,
    /// Times each body is sent (the best run is reported).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// TLS handshakes timed.
    #[arg(long, default_value_t = 200)]
    handshakes: u32,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    requests: u32,
    sign_us: f64,
    verify_us: f64,
    sign_verify_us: f64,
    body_mib: usize,
    plain_ms: f64,
    tls_ms: f64,
    tls_extra_ms: f64,
    tls_mib_per_s: f64,
    handshake_ms: f64,
}

pub fn main(argv: &[String]) -> ExitCode {
    let args: Args = match crate::parse_args(
        std::iter::once("swirl bench backend-auth".to_string()).chain(argv.iter().cloned()),
    ) {
        Ok(a) => a,
        Err(c) => return c,
    };
    match run(&args) {
        Ok(r) => {
            if args.json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            } else {
                print_text(&r);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_text(r: &Report) {
    println!(
        "signed head: sign {:.2} us + verify {:.2} us = {:.2} us per request ({} requests)",
        r.sign_us, r.verify_us, r.sign_verify_us, r.requests
    );
    println!(
        "{} MiB body: plain TCP {:.1} ms, mutual TLS {:.1} ms ({:.0} MiB/s): TLS adds {:.1} ms CPU",
        r.body_mib, r.plain_ms, r.tls_ms, r.tls_mib_per_s, r.tls_extra_ms
    );
    println!("mutual TLS handshake: {:.2} ms (both ends)", r.handshake_ms);
    if r.sign_verify_us > 0.0 {
        println!(
            "TLS on one such body costs as much as signing {:.0} requests",
            r.tls_extra_ms * 1000.0 / r.sign_verify_us
        );
    }
}

/// The head of an object PUT as the proxy sends it.
fn put_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("x-timestamp", "1764921000.12345"),
        ("content-type", "application/octet-stream"),
        ("content-length", "67108864"),
        ("etag", "d41d8cd98f00b204e9800998ecf8427e"),
        (bh::STORAGE_POLICY_INDEX, "0"),
        (
            bh::CONTAINER_HOST,
            "10.0.0.2:6201,10.0.0.3:6201,10.0.0.4:6201",
        ),
        (bh::CONTAINER_DEVICE, "sdb1,sdc1,sdd1"),
        (bh::CONTAINER_PARTITION, "51234"),
        ("x-object-meta-color", "blue"),
        ("x-trans-id", "tx0123456789abcdef01234-006b13c92e"),
        ("user-agent", "proxy-server 1234"),
        ("expect", "100-continue"),
        ("host", "10.0.0.5:6200"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h
}

fn run(args: &Args) -> Result<Report, Error> {
    let key = BackendKey::generate();
    let signer = BackendAuth::new(key.clone(), false, 60_000);
    let verifier = BackendAuth::new(key, true, 60_000);
    let uri: Uri = "/sdb1/51234/AUTH_test/bench/object-000123"
        .parse()
        .map_err(|e| Error::Setup(format!("uri: {e}")))?;
    let base = put_headers();
    let n = args.requests.max(1);
    let mut signed = Vec::with_capacity(n as usize);
    let t = Instant::now();
    for _ in 0..n {
        let mut h = base.clone();
        signer.sign_headers(&Method::PUT, &uri, &mut h);
        signed.push(h);
    }
    let sign = t.elapsed();
    let t = Instant::now();
    for h in &signed {
        verifier
            .verify(&Method::PUT, &uri, h)
            .map_err(|e| Error::Setup(format!("verify: {e}")))?;
    }
    let verify = t.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;

    let dir = std::env::temp_dir().join(format!("swirl-bench-tls-{}", std::process::id()));
    let tls = (|| {
        let ca = dir.join("ca");
        issue::create_ca(&ca, "bench").map_err(Error::Tls)?;
        issue::issue_node(
            &ca,
            &dir.join("node"),
            "bench",
            &["127.0.0.1".parse().map_err(|_| Error::Setup("ip".into()))?],
            &[],
        )
        .map_err(Error::Tls)?;
        let d = dir.join("node");
        ClusterTls::load(
            &d.join(issue::CA_CERT),
            &d.join(issue::NODE_CERT),
            &d.join(issue::NODE_KEY),
        )
        .map_err(Error::Tls)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let tls = tls?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Io)?;
    let body = vec![0x5au8; args.body_mib << 20];
    let (plain, secured, handshake) = rt.block_on(transfers(
        &tls,
        Arc::new(body),
        args.rounds.max(1),
        args.handshakes,
    ))?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(Report {
        requests: n,
        sign_us: per(sign),
        verify_us: per(verify),
        sign_verify_us: per(sign + verify),
        body_mib: args.body_mib,
        plain_ms: ms(plain),
        tls_ms: ms(secured),
        tls_extra_ms: ms(secured.saturating_sub(plain)),
        tls_mib_per_s: args.body_mib as f64 / secured.as_secs_f64(),
        handshake_ms: ms(handshake) / args.handshakes.max(1) as f64,
    })
}

/// Best times of sending `body` over plain TCP and over mutual TLS (both
/// ends in this thread), and the total of `handshakes` handshakes.
async fn transfers(
    tls: &ClusterTls,
    body: Arc<Vec<u8>>,
    rounds: u32,
    handshakes: u32,
) -> Result<(Duration, Duration, Duration), Error> {
    let acceptor = tls.acceptor().map_err(Error::Tls)?;
    let connector = tls.connector().map_err(Error::Tls)?;
    let name = swirl_common::tls::server_name("127.0.0.1").map_err(Error::Tls)?;
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(Error::Io)?;
    let addr = listener.local_addr().map_err(Error::Io)?;
    let (mut plain, mut secured) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let t = Instant::now();
        let (a, b) = tokio::join!(listener.accept(), TcpStream::connect(addr));
        let (server, client) = (a.map_err(Error::Io)?.0, b.map_err(Error::Io)?);
        one_body(client, server, &body).await?;
        plain = plain.min(t.elapsed());

        let (a, b) = tokio::join!(listener.accept(), TcpStream::connect(addr));
        let (server, client) = (a.map_err(Error::Io)?.0, b.map_err(Error::Io)?);
        let (s, c) = tokio::join!(
            acceptor.accept(server),
            connector.connect(name.clone(), client)
        );
        let (s, c) = (s.map_err(Error::Io)?, c.map_err(Error::Io)?);
        let t = Instant::now();
        one_body(c, s, &body).await?;
        secured = secured.min(t.elapsed());
    }
    let t = Instant::now();
    for _ in 0..handshakes {
        let (a, b) = tokio::join!(listener.accept(), TcpStream::connect(addr));
        let (server, client) = (a.map_err(Error::Io)?.0, b.map_err(Error::Io)?);
        let (s, c) = tokio::join!(
            acceptor.accept(server),
            connector.connect(name.clone(), client)
        );
        let (_s, _c) = (s.map_err(Error::Io)?, c.map_err(Error::Io)?);
    }
    Ok((plain, secured, t.elapsed()))
}

/// Writes `body` on `w` while reading it whole on `r`.
async fn one_body(
    mut w: impl AsyncWrite + Unpin,
    mut r: impl AsyncRead + Unpin,
    body: &[u8],
) -> Result<(), Error> {
    let send = async {
        for chunk in body.chunks(256 << 10) {
            w.write_all(chunk).await?;
        }
        w.shutdown().await
    };
    let recv = async {
        let mut buf = vec![0u8; 256 << 10];
        let mut got = 0usize;
        loop {
            match r.read(&mut buf).await? {
                0 => break,
                n => got += n,
            }
        }
        Ok::<_, std::io::Error>(got)
    };
    let (s, got) = tokio::join!(send, recv);
    s.map_err(Error::Io)?;
    let got = got.map_err(Error::Io)?;
    if got != body.len() {
        return Err(Error::Setup(format!(
            "received {got} of {} bytes",
            body.len()
        )));
    }
    Ok(())
}
