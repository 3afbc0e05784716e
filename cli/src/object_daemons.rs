//! `swirl object-updater <object-server.toml> [--once]` and
//! `swirl object-expirer <object-server.toml> [--once]`: the object
//! updater and the object expirer alone, as Swift's `swift-object-updater`
//! and `swift-object-expirer` run (each reads its section of the object
//! server's file). A `--once` pass prints its totals; exit codes: 2 for a
//! bad command line or config, 1 when a `--once` pass had failures.

use std::process::ExitCode;

use swirl_replicator::expirer::config::ExpirerNodeConfig;
use swirl_replicator::expirer::ObjectExpirer;
use swirl_replicator::updater::config::UpdaterNodeConfig;
use swirl_replicator::updater::ObjectUpdater;

/// Which daemon.
#[derive(Debug, Clone, Copy)]
pub enum Daemon {
    Updater,
    Expirer,
}

impl Daemon {
    fn name(self) -> &'static str {
        match self {
            Daemon::Updater => "object-updater",
            Daemon::Expirer => "object-expirer",
        }
    }
}

/// The config file and `--once` (also `-o`; `-v` is accepted and ignored).
fn parse(args: &[String]) -> Option<(String, bool)> {
    let path = args.first().filter(|a| !a.starts_with('-'))?.clone();
    let mut once = false;
    for a in &args[1..] {
        match a.as_str() {
            "--once" | "-o" => once = true,
            "-v" | "--verbose" => {}
            _ => return None,
        }
    }
    Some((path, once))
}

pub fn main(which: Daemon, args: &[String]) -> ExitCode {
    let Some((path, once)) = parse(args) else {
        eprintln!(
            "usage: swirl {} <object-server.toml> [--once|-o]",
            which.name()
        );
        return ExitCode::from(2);
    };
    swirl_common::logging::init();
    let Some(rt) = crate::role::runtime() else {
        return ExitCode::FAILURE;
    };
    match which {
        Daemon::Updater => {
            let s = match crate::role::daemon_settings(&path, UpdaterNodeConfig::load, |c| {
                c.settings()
            }) {
                Ok(s) => s,
                Err(code) => return code,
            };
            rt.block_on(async move {
                let u = match ObjectUpdater::new(s) {
                    Ok(u) => u,
                    Err(e) => {
                        eprintln!("Error: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                if once {
                    let r = u.run_once().await;
                    println!(
                        "object update sweep of {} devices completed: {:.2}s, {}",
                        r.devices,
                        r.elapsed.as_secs_f64(),
                        r.stats.line()
                    );
                    return if r.stats.failures == 0 && r.stats.errors == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    };
                }
                u.run_forever(crate::role::shutdown_signal()).await;
                ExitCode::SUCCESS
            })
        }
        Daemon::Expirer => {
            let s = match crate::role::daemon_settings(&path, ExpirerNodeConfig::load, |c| {
                c.settings()
            }) {
                Ok(s) => s,
                Err(code) => return code,
            };
            rt.block_on(async move {
                let x = match ObjectExpirer::new(s) {
                    Ok(x) => x,
                    Err(e) => {
                        eprintln!("Error: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                if once {
                    let r = x.run_once().await;
                    println!("object expirer {}", r.line());
                    return if r.errors == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    };
                }
                x.run_forever(crate::role::shutdown_signal()).await;
                ExitCode::SUCCESS
            })
        }
    }
}
