//! Server CPU accounting from /proc: utime+stime (+ reaped children's cutime+cstime)
//! of given processes and all their descendants, summed by role.
//!
//! Roles come from a `NAME PID` file (bench/swift-reference's pids format; a trailing
//! `-<digits>` is dropped, so object-3 counts as object) or from `--pid` (role
//! "server"). A process that exits during the run is still counted once its parent
//! reaps it (the kernel adds its times to the parent's c* fields).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Role name and process id of an accounted root.
pub type Roots = HashMap<u32, String>;

/// Parses a pids file: `NAME PID` per line; blank and malformed lines are errors.
pub fn parse_pids_file(text: &str) -> Result<Roots, String> {
    let mut roots = Roots::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(pid)) = (parts.next(), parts.next()) else {
            return Err(format!("line {}: expected `NAME PID`: {line:?}", n + 1));
        };
        let pid: u32 = pid
            .parse()
            .map_err(|_| format!("line {}: bad pid {pid:?}", n + 1))?;
        roots.insert(pid, role_of(name).to_string());
    }
    Ok(roots)
}

/// `object-3` -> `object`; `proxy` -> `proxy`.
fn role_of(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((base, num)) if !base.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

/// (ppid, utime+stime+cutime+cstime in ticks) from the text of /proc/PID/stat.
pub fn parse_stat(text: &str) -> Option<(u32, u64)> {
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] = state (field 3), f[1] = ppid (4), f[11..15] = utime stime cutime cstime (14-17)
    let ppid = f.get(1)?.parse().ok()?;
    let mut ticks = 0u64;
    for v in f.get(11..15)? {
        ticks += v.parse::<u64>().ok()?;
    }
    Some((ppid, ticks))
}

/// Sums ticks by role over every process that is a root or descends from one.
pub fn attribute(procs: &HashMap<u32, (u32, u64)>, roots: &Roots) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (&pid, &(_, ticks)) in procs {
        if let Some(role) = role_of_pid(pid, procs, roots) {
            *out.entry(role.to_string()).or_insert(0) += ticks;
        }
    }
    out
}

/// The role of `pid`: its own, or that of the nearest ancestor that is a root.
pub fn role_of_pid<'a>(
    pid: u32,
    procs: &HashMap<u32, (u32, u64)>,
    roots: &'a Roots,
) -> Option<&'a str> {
    let mut p = pid;
    // walk up to a root; bounded in case of a cycle from reused pids
    for _ in 0..128 {
        if let Some(role) = roots.get(&p) {
            return Some(role);
        }
        match procs.get(&p) {
            Some(&(ppid, _)) if ppid > 1 && ppid != p => p = ppid,
            _ => return None,
        }
    }
    None
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 if that fails).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// CPU seconds by role at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample(pub BTreeMap<String, f64>);

impl Sample {
    /// Per-role seconds spent between `self` (before) and `after`, plus the total.
    pub fn delta(&self, after: &Sample) -> (f64, BTreeMap<String, f64>) {
        let mut by_role = BTreeMap::new();
        for (role, &a) in &after.0 {
            let b = self.0.get(role).copied().unwrap_or(0.0);
            by_role.insert(role.clone(), (a - b).max(0.0));
        }
        let total = by_role.values().sum();
        (total, by_role)
    }
}

/// Every process under /proc: pid -> (ppid, ticks).
pub fn all_procs() -> HashMap<u32, (u32, u64)> {
    let mut procs = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(text) = std::fs::read_to_string(e.path().join("stat")) {
                if let Some(st) = parse_stat(&text) {
                    procs.insert(pid, st);
                }
            }
        }
    }
    procs
}

/// Samples the roots' CPU in `procs` (from [`all_procs`]).
pub fn sample(procs: &HashMap<u32, (u32, u64)>, roots: &Roots, ticks_per_s: f64) -> Sample {
    Sample(
        attribute(procs, roots)
            .into_iter()
            .map(|(r, t)| (r, t as f64 / ticks_per_s))
            .collect(),
    )
}

/// This process's own CPU seconds (utime+stime).
pub fn self_cpu(ticks_per_s: f64) -> f64 {
    std::fs::read_to_string(Path::new("/proc/self/stat"))
        .ok()
        .and_then(|t| parse_stat(&t))
        .map(|(_, ticks)| ticks as f64 / ticks_per_s)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line() {
        let s = "1234 (swift-proxy (x)) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0";
        assert_eq!(parse_stat(s), Some((77, 310)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (a) S 0 1 2"), None);
    }

    #[test]
    fn pids_file() {
        let r = parse_pids_file("memcached 10\nobject-1 11\n\nproxy 12\n").unwrap();
        assert_eq!(r.get(&11).map(String::as_str), Some("object"));
        assert_eq!(r.get(&12).map(String::as_str), Some("proxy"));
        assert_eq!(r.len(), 3);
        assert!(parse_pids_file("proxy\n").is_err());
        assert!(parse_pids_file("proxy abc\n").is_err());
        assert_eq!(role_of("a-b-12"), "a-b");
        assert_eq!(role_of("-12"), "-12");
        assert_eq!(role_of("x-y"), "x-y");
    }

    #[test]
    fn descendants_count() {
        let mut procs = HashMap::new();
        procs.insert(100, (1, 10)); // root proxy
        procs.insert(101, (100, 5)); // worker
        procs.insert(102, (101, 2)); // grandchild
        procs.insert(200, (1, 7)); // unrelated
        procs.insert(300, (1, 3)); // root object
        let mut roots = Roots::new();
        roots.insert(100, "proxy".into());
        roots.insert(300, "object".into());
        let a = attribute(&procs, &roots);
        assert_eq!(a.get("proxy"), Some(&17));
        assert_eq!(a.get("object"), Some(&3));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn sample_delta() {
        let b = Sample([("a".to_string(), 1.0)].into_iter().collect());
        let a = Sample(
            [("a".to_string(), 3.5), ("b".to_string(), 1.0)]
                .into_iter()
                .collect(),
        );
        let (t, by) = b.delta(&a);
        assert!((t - 3.5).abs() < 1e-9);
        assert_eq!(by.get("a"), Some(&2.5));
    }

    #[test]
    fn self_cpu_reads_proc() {
        let t = clock_ticks();
        assert!(t > 0.0);
        assert!(self_cpu(t) >= 0.0);
        // our own process is found as a root
        let mut roots = Roots::new();
        roots.insert(std::process::id(), "me".into());
        assert!(sample(&all_procs(), &roots, t).0.contains_key("me"));
    }
}
