//! Ring interop with Swift itself (Debian's Swift 2.30.1): rings built by
//! `swift-ring-builder` give the same partitions, primaries and handoffs in
//! swirl as in Swift's `Ring`; Swift's ring.gz files are written back byte for
//! byte; rings swirl writes load in Swift with the same answers; and
//! `swirl get-nodes` prints what `swift-get-nodes` prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use swirl_ring::codec::{self, WriteOptions};
use swirl_ring::hash::HashPathConfig;
use swirl_ring::RingData;

use crate::harness;

const PREFIX: &str = "pre-changeme";
const SUFFIX: &str = "changeme";

type Path3 = (String, Option<String>, Option<String>);
/// partition, primaries (id, index), handoffs (id, handoff_index)
type Answer = (u32, Vec<(u32, usize)>, Vec<(u32, usize)>);

fn cfg() -> HashPathConfig {
    HashPathConfig::new(PREFIX, SUFFIX)
}

/// Runs /usr/bin/swift-ring-builder; exit 1 is Swift's "done, with a warning".
fn srb(dir: &Path, args: &[&str]) {
    let out = Command::new("/usr/bin/swift-ring-builder")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run /usr/bin/swift-ring-builder");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "swift-ring-builder {args:?} exited {code}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Swift's SAIO object ring: part power 10, 3 replicas, four devices in four zones.
fn build_saio_ring(dir: &Path) -> PathBuf {
    srb(dir, &["object.builder", "create", "10", "3", "1"]);
    srb(
        dir,
        &[
            "object.builder",
            "add",
            "r1z1-127.0.0.1:6210R127.0.0.1:6210/sdb1",
            "1",
            "r1z2-127.0.0.1:6220R127.0.0.1:6220/sdb2",
            "1",
            "r1z3-127.0.0.1:6230R127.0.0.1:6230/sdb3",
            "1",
            "r1z4-127.0.0.1:6240R127.0.0.1:6240/sdb4",
            "1",
        ],
    );
    srb(dir, &["object.builder", "rebalance", "--seed", "1"]);
    dir.join("object.ring.gz")
}

/// Two regions x three zones x two hosts x two devices, uneven weights, 2.5
/// replicas, and a removed device (a hole in `devs`).
fn build_complex_ring(dir: &Path) -> PathBuf {
    let b = "object-1.builder";
    srb(dir, &[b, "create", "8", "2.5", "1"]);
    let mut add: Vec<String> = vec![b.into(), "add".into()];
    let mut n = 0;
    for region in 1..=2 {
        for zone in 1..=3 {
            for host in 1..=2 {
                for disk in 1..=2 {
                    n += 1;
                    add.push(format!(
                        "r{region}z{zone}-10.{region}.{zone}.{host}:60{n:02}R192.168.{zone}.{host}:61{n:02}/d{disk}_m{n}"
                    ));
                    add.push(format!("{}", 50 + 25 * (n % 4)));
                }
            }
        }
    }
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    srb(dir, &add);
    srb(dir, &[b, "rebalance", "--seed", "7"]);
    srb(dir, &[b, "remove", "d5"]);
    srb(dir, &[b, "pretend_min_part_hours_passed"]);
    srb(dir, &[b, "rebalance", "--seed", "9"]);
    dir.join("object-1.ring.gz")
}

/// The two rings swift-ring-builder wrote, built once per test run (each
/// swift-ring-builder call is a second of python start-up).
fn swift_built_rings() -> &'static (Vec<u8>, Vec<u8>) {
    static RINGS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    RINGS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let saio = std::fs::read(build_saio_ring(dir.path())).unwrap();
        let complex = std::fs::read(build_complex_ring(dir.path())).unwrap();
        (saio, complex)
    })
}

/// Swift's SAIO ring as `dir/object.ring.gz`.
fn saio_ring(dir: &Path) -> PathBuf {
    let p = dir.join("object.ring.gz");
    std::fs::write(&p, &swift_built_rings().0).unwrap();
    p
}

/// The complex Swift-built ring as `dir/object-1.ring.gz`.
fn complex_ring(dir: &Path) -> PathBuf {
    let p = dir.join("object-1.ring.gz");
    std::fs::write(&p, &swift_built_rings().1).unwrap();
    p
}

fn name(rng: &mut ChaCha8Rng) -> String {
    const CHARS: &[char] = &[
        'a', 'b', 'z', '0', '9', '_', '-', '.', ' ', '%', 'é', '☃', '😀', '/',
    ];
    let len = rng.random_range(1..24);
    let s: String = (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())])
        .collect();
    s
}

/// `n` random account / container / object paths, the same for every run.
fn random_paths(n: usize, seed: u64) -> Vec<Path3> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let a = format!("AUTH_{}", name(&mut rng).replace('/', ""));
            let kind = rng.random_range(0..10);
            let c = (kind >= 1).then(|| format!("c{}", name(&mut rng).replace('/', "")));
            // objects may hold '/' but not end in one (the CLI batch input trims them)
            let o = (kind >= 3).then(|| format!("o{}x", name(&mut rng)));
            (a, c, o)
        })
        .collect()
}

/// Swift's answers via tests/py/swift_ring.py (one python process).
fn swift_lookup(ring: &Path, paths: &[Path3], handoffs: &str) -> Vec<Answer> {
    let mut child = Command::new("/usr/bin/python3")
        .arg(harness::py_dir().join("swift_ring.py"))
        .args(["lookup", ring.to_str().unwrap(), PREFIX, SUFFIX, handoffs])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run swift_ring.py");
    let mut input = String::new();
    for p in paths {
        input.push_str(&serde_json::to_string(p).unwrap());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "swift_ring.py lookup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Answer> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), paths.len());
    answers
}

fn swirl_lookup(ring: &RingData, paths: &[Path3], handoffs: Option<usize>) -> Vec<Answer> {
    let cfg = cfg();
    paths
        .iter()
        .map(|(a, c, o)| {
            let (part, nodes) = ring.get_nodes(&cfg, a, c.as_deref(), o.as_deref());
            let primaries = nodes.map(|n| (n.dev.id, n.index)).collect();
            let more = ring
                .get_more_nodes(part)
                .take(handoffs.unwrap_or(usize::MAX))
                .map(|n| (n.dev.id, n.index))
                .collect();
            (part, primaries, more)
        })
        .collect()
}

fn load(path: &Path) -> RingData {
    codec::read_ring(std::fs::File::open(path).unwrap()).unwrap()
}

fn assert_same_answers(what: &str, paths: &[Path3], swift: &[Answer], swirl: &[Answer]) {
    for ((p, s), w) in paths.iter().zip(swift).zip(swirl) {
        assert_eq!(
            s, w,
            "{what}: path {p:?}: Swift (left) and swirl (right) differ"
        );
    }
}

#[test]
fn saio_ring_lookups_match_swift() {
    let dir = tempfile::tempdir().unwrap();
    let path = saio_ring(dir.path());
    let ring = load(&path);
    let paths = random_paths(10_000, 1);
    let swift = swift_lookup(&path, &paths, "all");
    let swirl = swirl_lookup(&ring, &paths, None);
    assert_same_answers("saio", &paths, &swift, &swirl);
    // Every lookup has three primaries and the fourth device as handoff.
    assert!(swift.iter().all(|a| a.1.len() == 3 && a.2.len() == 1));

    // The CLI's batch mode gives the same (ip, port, device) lists.
    let input: String = paths
        .iter()
        .map(|(a, c, o)| {
            let mut s = a.clone();
            for part in [c, o].into_iter().flatten() {
                s.push('/');
                s.push_str(part);
            }
            s + "\n"
        })
        .collect();
    let out = swirl_stdin(
        dir.path(),
        &[
            "get-nodes",
            "--batch",
            "--handoffs",
            "5",
            "--hash-path-prefix",
            PREFIX,
            "--hash-path-suffix",
            SUFFIX,
            path.to_str().unwrap(),
        ],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = |id: u32| {
        let d = ring.dev(id).unwrap();
        serde_json::json!({"ip": d.ip, "port": d.port, "device": d.device})
    };
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), paths.len());
    for ((p, s), got) in paths.iter().zip(&swift).zip(&lines) {
        let want = serde_json::json!({
            "partition": s.0,
            "primaries": s.1.iter().map(|n| node(n.0)).collect::<Vec<_>>(),
            "handoffs": s.2.iter().take(5).map(|n| node(n.0)).collect::<Vec<_>>(),
        });
        assert_eq!(got, &want, "cli batch for {p:?}");
    }
}

#[test]
fn complex_ring_handoffs_match_swift() {
    let dir = tempfile::tempdir().unwrap();
    let path = complex_ring(dir.path());
    let ring = load(&path);
    assert_eq!(ring.replica_count(), 2.5);
    assert!(ring.devs.iter().any(Option::is_none), "ring has a hole");
    let regions: std::collections::BTreeSet<u32> =
        ring.devs.iter().flatten().map(|d| d.region).collect();
    assert_eq!(regions.len(), 2);
    let paths = random_paths(10_000, 2);
    let swift = swift_lookup(&path, &paths, "all");
    let swirl = swirl_lookup(&ring, &paths, None);
    assert_same_answers("complex", &paths, &swift, &swirl);
    // fractional replicas: some partitions have 2 primaries, some 3
    let counts: std::collections::BTreeSet<usize> = swift.iter().map(|a| a.1.len()).collect();
    assert_eq!(counts, [2, 3].into_iter().collect());
}

#[test]
fn swift_rings_are_rewritten_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for path in [saio_ring(dir.path()), complex_ring(dir.path())] {
        let bytes = std::fs::read(&path).unwrap();
        let (ring, opts) = codec::read_ring_with_options(&bytes[..]).unwrap();
        assert_eq!(opts, WriteOptions::for_path(path.to_str().unwrap(), 1));
        let again = codec::ring_to_bytes(&ring, &opts).unwrap();
        assert!(again == bytes, "{} not byte-identical", path.display());
    }
}

fn swift_ring_py(args: &[&str]) -> Output {
    harness::swift_python(&harness::py_dir().join("swift_ring.py"), args)
}

#[test]
fn ring_written_by_swirl_loads_in_swift() {
    let dir = tempfile::tempdir().unwrap();
    let mut ring = load(&complex_ring(dir.path()));
    // Change what a ring can change: addresses, weights, metadata, the
    // assignment of replicas (rotate the device ids of the full rows).
    let ids: Vec<u32> = ring.devs.iter().flatten().map(|d| d.id).collect();
    for row in ring.replica2part2dev.iter_mut() {
        for id in row.iter_mut() {
            let i = ids.iter().position(|x| x == id).unwrap();
            *id = ids[(i + 1) % ids.len()];
        }
    }
    for d in ring.devs.iter_mut().flatten() {
        d.ip = format!("10.99.{}.{}", d.zone, d.id);
        d.port += 1000;
        d.weight = d.weight / 3.0 + 0.1;
        d.meta = format!("swirl ü {}", d.id);
    }
    ring.version = Some(ring.version.unwrap_or(0) + 100);
    ring.clear_lookup_cache();
    assert_swift_agrees(dir.path(), &ring, "swirl.ring.gz", 3);
}

/// Write `ring` with swirl as `dir/<name>` and check that Swift's RingData
/// loads the same ring, Swift's Ring gives the same answers for 3,000 paths,
/// and Swift's own writer produces the very bytes swirl wrote.
fn assert_swift_agrees(dir: &Path, ring: &RingData, name: &str, seed: u64) {
    let out_path = dir.join(name);
    let bytes = codec::ring_to_bytes(ring, &WriteOptions::for_path(name, 1)).unwrap();
    std::fs::write(&out_path, &bytes).unwrap();

    // Swift sees the same ring ...
    let out = swift_ring_py(&["dump", out_path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dump["part_shift"], ring.part_shift);
    assert_eq!(dump["version"], ring.version.unwrap());
    assert_eq!(dump["replica_count"], ring.replica_count());
    let table: Vec<Vec<u32>> = serde_json::from_value(dump["replica2part2dev_id"].clone()).unwrap();
    assert_eq!(table, ring.replica2part2dev);
    for (i, d) in dump["devs"].as_array().unwrap().iter().enumerate() {
        match ring.devs[i].as_ref() {
            None => assert!(d.is_null()),
            Some(dev) => {
                assert_eq!(d["ip"], dev.ip.as_str());
                assert_eq!(d["port"], dev.port);
                assert_eq!(d["weight"], dev.weight);
                assert_eq!(d["meta"], dev.meta.as_str());
                assert_eq!(d["replication_ip"], dev.replication_ip.as_str());
            }
        }
    }
    // ... answers the same ...
    let paths = random_paths(3_000, seed);
    let swift = swift_lookup(&out_path, &paths, "all");
    let swirl = swirl_lookup(ring, &paths, None);
    assert_same_answers("swirl-written", &paths, &swift, &swirl);
    // ... and writes exactly the bytes swirl wrote.
    let resaved = dir.join("resaved").join(name);
    std::fs::create_dir(resaved.parent().unwrap()).unwrap();
    let out = swift_ring_py(&[
        "resave",
        out_path.to_str().unwrap(),
        resaved.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&resaved).unwrap() == bytes,
        "Swift's save differs from swirl's"
    );
}

#[test]
fn v2_rings_round_trip_and_swift_2_30_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let ring = load(&saio_ring(dir.path()));
    let v2 = dir.path().join("v2.ring.gz");
    let bytes = codec::ring_to_bytes(&ring, &WriteOptions::for_path("v2.ring.gz", 2)).unwrap();
    std::fs::write(&v2, &bytes).unwrap();
    let (back, opts) = codec::read_ring_with_options(&bytes[..]).unwrap();
    assert_eq!(back, ring);
    assert_eq!(opts.format_version, 2);
    // Swift 2.30.1 only knows v1 (v2 came with ring/io.py in later Swift).
    let out = swift_ring_py(&["dump", v2.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unknown ring format version 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn swirl_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(harness::swirl_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run swirl");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_string();
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn get_nodes_prints_what_swift_get_nodes_prints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("swift.conf"),
        format!(
            "[swift-hash]\nswift_hash_path_prefix = {PREFIX}\nswift_hash_path_suffix = {SUFFIX}\n\n\
             [storage-policy:0]\nname = gold\naliases = yellow, orange\ndefault = yes\n\n\
             [storage-policy:1]\nname = silver\n"
        ),
    )
    .unwrap();
    let object = saio_ring(d);
    let object1 = complex_ring(d);
    let account = d.join("account.ring.gz");
    let container = d.join("container.ring.gz");
    std::fs::copy(&object, &account).unwrap();
    std::fs::copy(&object, &container).unwrap();
    let dir_s = d.to_str().unwrap();
    let cases: Vec<(&Path, Vec<&str>)> = vec![
        (&object, vec!["AUTH_test", "c", "o"]),
        (&object, vec!["AUTH_t est/c ont/o%bj é/x"]),
        (&object, vec!["-a", "AUTH_test", "c"]),
        (&object, vec!["-p", "5"]),
        (&object, vec!["-Q", "AUTH_test/c%20x/o%2Fy"]),
        (&account, vec!["AUTH_test"]),
        (&account, vec!["-p", "1023", "-a"]),
        (&container, vec!["AUTH_test", "cont"]),
        (&object1, vec!["-a", "AUTH_x", "c", "o"]),
        (&object1, vec!["-p", "17"]),
        // -P: the policy's rings from the swift dir instead of a ring file
        (&object, vec!["-P", "gold", "AUTH_test", "c", "o"]),
        (&object, vec!["-P", "Silver", "-a", "AUTH_test", "c", "o"]),
        (&object, vec!["-P", "yellow", "-p", "3"]),
        (&object, vec!["-P", "silver", "AUTH_test", "c"]),
        (&object, vec!["-P", "gold", "AUTH_test"]),
    ];
    for (ring, args) in cases {
        let ring_s = ring.to_str().unwrap();
        // With -P there is no ring argument.
        let ring_arg: &[&str] = if args[0] == "-P" { &[] } else { &[ring_s] };
        let mut swift_args = vec!["-d", dir_s];
        swift_args.extend(ring_arg);
        swift_args.extend(&args);
        let swift = Command::new("/usr/bin/swift-get-nodes")
            .args(&swift_args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            swift.status.success(),
            "{}",
            String::from_utf8_lossy(&swift.stderr)
        );
        let mut swirl_args = vec!["get-nodes", "--swift-dir", dir_s];
        swirl_args.extend(ring_arg);
        swirl_args.extend(&args);
        let swirl = harness::swirl(d, &swirl_args);
        assert!(
            swirl.status.success(),
            "{}",
            String::from_utf8_lossy(&swirl.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&swirl.stdout),
            String::from_utf8_lossy(&swift.stdout),
            "swirl get-nodes {args:?} on {ring_s}"
        );
    }
}

#[test]
fn get_nodes_json_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conf = harness::write_swift_conf(d, PREFIX, SUFFIX);
    let ring_path = saio_ring(d);
    let ring = load(&ring_path);
    let ring_s = ring_path.to_str().unwrap();
    let conf_s = conf.to_str().unwrap();

    let out = harness::swirl(
        d,
        &[
            "get-nodes",
            "--json",
            "--swift-conf",
            conf_s,
            ring_s,
            "AUTH_test",
            "c",
            "o",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (part, primaries) = ring.get_nodes(&cfg(), "AUTH_test", Some("c"), Some("o"));
    let node = |d: &swirl_ring::Device| serde_json::json!({"ip": d.ip, "port": d.port, "device": d.device});
    let want = serde_json::json!({
        "partition": part,
        "primaries": primaries.map(|n| node(n.dev)).collect::<Vec<_>>(),
        "handoffs": ring.get_more_nodes(part).take(3).map(|n| node(n.dev)).collect::<Vec<_>>(),
    });
    assert_eq!(got, want);

    // Errors: one line on stderr, exit code 2.
    let garbage = d.join("garbage.ring.gz");
    std::fs::write(&garbage, b"not a ring").unwrap();
    let no_hash = d.join("nohash.conf");
    std::fs::write(&no_hash, "[swift-constraints]\nmax_file_size = 5\n").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "get-nodes",
            "--swift-conf",
            conf_s,
            "/nonexistent/x.ring.gz",
            "a",
        ],
        vec![
            "get-nodes",
            "--swift-conf",
            conf_s,
            garbage.to_str().unwrap(),
            "a",
        ],
        vec![
            "get-nodes",
            "--swift-conf",
            "/nonexistent/swift.conf",
            ring_s,
            "a",
        ],
        vec![
            "get-nodes",
            "--swift-conf",
            no_hash.to_str().unwrap(),
            ring_s,
            "a",
        ],
        vec!["get-nodes", "--swift-conf", conf_s, ring_s],
        vec!["get-nodes", "--swift-conf", conf_s, ring_s, "-p", "1024"],
        vec!["get-nodes", "--swift-conf", conf_s, ring_s, "a", "", "o"],
        vec!["get-nodes", "--bogus", ring_s, "a"],
        vec![
            "get-nodes",
            "--swift-conf",
            conf_s,
            "-P",
            "nope",
            "a",
            "c",
            "o",
        ],
    ];
    for args in cases {
        let out = harness::swirl(d, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("swirl get-nodes: "), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// A ring swirl makes up: 2 regions x 3 zones x 2 hosts x 2 disks, one device
/// with no partitions, a hole, random assignments with the odd duplicate
/// device in a partition, and 2.25 replicas.
fn synthetic_ring(part_power: u32, seed: u64) -> RingData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut devs = Vec::new();
    for region in 1..=2u32 {
        for zone in 1..=3u32 {
            for host in 1..=2u32 {
                for disk in 1..=2u32 {
                    let id = devs.len() as u32;
                    devs.push(Some(swirl_ring::Device {
                        id,
                        region,
                        zone,
                        ip: format!("10.{region}.{zone}.{host}"),
                        port: 6200,
                        replication_ip: format!("10.{region}.{zone}.{host}"),
                        replication_port: 6300,
                        device: format!("d{disk}"),
                        weight: 100.0,
                        ..Default::default()
                    }));
                }
            }
        }
    }
    let assigned = devs.len() as u32;
    devs.push(None);
    let id = devs.len() as u32;
    devs.push(Some(swirl_ring::Device {
        id,
        region: 3,
        zone: 1,
        ip: "10.3.1.1".into(),
        port: 6200,
        replication_ip: "10.3.1.1".into(),
        replication_port: 6300,
        device: "idle".into(),
        ..Default::default()
    }));
    let parts = 1usize << part_power;
    let rows = [parts, parts, parts / 4];
    let table = rows
        .iter()
        .map(|&len| {
            (0..len)
                .map(|_| {
                    if rng.random_range(0..100) == 0 {
                        0
                    } else {
                        rng.random_range(0..assigned)
                    }
                })
                .collect()
        })
        .collect();
    RingData {
        devs,
        replica2part2dev: table,
        part_shift: 32 - part_power,
        version: Some(1),
        dev_id_bytes: 2,
        ..Default::default()
    }
}

#[test]
fn large_part_power_handoffs_match_swift() {
    // Part powers past 16 make Swift step through handoff partitions by
    // parts/65536 and wrap around from an offset: check that arithmetic.
    let dir = tempfile::tempdir().unwrap();
    for (power, seed) in [(17, 11), (18, 12), (3, 13)] {
        let ring = synthetic_ring(power, seed);
        let path = dir.path().join(format!("p{power}.ring.gz"));
        std::fs::write(
            &path,
            codec::ring_to_bytes(&ring, &WriteOptions::default()).unwrap(),
        )
        .unwrap();
        let paths = random_paths(1_500, seed);
        let swift = swift_lookup(&path, &paths, "all");
        let swirl = swirl_lookup(&ring, &paths, None);
        assert_same_answers(&format!("part power {power}"), &paths, &swift, &swirl);
        // Every device with partitions is a primary or a handoff; the idle
        // one (id 25) never is. (In a tiny ring Swift's walk can miss a device
        // that only partition 0 uses: it never visits partition 0 as a handoff
        // source unless the walk starts there.)
        let used: std::collections::BTreeSet<u32> =
            ring.replica2part2dev.iter().flatten().copied().collect();
        assert!(!used.contains(&25));
        for a in &swirl {
            let seen = a.1.len() + a.2.len();
            assert!(
                seen == used.len() || (power < 10 && seen < used.len()),
                "power {power}: {a:?}"
            );
        }
    }
}

#[test]
fn ring_from_swirls_builder_loads_in_swift() {
    use swirl_ring::builder::RingBuilder;
    let mut b = RingBuilder::new(12, 3.0, 1).unwrap();
    let mut n = 0u16;
    for region in 1..=2u32 {
        for zone in 1..=2u32 {
            for disk in 1..=3u32 {
                n += 1;
                let ip = format!("10.{region}.{zone}.1");
                b.add_dev(
                    swirl_ring::Device {
                        region,
                        zone,
                        ip: ip.clone(),
                        port: 6200 + n,
                        replication_ip: ip,
                        replication_port: 6300 + n,
                        device: format!("sd{disk}"),
                        weight: f64::from(100 * (1 + n % 3)),
                        ..Default::default()
                    },
                    None,
                )
                .unwrap();
            }
        }
    }
    b.rebalance(
        &mut ChaCha8Rng::seed_from_u64(5),
        1_700_000_000,
        &mut |_| {},
    )
    .unwrap();
    let ring = b.get_ring().unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert_swift_agrees(dir.path(), &ring, "object.ring.gz", 4);
}
