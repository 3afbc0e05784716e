//! The servers' resident memory during a phase: per role, the peak of the
//! summed VmRSS of its processes (the roots and their descendants, as CPU is
//! counted), sampled twice a second by a thread of its own. What a large
//! phase must show is that memory stays bounded whatever the object size.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::cpu::{self, Roots};

/// How often resident memory is sampled.
const EVERY: Duration = Duration::from_millis(500);

/// VmRSS in KiB from the text of /proc/PID/status.
pub fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident KiB by role now, given every process (pid -> (ppid, ticks)) and
/// a reader of one process's VmRSS.
pub fn by_role(
    procs: &HashMap<u32, (u32, u64)>,
    roots: &Roots,
    rss: impl Fn(u32) -> Option<u64>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for &pid in procs.keys() {
        if let Some(role) = cpu::role_of_pid(pid, procs, roots) {
            let kib = rss(pid).unwrap_or(0);
            *out.entry(role.to_string()).or_insert(0) += kib;
        }
    }
    out
}

fn rss_of(pid: u32) -> Option<u64> {
    parse_rss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Keeps the larger of each role's figures.
fn keep_peak(peak: &mut BTreeMap<String, u64>, now: BTreeMap<String, u64>) {
    for (role, kib) in now {
        let p = peak.entry(role).or_insert(0);
        *p = (*p).max(kib);
    }
}

/// A running sampler.
pub struct PeakRss {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<BTreeMap<String, u64>>,
}

impl PeakRss {
    /// Starts sampling the roots' memory.
    pub fn start(roots: Roots) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut peak = BTreeMap::new();
            while !flag.load(Ordering::Relaxed) {
                keep_peak(&mut peak, by_role(&cpu::all_procs(), &roots, rss_of));
                thread::park_timeout(EVERY);
            }
            keep_peak(&mut peak, by_role(&cpu::all_procs(), &roots, rss_of));
            peak
        });
        PeakRss { stop, handle }
    }

    /// Stops sampling; the peak KiB by role.
    pub fn finish(self) -> BTreeMap<String, u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.thread().unpark();
        self.handle.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_line() {
        let s = "Name:\tswirl\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nRssAnon:\t 40000 kB\n";
        assert_eq!(parse_rss_kib(s), Some(51234));
        assert_eq!(parse_rss_kib("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn descendants_count_to_their_root_and_peaks_keep_the_larger() {
        // 10 proxy (root) -> 11 worker; 20 object (root); 30 unrelated.
        let procs: HashMap<u32, (u32, u64)> =
            [(10, (1, 0)), (11, (10, 0)), (20, (1, 0)), (30, (1, 0))]
                .into_iter()
                .collect();
        let roots: Roots = [(10, "proxy".to_string()), (20, "object".to_string())]
            .into_iter()
            .collect();
        let now = by_role(&procs, &roots, |pid| Some(pid as u64 * 100));
        assert_eq!(now["proxy"], 1000 + 1100);
        assert_eq!(now["object"], 2000);
        assert_eq!(now.len(), 2);
        let mut peak = BTreeMap::new();
        keep_peak(&mut peak, now);
        keep_peak(&mut peak, [("proxy".to_string(), 5)].into_iter().collect());
        assert_eq!(peak["proxy"], 2100);
    }

    #[test]
    fn samples_this_process() {
        let me = std::process::id();
        let roots: Roots = [(me, "self".to_string())].into_iter().collect();
        let peak = PeakRss::start(roots).finish();
        assert!(peak["self"] > 0);
    }
}
