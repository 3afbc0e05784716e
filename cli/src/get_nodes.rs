//! `swirl get-nodes`: where a ring puts an account, container or object.
//!
//! Text output follows `swift-get-nodes` (swift/cli/info.py
//! `print_item_locations` / `print_ring_locations`) line for line, so scripts
//! and eyes used to Swift's tool read it the same way. `--json` prints one
//! object for scripts, and `--batch` answers one path per stdin line with one
//! JSON object per line (for bulk comparisons).
//!
//! The hash-path secret comes from `--hash-path-prefix` / `--hash-path-suffix`
//! when either is given, otherwise from swift.conf (`--swift-conf FILE`, or
//! `--swift-dir DIR` for `DIR/swift.conf`; default /etc/swift/swift.conf).
//! As with Swift's tool, `-P <policy>` replaces the ring file: the policy's
//! object ring (or the account / container ring for those paths) is read
//! from the swift directory.

use std::io::{BufRead, Write};
use std::net::Ipv6Addr;
use std::process::ExitCode;

use serde_json::{json, Value};
use swirl_common::swift_conf::{find_policy, parse_hash_path_secret, parse_storage_policies};
use swirl_ring::hash::{self, HashPathConfig};
use swirl_ring::lookup::NodeRef;
use swirl_ring::{codec, RingData};

const USAGE: &str =
    "usage: swirl get-nodes [-a] [--json] <ring.gz> <account> [<container> [<object>]]
       swirl get-nodes [-a] [--json] <ring.gz> -p <partition>
       swirl get-nodes [-a] [--json] -P <policy> <account> [<container> [<object>]]
       swirl get-nodes [-a] [--json] -P <policy> -p <partition>
       swirl get-nodes [--handoffs N] --batch <ring.gz>   (paths a[/c[/o]] on stdin, JSON lines out)
options:
  -a, --all                  show all handoff nodes (default: as many as primaries)
  --handoffs N               show the first N handoff nodes
  -p, --partition N          show the nodes of partition N
  -P, --policy-name NAME     use the rings of storage policy NAME in the swift dir
  -Q, --quoted               the path arguments are URL-quoted
  --json                     print {\"partition\", \"primaries\", \"handoffs\"} as JSON
  --batch                    read paths from stdin, one JSON object per line
  --swift-conf FILE          swift.conf holding [swift-hash] (default /etc/swift/swift.conf)
  -d, --swift-dir DIR        swift dir: DIR/swift.conf and, with -P, the rings (default /etc/swift)
  --hash-path-prefix P       hash path prefix (instead of swift.conf)
  --hash-path-suffix S       hash path suffix (instead of swift.conf)
Account, container and object may also be given as one argument a/c/o.";

const DEFAULT_SWIFT_DIR: &str = "/etc/swift";

/// How many handoffs to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handoffs {
    /// As many as there are primaries (Swift's default).
    AsPrimaries,
    All,
    Count(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Args {
    /// The ring file; `None` with `-P`.
    ring: Option<String>,
    policy: Option<String>,
    /// account, container, object (as given, unquoted if -Q).
    path: Vec<String>,
    partition: Option<u32>,
    json: bool,
    batch: bool,
    quoted: bool,
    handoffs: Option<Handoffs>,
    swift_conf: Option<String>,
    swift_dir: Option<String>,
    prefix: Option<String>,
    suffix: Option<String>,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut positional = Vec::new();
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut take = |name: &str| match &inline {
            Some(v) => Ok(v.clone()),
            None => value(name),
        };
        match flag {
            "-a" | "--all" => a.handoffs = Some(Handoffs::All),
            "--json" => a.json = true,
            "--batch" => a.batch = true,
            "-Q" | "--quoted" => a.quoted = true,
            "--handoffs" => {
                let v = take(flag)?;
                let n = v
                    .parse()
                    .map_err(|_| format!("--handoffs needs a number, not {v:?}"))?;
                a.handoffs = Some(Handoffs::Count(n));
            }
            "-p" | "--partition" => {
                let v = take(flag)?;
                a.partition = Some(
                    v.parse()
                        .map_err(|_| format!("partition must be a number, not {v:?}"))?,
                );
            }
            "--swift-conf" => a.swift_conf = Some(take(flag)?),
            "-d" | "--swift-dir" => a.swift_dir = Some(take(flag)?),
            "-P" | "--policy-name" => a.policy = Some(take(flag)?),
            "--hash-path-prefix" => a.prefix = Some(take(flag)?),
            "--hash-path-suffix" => a.suffix = Some(take(flag)?),
            "--" => positional.extend(it.by_ref().cloned()),
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unknown option {f}")),
            _ => positional.push(arg.clone()),
        }
    }
    let mut positional = positional.into_iter();
    if a.policy.is_none() {
        a.ring = Some(positional.next().ok_or("no ring file given")?);
    } else if a.batch {
        return Err("--batch needs a ring file, not -P".into());
    }
    let mut path: Vec<String> = positional.collect();
    if a.quoted {
        path = path.iter().map(|p| unquote(p)).collect();
    }
    // Like Swift: one argument may hold the whole a/c/o path.
    if path.len() == 1 {
        path = split_path(&path[0]);
    }
    if path.len() > 3 {
        return Err("too many arguments: give <account> [<container> [<object>]]".into());
    }
    if a.batch {
        if !path.is_empty() || a.partition.is_some() {
            return Err("--batch reads paths from stdin; give only the ring".into());
        }
    } else if path.is_empty() && a.partition.is_none() {
        return Err(
            "no target given: an account, container or object path, or -p <partition>".into(),
        );
    }
    a.path = path;
    Ok(a)
}

/// Swift's `path.strip('/').split('/', 2)`.
fn split_path(p: &str) -> Vec<String> {
    p.trim_matches('/')
        .splitn(3, '/')
        .map(str::to_string)
        .collect()
}

/// `urllib.parse.quote(s)` (safe = "/"): UTF-8 bytes, unreserved characters
/// and '/' kept, everything else %XX in upper case.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `urllib.parse.unquote`: %XX decoded, invalid UTF-8 replaced.
fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Args {
    /// The swift directory: `--swift-dir`, else where `--swift-conf` lives,
    /// else /etc/swift.
    fn swift_dir(&self) -> String {
        match (&self.swift_dir, &self.swift_conf) {
            (Some(d), _) => d.clone(),
            (None, Some(conf)) => match conf.rsplit_once('/') {
                Some(("", _)) => "/".into(),
                Some((dir, _)) => dir.to_string(),
                None => ".".into(),
            },
            (None, None) => DEFAULT_SWIFT_DIR.into(),
        }
    }

    fn swift_conf(&self) -> String {
        self.swift_conf
            .clone()
            .unwrap_or_else(|| format!("{}/swift.conf", self.swift_dir()))
    }
}

fn read_swift_conf(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "cannot read {path}: {e} (give --swift-conf or --hash-path-prefix/--hash-path-suffix)"
        )
    })
}

/// Resolve the hash-path secret: flags win over swift.conf.
fn hash_config(a: &Args) -> Result<HashPathConfig, String> {
    if a.prefix.is_some() || a.suffix.is_some() {
        let cfg = HashPathConfig::new(
            a.prefix.clone().unwrap_or_default(),
            a.suffix.clone().unwrap_or_default(),
        );
        if !cfg.is_set() {
            return Err("hash path prefix and suffix are both empty".into());
        }
        return Ok(cfg);
    }
    let path = a.swift_conf();
    let text = read_swift_conf(&path)?;
    let secret = parse_hash_path_secret(&text).map_err(|e| format!("{path}: {e}"))?;
    Ok(HashPathConfig::new(secret.prefix, secret.suffix))
}

fn load_ring(path: &str) -> Result<RingData, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open ring {path}: {e}"))?;
    codec::read_ring(std::io::BufReader::new(file)).map_err(|e| format!("{path}: {e}"))
}

/// Which ring to read, and what swift-get-nodes knows about it.
struct RingChoice {
    path: String,
    /// Swift's `ring_name`: the file name without `.ring.gz`, the policy's
    /// ring name with `-P`, or `None` for the account / container ring `-P`
    /// falls back to (Swift prints no name warnings then).
    name: Option<String>,
    /// With `-P` for an object or partition: the policy's index.
    policy_index: Option<u32>,
}

/// Swift's rules (swift/cli/info.py `print_item_locations`): a ring file
/// wins; `-P` picks the policy's object ring for an object or a partition,
/// otherwise the container or account ring of the swift dir.
fn choose_ring(a: &Args) -> Result<RingChoice, String> {
    if let Some(path) = &a.ring {
        return Ok(RingChoice {
            path: path.clone(),
            name: Some(ring_name(path).to_string()),
            policy_index: None,
        });
    }
    let policy_name = a.policy.as_deref().ok_or("no ring file given")?;
    let conf = a.swift_conf();
    let policies =
        parse_storage_policies(&read_swift_conf(&conf)?).map_err(|e| format!("{conf}: {e}"))?;
    let policy = find_policy(&policies, policy_name)
        .ok_or_else(|| format!("No policy named {policy_name:?}"))?;
    let dir = a.swift_dir();
    let object = path_part(&a.path, 2).is_some();
    if object || a.partition.is_some() {
        let name = policy.ring_name();
        return Ok(RingChoice {
            path: format!("{dir}/{name}.ring.gz"),
            name: Some(name),
            policy_index: Some(policy.index),
        });
    }
    let kind = if path_part(&a.path, 1).is_some() {
        "container"
    } else {
        "account"
    };
    Ok(RingChoice {
        path: format!("{dir}/{kind}.ring.gz"),
        name: None,
        policy_index: None,
    })
}

/// The lookup result for one target.
struct Located<'a> {
    part: u32,
    hash: Option<[u8; 16]>,
    primaries: Vec<NodeRef<'a>>,
    handoffs: Vec<NodeRef<'a>>,
}

fn path_part(path: &[String], i: usize) -> Option<&str> {
    path.get(i).map(String::as_str).filter(|s| !s.is_empty())
}

fn locate<'a>(
    ring: &'a RingData,
    cfg: Option<&HashPathConfig>,
    path: &[String],
    partition: Option<u32>,
    handoffs: Handoffs,
) -> Result<Located<'a>, String> {
    let (a, c, o) = (path_part(path, 0), path_part(path, 1), path_part(path, 2));
    if o.is_some() && c.is_none() {
        return Err("object given without a container".into());
    }
    if c.is_some() && a.is_none() {
        return Err("container given without an account".into());
    }
    let hash = match (a, cfg) {
        (Some(a), Some(cfg)) => Some(hash::hash_path(cfg, a, c, o)),
        _ => None,
    };
    let part = match (partition, hash) {
        (Some(p), _) => p,
        (None, Some(h)) => hash::partition(&h, ring.part_shift),
        (None, None) => return Err("no target given".into()),
    };
    if part as usize >= ring.partition_count() {
        return Err(format!(
            "partition {part} is out of range (the ring has {})",
            ring.partition_count()
        ));
    }
    let primaries = ring.get_part_nodes(part);
    let take = match handoffs {
        Handoffs::AsPrimaries => primaries.len(),
        Handoffs::All => usize::MAX,
        Handoffs::Count(n) => n,
    };
    let handoffs = ring.get_more_nodes(part).take(take).collect();
    Ok(Located {
        part,
        // Swift prints the hash only for a path lookup, not with -p.
        hash: if partition.is_none() { hash } else { None },
        primaries,
        handoffs,
    })
}

fn node_json(n: &NodeRef<'_>) -> Value {
    json!({"ip": n.dev.ip, "port": n.dev.port, "device": n.dev.device})
}

fn to_json(l: &Located<'_>) -> Value {
    json!({
        "partition": l.part,
        "primaries": l.primaries.iter().map(node_json).collect::<Vec<_>>(),
        "handoffs": l.handoffs.iter().map(node_json).collect::<Vec<_>>(),
    })
}

/// Ring name as Swift derives it: the file name without `.ring.gz`.
fn ring_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.strip_suffix(".ring.gz").unwrap_or(base)
}

/// `swift-get-nodes`' text for a located target.
fn render_text(
    choice: &RingChoice,
    path: &[String],
    partition: Option<u32>,
    l: &Located<'_>,
) -> String {
    let name = choice.name.as_deref().unwrap_or("");
    let (a, c, o) = (path_part(path, 0), path_part(path, 1), path_part(path, 2));
    let mut out = String::new();
    let mut datadir = "<type>".to_string();
    let mut policy_index = choice.policy_index;
    // Swift: "object-<n>" rings are storage policy n; note it splits at the
    // first '-' for the partition form and at the last for a path.
    let is_policy_ring = name.starts_with("object") && name.contains('-');
    if partition.is_some() && choice.name.is_some() {
        datadir = match name.split_once('-').filter(|_| is_policy_ring) {
            Some((_, n)) => format!("objects-{n}"),
            None => format!("{name}s"),
        };
    }
    match (a, c, o) {
        (Some(_), Some(_), Some(_)) => {
            datadir = "objects".into();
            let policy = name.rsplit_once('-').filter(|_| is_policy_ring);
            if let Some(n) = policy.and_then(|(_, n)| n.parse::<u32>().ok()) {
                policy_index = Some(n);
                datadir = format!("objects-{n}");
            }
        }
        (Some(_), Some(_), None) => {
            datadir = "containers".into();
            if choice.name.is_some() && name != "container" {
                out.push_str(
                    "Warning: account/container specified but ring not named \"container\"\n",
                );
            }
        }
        (Some(_), None, None) => {
            datadir = "accounts".into();
            if choice.name.is_some() && name != "account" {
                out.push_str("Warning: account specified but ring not named \"account\"\n");
            }
        }
        _ => {}
    }
    if let Some(a) = a {
        out.push_str(&format!("\nAccount  \t{}\n", quote(a)));
    }
    if let Some(c) = c {
        out.push_str(&format!("Container\t{}\n", quote(c)));
    }
    if let Some(o) = o {
        out.push_str(&format!("Object   \t{}\n\n\n", quote(o)));
    }
    let hex = l.hash.as_ref().map(hash::to_hex);
    out.push_str(&format!("Partition\t{}\n", l.part));
    out.push_str(&format!(
        "Hash     \t{}\n\n",
        hex.as_deref().unwrap_or("None")
    ));
    for n in &l.primaries {
        out.push_str(&format!(
            "Server:Port Device\t{}:{} {}\n",
            n.dev.ip, n.dev.port, n.dev.device
        ));
    }
    for n in &l.handoffs {
        out.push_str(&format!(
            "Server:Port Device\t{}:{} {}\t [Handoff]\n",
            n.dev.ip, n.dev.port, n.dev.device
        ));
    }
    out.push_str("\n\n");
    // Swift formats a missing account as "None" in the target.
    let target = match (a, c, o) {
        (Some(a), Some(c), Some(o)) => format!("{a}/{c}/{o}"),
        (Some(a), Some(c), None) => format!("{a}/{c}"),
        (a, _, _) => a.unwrap_or("None").to_string(),
    };
    let curl = |n: &NodeRef<'_>| {
        let ip = if n.dev.ip.parse::<Ipv6Addr>().is_ok() {
            format!("[{}]", n.dev.ip)
        } else {
            n.dev.ip.clone()
        };
        let mut cmd = format!(
            "curl -g -I -XHEAD \"http://{ip}:{}/{}/{}/{}\"",
            n.dev.port,
            n.dev.device,
            l.part,
            quote(&target)
        );
        if let Some(p) = policy_index {
            cmd.push_str(&format!(" -H \"X-Backend-Storage-Policy-Index: {p}\""));
        }
        cmd.push_str(" --path-as-is");
        cmd
    };
    for n in &l.primaries {
        out.push_str(&curl(n));
        out.push('\n');
    }
    for n in &l.handoffs {
        out.push_str(&curl(n));
        out.push_str(" # [Handoff]\n");
    }
    out.push_str("\n\nUse your own device location of servers:\n");
    out.push_str("such as \"export DEVICE=/srv/node\"\n");
    let location = |n: &NodeRef<'_>| match &hex {
        Some(h) => format!(
            "ssh {} \"ls -lah ${{DEVICE:-/srv/node*}}/{}/{datadir}/{}/{}/{h}\"",
            n.dev.ip,
            n.dev.device,
            l.part,
            &h[h.len() - 3..]
        ),
        None => format!(
            "ssh {} \"ls -lah ${{DEVICE:-/srv/node*}}/{}/{datadir}/{}\"",
            n.dev.ip, n.dev.device, l.part
        ),
    };
    for n in &l.primaries {
        out.push_str(&location(n));
        out.push('\n');
    }
    for n in &l.handoffs {
        out.push_str(&location(n));
        out.push_str(" # [Handoff]\n");
    }
    out.push_str(
        "\nnote: `/srv/node*` is used as default value of `devices`, the real value is set in the config file on each storage node.\n",
    );
    out
}

fn run(argv: &[String]) -> Result<(), String> {
    let a = parse_args(argv)?;
    let choice = choose_ring(&a)?;
    let ring = load_ring(&choice.path)?;
    let handoffs = a.handoffs.unwrap_or(Handoffs::AsPrimaries);
    // A bare partition lookup needs no secret; anything with a path does.
    let cfg = if a.batch || !a.path.is_empty() {
        Some(hash_config(&a)?)
    } else {
        None
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io_err = |e: std::io::Error| format!("writing output: {e}");
    if a.batch {
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.map_err(|e| format!("reading stdin: {e}"))?;
            let path = split_path(if a.quoted { unquote(&line) } else { line }.as_str());
            let located = locate(&ring, cfg.as_ref(), &path, None, handoffs)
                .map_err(|e| format!("stdin line {}: {e}", n + 1))?;
            writeln!(out, "{}", to_json(&located)).map_err(io_err)?;
        }
    } else {
        let located = locate(&ring, cfg.as_ref(), &a.path, a.partition, handoffs)?;
        if a.json {
            writeln!(out, "{}", to_json(&located)).map_err(io_err)?;
        } else {
            out.write_all(render_text(&choice, &a.path, a.partition, &located).as_bytes())
                .map_err(io_err)?;
        }
    }
    out.flush().map_err(io_err)
}

pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swirl get-nodes: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swirl_ring::Device;

    fn args(s: &[&str]) -> Result<Args, String> {
        parse_args(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments() {
        let a = args(&["r.ring.gz", "AUTH_a", "c", "o/x"]).unwrap();
        assert_eq!(a.path, ["AUTH_a", "c", "o/x"]);
        let a = args(&["--json", "r.ring.gz", "/AUTH_a/c/o/x/"]).unwrap();
        assert_eq!(a.path, ["AUTH_a", "c", "o/x"]);
        assert!(a.json);
        let a = args(&["-Q", "r.ring.gz", "AUTH_a/c%20d/%C3%A9"]).unwrap();
        assert_eq!(a.path, ["AUTH_a", "c d", "é"]);
        let a = args(&["r.ring.gz", "-p", "12", "-a", "--hash-path-suffix=s"]).unwrap();
        assert_eq!((a.partition, a.handoffs), (Some(12), Some(Handoffs::All)));
        assert_eq!(a.suffix.as_deref(), Some("s"));
        let a = args(&["-d", "/etc/x", "r", "a"]).unwrap();
        assert_eq!(a.swift_conf(), "/etc/x/swift.conf");
        let a = args(&["--swift-conf", "/etc/y/s.conf", "r", "a"]).unwrap();
        assert_eq!(a.swift_dir(), "/etc/y");
        let a = args(&["-P", "gold", "a", "c", "o"]).unwrap();
        assert_eq!((a.ring, a.path.len()), (None, 3));
        assert_eq!(args(&[]).unwrap_err(), "no ring file given");
        assert!(args(&["-P", "gold", "--batch"]).is_err());
        assert!(args(&[]).is_err());
        assert!(args(&["r.ring.gz"]).is_err());
        assert!(args(&["r", "a", "b", "c", "d"]).is_err());
        assert!(args(&["r", "-p", "x"]).is_err());
        assert!(args(&["r", "--bogus", "a"]).is_err());
        assert!(args(&["r", "--batch", "a"]).is_err());
        assert!(args(&["r", "--batch"]).is_ok());
    }

    #[test]
    fn quoting_like_urllib() {
        assert_eq!(
            quote("AUTH_t est/c/o%bj é~"),
            "AUTH_t%20est/c/o%25bj%20%C3%A9~"
        );
        assert_eq!(unquote("o%25bj%20%C3%A9%zz%"), "o%bj é%zz%");
    }

    fn ring() -> RingData {
        let devs = (0..4u32)
            .map(|id| {
                Some(Device {
                    id,
                    region: 1,
                    zone: id + 1,
                    ip: if id == 3 {
                        "::1".into()
                    } else {
                        "127.0.0.1".into()
                    },
                    port: 6210 + 10 * id as u16,
                    device: format!("sdb{}", id + 1),
                    weight: 1.0,
                    ..Default::default()
                })
            })
            .collect();
        RingData {
            devs,
            replica2part2dev: vec![vec![0, 1], vec![1, 2], vec![2, 3]],
            part_shift: 31,
            dev_id_bytes: 2,
            ..Default::default()
        }
    }

    #[test]
    fn text_has_swifts_shape() {
        let r = ring();
        let cfg = HashPathConfig::new("changeme", "changeme");
        let path: Vec<String> = ["AUTH_test", "c", "o"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let l = locate(&r, Some(&cfg), &path, None, Handoffs::AsPrimaries).unwrap();
        let choice = |path: &str| RingChoice {
            path: path.into(),
            name: Some(ring_name(path).into()),
            policy_index: None,
        };
        let text = render_text(&choice("/x/object-2.ring.gz"), &path, None, &l);
        let hex = "4e2772c453cbe15a19b26fbfbb223e31";
        assert!(
            text.starts_with("\nAccount  \tAUTH_test\nContainer\tc\nObject   \to\n\n\nPartition\t")
        );
        assert!(text.contains(&format!("Hash     \t{hex}\n\nServer:Port Device\t")));
        assert!(text.contains("\t [Handoff]\n\n\ncurl -g -I -XHEAD \"http://"));
        assert!(
            text.contains("/AUTH_test/c/o\" -H \"X-Backend-Storage-Policy-Index: 2\" --path-as-is")
        );
        assert!(text.contains(&format!("/objects-2/{}/e31/{hex}\"", l.part)));
        let json = to_json(&l);
        assert_eq!(json["partition"], l.part);
        assert_eq!(json["primaries"].as_array().unwrap().len(), 3);
        assert_eq!(json["handoffs"].as_array().unwrap().len(), 1);
        let by_part = locate(&r, None, &[], Some(1), Handoffs::All).unwrap();
        let text = render_text(&choice("account.ring.gz"), &[], Some(1), &by_part);
        assert!(text.starts_with("Partition\t1\nHash     \tNone\n\n"));
        assert!(text.contains("curl -g -I -XHEAD \"http://[::1]:6240/sdb4/1/None\" --path-as-is"));
        assert!(text.contains("ls -lah ${DEVICE:-/srv/node*}/sdb2/accounts/1\""));
        assert!(locate(&r, None, &[], Some(2), Handoffs::All).is_err());
        let no_container: Vec<String> = vec!["a".into(), "".into(), "o".into()];
        assert!(locate(&r, Some(&cfg), &no_container, None, Handoffs::All).is_err());
    }
}
