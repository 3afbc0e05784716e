//! The cinder CLI (python-cinderclient, with a tempauth token) against
//! `swirl aio`'s gateway: create, list, show, extend, attachments (create,
//! complete, delete; a second host refused), snapshot, volume from
//! snapshot, clone, delete with and without cascade. Data goes through NBD
//! with qemu-io; chunk objects are counted through the Swift API at each
//! step, so shared chunks stay and nothing is orphaned. Then volumes from an
//! image stored the way Glance's Swift store writes it (a DLO), by image id
//! and by swift location.

use std::process::Output;

use serde_json::Value;

use crate::harness::http_request;
use crate::proxy_cluster::token;
use crate::volume_support::{convert_out_matches, pattern, run, run_status, uri, Cluster};

const MIB: usize = 1 << 20;

fn cinder_args(c: &Cluster) -> Vec<String> {
    vec![
        "--os-auth-type".into(),
        "admin_token".into(),
        "--os-endpoint".into(),
        format!("http://{}/v3/AUTH_test", c.api),
        "--os-project-id".into(),
        "AUTH_test".into(),
        "--os-token".into(),
        c.token.clone(),
    ]
}

fn cinder_out(c: &Cluster, args: &[&str]) -> Output {
    let mut all: Vec<String> = cinder_args(c);
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run_status(120, "cinder", &refs)
}

/// Runs `cinder <args>` and returns its stdout (it must succeed).
fn cinder(c: &Cluster, args: &[&str]) -> String {
    let out = cinder_out(c, args);
    assert!(
        out.status.success(),
        "cinder {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A property of cinder's `| Property | Value |` table.
fn field(table: &str, name: &str) -> String {
    table
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            (cols.len() > 2 && cols[1] == name).then(|| cols[2].to_string())
        })
        .unwrap_or_else(|| panic!("no {name} in\n{table}"))
}

/// The NBD export in attachment-create's connection table.
fn export_of(table: &str) -> String {
    let data = field(table, "data");
    let start = data.find("'export': '").unwrap() + "'export': '".len();
    data[start..].split('\'').next().unwrap().to_string()
}

/// qemu-io commands on an export; any failed pattern check fails the test.
fn qemu_io(c: &Cluster, export: &str, cmds: &[&str]) {
    let u = uri(c.nbd, export);
    let mut args = vec!["-f", "raw"];
    for cmd in cmds {
        args.push("-c");
        args.push(cmd);
    }
    args.push(&u);
    let out = run(120, "qemu-io", &args);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("failed"), "qemu-io {cmds:?}: {text}");
}

/// Attaches with the CLI; returns (attachment id, export).
fn attach(c: &Cluster, vol: &str) -> (String, String) {
    let out = cinder(
        c,
        &[
            "attachment-create",
            "--connect",
            "true",
            "--host",
            "h1",
            vol,
        ],
    );
    (field(&out, "id"), export_of(&out))
}

/// A volume's status, through the API (the CLI's show is checked above).
fn status(c: &Cluster, vol: &str) -> String {
    let (_, v) = c.gw().volume(vol);
    v["volume"]["status"].as_str().unwrap_or("").to_string()
}

#[test]
fn volume_cinder_cli_lifecycle_snapshots_clones_images() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::start(&tmp.path().join("aio"));
    let api = c.gw();

    // create, list, show (by name), extend.
    let out = cinder(&c, &["create", "--name", "vol-a", "1"]);
    let a = field(&out, "id");
    assert_eq!(field(&out, "size"), "1");
    let list = cinder(&c, &["list"]);
    assert!(list.contains(&a) && list.contains("available"), "{list}");
    cinder(&c, &["extend", "vol-a", "2"]);
    let show = cinder(&c, &["show", "vol-a"]);
    assert_eq!(field(&show, "size"), "2");
    assert_eq!(field(&show, "status"), "available");

    // Attach, write, complete: in-use.
    let (att, export) = attach(&c, "vol-a");
    assert_eq!(status(&c, &a), "attaching");
    qemu_io(&c, &export, &["write -P 0x5a 0 8M", "write -P 0x6b 1G 4M"]);
    cinder(&c, &["attachment-complete", &att]);
    assert_eq!(status(&c, &a), "in-use");
    let objs = c.chunk_objects_n(3);
    assert_eq!(objs.len(), 3, "{objs:?}");
    // One host at a time: a second host's attachment is refused.
    let second = cinder_out(
        &c,
        &[
            "attachment-create",
            "--connect",
            "true",
            "--host",
            "h2",
            "vol-a",
        ],
    );
    let text = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success() && text.contains("HTTP 400"),
        "a second attachment of a single-attach volume: {text}"
    );
    assert_eq!(status(&c, &a), "in-use");

    // A snapshot of the attached volume, then the volume is rewritten: the
    // rewritten chunks are new objects, the snapshot's stay.
    let snap = field(
        &cinder(&c, &["snapshot-create", "--name", "snap-a", "vol-a"]),
        "id",
    );
    qemu_io(&c, &export, &["write -P 0x99 0 8M"]);
    let objs = c.chunk_objects_n(5);
    assert_eq!(objs.len(), 5, "{objs:?}");

    // Volume from the snapshot and a clone of the volume: no chunk copied.
    let from = field(
        &cinder(
            &c,
            &["create", "--snapshot-id", &snap, "--name", "from-snap"],
        ),
        "id",
    );
    let clone = field(
        &cinder(&c, &["create", "--source-volid", &a, "--name", "clone-a"]),
        "id",
    );
    let objs = c.chunk_objects_n(5);
    assert_eq!(objs.len(), 5, "{objs:?}");
    assert_eq!(field(&cinder(&c, &["show", &from]), "size"), "2");

    // The snapshot's volume reads the old data, the clone the new; a write
    // to the clone leaves the source as it was.
    let (att_f, exp_f) = attach(&c, &from);
    qemu_io(&c, &exp_f, &["read -P 0x5a 0 8M", "read -P 0x6b 1G 4M"]);
    let (att_c, exp_c) = attach(&c, &clone);
    qemu_io(
        &c,
        &exp_c,
        &[
            "read -P 0x99 0 8M",
            "read -P 0x6b 1G 4M",
            "write -P 0x33 1G 4M",
        ],
    );
    qemu_io(&c, &export, &["read -P 0x99 0 8M", "read -P 0x6b 1G 4M"]);
    let objs = c.chunk_objects_n(6);
    assert_eq!(objs.len(), 6, "{objs:?}");

    // Detach everything.
    for at in [&att, &att_f, &att_c] {
        cinder(&c, &["attachment-delete", at]);
    }
    for v in [&a, &from, &clone] {
        assert_eq!(status(&c, v), "available");
    }

    // A volume with a snapshot is not deleted without --cascade.
    let refused = cinder_out(&c, &["delete", "vol-a"]);
    let text = String::from_utf8_lossy(&refused.stdout).into_owned()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(text.contains("dependent snapshots"), "{text}");
    cinder(&c, &["delete", "--cascade", "vol-a"]);
    api.wait(&a, "gone");
    // Everything vol-a wrote is still named by the snapshot's volume or the clone.
    let objs = c.chunk_objects_n(6);
    assert_eq!(objs.len(), 6, "{objs:?}");
    let snaps = cinder(&c, &["snapshot-list"]);
    assert!(!snaps.contains(&snap), "{snaps}");
    cinder(&c, &["delete", "from-snap"]);
    api.wait(&from, "gone");
    let objs = c.chunk_objects_n(3);
    assert_eq!(objs.len(), 3, "{objs:?}");
    cinder(&c, &["delete", "clone-a"]);
    api.wait(&clone, "gone");
    assert_eq!(
        c.chunk_objects_n(0),
        Vec::<String>::new(),
        "orphan chunk objects"
    );
    assert_eq!(
        c.list_settled("swirl-volumes", |l| l.is_empty()),
        Vec::<String>::new(),
        "orphan records"
    );

    glance_images(&c, &tmp.path().join("img"));
}

/// An image stored as Glance's Swift store does (single tenant, account
/// AUTH_glance, a DLO of `<id>-NNNNN` segments) becomes a volume, by image
/// id and by swift location, read server-side by the gateway.
fn glance_images(c: &Cluster, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let api = c.gw();
    let (gtok, _) = token(c.proxy, "glance:glance", "glance");
    let put = |path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut h = vec![("X-Auth-Token", gtok.as_str())];
        h.extend_from_slice(headers);
        let (s, _, b) = http_request(c.proxy, "PUT", path, &h, body).unwrap();
        assert!(
            s == 201 || s == 202,
            "PUT {path}: {s} {}",
            String::from_utf8_lossy(&b)
        );
    };
    // 3 MiB of data, 9 MiB of zeros, 2 MiB + 123 bytes of data.
    let mut image = pattern(3 * MIB, 77);
    image.resize(12 * MIB, 0);
    image.extend(pattern(2 * MIB + 123, 78));
    let id = "0d7b0a4e-1c2f-4b35-9a8e-6f1e2d3c4b5a";
    put("/v1/AUTH_glance/glance", &[], b"");
    for (i, seg) in image.chunks(3_000_000).enumerate() {
        put(
            &format!("/v1/AUTH_glance/glance/{id}-{:05}", i + 1),
            &[],
            seg,
        );
    }
    let manifest = format!("glance/{id}-");
    put(
        &format!("/v1/AUTH_glance/glance/{id}"),
        &[("X-Object-Manifest", &manifest)],
        b"",
    );

    let expected = dir.join("expected.raw");
    std::fs::write(&expected, &image).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&expected)
        .unwrap();
    f.set_len(1 << 30).unwrap();
    drop(f);

    let location = format!("swift+http://{}/v1/AUTH_glance/glance/{id}", c.proxy);
    for (n, image_ref) in [id.to_string(), location].iter().enumerate() {
        let name = format!("from-image-{n}");
        let v = field(
            &cinder(
                c,
                &["create", "--image-id", image_ref, "--name", &name, "1"],
            ),
            "id",
        );
        api.wait(&v, "available");
        let (_, body) = api.volume(&v);
        assert_eq!(body["volume"]["bootable"], Value::from("true"));
        // Holes stay holes: two chunks hold the image's data.
        let mine = c
            .list_settled("swirl-volume-chunks", |l| {
                l.iter().filter(|o| o.starts_with(&v)).count() == 2
            })
            .into_iter()
            .filter(|o| o.starts_with(&v))
            .count();
        assert_eq!(mine, 2, "chunks of {v}");
        let (_att, export) = api.attach(&v);
        let out = dir.join(format!("out-{n}.raw"));
        convert_out_matches(
            &uri(c.nbd, &export),
            &out,
            &expected,
            &format!("volume from image {image_ref}"),
        );
    }

    // An object the caller cannot read is not an image it may use.
    let (t2, _) = token(c.proxy, "test2:tester2", "testing2");
    for path in ["/v1/AUTH_test2/private", "/v1/AUTH_test2/private/disk"] {
        let (s, _, _) =
            http_request(c.proxy, "PUT", path, &[("X-Auth-Token", &t2)], b"secret").unwrap();
        assert!(s == 201 || s == 202);
    }
    let other = format!("swift+http://{}/v1/AUTH_test2/private/disk", c.proxy);
    let refused = cinder_out(c, &["create", "--image-id", &other, "1"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("HTTP 400"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
