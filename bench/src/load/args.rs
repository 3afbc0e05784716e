//! Command-line options of `swirl bench` (load generator) and `swirl bench disk`,
//! with the parsers for sizes (`4K`, `64MiB`) and operation mixes
//! (`put=20,get=70,delete=10`).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use super::workload::{Mix, Op};

/// What the workers do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// PUT objects with unique names (index `--start` upwards).
    Put,
    /// GET random objects of the pool `0..--objects`.
    Get,
    /// HEAD random objects of the pool.
    Head,
    /// DELETE the pool's objects in order (ends when all are gone).
    Delete,
    /// GET the first container's listing (`format=json&limit=--list-limit`).
    List,
    /// A weighted mix of the above (`--mix`).
    Mixed,
}

/// Options of `swirl bench [options]`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "swirl bench",
    about = "Load generator for any Swift-compatible endpoint (tempauth v1)",
    after_help = "Objects are CONTAINER[-k]/PREFIX<index:08>, index i in container k = i % \
                  --containers. `swirl bench disk --help`: the disk's fsync write limit."
)]
pub struct Args {
    /// Auth URL (tempauth v1).
    #[arg(long, default_value = "http://127.0.0.1:8080/auth/v1.0")]
    pub auth: String,
    /// Auth user (X-Auth-User).
    #[arg(long, default_value = "bench:bench")]
    pub user: String,
    /// Auth key (X-Auth-Key).
    #[arg(long, default_value = "bench")]
    pub key: String,
    /// Skip auth: use this storage URL (with --token).
    #[arg(long, requires = "token")]
    pub storage_url: Option<String>,
    /// Skip auth: use this token (with --storage-url).
    #[arg(long, requires = "storage_url")]
    pub token: Option<String>,
    /// GETs and HEADs go out as temporary URLs signed with this key (tempurl,
    /// HMAC-SHA256), without the token; the account's temp URL key is set to it
    /// (with the token) before the phase.
    #[arg(long)]
    pub tempurl_key: Option<String>,
    /// The workload.
    #[arg(short, long, value_enum, default_value_t = Workload::Put)]
    pub workload: Workload,
    /// Weights of the mixed workload, e.g. put=20,get=60,head=10,delete=10.
    #[arg(long, default_value = "put=20,get=60,head=10,delete=10", value_parser = parse_mix)]
    pub mix: Mix,
    /// Requests in flight (one keep-alive connection each).
    #[arg(short, long, default_value_t = 16)]
    pub concurrency: usize,
    /// Measure for this many seconds (default 10 unless --count is given).
    #[arg(short, long)]
    pub duration: Option<f64>,
    /// Stop after this many requests (whichever of --duration/--count comes first).
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// Object size for PUT (4096, 4K, 64MiB, 1G; K/M/G = KiB/MiB/GiB, kB/MB/GB = 10^3..).
    #[arg(short, long, default_value = "4KiB", value_parser = parse_size)]
    pub size: u64,
    /// Container name (with --containers > 1: NAME-0, NAME-1, ...).
    #[arg(long, default_value = "swirl-bench")]
    pub container: String,
    /// Number of containers the objects are spread over.
    #[arg(long, default_value_t = 1)]
    pub containers: u64,
    /// Object name prefix (the index follows, zero-padded to 8 digits).
    #[arg(long, default_value = "o")]
    pub prefix: String,
    /// Pool size: objects 0..N that get/head/delete/mixed use and list populates.
    #[arg(long, default_value_t = 1000)]
    pub objects: u64,
    /// First index that PUT writes (later runs can continue a pool).
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Before measuring, PUT the pool's objects (list: zero-byte objects) unless the
    /// containers already hold at least --objects objects.
    #[arg(long)]
    pub prepare: bool,
    /// `limit` of the listing workload.
    #[arg(long, default_value_t = 10_000)]
    pub list_limit: u64,
    /// Seconds before a request counts as an I/O error.
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,
    /// Client threads (the async runtime's workers).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Server process id whose CPU (with all descendants) is counted; repeatable.
    #[arg(long)]
    pub pid: Vec<u32>,
    /// File of `NAME PID` lines (as bench/swift-reference writes): CPU by role.
    #[arg(long)]
    pub pids_file: Option<PathBuf>,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Options of `swirl bench disk`: the fsync write ceiling of a directory's disk for
/// N-replica object writes (what a PUT of large objects cannot beat).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "swirl bench disk",
    about = "Measure the disk's write limit for N-replica durable object writes"
)]
pub struct DiskArgs {
    /// Directory on the disk to measure (files are removed afterwards).
    #[arg(long)]
    pub dir: PathBuf,
    /// Object size.
    #[arg(short, long, default_value = "64MiB", value_parser = parse_size)]
    pub size: u64,
    /// Objects to write.
    #[arg(short = 'n', long, default_value_t = 16)]
    pub count: u64,
    /// Objects written at once.
    #[arg(short, long, default_value_t = 4)]
    pub concurrency: usize,
    /// Copies of each object (each written, fsynced and renamed by its own thread).
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Measure reads instead: the objects (one copy each) are written and
    /// synced first, then read whole, `concurrency` at a time, as the object
    /// server reads a large body (O_DIRECT, 1 MiB at a time, where the
    /// filesystem takes it).
    #[arg(long)]
    pub read: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `swirl bench floor`: what a large object's path cannot avoid on this machine.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "swirl bench floor",
    about = "Measure the least machine CPU a large PUT and GET can cost here: TCP hops and digests"
)]
pub struct FloorArgs {
    /// GiB moved or hashed by each measure.
    #[arg(long, default_value_t = 2)]
    pub gib: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses `4096`, `4K`, `4KiB`, `64M`, `1.5G`, `10kB` into bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "k" | "KiB" | "Ki" => 1 << 10,
        "M" | "MiB" | "Mi" => 1 << 20,
        "G" | "GiB" | "Gi" => 1 << 30,
        "T" | "TiB" | "Ti" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    if num.is_empty() {
        return Err(format!("size {s:?} has no number"));
    }
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(mult)
            .ok_or_else(|| format!("size {s:?} too large"));
    }
    let f: f64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    let bytes = f * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("size {s:?} out of range"));
    }
    Ok(bytes.round() as u64)
}

/// Parses `put=20,get=70,delete=10` (weights are relative integers).
pub fn parse_mix(s: &str) -> Result<Mix, String> {
    let mut weights = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, w) = part
            .split_once('=')
            .ok_or_else(|| format!("mix entry {part:?} is not OP=WEIGHT"))?;
        let op = match name.trim() {
            "put" => Op::Put,
            "get" => Op::Get,
            "head" => Op::Head,
            "delete" => Op::Delete,
            "list" => Op::List,
            other => return Err(format!("unknown operation {other:?} in mix")),
        };
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| format!("weight {w:?} of {name} is not a whole number"))?;
        weights.push((op, w));
    }
    Mix::new(weights)
}

impl Args {
    /// Checks combinations clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        if self.containers == 0 {
            return Err("--containers must be at least 1".into());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        if let Some(d) = self.duration {
            if !(d.is_finite() && d > 0.0) {
                return Err(format!(
                    "--duration {d} must be a positive number of seconds"
                ));
            }
        }
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            return Err("--timeout must be positive".into());
        }
        let needs_pool = matches!(
            self.workload,
            Workload::Get | Workload::Head | Workload::Delete | Workload::List
        ) || (self.workload == Workload::Mixed
            && (self.mix.weight(Op::Get) + self.mix.weight(Op::Head) > 0));
        if self.tempurl_key.is_some() && !matches!(self.workload, Workload::Get | Workload::Head) {
            return Err("--tempurl-key signs GETs and HEADs: use -w get or -w head".into());
        }
        if needs_pool && self.objects == 0 {
            return Err("this workload needs a pool: --objects must be at least 1".into());
        }
        Ok(())
    }

    /// Seconds to run: --duration, else unbounded with --count, else 10.
    pub fn duration_secs(&self) -> Option<f64> {
        match (self.duration, self.count) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => None,
            (None, None) => Some(10.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("10kB"), Ok(10_000));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }

    #[test]
    fn mixes() {
        let m = parse_mix("put=1, get=3").unwrap();
        assert_eq!(m.weight(Op::Put), 1);
        assert_eq!(m.weight(Op::Get), 3);
        assert_eq!(m.weight(Op::Delete), 0);
        assert!(parse_mix("put").is_err());
        assert!(parse_mix("post=1").is_err());
        assert!(parse_mix("put=x").is_err());
        assert!(parse_mix("put=0").is_err());
        assert!(parse_mix("").is_err());
    }

    #[test]
    fn parse_and_validate() {
        let a = Args::try_parse_from(["bench", "-w", "get", "-c", "4", "-s", "64M"]).unwrap();
        assert_eq!(a.workload, Workload::Get);
        assert_eq!(a.size, 64 << 20);
        assert!(a.validate().is_ok());
        assert_eq!(a.duration_secs(), Some(10.0));
        let a = Args::try_parse_from(["bench", "-n", "5"]).unwrap();
        assert_eq!(a.duration_secs(), None);
        let a = Args::try_parse_from(["bench", "-c", "0"]).unwrap();
        assert!(a.validate().is_err());
        let a = Args::try_parse_from(["bench", "-w", "get", "--objects", "0"]).unwrap();
        assert!(a.validate().is_err());
        let a = Args::try_parse_from(["bench", "-d", "0"]).unwrap();
        assert!(a.validate().is_err());
        assert!(Args::try_parse_from(["bench", "--token", "t"]).is_err());
        let a = Args::try_parse_from(["bench", "-w", "get", "--tempurl-key", "k"]).unwrap();
        assert!(a.validate().is_ok());
        let a = Args::try_parse_from(["bench", "-w", "put", "--tempurl-key", "k"]).unwrap();
        assert!(a.validate().is_err());
    }
}
