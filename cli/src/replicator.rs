//! `swirl object-replicator <object-server.toml> [--once] [-d DEVS] [-p PARTS] [-i POLICIES]`:
//! the object replicator alone, as Swift's `swift-object-replicator` runs
//! (same flags: `--devices`, `--partitions`, `--policies` limit a `--once`
//! pass and keep it out of the recon cache). Exit codes: 2 for a bad
//! command line or config, 1 when a `--once` pass had failures.

use std::path::Path;
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

pub fn main(args: &[String]) -> ExitCode {
    let Some(path) = args.first().filter(|a| !a.starts_with('-')) else {
        return usage();
    };
    let mut once = false;
    let mut o = Overrides::default();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match name {
            "--once" | "-o" => once = true,
            "--devices" | "-d" => o.devices = value().and_then(|v| list(&v)),
            "--partitions" | "-p" => match value().and_then(|v| list(&v)) {
                Some(v) => o.partitions = Some(v),
                None => return usage(),
            },
            "--policies" | "-i" => match value().and_then(|v| list(&v)) {
                Some(v) => o.policies = Some(v),
                None => return usage(),
            },
            "-v" | "--verbose" => {}
            _ => return usage(),
        }
    }
    swirl_common::logging::init();
    let settings = match NodeConfig::load(Path::new(path)) {
        Ok(c) => match c.settings() {
            Ok(s) => s,
            Err((k, m)) => {
                eprintln!("Error: config {path}: {k}: {m}");
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
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
