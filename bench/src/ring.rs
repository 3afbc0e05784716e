//! `swirl bench ring`: times the ring builder and ring lookups on a synthetic cluster.
//!
//! The cluster shape is explicit (regions, zones, hosts per zone, devices) so the same
//! ring can be built with swift-ring-builder for a side-by-side run
//! (`bench/ring-compare` uses `--print-add-values` for that). Figures: rebalance wall
//! time, balance and dispersion as Swift computes them, part-replicas moved, optionally
//! a second rebalance after adding devices, and `get_nodes` lookups per second on one
//! thread. Text by default, `--json` for scripts.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use swirl_ring::builder::RingBuilder;
use swirl_ring::hash::HashPathConfig;
use swirl_ring::Device;

/// Options of `swirl bench ring`.
#[derive(Parser, Debug)]
#[command(
    name = "swirl bench ring",
    about = "Benchmark the ring builder and lookups"
)]
struct Args {
    /// Partition power of the ring.
    #[arg(long, default_value_t = 18)]
    part_power: u32,
    /// Replica count.
    #[arg(long, default_value_t = 3.0)]
    replicas: f64,
    /// Number of devices (spread evenly over the hosts).
    #[arg(long, default_value_t = 120)]
    devices: u32,
    /// Number of regions.
    #[arg(long, default_value_t = 2)]
    regions: u32,
    /// Number of zones in total (spread evenly over the regions).
    #[arg(long, default_value_t = 4)]
    zones: u32,
    /// Hosts per zone.
    #[arg(long, default_value_t = 5)]
    hosts_per_zone: u32,
    /// Overload (fraction) for the builder.
    #[arg(long, default_value_t = 0.0)]
    overload: f64,
    /// Seed of the rebalance's random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// After the first rebalance, add this many devices (one new host per zone) and
    /// time a second rebalance.
    #[arg(long, default_value_t = 0)]
    add_devices: u32,
    /// Lookups to time (0 skips the lookup benchmark).
    #[arg(long, default_value_t = 2_000_000)]
    lookups: u32,
    /// Print the devices as swift-ring-builder `add` arguments and exit (with
    /// `--add-devices`, then a `--` line and the devices added later).
    #[arg(long)]
    print_add_values: bool,
    /// Print the rebalance's progress lines to stderr.
    #[arg(long)]
    progress: bool,
    /// Time the first rebalance (on fresh copies) and the lookups this many
    /// times and report the fastest: on a shared machine the minimum is the
    /// least disturbed run.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize, Debug)]
struct RebalanceFigures {
    seconds: f64,
    parts_moved: usize,
    balance: f64,
    dispersion: f64,
}

#[derive(Serialize, Debug)]
struct Report {
    part_power: u32,
    replicas: f64,
    devices: usize,
    regions: u32,
    zones: u32,
    hosts: u32,
    rebalance: RebalanceFigures,
    #[serde(skip_serializing_if = "Option::is_none")]
    add_rebalance: Option<RebalanceFigures>,
    lookups: u32,
    lookup_seconds: f64,
    lookups_per_sec: f64,
}

/// One device of the synthetic cluster: region, zone, host ip, device name.
struct Slot {
    region: u32,
    zone: u32,
    ip: String,
    device: String,
}

/// Lays `devices` out over `regions` × zones × hosts, round-robin so every host gets
/// the same count (±1). `host_base` offsets host numbers (for added hosts).
fn layout(a: &Args, devices: u32, hosts_per_zone: u32, host_base: u32) -> Vec<Slot> {
    let zones_per_region = (a.zones / a.regions).max(1);
    let hosts = a.regions * zones_per_region * hosts_per_zone;
    let mut out = Vec::with_capacity(devices as usize);
    for i in 0..devices {
        let h = i % hosts;
        let n = i / hosts;
        let region = h / (zones_per_region * hosts_per_zone) + 1;
        let zone = (h / hosts_per_zone) % zones_per_region + 1;
        let host = h % hosts_per_zone + host_base;
        out.push(Slot {
            region,
            zone,
            ip: format!("10.{region}.{zone}.{host}"),
            device: format!("sd{}", device_letters(n)),
        });
    }
    out
}

/// The devices `--add-devices` adds: one new host per zone, numbered after the others.
fn added_layout(a: &Args) -> Vec<Slot> {
    let zones_per_region = (a.zones / a.regions).max(1);
    let per_zone = Args {
        regions: a.regions,
        zones: a.regions * zones_per_region,
        hosts_per_zone: 1,
        ..Args::parse_from(["bench"])
    };
    layout(&per_zone, a.add_devices, 1, a.hosts_per_zone)
}

fn device_letters(mut n: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
        n -= 1;
    }
    s.reverse();
    String::from_utf8_lossy(&s).into_owned()
}

fn to_device(s: &Slot) -> Device {
    Device {
        region: s.region,
        zone: s.zone,
        ip: s.ip.clone(),
        port: 6200,
        device: s.device.clone(),
        weight: 100.0,
        ..Default::default()
    }
}

fn timed_rebalance(
    b: &mut RingBuilder,
    rng: &mut ChaCha8Rng,
    now: u64,
    show: bool,
) -> Result<RebalanceFigures, String> {
    let start = Instant::now();
    let mut progress = |line: &str| {
        if show {
            eprintln!("[{:8.3}s] {line}", start.elapsed().as_secs_f64());
        }
    };
    let r = b
        .rebalance(rng, now, &mut progress)
        .map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    b.validate()
        .map_err(|e| format!("validation failed: {e}"))?;
    Ok(RebalanceFigures {
        seconds,
        parts_moved: r.parts_moved,
        balance: r.balance,
        dispersion: r.dispersion,
    })
}

fn run(a: &Args) -> Result<Option<Report>, String> {
    if a.regions == 0 || a.zones < a.regions || a.hosts_per_zone == 0 || a.devices == 0 {
        return Err("need regions ≥ 1, zones ≥ regions, hosts-per-zone ≥ 1, devices ≥ 1".into());
    }
    let slots = layout(a, a.devices, a.hosts_per_zone, 0);
    if a.print_add_values {
        let line = |s: &Slot| println!("r{}z{}-{}:6200/{} 100", s.region, s.zone, s.ip, s.device);
        slots.iter().for_each(line);
        if a.add_devices > 0 {
            // The devices `--add-devices` adds after the first rebalance.
            println!("--");
            added_layout(a).iter().for_each(line);
        }
        return Ok(None);
    }
    let mut b = RingBuilder::new(a.part_power, a.replicas, 1).map_err(|e| e.to_string())?;
    b.set_overload(a.overload).map_err(|e| e.to_string())?;
    for s in &slots {
        b.add_dev(to_device(s), None).map_err(|e| e.to_string())?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    // A fixed clock: the benchmark is about the algorithm, not min_part_hours.
    let now = 1_700_000_000;
    let fresh = b.clone();
    let mut rebalance = timed_rebalance(&mut b, &mut rng, now, a.progress)?;
    for i in 1..a.repeat {
        let mut again = fresh.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(a.seed.wrapping_add(u64::from(i)));
        let r = timed_rebalance(&mut again, &mut rng, now, false)?;
        if r.seconds < rebalance.seconds {
            rebalance = r;
            b = again;
        }
    }

    let add_rebalance = if a.add_devices > 0 {
        for s in added_layout(a) {
            b.add_dev(to_device(&s), None).map_err(|e| e.to_string())?;
        }
        b.pretend_min_part_hours_passed();
        Some(timed_rebalance(&mut b, &mut rng, now, a.progress)?)
    } else {
        None
    };

    let (lookup_seconds, lookups_per_sec) = if a.lookups > 0 {
        let ring = b.get_ring().map_err(|e| e.to_string())?;
        let cfg = HashPathConfig::new(Vec::new(), b"bench".to_vec());
        let names: Vec<String> = (0..a.lookups.min(1_000_000))
            .map(|i| format!("o{i}"))
            .collect();
        // The fastest of `repeat` passes, as for the rebalance: a pass that
        // another process interrupts says nothing about the lookup.
        let mut secs = f64::INFINITY;
        for _ in 0..a.repeat.max(1) {
            let start = Instant::now();
            let mut sink = 0usize;
            for i in 0..a.lookups as usize {
                let obj = &names[i % names.len()];
                let (part, nodes) = ring.get_nodes(&cfg, "AUTH_bench", Some("c"), Some(obj));
                sink = sink.wrapping_add(part as usize);
                for n in nodes {
                    sink = sink.wrapping_add(n.dev.id as usize);
                }
            }
            secs = secs.min(start.elapsed().as_secs_f64());
            std::hint::black_box(sink);
        }
        (secs, f64::from(a.lookups) / secs)
    } else {
        (0.0, 0.0)
    };

    Ok(Some(Report {
        part_power: a.part_power,
        replicas: a.replicas,
        devices: b.devs().iter().flatten().count(),
        regions: a.regions,
        zones: a.zones,
        hosts: a.zones * a.hosts_per_zone,
        rebalance,
        add_rebalance,
        lookups: a.lookups,
        lookup_seconds,
        lookups_per_sec,
    }))
}

fn print_text(r: &Report) {
    println!(
        "ring: part power {}, {} replicas, {} devices ({} regions, {} zones, {} hosts)",
        r.part_power, r.replicas, r.devices, r.regions, r.zones, r.hosts
    );
    let line = |what: &str, f: &RebalanceFigures| {
        println!(
            "{what}: {:.3} s, moved {} part-replicas, balance {:.4}, dispersion {:.4}",
            f.seconds, f.parts_moved, f.balance, f.dispersion
        );
    };
    line("rebalance", &r.rebalance);
    if let Some(f) = &r.add_rebalance {
        line("rebalance after add", f);
    }
    if r.lookups > 0 {
        println!(
            "get_nodes: {} lookups in {:.3} s = {:.0} lookups/s (one thread)",
            r.lookups, r.lookup_seconds, r.lookups_per_sec
        );
    }
}

/// Entry point: `args` are what follows `swirl bench ring`.
pub fn main(args: &[String]) -> ExitCode {
    let argv = std::iter::once("swirl bench ring".to_string()).chain(args.iter().cloned());
    let a: Args = match crate::parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    match run(&a) {
        Ok(Some(report)) => {
            if a.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print_text(&report);
            }
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_spreads_evenly() {
        let a = Args::parse_from(["bench"]);
        let slots = layout(&a, 120, 5, 0);
        assert_eq!(slots.len(), 120);
        let mut hosts: Vec<&str> = slots.iter().map(|s| s.ip.as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        assert_eq!(hosts.len(), 20);
        assert_eq!(slots.iter().filter(|s| s.region == 2).count(), 60);
        assert_eq!(
            slots
                .iter()
                .filter(|s| s.region == 1 && s.zone == 2)
                .count(),
            30
        );
        assert_eq!(device_letters(0), "a");
        assert_eq!(device_letters(26), "aa");
    }

    #[test]
    fn small_run_reports() {
        let a = Args::parse_from([
            "bench",
            "--part-power",
            "8",
            "--devices",
            "40",
            "--lookups",
            "1000",
            "--add-devices",
            "4",
        ]);
        let r = run(&a).unwrap().unwrap();
        assert_eq!(r.devices, 44);
        assert!(r.rebalance.balance < 5.0);
        assert_eq!(r.rebalance.dispersion, 0.0);
        assert!(r.lookups_per_sec > 0.0);
        assert!(r.add_rebalance.is_some());
    }
}
