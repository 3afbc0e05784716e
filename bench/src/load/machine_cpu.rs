//! The whole machine's busy CPU from /proc/stat, and the kernel threads' share.
//!
//! Per-process accounting misses work the kernel does on a process's behalf in
//! its own threads: writeback (kworker flush), a loop device's I/O (`loop0`),
//! filesystem threads (xfs's, jbd2). A system whose devices sit on a loop image
//! pays part of its writes there. The machine's busy time counts them all (and
//! whatever else runs, the load generator included), so a phase reports both.

use std::collections::HashMap;

/// Busy ticks of all CPUs at one moment: user, nice, system, irq and softirq
/// (guest time is inside user). Idle, iowait and steal (another guest's) are
/// not ours.
pub fn parse_proc_stat(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    // user nice system idle iowait irq softirq steal ...
    let at = |i: usize| f.get(i).copied();
    Some(at(0)? + at(1)? + at(2)? + at(5).unwrap_or(0) + at(6).unwrap_or(0))
}

/// Ticks of the kernel's own threads (kthreadd, pid 2, and its children),
/// from a map of pid -> (ppid, ticks).
pub fn kernel_thread_ticks(procs: &HashMap<u32, (u32, u64)>) -> u64 {
    procs
        .iter()
        .filter(|(&pid, &(ppid, _))| pid == 2 || ppid == 2)
        .map(|(_, &(_, t))| t)
        .sum()
}

/// The machine's busy seconds and the kernel threads' seconds at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineSample {
    /// All CPUs' busy seconds since boot.
    pub busy: f64,
    /// Kernel threads' seconds (those alive now).
    pub kernel_threads: f64,
}

impl MachineSample {
    /// Reads /proc/stat and the kernel threads' /proc/PID/stat.
    pub fn now(ticks_per_s: f64, procs: &HashMap<u32, (u32, u64)>) -> Self {
        let busy = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_proc_stat(&t))
            .unwrap_or(0);
        MachineSample {
            busy: busy as f64 / ticks_per_s,
            kernel_threads: kernel_thread_ticks(procs) as f64 / ticks_per_s,
        }
    }

    /// Seconds spent between `self` (before) and `after`: (busy, kernel threads).
    pub fn delta(&self, after: &MachineSample) -> (f64, f64) {
        (
            (after.busy - self.busy).max(0.0),
            (after.kernel_threads - self.kernel_threads).max(0.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_busy() {
        let s = "cpu  100 5 40 9000 70 3 2 11 0 0\ncpu0 50 2 20 4500 35 1 1 5 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(s), Some(150));
        assert_eq!(parse_proc_stat("cpu0 1 2 3\n"), None);
        assert_eq!(parse_proc_stat("cpu  x 2 3 4\n"), None);
    }

    #[test]
    fn kernel_threads_only() {
        let mut procs = HashMap::new();
        procs.insert(2, (0, 1)); // kthreadd
        procs.insert(40, (2, 7)); // kworker
        procs.insert(41, (2, 5)); // loop0
        procs.insert(100, (1, 99)); // a daemon
        assert_eq!(kernel_thread_ticks(&procs), 13);
    }

    #[test]
    fn reads_this_machine() {
        let procs = crate::load::cpu::all_procs();
        let t = crate::load::cpu::clock_ticks();
        let a = MachineSample::now(t, &procs);
        assert!(a.busy > 0.0);
        let (busy, _) = a.delta(&MachineSample::now(t, &crate::load::cpu::all_procs()));
        assert!(busy >= 0.0);
    }
}
