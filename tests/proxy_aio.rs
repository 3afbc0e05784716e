//! `swirl aio`: the README's first command starts a working cluster (swirl's
//! own proxy, object, container and account servers in one process); the
//! swift CLI works against it, and a restart on the same DIR keeps the data.

use std::time::Duration;

use crate::harness::{self, http_request, Proc};
use crate::proxy_cluster::swift_cli;

fn start(data: &std::path::Path) -> Proc {
    let p = Proc::swirl_server(
        "aio",
        &[
            "aio",
            "--data",
            data.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
        Duration::from_secs(30),
    );
    assert!(harness::wait_healthcheck(p.addr(), Duration::from_secs(10)));
    p
}

#[test]
fn aio_serves_swift_clients_and_keeps_data_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("swirl-data");
    let work = tmp.path();
    let mut aio = start(&data);
    for f in [
        "proxy-server.toml",
        "object-server.toml",
        "container-server.toml",
        "account-server.toml",
        "object.ring.gz",
        "container.ring.gz",
        "account.ring.gz",
    ] {
        assert!(data.join("etc").join(f).exists(), "{f} created");
    }
    let auth = format!("http://{}/auth/v1.0", aio.addr());
    let body: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(work.join("blob.bin"), &body).unwrap();
    let up = swift_cli(&auth, work, &["upload", "keep", "blob.bin"]);
    assert!(up.0, "upload: {} {}", up.1, up.2);
    let (s, _, b) = http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));

    // Every default user of Swift's functional tests can get a token.
    for (u, k) in [
        ("admin:admin", "admin"),
        ("test:tester3", "testing3"),
        ("test2:tester2", "testing2"),
        ("test5:tester5", "testing5"),
    ] {
        let (s, _, _) = http_request(
            aio.addr(),
            "GET",
            "/auth/v1.0",
            &[("X-Auth-User", u), ("X-Auth-Key", k)],
            b"",
        )
        .unwrap();
        assert_eq!(s, 200, "{u}");
    }

    // Restart on the same directory: the object is still there, byte for byte.
    aio.kill9();
    let aio = start(&data);
    let auth = format!("http://{}/auth/v1.0", aio.addr());
    let dl = swift_cli(
        &auth,
        work,
        &["download", "keep", "blob.bin", "-o", "back.bin"],
    );
    assert!(dl.0, "download: {} {}", dl.1, dl.2);
    assert!(
        std::fs::read(work.join("back.bin")).unwrap() == body,
        "bytes differ after restart"
    );
    let list = swift_cli(&auth, work, &["list", "keep"]);
    assert_eq!(list.1.trim(), "blob.bin");
}

#[test]
fn aio_rejects_unknown_config_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let mut aio = start(&data);
    aio.kill9();
    let conf = data.join("etc").join("proxy-server.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("bind_prot = 1\n{text}")).unwrap();
    let out = harness::swirl(
        tmp.path(),
        &[
            "aio",
            "--data",
            data.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bind_prot"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
