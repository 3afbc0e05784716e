//! `swirl object-auditor <object-server.toml> [--once] [-d DEVS] [-z FPS]`,
//! `swirl account-auditor <account-server.toml> [--once] [-d DEVS]` and
//! `swirl container-auditor <container-server.toml> ...`: the auditors
//! alone, as Swift's `swift-object-auditor` and friends run. The object
//! auditor runs its `ZBF` and `ALL` passes side by side (`-z FPS`: only the
//! ZBF pass, at FPS files per second, as Swift's `-z`). A `--once` pass
//! prints its totals line per pass. Exit codes: 2 for a bad command line or
//! config, 1 when a `--once` pass had errors (quarantining a bad file is the
//! auditor doing its job, not an error).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use swirl_db::DbKind;
use swirl_replicator::audit::config::{DbAuditNodeConfig, ObjectAuditNodeConfig};
use swirl_replicator::audit::db::DbAuditor;
use swirl_replicator::audit::object::{ObjectAuditor, PassKind};

/// The flags an auditor takes after its config file.
#[derive(Debug, Default)]
struct Flags {
    once: bool,
    devices: Option<Vec<String>>,
    zero_byte_fps: Option<f64>,
}

fn parse_flags(args: &[String], zbf: bool) -> Option<Flags> {
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
            "--devices" | "-d" => {
                let v = value()?;
                f.devices = Some(v.split(',').map(|d| d.trim().to_string()).collect());
            }
            "--zero_byte_fps" | "-z" if zbf => {
                f.zero_byte_fps = Some(value()?.parse().ok().filter(|v: &f64| *v > 0.0)?)
            }
            "-v" | "--verbose" => {}
            _ => return None,
        }
    }
    Some(f)
}

fn usage(role: &str) -> ExitCode {
    let extra = if role == "object" { " [-z FPS]" } else { "" };
    eprintln!(
        "usage: swirl {role}-auditor <{role}-server.toml> [--once|-o] [--devices|-d d1,d2]{extra}"
    );
    ExitCode::from(2)
}

/// `swirl object-auditor`.
pub fn object_main(args: &[String]) -> ExitCode {
    let Some(path) = args.first().filter(|a| !a.starts_with('-')) else {
        return usage("object");
    };
    let Some(flags) = parse_flags(&args[1..], true) else {
        return usage("object");
    };
    swirl_common::logging::init();
    let mut settings =
        match crate::role::daemon_settings(path, ObjectAuditNodeConfig::load, |c| c.settings()) {
            Ok(s) => s,
            Err(code) => return code,
        };
    let kinds = match flags.zero_byte_fps {
        Some(fps) => {
            settings.zero_byte_files_per_second = fps;
            vec![PassKind::ZeroByte]
        }
        None => vec![PassKind::ZeroByte, PassKind::All],
    };
    let Some(rt) = crate::role::runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        let a = ObjectAuditor::new(settings);
        if !flags.once {
            a.run_forever(Duration::ZERO, crate::role::shutdown_signal())
                .await;
            return ExitCode::SUCCESS;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let passes = kinds.into_iter().map(|k| {
            let a = a.clone();
            let (d, stop) = (flags.devices.clone(), stop.clone());
            tokio::spawn(async move { a.run_pass(k, d, stop).await })
        });
        let mut errors = 0;
        for p in passes.collect::<Vec<_>>() {
            match p.await {
                Ok(rep) => {
                    errors += rep.stats.errors;
                    println!("{}", rep.line());
                }
                Err(e) => {
                    eprintln!("Error: {e}");
                    errors += 1;
                }
            }
        }
        if errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}

/// `swirl account-auditor` / `swirl container-auditor`.
pub fn db_main(kind: DbKind, args: &[String]) -> ExitCode {
    let role = kind.name();
    let Some(path) = args.first().filter(|a| !a.starts_with('-')) else {
        return usage(role);
    };
    let Some(flags) = parse_flags(&args[1..], false) else {
        return usage(role);
    };
    swirl_common::logging::init();
    let settings =
        match crate::role::daemon_settings(path, DbAuditNodeConfig::load, |c| c.settings(kind)) {
            Ok(s) => s,
            Err(code) => return code,
        };
    let Some(rt) = crate::role::runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        let a = DbAuditor::new(settings);
        if !flags.once {
            // As Swift: the first pass starts at a random point of the
            // interval, so a node's auditors do not all start at once.
            let first = a.settings().interval.mul_f64(rand::random::<f64>());
            a.run_forever(first, crate::role::shutdown_signal()).await;
            return ExitCode::SUCCESS;
        }
        let rep = a
            .run_pass(flags.devices, Arc::new(AtomicBool::new(false)))
            .await;
        println!("{}", rep.line());
        if rep.stats.errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags() {
        let f = parse_flags(&s(&["--once", "-d", "d1,d2", "-z=30"]), true).unwrap();
        assert!(f.once);
        assert_eq!(f.devices.unwrap(), vec!["d1", "d2"]);
        assert_eq!(f.zero_byte_fps, Some(30.0));
        assert!(parse_flags(&s(&["-z", "30"]), false).is_none());
        assert!(parse_flags(&s(&["-z", "0"]), true).is_none());
        assert!(parse_flags(&s(&["--bogus"]), true).is_none());
    }
}
