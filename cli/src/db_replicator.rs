//! `swirl account-replicator <account-server.toml> [--once] [-d DEVS] [-p PARTS]`
//! and `swirl container-replicator <container-server.toml> ...`: a database
//! replicator alone, as Swift's `swift-account-replicator` /
//! `swift-container-replicator` run (same flags: `--devices`, `--partitions`
//! limit a pass). Exit codes: 2 for a bad command line or config, 1 when a
//! `--once` pass had failures.

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

pub fn main(kind: DbKind, args: &[String]) -> ExitCode {
    let Some(path) = args.first().filter(|a| !a.starts_with('-')) else {
        return usage(kind);
    };
    let Some(flags) = crate::replicator::parse_flags(&args[1..], false) else {
        return usage(kind);
    };
    let once = flags.once;
    let o = DbOverrides {
        devices: flags.devices,
        partitions: flags.partitions,
    };
    swirl_common::logging::init();
    let settings =
        match crate::role::daemon_settings(path, DbNodeConfig::load, |c| c.settings(kind)) {
            Ok(s) => s,
            Err(code) => return code,
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
