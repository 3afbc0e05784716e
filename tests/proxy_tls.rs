//! TLS on the proxy's public port (rustls) when cert_file and key_file are
//! configured: the swift CLI talks HTTPS to an aio cluster, and the storage
//! URL it is given says https.

use std::process::Command;

use crate::harness;

#[test]
fn proxy_serves_https_with_configured_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    harness::aio_ready(&data).kill9();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = data.join("etc").join("proxy-server.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        format!(
            "cert_file = {:?}\nkey_file = {:?}\n{text}",
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
    let aio = harness::aio_ready(&data);
    let url = format!("https://localhost:{}", aio.addr().port());
    // Plain HTTP on the TLS port does not get a response.
    let plain = harness::http_request(aio.addr(), "GET", "/healthcheck", &[], b"");
    assert!(plain.map(|r| r.0 != 200).unwrap_or(true));
    let curl = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&cert)
        .arg(format!("{url}/healthcheck"))
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "OK");
    let swift = |extra: &[&str]| {
        Command::new("/usr/bin/swift")
            .args([
                "--os-cacert",
                cert.to_str().unwrap(),
                "-A",
                &format!("{url}/auth/v1.0"),
                "-U",
                "test:tester",
                "-K",
                "testing",
            ])
            .args(extra)
            .current_dir(tmp.path())
            .output()
            .expect("run swift")
    };
    std::fs::write(tmp.path().join("f.txt"), b"over tls").unwrap();
    let up = swift(&["upload", "c", "f.txt"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let auth = swift(&["auth"]);
    assert!(
        String::from_utf8_lossy(&auth.stdout).contains("OS_STORAGE_URL=https://"),
        "{}",
        String::from_utf8_lossy(&auth.stdout)
    );
    let dl = swift(&["download", "c", "f.txt", "-o", "-"]);
    assert_eq!(dl.stdout, b"over tls");
}
