//! `swirl account-replicator <account-server.toml> [--once] [-d DEVS] [-p PARTS]`
//! and `swirl container-replicator <container-server.toml> ...`: a database
//! replicator alone, as Swift's `swift-account-replicator` /
//! `swift-container-replicator` run (same flags: `--devices`, `--partitions`
//! limit a pass). Exit codes: 2 for a bad command line or config, 1 when a
//! `--once` pass had failures.

use std::path::Path;
use std::process::ExitCode;

use swirl_db::DbKind;
use swirl_replicator::db::{DbNodeConfig, DbOverrides, DbReplicator};

fn usage(kind: DbKind) -> ExitCode {
    eprintln!(
        "usage: swirl {k}-replicator <{k}-server.toml> [--once|-o] \
         [--devices|-d d1,d2] [--partitions|-p 1,2]",
        k = kind.name()
    );
    ExitCode::from(2)
}

fn list<T: std::str::FromStr>(v: &str) -> Option<Vec<T>> {
    v.split(',').map(|x| x.trim().parse().ok()).collect()
}

pub fn main(kind: DbKind, args: &[String]) -> ExitCode {
    let Some(path) = args.first().filter(|a| !a.starts_with('-')) else {
        return usage(kind);
    };
    let mut once = false;
    let mut o = DbOverrides::default();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match name {
            "--once" | "-o" => once = true,
            "--devices" | "-d" => match value().and_then(|v| list(&v)) {
                Some(v) => o.devices = Some(v),
                None => return usage(kind),
            },
            "--partitions" | "-p" => match value().and_then(|v| list(&v)) {
                Some(v) => o.partitions = Some(v),
                None => return usage(kind),
            },
            "-v" | "--verbose" => {}
            _ => return usage(kind),
        }
    }
    swirl_common::logging::init();
    let settings = match DbNodeConfig::load(Path::new(path)) {
        Ok(c) => match c.settings(kind) {
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
        let r = match DbReplicator::new(settings) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::FAILURE;
            }
        };
        if once {
            let rep = r.run_pass(&o).await;
            println!(
                "{} replication: {}",
                kind.name(),
                rep.stats.line(rep.done, rep.total, rep.elapsed)
            );
            return if rep.stats.failure == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        r.run_forever(crate::role::shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}
