//! `swirl object-replicator <object-server.toml> [--once] [-d DEVS] [-p PARTS] [-i POLICIES]`:
//! the object replicator alone, as Swift's `swift-object-replicator` runs
//! (same flags: `--devices`, `--partitions`, `--policies` limit a `--once`
//! pass and keep it out of the recon cache). Exit codes: 2 for a bad
//! command line or config, 1 when a `--once` pass had failures.

use std::process::ExitCode;

use swirl_replicator::config::NodeConfig;
use swirl_replicator::object::{ObjectReplicator, Overrides};

fn usage() -> ExitCode {
    eprintln!(
        "usage: swirl object-replicator <object-server.toml> [--once|-o] \
         [--devices|-d d1,d2] [--partitions|-p 1,2] [--policies|-i 0,1]"
    );
    ExitCode::from(2)
}

fn list<T: std::str::FromStr>(v: &str) -> Option<Vec<T>> {
    v.split(',').map(|x| x.trim().parse().ok()).collect()
}

/// The flags Swift's replicators take (after the config file).
#[derive(Debug, Default)]
pub struct Flags {
    pub once: bool,
    pub devices: Option<Vec<String>>,
    pub partitions: Option<Vec<u32>>,
    pub policies: Option<Vec<u32>>,
}

/// Parses `--once`, `--devices`, `--partitions` and (with `policies`)
/// `--policies`, each also as `-o`, `-d`, `-p`, `-i` and `--flag=value`.
/// None for anything else or a bad list.
pub fn parse_flags(args: &[String], policies: bool) -> Option<Flags> {
    let mut f = Flags::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match name {
            "--once" | "-o" => f.once = true,
            "--devices" | "-d" => f.devices = Some(value().and_then(|v| list(&v))?),
            "--partitions" | "-p" => f.partitions = Some(value().and_then(|v| list(&v))?),
            "--policies" | "-i" if policies => f.policies = Some(value().and_then(|v| list(&v))?),
            "-v" | "--verbose" => {}
            _ => return None,
        }
    }
    Some(f)
}

pub fn main(args: &[String]) -> ExitCode {
    let Some(path) = args.first().filter(|a| !a.starts_with('-')) else {
        return usage();
    };
    let Some(flags) = parse_flags(&args[1..], true) else {
        return usage();
    };
    let once = flags.once;
    let o = Overrides {
        devices: flags.devices,
        partitions: flags.partitions,
        policies: flags.policies,
    };
    swirl_common::logging::init();
    let settings = match crate::role::daemon_settings(path, NodeConfig::load, |c| c.settings()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(rt) = crate::role::runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        let r = match ObjectReplicator::new(settings) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::FAILURE;
            }
        };
        if once {
            let rep = r.run_pass(&o).await;
            println!(
                "object replication: {}",
                rep.stats.line(rep.done, rep.jobs, rep.elapsed)
            );
            return if rep.stats.failure == 0 && rep.aborted.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        r.run_forever(crate::role::shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}
