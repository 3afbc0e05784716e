//! `swirl ring-builder` end to end: the real binary in temp dirs, checked
//! against Swift's own swift-ring-builder and Ring class (Debian's 2.30.1).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use swirl_ring::codec;
use swirl_ring::hash::HashPathConfig;
use swirl_ring::RingData;

use crate::harness::{py_dir, swirl_bin};

/// Runs `swirl ring-builder <args>` in `dir` with stdin at EOF.
fn rb(dir: &Path, args: &[&str]) -> Output {
    Command::new(swirl_bin())
        .arg("ring-builder")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run swirl ring-builder")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output when it differs.
#[track_caller]
fn expect(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    assert!(
        !stderr(o).contains("panicked"),
        "{what}: panic\n{}",
        stderr(o)
    );
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = rb(dir, args);
    expect(&o, 0, &args.join(" "));
    stdout(&o)
}

/// The SAIO ring: part power 10, 3 replicas, one device in each of four zones.
fn saio(dir: &Path) {
    ok(dir, &["object.builder", "create", "10", "3", "1"]);
    for i in 1..=4 {
        let out = ok(
            dir,
            &[
                "object.builder",
                "add",
                &format!("r1z{i}-127.0.0.{i}:62{i}0R127.0.0.{i}:63{i}0/sdb{i}"),
                "1",
            ],
        );
        assert!(out.contains(&format!("got id {}", i - 1)), "{out}");
    }
}

/// Asserts two snapshots are equal, naming the files that differ.
#[track_caller]
fn assert_unchanged(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
    what: &str,
) {
    let differ: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(differ.is_empty(), "{what} changed files: {differ:?}");
}

/// Every file under `dir` with its bytes, to prove a command changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.clone(), fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

fn read_ring(path: &Path) -> RingData {
    codec::read_ring(fs::File::open(path).unwrap()).unwrap()
}

/// The device table of a summary: the "Devices:" line and the rows after it.
fn device_table(summary: &str) -> Vec<String> {
    summary
        .lines()
        .skip_while(|l| !l.starts_with("Devices:"))
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn saio_command_lines_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    saio(dir);

    let summary = ok(dir, &["object.builder"]);
    assert!(
        summary.contains("1024 partitions, 3.000000 replicas, 1 regions, 4 zones, 4 devices"),
        "{summary}"
    );
    assert!(
        summary.contains("not found, probably it hasn't been written yet"),
        "{summary}"
    );
    assert_eq!(device_table(&summary).len(), 5, "{summary}");

    let out = ok(dir, &["object.builder", "rebalance", "--seed", "1"]);
    assert!(
        out.contains(
            "Reassigned 3072 (300.00%) partitions. Balance is now 0.00.  Dispersion is now 0.00"
        ),
        "{out}"
    );
    assert!(dir.join("object.ring.gz").exists());
    let backups: Vec<String> = fs::read_dir(dir.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        backups.iter().any(|n| n.ends_with(".object.builder")),
        "{backups:?}"
    );
    assert!(
        backups.iter().any(|n| n.ends_with(".object.ring.gz")),
        "{backups:?}"
    );
    let ring = read_ring(&dir.join("object.ring.gz"));
    assert_eq!(ring.replica2part2dev.len(), 3);
    assert_eq!(ring.replica2part2dev[0].len(), 1024);

    let summary = ok(dir, &["object.builder"]);
    assert!(
        summary.contains("Ring file object.ring.gz is up-to-date"),
        "{summary}"
    );
    let table = device_table(&summary);
    assert_eq!(table.len(), 5, "{summary}");
    for (i, row) in table[1..].iter().enumerate() {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[0], i.to_string(), "{row}");
        assert_eq!(cols[7], "768", "partitions of device {i}: {row}");
        assert_eq!(cols[8], "0.00", "balance of device {i}: {row}");
    }

    let out = ok(dir, &["object.builder", "search", "d1"]);
    assert!(
        out.lines().nth(1).unwrap().contains("127.0.0.2  6220"),
        "{out}"
    );
    let out = ok(dir, &["object.builder", "search", "--zone", "3"]);
    assert!(out.contains("127.0.0.3"), "{out}");
    let out = ok(dir, &["object.builder", "list_parts", "d0"]);
    assert_eq!(
        out.lines().count(),
        1 + 768,
        "header and one line per partition of d0"
    );
    assert!(out.lines().skip(1).all(|l| l.trim_end().ends_with(" 1")));

    let out = ok(dir, &["object.builder", "set_weight", "d1", "2"]);
    assert!(out.contains("/sdb2_\"\" weight set to 2.0"), "{out}");
    let out = ok(
        dir,
        &[
            "object.builder",
            "set_info",
            "d2",
            "127.0.0.9:6230/sdc_newmeta",
        ],
    );
    assert!(
        out.contains("is now d2r1z3-127.0.0.9:6230R127.0.0.3:6330/sdc_\"newmeta\""),
        "{out}"
    );
    // The ring on disk no longer matches; write_ring brings it up to date.
    assert!(ok(dir, &["object.builder"]).contains("is obsolete"));
    ok(dir, &["object.builder", "write_ring"]);
    assert!(ok(dir, &["object.builder"]).contains("is up-to-date"));
    assert_eq!(
        read_ring(&dir.join("object.ring.gz")).devs[2]
            .as_ref()
            .unwrap()
            .ip,
        "127.0.0.9"
    );

    let out = ok(dir, &["object.builder", "remove", "d3"]);
    assert!(
        out.contains("marked for removal and will be removed next rebalance"),
        "{out}"
    );
    let summary = ok(dir, &["object.builder"]);
    assert!(
        summary
            .lines()
            .any(|l| l.contains("sdb4") && l.contains("DEL")),
        "{summary}"
    );

    let out = ok(dir, &["object.builder", "set_overload", "10%"]);
    assert!(
        out.contains("The overload factor is now 10.00% (0.100000)"),
        "{out}"
    );
    let o = rb(dir, &["object.builder", "set_overload", "2"]);
    expect(&o, 1, "overload above 100% warns");
    ok(dir, &["object.builder", "set_overload", "0"]);
    let out = ok(dir, &["object.builder", "set_min_part_hours", "2"]);
    assert!(out.contains("is now set to 2"), "{out}");
    ok(dir, &["object.builder", "validate"]);
    let o = rb(dir, &["object.builder", "dispersion", "--verbose"]);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{o:?}"
    );
    assert!(stdout(&o).contains("Dispersion is "), "{}", stdout(&o));

    // Removing d3 changed the devices: the rebalance moves partitions (the
    // first rebalance's moves are still within min_part_hours, but a removed
    // device's partitions must go).
    let o = rb(dir, &["object.builder", "rebalance", "-s", "2"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    assert!(stdout(&o).contains("Reassigned"), "{}", stdout(&o));
    let summary = ok(dir, &["object.builder"]);
    assert!(summary.contains("3 devices"), "{summary}");
    assert!(!summary.contains("sdb4"), "{summary}");

    // Straight away again: min_part_hours blocks it, exit 1, nothing written.
    let before = snapshot(dir);
    let o = rb(dir, &["object.builder", "rebalance"]);
    expect(&o, 1, "second rebalance inside min_part_hours");
    assert!(
        stdout(&o).contains("No partitions could be reassigned."),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("min_part_hours: 2 hours"),
        "{}",
        stdout(&o)
    );
    assert_unchanged(&before, &snapshot(dir), "a refused rebalance");

    ok(dir, &["object.builder", "pretend_min_part_hours_passed"]);
    let o = rb(dir, &["object.builder", "rebalance"]);
    expect(&o, 1, "nothing left to improve");
    assert!(
        stdout(&o).contains("There is no need to do so at this time"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn set_replicas_then_rebalance() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    saio(dir);
    ok(dir, &["object.builder", "rebalance", "--seed", "1"]);
    let out = ok(dir, &["object.builder", "set_replicas", "2.5"]);
    assert!(out.contains("The replica count is now 2.500000."), "{out}");
    // The builder saved between set_replicas and rebalance must load again.
    let summary = ok(dir, &["object.builder"]);
    assert!(
        summary.contains("1024 partitions, 2.500000 replicas"),
        "{summary}"
    );
    ok(dir, &["object.builder", "pretend_min_part_hours_passed"]);
    let o = rb(dir, &["object.builder", "rebalance", "--seed", "1"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    let ring = read_ring(&dir.join("object.ring.gz"));
    assert_eq!(ring.replica2part2dev.len(), 3);
    assert_eq!(
        ring.replica2part2dev[2].len(),
        512,
        "half a replica: 512 of 1024 partitions"
    );
    ok(dir, &["object.builder", "validate"]);
}

#[test]
fn min_part_hours_blocks_until_pretend() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    saio(dir);
    ok(dir, &["object.builder", "rebalance", "--seed", "1"]);
    ok(
        dir,
        &[
            "object.builder",
            "add",
            "r1z5-127.0.0.5:6250R127.0.0.5:6350/sdb5",
            "1",
        ],
    );
    let before = snapshot(dir);
    let o = rb(dir, &["object.builder", "rebalance", "--seed", "1"]);
    expect(&o, 1, "rebalance within min_part_hours");
    let out = stdout(&o);
    assert!(out.contains("No partitions could be reassigned."), "{out}");
    assert!(
        out.contains("The time between rebalances must be at least min_part_hours: 1 hours"),
        "{out}"
    );
    assert_unchanged(&before, &snapshot(dir), "rebalance within min_part_hours");

    ok(dir, &["object.builder", "pretend_min_part_hours_passed"]);
    let o = rb(dir, &["object.builder", "rebalance", "--seed", "1"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    assert!(stdout(&o).contains("Reassigned"), "{}", stdout(&o));
    let ring = read_ring(&dir.join("object.ring.gz"));
    let on_new: usize = ring
        .replica2part2dev
        .iter()
        .map(|row| row.iter().filter(|&&d| d == 4).count())
        .sum();
    assert!(on_new > 0, "the new device got partitions");
}

#[test]
fn bad_arguments_fail_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    saio(dir);
    ok(dir, &["object.builder", "rebalance", "--seed", "1"]);
    let cases: &[&[&str]] = &[
        &["object.builder", "frobnicate"],
        &["object.builder", "search", "d1x"],
        &["object.builder", "search", "z1-300.0.0.1"],
        &["object.builder", "search"],
        &["object.builder", "list_parts", "q"],
        &["object.builder", "add", "r1z5-127.0.0.5:6250/sdb5", "heavy"],
        &["object.builder", "add", "r1z5-127.0.0.5:6250/sdb5", "-1"],
        &["object.builder", "add", "r1z5-127.0.0.5/sdb5", "1"],
        &["object.builder", "add", "r1z5-127.0.0.5:6250/sdb5"],
        &["object.builder", "add", "r1z1-127.0.0.1:6210/sdb1", "1"],
        &[
            "object.builder",
            "add",
            "--region",
            "1",
            "--zone",
            "5",
            "--ip",
            "127.0.0.5",
            "--port",
            "6250",
            "--device",
            "sdb5",
        ],
        &["object.builder", "add", "--region", "x", "--zone", "5"],
        &["object.builder", "set_weight", "d0", "abc"],
        &["object.builder", "set_weight", "d9", "1"],
        &["object.builder", "set_weight", "r1", "5"],
        &["object.builder", "set_info", "d0", "127.0.0.2:6220/sdb2"],
        &["object.builder", "set_info", "d0", "nonsense!"],
        &["object.builder", "remove", "z7"],
        &["object.builder", "rebalance", "--format-version", "3"],
        &["object.builder", "rebalance", "--bogus"],
        &["object.builder", "set_replicas", "lots"],
        &["object.builder", "set_replicas", "0.5"],
        &["object.builder", "set_overload", "-1"],
        &["object.builder", "set_overload", "much%"],
        &["object.builder", "set_min_part_hours", "-3"],
        &["object.builder", "write_ring", "--format-version", "9"],
        &["object.builder", "dispersion", "(["],
        &["new.builder", "create", "33", "3", "1"],
        &["new.builder", "create", "10", "3"],
        &["new.builder", "create", "ten", "3", "1"],
        &["new.builder", "create", "10", "0.5", "1"],
        &["missing.builder"],
        &["missing.builder", "search", "d0"],
        &["missing.ring.gz", "version"],
    ];
    let before = snapshot(dir);
    for args in cases {
        let o = rb(dir, args);
        let what = args.join(" ");
        expect(&o, 2, &what);
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("WARNING:")).collect();
        assert_eq!(
            lines.len(),
            1,
            "{what}: want one line of reason, got {err:?}"
        );
        assert!(lines[0].len() > 10, "{what}: {err:?}");
        assert_unchanged(&before, &snapshot(dir), &what);
    }
    // A sample of the reasons, so they stay informative.
    let reason = |args: &[&str]| stderr(&rb(dir, args));
    assert!(reason(&["object.builder", "frobnicate"]).contains("Unknown command: frobnicate"));
    assert!(reason(&["object.builder", "search", "d1x"]).contains("invalid search value \"d1x\""));
    assert!(
        reason(&["object.builder", "add", "r1z5-127.0.0.5:6250/sdb5", "heavy"])
            .contains("invalid weight")
    );
    assert!(reason(&["new.builder", "create", "33", "3", "1"]).contains("part_power"));
    assert!(reason(&["missing.builder"]).contains("does not exist"));
}

#[test]
fn confirmation_for_many_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    saio(dir);
    let before = snapshot(dir);
    let o = rb(dir, &["object.builder", "set_weight", "r1", "5"]);
    expect(&o, 2, "several matches without --yes and nothing typed");
    assert!(
        stdout(&o).contains("Matched more than one device:"),
        "{}",
        stdout(&o)
    );
    assert_unchanged(&before, &snapshot(dir), "declined set_weight");

    let mut child = Command::new(swirl_bin())
        .args(["ring-builder", "object.builder", "set_weight", "r1", "5"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let o = child.wait_with_output().unwrap();
    expect(&o, 0, "answered y");
    let out = ok(dir, &["object.builder", "set_weight", "r1", "7", "--yes"]);
    assert_eq!(out.matches("weight set to 7.0").count(), 4, "{out}");
}

#[test]
fn ipv6_hostnames_and_option_form() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["object.builder", "create", "8", "2", "1"]);
    ok(
        dir,
        &[
            "object.builder",
            "add",
            "r1z1-[2001:DB8::1]:6200R[2001:db8::2]:6300/sdb_fast ssd",
            "100",
        ],
    );
    let out = ok(
        dir,
        &[
            "object.builder",
            "add",
            "--region",
            "1",
            "--zone",
            "2",
            "--ip",
            "Storage2.Example.com",
            "--port",
            "6200",
            "--device",
            "sdc",
            "--weight",
            "100",
            "--meta",
            "m",
        ],
    );
    assert!(
        out.contains("d1r1z2-storage2.example.com:6200Rstorage2.example.com:6200/sdc_\"m\""),
        "{out}"
    );
    let out = ok(dir, &["object.builder", "search", "[2001:db8:0::1]"]);
    assert!(out.contains("2001:db8::1"), "{out}");
    let out = ok(
        dir,
        &["object.builder", "search", "--ip", "storage2.example.com"],
    );
    assert!(out.contains("storage2.example.com"), "{out}");
    let out = ok(dir, &["object.builder", "search", "_fast"]);
    assert!(out.contains("fast ssd"), "{out}");
    ok(dir, &["object.builder", "rebalance"]);
    let summary = ok(dir, &["object.builder"]);
    assert!(summary.contains("[2001:db8::1]:6200"), "{summary}");
    assert!(summary.contains("[2001:db8::2]:6300"), "{summary}");
    let ring = read_ring(&dir.join("object.ring.gz"));
    assert_eq!(ring.devs[0].as_ref().unwrap().ip, "2001:db8::1");
    assert_eq!(ring.devs[1].as_ref().unwrap().ip, "storage2.example.com");
}

#[test]
fn rebalance_progress_and_ring_format_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    saio(dir);
    let o = rb(
        dir,
        &[
            "object.builder",
            "rebalance",
            "--debug",
            "--seed",
            "3",
            "--format-version",
            "2",
        ],
    );
    expect(&o, 0, "rebalance v2");
    assert!(
        stderr(&o).lines().count() >= 2,
        "progress lines on stderr: {:?}",
        stderr(&o)
    );
    let out = ok(dir, &["object.ring.gz", "version"]);
    assert!(out.contains("Serialization version: 2"), "{out}");
    let v2 = read_ring(&dir.join("object.ring.gz"));
    ok(dir, &["object.builder", "write_ring"]);
    let out = ok(dir, &["object.ring.gz", "version"]);
    assert!(
        out.contains("Serialization version: 1 (2-byte IDs)"),
        "{out}"
    );
    let v1 = read_ring(&dir.join("object.ring.gz"));
    assert_eq!(v1.replica2part2dev, v2.replica2part2dev);
    assert_eq!(v1.devs, v2.devs);
    // Same seed, same builder: the same assignment.
    let other = tempfile::tempdir().unwrap();
    saio(other.path());
    ok(
        other.path(),
        &["object.builder", "rebalance", "--seed", "3"],
    );
    assert_eq!(
        read_ring(&other.path().join("object.ring.gz")).replica2part2dev,
        v1.replica2part2dev
    );
}

/// A ring with regions, zones, uneven weights, IPv6 and a hostname.
fn mixed_ring(dir: &Path) {
    ok(dir, &["object.builder", "create", "12", "3", "1"]);
    let devs = [
        ("r1z1-10.0.0.1:6200/sda", "100"),
        ("r1z1-10.0.0.1:6200/sdb", "100"),
        ("r1z1-10.0.0.11:6200/sda", "100"),
        ("r1z2-10.0.0.2:6200/sda", "100"),
        ("r1z2-10.0.0.2:6200/sdb", "50"),
        ("r1z3-10.0.0.3:6200R10.1.0.3:6300/sda_rack 7", "100"),
        ("r1z3-10.0.0.3:6200R10.1.0.3:6300/sdb", "150"),
        ("r2z1-[2001:db8::1]:6200/sda", "200"),
        ("r2z2-10.0.1.2:6200/sda", "100"),
        ("r2z2-node9.example.com:6200/sdc", "80"),
    ];
    for (value, weight) in devs {
        ok(dir, &["object.builder", "add", value, weight]);
    }
    let o = rb(dir, &["object.builder", "rebalance", "--seed", "7"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
}

#[test]
fn ring_written_by_swirl_loads_in_swift() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    mixed_ring(dir);
    let ring_path = dir.join("object.ring.gz");
    let ring = read_ring(&ring_path);
    let (prefix, suffix) = ("pre", "changeme");
    let cfg = HashPathConfig::new(prefix, suffix);

    let paths: Vec<String> = (0..3000)
        .map(|i| format!("AUTH_acct{}/cont{}/obj/{i}-é", i % 37, i % 101))
        .collect();
    let paths_file = dir.join("paths.txt");
    fs::write(&paths_file, paths.join("\n") + "\n").unwrap();
    let o = Command::new("/usr/bin/python3")
        .arg(py_dir().join("rbcli_lookup.py"))
        .arg(&ring_path)
        .args([prefix, suffix])
        .arg(&paths_file)
        .arg("6")
        .output()
        .unwrap();
    assert!(o.status.success(), "Swift's Ring failed: {}", stderr(&o));
    let swift: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(swift.len(), paths.len());
    for (path, answer) in paths.iter().zip(&swift) {
        let mut parts = path.splitn(3, '/');
        let (a, c, ob) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let part = ring.get_part(&cfg, a, Some(c), Some(ob));
        let primaries: Vec<u32> = ring.primaries(part).map(|n| n.dev.id).collect();
        let handoffs: Vec<u32> = ring
            .get_more_nodes(part)
            .take(6)
            .map(|n| n.dev.id)
            .collect();
        let ours = serde_json::json!([part, primaries, handoffs]);
        assert_eq!(&ours, answer, "{path}");
    }

    // Swift, saving the ring it loaded from our file, writes the same bytes.
    let resaved_dir = tempfile::tempdir().unwrap();
    let resaved = resaved_dir.path().join("object.ring.gz");
    let o = Command::new("/usr/bin/python3")
        .arg(py_dir().join("rbcli_resave.py"))
        .arg(&ring_path)
        .arg(&resaved)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        fs::read(&resaved).unwrap() == fs::read(&ring_path).unwrap(),
        "Swift's RingData.save of our ring differs from the file swirl wrote"
    );

    // Swift's swift-ring-builder reads the ring file: rebuild a builder from
    // it (Swift's own pickle, in a directory without ours), then its summary
    // must call the ring up to date and show the same device table as ours.
    let swift_dir = tempfile::tempdir().unwrap();
    let sd = swift_dir.path();
    fs::copy(&ring_path, sd.join("object.ring.gz")).unwrap();
    let srb = |args: &[&str]| {
        Command::new("/usr/bin/swift-ring-builder")
            .args(args)
            .current_dir(sd)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = srb(&["object.ring.gz", "write_builder", "1"]);
    expect(&o, 0, "swift-ring-builder write_builder");
    let o = srb(&["object.ring.gz"]);
    expect(&o, 0, "swift-ring-builder summary of our ring");
    let theirs = stdout(&o);
    assert!(
        theirs.contains("Ring file object.ring.gz is up-to-date"),
        "{theirs}"
    );
    assert!(
        theirs.contains("4096 partitions, 3.000000 replicas, 2 regions, 5 zones, 10 devices"),
        "{theirs}"
    );
    let ours = ok(dir, &["object.builder"]);
    assert_eq!(
        device_table(&theirs),
        device_table(&ours),
        "Swift:\n{theirs}\nswirl:\n{ours}"
    );
    // And the other way: their balance figure is ours.
    let balance = |s: &str| {
        s.lines()
            .find(|l| l.contains(" partitions, "))
            .and_then(|l| {
                l.split(", ")
                    .find(|p| p.ends_with(" balance"))
                    .map(str::to_string)
            })
    };
    assert_eq!(balance(&theirs), balance(&ours));

    // Reports computed from the same assignment read the same, byte for byte
    // (dispersion last: Swift saves its builder after computing it).
    let reports: [&[&str]; 5] = [
        &["object.builder", "search", "r2"],
        &["object.builder", "search", "z1-10.0.0.1"],
        &["object.builder", "list_parts", "d7", "d9"],
        &["object.builder", "dispersion", "--verbose"],
        &["object.builder", "dispersion", "r1z\\d+$", "-v"],
    ];
    let swift = swift_batch(sd, &reports);
    for (args, (code, text)) in reports.iter().zip(&swift) {
        let o = rb(dir, args);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {text}");
        assert_eq!(&stdout(&o), text, "{args:?}");
    }
}

/// Runs swift-ring-builder command lines one after the other in `dir`, in
/// one Python process (tests/py/rbcli_exit_codes.py): (exit code, output) each.
fn swift_batch(dir: &Path, lines: &[&[&str]]) -> Vec<(i32, String)> {
    let cases: Vec<_> = lines
        .iter()
        .map(|a| serde_json::json!([dir, a, null]))
        .collect();
    let file = dir.join(".cases.json");
    fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let o = Command::new("/usr/bin/python3")
        .arg(py_dir().join("rbcli_exit_codes.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// One case of the exit-code table: builder argument and command line.
struct Case(&'static str, &'static [&'static str]);

#[test]
fn exit_codes_match_swift_ring_builder() {
    let cases = [
        Case("object.builder", &[]),
        Case("object.builder", &["bogus"]),
        Case("object.builder", &["search", "d1"]),
        Case("object.builder", &["search", "z9"]),
        Case("object.builder", &["search", "d1x"]),
        Case("object.builder", &["search", "--zone", "2"]),
        Case("object.builder", &["search"]),
        Case("object.builder", &["list_parts", "d0"]),
        Case("object.builder", &["list_parts", "z9"]),
        Case("object.builder", &["add", "r1z5-127.0.0.5:6250/sdb5", "1"]),
        Case(
            "object.builder",
            &[
                "add",
                "z5-127.0.0.5:6250R127.0.0.5:6350/sdb5_m",
                "1",
                "r1z6-127.0.0.6:6260/sdb6",
                "2",
            ],
        ),
        Case("object.builder", &["add", "r1z5-127.0.0.5:6250/sdb5", "x"]),
        Case("object.builder", &["add", "r1z5-127.0.0.5/sdb5", "1"]),
        Case("object.builder", &["add", "r1z5-127.0.0.5:6250/sdb5"]),
        Case("object.builder", &["add", "r1z1-127.0.0.1:6210/sdb1", "1"]),
        Case(
            "object.builder",
            &[
                "add",
                "--region",
                "1",
                "--zone",
                "5",
                "--ip",
                "127.0.0.5",
                "--port",
                "6250",
                "--device",
                "sdb5",
                "--weight",
                "1",
            ],
        ),
        Case(
            "object.builder",
            &[
                "add",
                "--region",
                "1",
                "--zone",
                "5",
                "--ip",
                "127.0.0.5",
                "--port",
                "6250",
                "--device",
                "sdb5",
            ],
        ),
        Case("object.builder", &["set_weight", "d1", "2"]),
        Case("object.builder", &["set_weight", "d1", "x"]),
        Case("object.builder", &["set_weight", "z9", "2"]),
        Case("object.builder", &["set_weight", "r1", "2"]),
        Case("object.builder", &["set_weight", "r1", "2", "--yes"]),
        Case("object.builder", &["set_weight", "--zone", "1", "3"]),
        Case(
            "object.builder",
            &["set_info", "d2", "127.0.0.9:6230/sdc_x"],
        ),
        Case("object.builder", &["set_info", "d2", "127.0.0.1:6210/sdb1"]),
        Case("object.builder", &["remove", "d3"]),
        Case("object.builder", &["remove", "d0", "d1"]),
        Case("object.builder", &["set_region", "d0", "2"]),
        Case("object.builder", &["set_region", "d0", "x"]),
        Case("object.builder", &["set_zone", "d0", "5"]),
        Case("object.builder", &["set_zone", "z9", "5"]),
        Case(
            "object.builder",
            &["set_info", "--ip", "127.0.0.1", "--change-port", "7000"],
        ),
        Case("object.builder", &["set_info", "d0", "_new meta"]),
        Case("object.builder", &["set_info", "d0"]),
        Case("object.builder", &["list_parts", "d0", "d1"]),
        Case("object.builder", &["search", "--ip", "127.0.0.1"]),
        Case("object.builder", &["search", "--ip", "127.0.0.99"]),
        Case("object.builder", &["search", "127.0.0.2:6220"]),
        Case("object.builder", &["search", "/sdb3"]),
        Case("object.builder", &["dispersion", "-v"]),
        Case("object.builder", &["dispersion", "r1z1", "--verbose"]),
        Case(
            "object.builder",
            &[
                "add",
                "--region",
                "2",
                "--zone",
                "1",
                "--ip",
                "node7.example.com",
                "--port",
                "6200",
                "--device",
                "sdq",
                "--weight",
                "3",
            ],
        ),
        Case("object.builder", &["remove", "z9"]),
        Case("object.builder", &["remove", "r1"]),
        Case("object.builder", &["rebalance"]),
        Case("object.builder", &["rebalance", "--seed", "abc"]),
        Case("object.builder", &["rebalance", "--force"]),
        Case("object.builder", &["pretend_min_part_hours_passed"]),
        Case("object.builder", &["set_min_part_hours", "2"]),
        Case("object.builder", &["set_overload", "10%"]),
        Case("object.builder", &["set_overload", "0.5"]),
        Case("object.builder", &["set_overload", "2"]),
        Case("object.builder", &["set_overload", "x"]),
        Case("object.builder", &["set_overload", "-1"]),
        Case("object.builder", &["set_replicas", "4"]),
        Case("object.builder", &["set_replicas", "x"]),
        Case("object.builder", &["set_replicas", "0.5"]),
        Case("object.builder", &["validate"]),
        Case("object.builder", &["dispersion"]),
        Case("object.builder", &["write_ring"]),
        Case("object.ring.gz", &["search", "d0"]),
        Case("object.ring.gz", &["write_builder"]),
        Case("other.ring.gz", &["write_builder", "1"]),
        Case("new.builder", &["create", "6", "3", "1"]),
        Case("new.builder", &["create", "33", "3", "1"]),
        Case("new.builder", &["create", "a", "3", "1"]),
        Case("new.builder", &["create", "6", "3"]),
        Case("new.builder", &["create", "6", "0.5", "1"]),
        Case("missing.builder", &[]),
        Case("missing.builder", &["search", "d0"]),
    ];

    // The same starting state for each tool: the SAIO ring, rebalanced.
    let base = tempfile::tempdir().unwrap();
    let (swirl_base, swift_base) = (base.path().join("swirl"), base.path().join("swift"));
    fs::create_dir_all(&swirl_base).unwrap();
    fs::create_dir_all(&swift_base).unwrap();
    saio(&swirl_base);
    ok(&swirl_base, &["object.builder", "rebalance", "--seed", "1"]);
    // Swift's side is built by the same command lines, run by the helper
    // script before the cases (all in one interpreter: fast).
    let mut swift_cases = vec![serde_json::json!([
        swift_base,
        ["object.builder", "create", "10", "3", "1"],
        null
    ])];
    for i in 1..=4 {
        let value = format!("r1z{i}-127.0.0.{i}:62{i}0R127.0.0.{i}:63{i}0/sdb{i}");
        swift_cases.push(serde_json::json!([
            swift_base,
            ["object.builder", "add", value, "1"],
            null
        ]));
    }
    swift_cases.push(serde_json::json!([
        swift_base,
        ["object.builder", "rebalance", "1"],
        null
    ]));
    let setup = swift_cases.len();

    // Each case runs on its own copy of the state.
    let mut ours = Vec::new();
    for (i, Case(file, args)) in cases.iter().enumerate() {
        let mut full = vec![file.to_string()];
        full.extend(args.iter().map(|a| a.to_string()));
        let sw = base.path().join(format!("case{i}-swift"));
        swift_cases.push(serde_json::json!([sw, full, swift_base]));
        let mine = base.path().join(format!("case{i}-swirl"));
        fs::create_dir_all(&mine).unwrap();
        for name in ["object.builder", "object.ring.gz"] {
            fs::copy(swirl_base.join(name), mine.join(name)).unwrap();
        }
        let mut argv = vec![*file];
        argv.extend_from_slice(args);
        ours.push(rb(&mine, &argv));
    }
    let cases_file = base.path().join("cases.json");
    fs::write(&cases_file, serde_json::to_vec(&swift_cases).unwrap()).unwrap();
    let o = Command::new("/usr/bin/python3")
        .arg(py_dir().join("rbcli_exit_codes.py"))
        .arg(&cases_file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let swift: Vec<(i32, String)> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(swift.len(), setup + cases.len());
    for (code, text) in &swift[..setup] {
        assert_eq!(*code, 0, "Swift setup failed: {text}");
    }
    let swift = &swift[setup..];
    let mut mismatches = Vec::new();
    for ((Case(file, args), (code, text)), mine) in cases.iter().zip(swift).zip(&ours) {
        assert!(
            !stderr(mine).contains("panicked"),
            "{file} {args:?}: {}",
            stderr(mine)
        );
        if mine.status.code() != Some(*code) {
            mismatches.push(format!(
                "{file} {args:?}: swift {code}, swirl {:?}\n  swift said: {}\n  swirl said: {}{}",
                mine.status.code(),
                text.trim(),
                stdout(mine).trim(),
                stderr(mine).trim()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "exit codes differ:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn partition_power_increase_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    saio(dir);
    ok(dir, &["object.builder", "rebalance", "--seed", "1"]);
    let before = read_ring(&dir.join("object.ring.gz"));
    let out = ok(dir, &["object.builder", "prepare_increase_partition_power"]);
    assert!(out.contains("The next partition power is now 11."), "{out}");
    expect(
        &rb(dir, &["object.builder", "prepare_increase_partition_power"]),
        2,
        "prepared twice",
    );
    expect(
        &rb(dir, &["object.builder", "rebalance"]),
        2,
        "rebalance during an increase",
    );
    expect(
        &rb(
            dir,
            &["object.builder", "add", "r1z5-127.0.0.5:6250/sdb5", "1"],
        ),
        2,
        "add during an increase",
    );
    ok(dir, &["object.builder", "write_ring"]);
    assert_eq!(
        read_ring(&dir.join("object.ring.gz")).next_part_power,
        Some(11)
    );
    ok(dir, &["object.builder", "increase_partition_power"]);
    ok(dir, &["object.builder", "write_ring"]);
    let after = read_ring(&dir.join("object.ring.gz"));
    assert_eq!(after.part_shift, 32 - 11);
    for (old, new) in before.replica2part2dev.iter().zip(&after.replica2part2dev) {
        for (p, d) in old.iter().enumerate() {
            assert_eq!(
                (new[2 * p], new[2 * p + 1]),
                (*d, *d),
                "partition {p} splits in place"
            );
        }
    }
    ok(dir, &["object.builder", "finish_increase_partition_power"]);
    ok(dir, &["object.builder", "write_ring"]);
    assert_eq!(read_ring(&dir.join("object.ring.gz")).next_part_power, None);
    ok(dir, &["object.builder", "validate"]);
    // Only object rings may grow.
    let other = tempfile::tempdir().unwrap();
    ok(other.path(), &["account.builder", "create", "8", "3", "1"]);
    expect(
        &rb(
            other.path(),
            &["account.builder", "prepare_increase_partition_power"],
        ),
        2,
        "account ring",
    );
}

#[test]
fn builder_from_a_ring_written_by_swift() {
    let tmp = tempfile::tempdir().unwrap();
    let sd = tmp.path().join("swift");
    let ours = tmp.path().join("swirl");
    fs::create_dir_all(&sd).unwrap();
    fs::create_dir_all(&ours).unwrap();
    let results = swift_batch(
        &sd,
        &[
            &["object.builder", "create", "8", "3", "1"],
            &[
                "object.builder",
                "add",
                "r1z1-10.0.0.1:6200/sdb",
                "100",
                "r1z2-10.0.0.2:6200/sdb",
                "100",
            ],
            &[
                "object.builder",
                "add",
                "r2z1-[2001:db8::3]:6200R[2001:db8::4]:6300/sdc_m",
                "50",
            ],
            &["object.builder", "add", "r1z3-10.0.0.4:6200/sdd", "100"],
            &["object.builder", "rebalance", "9"],
            &["object.builder"],
        ],
    );
    for (code, text) in &results {
        // 1 is a warning (an uneven layout after rebalance): still done.
        assert!(*code <= 1, "swift-ring-builder: {text}");
    }
    let theirs = results[5].1.clone();
    fs::copy(sd.join("object.ring.gz"), ours.join("object.ring.gz")).unwrap();
    let o = rb(&ours, &["object.ring.gz", "write_builder", "1"]);
    expect(&o, 0, "write_builder");
    // Refuses to overwrite the builder it just made.
    expect(
        &rb(&ours, &["object.ring.gz", "write_builder", "1"]),
        2,
        "write_builder twice",
    );
    let summary = ok(&ours, &["object.builder"]);
    assert!(
        summary.contains("Ring file object.ring.gz is up-to-date"),
        "{summary}"
    );
    assert_eq!(
        device_table(&summary),
        device_table(&theirs),
        "swirl:\n{summary}\nSwift:\n{theirs}"
    );
    // The builder works: add a device and rebalance from Swift's assignment.
    ok(
        &ours,
        &["object.builder", "add", "r1z4-10.0.0.5:6200/sde", "100"],
    );
    ok(&ours, &["object.builder", "pretend_min_part_hours_passed"]);
    let o = rb(&ours, &["object.builder", "rebalance", "--seed", "2"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    let ring = read_ring(&ours.join("object.ring.gz"));
    assert!(ring.replica2part2dev.iter().flatten().any(|&d| d == 4));
}

#[test]
fn writers_wait_for_the_builder_lock() {
    use rustix::fs::{flock, FlockOperation};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    saio(dir);
    // The builder's directory is what ring-builder locks.
    let lock = fs::File::open(dir).unwrap();
    flock(&lock, FlockOperation::NonBlockingLockExclusive).unwrap();
    let mut child = Command::new(swirl_bin())
        .args(["ring-builder", "object.builder", "set_weight", "d1", "3"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While we hold the lock the writer must not finish (readers need no lock).
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(700);
    while std::time::Instant::now() < deadline {
        assert!(
            child.try_wait().unwrap().is_none(),
            "set_weight ran while the builder was locked"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ok(dir, &["object.builder", "search", "d1"]);
    drop(lock);
    let o = child.wait_with_output().unwrap();
    expect(&o, 0, "set_weight after the lock was released");
    assert!(ok(dir, &["object.builder", "search", "d1"]).contains("   3.00 "));
}
