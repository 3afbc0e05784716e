//! Volumes through real NBD clients against `swirl aio`'s gateway:
//! qemu-img convert of a 1 GiB image with holes in and out (byte-exact,
//! holes cost no objects), nbdinfo's --map and --can, qemu-io patterns with
//! and without FUA, nbdcopy with four connections both ways; the same
//! exports through the gateway's Unix socket (connection_info's local_uri).

use crate::volume_support::{convert_out_matches, run, same_files, sparse_image, uri, Cluster};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const CHUNK: u64 = 4 * MIB;

/// (offset, length) of the data in the test image; everything else is a hole.
const PIECES: &[(u64, usize)] = &[
    (0, 1 << 20),
    (4 * MIB - 1000, 6000),
    (100 * MIB + 12345, 3 << 20),
    (512 * MIB, 8 << 20),
    (GIB - 300 * 1024, 300 * 1024),
];

/// The chunk indexes PIECES touch.
fn data_chunks() -> Vec<u64> {
    let mut c: Vec<u64> = PIECES
        .iter()
        .flat_map(|&(o, l)| (o / CHUNK)..=((o + l as u64 - 1) / CHUNK))
        .collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// `nbdinfo --map` as (offset, length, is_hole).
fn map(u: &str) -> Vec<(u64, u64, bool)> {
    let out = run(60, "nbdinfo", &["--map", u]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                l.contains("hole"),
            ))
        })
        .collect()
}

#[test]
fn volume_qemu_img_nbdinfo_qemu_io_nbdcopy() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::start(&tmp.path().join("aio"));
    let api = c.gw();
    let vol = api.create(1, "qemu");
    let att = api.attachment(&vol);
    let export = att["connection_info"]["data"]["export"]
        .as_str()
        .unwrap()
        .to_string();
    let u = uri(c.nbd, &export);

    // What the export offers.
    for can in ["flush", "fua", "trim", "zero", "fast-zero", "multi-conn"] {
        run(60, "nbdinfo", &["--can", can, &u]);
    }
    let info = run(60, "nbdinfo", &[&u]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("export-size: 1073741824"), "{info}");
    assert!(info.contains("base:allocation"), "{info}");

    // A new volume is one hole.
    assert_eq!(map(&u), vec![(0, GIB, true)]);

    // qemu-img convert in: only the chunks with data become objects.
    let img = tmp.path().join("img.raw");
    sparse_image(&img, GIB, PIECES);
    run(
        300,
        "qemu-img",
        &[
            "convert",
            "-n",
            "-f",
            "raw",
            "-O",
            "raw",
            img.to_str().unwrap(),
            &u,
        ],
    );
    let mut objects = c.chunk_objects_n(data_chunks().len());
    objects.sort();
    let chunks: Vec<u64> = objects
        .iter()
        .map(|o| u64::from_str_radix(&o[37..53], 16).unwrap())
        .collect();
    assert_eq!(chunks, data_chunks(), "{objects:?}");
    // nbdinfo --map: data exactly where those chunks are, holes elsewhere.
    let m = map(&u);
    assert_eq!(m.iter().map(|e| e.1).sum::<u64>(), GIB);
    let data: u64 = m.iter().filter(|e| !e.2).map(|e| e.1).sum();
    assert_eq!(data, data_chunks().len() as u64 * CHUNK, "{m:?}");
    for (off, len, hole) in &m {
        let first = off / CHUNK;
        let last = (off + len - 1) / CHUNK;
        let has_data = data_chunks().iter().any(|c| (first..=last).contains(c));
        assert_eq!(!hole, has_data, "extent {off}+{len}");
    }

    // qemu-img convert out: byte for byte the image.
    let out = tmp.path().join("out.raw");
    convert_out_matches(&u, &out, &img, "qemu-img convert round trip");

    // The same export through the Unix socket, as a client on the
    // gateway's host reaches it: qemu-img out again, and nbdinfo.
    let local = att["connection_info"]["data"]["local_uri"]
        .as_str()
        .expect("local_uri with the aio's socket")
        .to_string();
    assert_eq!(
        local,
        format!("nbd+unix:///{export}?socket={}", c.nbd_socket.display())
    );
    for can in ["flush", "fua", "multi-conn"] {
        run(60, "nbdinfo", &["--can", can, &local]);
    }
    convert_out_matches(&local, &out, &img, "convert out over the socket");

    // qemu-io in its default writethrough mode (every write with FUA), an
    // explicit FUA write, zeroes; then writeback mode (no FUA) with a
    // discard and a flush. A new process reads everything back.
    let io = |mode: &str, cmds: &[&str]| {
        let mut args = vec!["-f", "raw", "-t", mode];
        for c in cmds {
            args.push("-c");
            args.push(c);
        }
        args.push(&u);
        let out = run(120, "qemu-io", &args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("failed"), "qemu-io {cmds:?}: {text}");
        text
    };
    io(
        "writethrough",
        &[
            "write -P 0xa1 64M 1M",
            "write -f -P 0xa2 66M 4k",
            "write -z 67M 64k",
            "write -P 0xa3 70M 512",
        ],
    );
    io(
        "writeback",
        &[
            "write -P 0xb1 72M 3M",
            "write -P 0xb2 75M 1M",
            "discard 72M 1M",
            "write -z -u 75M 4k",
            "flush",
        ],
    );
    io(
        "writethrough",
        &[
            "read -P 0xa1 64M 1M",
            "read -P 0xa2 66M 4k",
            "read -P 0 67M 64k",
            "read -P 0xa3 70M 512",
            "read -P 0 72M 1M",
            "read -P 0xb1 73M 2M",
            "read -P 0 75M 4k",
            "read -P 0xb2 78647296 1044480",
        ],
    );

    // nbdcopy with four connections (the export allows multi-conn), into a
    // second volume and back out.
    let vol2 = api.create(1, "nbdcopy");
    let a2 = api.attachment(&vol2);
    let u2 = uri(
        c.nbd,
        a2["connection_info"]["data"]["export"].as_str().unwrap(),
    );
    let local2 = a2["connection_info"]["data"]["local_uri"].as_str().unwrap();
    let src = tmp.path().join("src.raw");
    sparse_image(&src, GIB, &[(8 * MIB + 7, 48 << 20), (900 * MIB, 1 << 20)]);
    run(
        300,
        "nbdcopy",
        &["--connections=4", "--flush", src.to_str().unwrap(), &u2],
    );
    // Out through the socket, four connections there too.
    let back = tmp.path().join("back.raw");
    run(
        300,
        "nbdcopy",
        &["--connections=4", local2, back.to_str().unwrap()],
    );
    assert!(same_files(&src, &back), "nbdcopy round trip differs");
}
