//! `rebalance [-f/--force] [-s/--seed N] [--format-version 1|2] [-d/--debug]`.
//!
//! Swift's rules: nothing is saved when no partition could move (exit 1,
//! with the min_part_hours wait if that is why), nor when the result is not
//! worth a new ring ("cowardly refusing": devices unchanged and balance and
//! dispersion each moved by less than 1) unless forced. A saved rebalance
//! writes ring and builder plus copies in `backups/`, and exits 1 when the
//! result still needs attention (dispersion > 0, or balance > 5 beyond what
//! the overload allows).

use std::io::Write as _;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use swirl_ring::builder::{RebalanceReport, RingBuilder, MAX_BALANCE};

use super::opts::{parse, Spec};
use super::show::timedelta;
use super::store::{self, now_secs};
use super::{CmdResult, Ctx, Exit, Fail};

const SPECS: &[Spec] = &[
    Spec {
        short: Some('f'),
        long: "force",
        takes_value: false,
    },
    Spec {
        short: Some('s'),
        long: "seed",
        takes_value: true,
    },
    Spec {
        short: Some('d'),
        long: "debug",
        takes_value: false,
    },
    Spec {
        short: None,
        long: "format-version",
        takes_value: true,
    },
];

const RULE: &str =
    "-------------------------------------------------------------------------------";

/// Ring format version from `--format-version` (1 unless given).
pub fn format_version(v: Option<&str>) -> Result<u8, Fail> {
    match v {
        None | Some("1") => Ok(1),
        Some("2") => Ok(2),
        Some(other) => Err(Fail::new(format!(
            "option --format-version: invalid choice: {other:?} (choose from '1', '2')"
        ))),
    }
}

/// The RNG seed for `--seed S`: the number itself, or for any other text
/// (Swift seeds Python's `random` with whatever string it is given) a
/// 64-bit FNV-1a hash of it, so every seed string is reproducible.
pub fn seed_of(s: &str) -> u64 {
    s.parse().unwrap_or_else(|_| {
        s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    })
}

/// Whether a rebalance that moved `parts` is worth saving (Swift's rule).
pub fn worth_saving(
    force: bool,
    devs_changed: bool,
    last_balance: f64,
    balance: f64,
    last_dispersion: f64,
    dispersion: f64,
) -> bool {
    force
        || devs_changed
        || (last_balance - balance).abs() >= 1.0
        // A zero-weight device keeps the balance pinned at MAX_BALANCE until it
        // drains, so "unchanged" says nothing then: save.
        || (last_balance == MAX_BALANCE && balance == MAX_BALANCE)
        || (last_dispersion - dispersion).abs() >= 1.0
}

pub fn rebalance(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    let p = parse(ctx.args, SPECS)?;
    let format = format_version(p.get("format-version"))?;
    // Swift also takes the seed as the first positional argument.
    let seed = p
        .get("seed")
        .or(p.positional.first().map(String::as_str))
        .map(seed_of);
    if p.positional.len() > 1 {
        return Err(Fail::new(format!(
            "unexpected arguments {:?}; usage: swirl ring-builder <builder_file> rebalance [--force] [--seed N] [--format-version 1|2]",
            &p.positional[1..]
        )));
    }
    if b.next_part_power().is_some() {
        return Err(Fail::new(
            "Partition power increase in progress. You need to finish the increase first before rebalancing.",
        ));
    }
    let force = p.has("force");
    let debug = p.has("debug");
    let mut rng = match seed {
        Some(s) => ChaCha8Rng::seed_from_u64(s),
        None => ChaCha8Rng::from_os_rng(),
    };
    let now = now_secs();
    let devs_changed = b.devs_changed();
    let seconds_left = b.min_part_seconds_left(now);
    let last_balance = b.get_balance();
    let last_dispersion = b.dispersion();

    // Progress goes to stderr, but only once the rebalance has taken a
    // while (or with --debug): quick ones stay quiet.
    let started = Instant::now();
    let mut held: Vec<String> = Vec::new();
    let mut showing = debug;
    let mut progress = |line: &str| {
        let stamped = format!("[{:6.1}s] {line}", started.elapsed().as_secs_f64());
        if !showing && started.elapsed().as_secs_f64() >= 1.0 {
            showing = true;
            for h in held.drain(..) {
                eprintln!("{h}");
            }
        }
        if showing {
            eprintln!("{stamped}");
            let _ = std::io::stderr().flush();
        } else {
            held.push(stamped);
        }
    };
    let report = b.rebalance(&mut rng, now, &mut progress).map_err(|e| {
        Fail::new(format!(
            "An error has occurred during ring validation (rings that are empty or do not have \
             enough devices for the replica count are the usual cause): {e}"
        ))
    })?;
    if report.parts_moved == 0 && !force && report.removed_devs.is_empty() {
        println!("No partitions could be reassigned.");
        if seconds_left > 0 {
            println!(
                "The time between rebalances must be at least min_part_hours: {} hours ({} remaining)",
                b.min_part_hours(),
                timedelta(b.min_part_seconds_left(now_secs()))
            );
        } else {
            println!("There is no need to do so at this time");
        }
        return Ok(Exit::Warning);
    }
    if !worth_saving(
        force,
        devs_changed,
        last_balance,
        report.balance,
        last_dispersion,
        report.dispersion,
    ) {
        println!("Cowardly refusing to save rebalance as it did not change at least 1%.");
        return Ok(Exit::Warning);
    }
    // Encoding the ring (Swift's gzip level 9, for byte-identical files) is
    // the longest step after the rebalance itself, so it runs on its own
    // thread while this one validates, serialises the builder and writes the
    // builder's backup. Files land in Swift's order of consequence: backups
    // first, then the ring, then the builder, so a crash never leaves a
    // builder that is newer than the ring it describes.
    let ring = b.get_ring()?;
    store::ensure_id(&mut b);
    let ts = now_secs();
    let paths = &ctx.paths;
    std::thread::scope(|s| {
        let ring_job = s.spawn(|| store::ring_bytes(&ring, &paths.ring, format));
        let mine = (|| {
            b.validate().map_err(|e| {
                Fail::new(format!(
                    "An error has occurred during ring validation (rings that are empty or do \
                     not have enough devices for the replica count are the usual cause): {e}"
                ))
            })?;
            print_summary(&report, &b);
            let builder_bytes = store::serialise_builder(&b)?;
            store::write_backup(paths, &paths.builder, &builder_bytes, ts)?;
            Ok::<_, Fail>(builder_bytes)
        })();
        let ring_bytes = ring_job
            .join()
            .map_err(|_| Fail::new("the ring encoder thread panicked"))??;
        let builder_bytes = mine?;
        store::write_with_backup(paths, &paths.ring, &ring_bytes, ts)?;
        store::write_atomic(&paths.builder, &builder_bytes)
            .map_err(|e| Fail::new(format!("cannot write {}: {e}", paths.builder.display())))
    })?;
    Ok(status(&report, &b))
}

/// The summary Swift prints after a rebalance it saves.
fn print_summary(report: &RebalanceReport, b: &RingBuilder) {
    println!(
        "Reassigned {} ({:.2}%) partitions. Balance is now {:.2}.  Dispersion is now {:.2}",
        report.parts_moved,
        100.0 * report.parts_moved as f64 / f64::from(b.parts()),
        report.balance,
        b.dispersion()
    );
    if b.dispersion() > 0.0 {
        println!("{RULE}");
        println!(
            "NOTE: Dispersion of {:.6} indicates some parts are not\n      optimally dispersed.\n\n      \
             You may want to adjust some device weights, increase\n      the overload or review the dispersion report.",
            b.dispersion()
        );
        println!("{RULE}");
    } else if report.balance > 5.0 && report.balance / 100.0 > b.overload() {
        println!("{RULE}");
        println!(
            "NOTE: Balance of {:.2} indicates you should push this ",
            report.balance
        );
        println!(
            "      ring, wait at least {} hours, and rebalance/repush.",
            b.min_part_hours()
        );
        println!("{RULE}");
    }
}

/// Exit 1 when the saved result still needs attention (the cases
/// [`print_summary`] adds a NOTE for).
fn status(report: &RebalanceReport, b: &RingBuilder) -> Exit {
    if b.dispersion() > 0.0 || (report.balance > 5.0 && report.balance / 100.0 > b.overload()) {
        Exit::Warning
    } else {
        Exit::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cowardly_rule() {
        assert!(!worth_saving(false, false, 10.0, 9.5, 0.0, 0.5));
        assert!(worth_saving(true, false, 10.0, 9.5, 0.0, 0.5));
        assert!(worth_saving(false, true, 10.0, 9.5, 0.0, 0.5));
        assert!(worth_saving(false, false, 10.0, 9.0, 0.0, 0.5));
        assert!(worth_saving(false, false, 10.0, 9.5, 2.0, 0.5));
        assert!(worth_saving(
            false,
            false,
            MAX_BALANCE,
            MAX_BALANCE,
            0.0,
            0.0
        ));
    }

    #[test]
    fn seeds() {
        assert_eq!(seed_of("42"), 42);
        assert_eq!(seed_of("abc"), seed_of("abc"));
        assert_ne!(seed_of("abc"), seed_of("abd"));
    }

    #[test]
    fn format_versions() {
        assert_eq!(format_version(None).unwrap(), 1);
        assert_eq!(format_version(Some("2")).unwrap(), 2);
        assert!(format_version(Some("3")).is_err());
    }
}
